"""VGG's 2x2 average pooling as one C op, and its gradient as another.

The recipe pools with Lasagne's ``Pool2DLayer(2, mode='average_exc_pad')``:
windows 2x2, stride 2, no padding, ``ignore_border=True``, so for a map
``x`` of shape (N, C, H, W) the output has shape (N, C, H // 2, W // 2) and

    y[n, c, i, j] = (x[n, c, 2i, 2j] + x[n, c, 2i, 2j+1]
                     + x[n, c, 2i+1, 2j] + x[n, c, 2i+1, 2j+1]) / 4,

(with no padding, "excluding padding" changes nothing), and the gradient

    dL/dx[n, c, 2i+a, 2j+b] = dL/dy[n, c, i, j] / 4   (a, b in {0, 1}),

zero on a last row or column that no window covers (odd H or W).

Theano's own ``Pool`` and ``AveragePoolGrad`` handle any window, stride,
padding and mode with one generic loop per output element, which made
them a sizeable share of an evaluation of the fused Winograd objective, the
gradient most (measurements: docs/performance.md). These two ops do the
fixed 2x2 case with the same arithmetic, one output row pair per inner loop,
threads over the N x C planes for large maps (below 2^18 values the
waking threads cost more than they save, as in :mod:`.winograd`) and the
previous call's output buffer reused. Their C code is ``c/pool2x2.c``.
Float32 only in C; other dtypes run the numpy ``perform``.

The Winograd network (:mod:`lasagne_style.vgg`) pools with
:class:`AveragePool2x2Layer`; the CorrMM network keeps the recipe's
``Pool2DLayer``, so the two paths check each other
(``tests/test_pooling.py``, ``tests/test_network.py``).
"""
import numpy as np
import theano
import theano.tensor as T
from lasagne.layers import Layer
from theano.gof import Apply, Op

from .c_sources import reuse_output, sections

__all__ = ["AveragePool2x2", "AveragePool2x2Grad", "AveragePool2x2Layer",
           "average_pool_2x2"]

#: Maps with fewer values than this run on one thread.
PARALLEL_MIN = 1 << 18

#: The ops' C code (c/pool2x2.c).
_C = sections("pool2x2.c", ("pool", "pool_grad"))


def _pooled_shape(shape):
    return tuple(shape[:2]) + (shape[2] // 2, shape[3] // 2)


class _Pool2x2Op(Op):
    __props__ = ()

    def c_compile_args(self):
        return ["-fopenmp"]

    def c_code_cache_version(self):
        # 2: the C moved to c/pool2x2.c, the output buffer by the shared
        # reuse_output snippet (same computation, other text)
        return (2,)

    def _float32_only(self, node):
        if any(v.dtype != "float32" for v in node.inputs):
            raise theano.gof.utils.MethodNotDefined()  # numpy perform


class AveragePool2x2(_Pool2x2Op):
    """``x (N, C, H, W) -> y (N, C, H // 2, W // 2)``, the mean of each 2x2
    block (see the module docstring)."""

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        if x.ndim != 4:
            raise TypeError("AveragePool2x2 expects a 4-D tensor")
        # a pooled side of length 1 is not known to be one: not broadcastable
        pooled = T.TensorType(x.dtype, x.broadcastable[:2] + (False, False))
        return Apply(self, [x], [pooled()])

    def perform(self, node, inputs, outputs):
        x, = inputs
        n, c, h, w = _pooled_shape(x.shape)
        blocks = x[:, :, :2 * h, :2 * w].reshape(n, c, h, 2, w, 2)
        outputs[0][0] = blocks.mean(axis=(3, 5), dtype=x.dtype)

    def infer_shape(self, node, shapes):
        n, c, h, w = shapes[0]
        return [(n, c, h // 2, w // 2)]

    def grad(self, inputs, grads):
        return [AveragePool2x2Grad()(inputs[0], grads[0])]

    def c_code(self, node, name, inputs, outputs, sub):
        self._float32_only(node)
        x, z, fail = inputs[0], outputs[0], sub["fail"]
        return _C["pool"] % dict(
            x=x, z=z, fail=fail, parallel=PARALLEL_MIN,
            output=reuse_output(z, "dims", 4, "Py_DECREF(in_arr); " + fail))


class AveragePool2x2Grad(_Pool2x2Op):
    """``(x, gy) -> gx``: the gradient of :class:`AveragePool2x2` at ``x``
    (whose shape alone it reads) given ``gy`` = dL/dy."""

    def make_node(self, x, gy):
        x, gy = T.as_tensor_variable(x), T.as_tensor_variable(gy)
        if x.ndim != 4 or gy.ndim != 4:
            raise TypeError("AveragePool2x2Grad expects 4-D tensors")
        return Apply(self, [x, gy], [x.type()])

    def perform(self, node, inputs, outputs):
        x, gy = inputs
        n, c, h, w = _pooled_shape(x.shape)
        gx = np.zeros_like(x)
        quarter = (gy / 4).astype(x.dtype)
        for a in (0, 1):
            for b in (0, 1):
                gx[:, :, a:2 * h:2, b:2 * w:2] = quarter
        outputs[0][0] = gx

    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def grad(self, inputs, grads):
        # gx is linear in gy (the adjoint of pooling) and reads only x's shape
        return [inputs[0].zeros_like(), average_pool_2x2(grads[0])]

    def c_code(self, node, name, inputs, outputs, sub):
        self._float32_only(node)
        x, gy, z, fail = inputs[0], inputs[1], outputs[0], sub["fail"]
        return _C["pool_grad"] % dict(
            x=x, gy=gy, z=z, fail=fail, parallel=PARALLEL_MIN,
            output=reuse_output(z, "dims", 4, "Py_DECREF(g_arr); " + fail))


def average_pool_2x2(x):
    """2x2 average pooling, stride 2, of a 4-D tensor (module docstring)."""
    return AveragePool2x2()(x)


class AveragePool2x2Layer(Layer):
    """Lasagne layer: what ``Pool2DLayer(incoming, 2,
    mode='average_exc_pad')`` computes, with :class:`AveragePool2x2`."""

    def get_output_shape_for(self, input_shape):
        return input_shape[:2] + tuple(
            None if s is None else s // 2 for s in input_shape[2:])

    def get_output_for(self, input, **kwargs):
        return average_pool_2x2(input)
