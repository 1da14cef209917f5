"""3x3 'same' cross-correlation by Winograd's minimal filtering F(m x m, 3x3).

Lavin and Gray (2016, *Fast Algorithms for Convolutional Neural Networks*):
each m x m block of outputs is computed from the (m+2) x (m+2) input tile
``d`` around it as

.. math:: Y = A^\\top \\left[ (G g G^\\top) \\odot (B^\\top d B) \\right] A,

so the sum over input channels becomes alpha² = (m+2)² independent matrix
products, one per element of the transformed tile: (m+2)² multiplies per m²
outputs and input channel instead of 9 m², 2.25x fewer for F(2x2, 3x3) and
4x fewer for F(4x4, 3x3). The filter transform ``U = G g Gᵀ`` is computed
once, in float64 (the network's weights are fixed).

Two implementations:

* **Fused** (:class:`FusedCorrelation`, the default of
  :class:`WinogradConv3x3Layer`, tile size :data:`FUSED` = 4). One C op per
  layer: the tiles are cut into blocks of about :data:`BLOCK_BYTES` of
  transformed data (:data:`MIN_TILES` tiles at least, then evened out over
  the threads); per block, the input transform, alpha² matrix products
  (our own kernel, below) and the output transform with bias and ReLU run
  back to back on buffers that stay in cache, so no transformed tensor
  ever goes through memory. Blocks are shared among OpenMP threads. The
  gradient w.r.t. the input is the same op on the output gradient masked
  by ``y > 0`` (the ReLU's mask, read from the output) with the
  transposed, flipped filters: a 3x3 'same' correlation too. This is what
  NNPACK and oneDNN do on CPUs (prior art; the code here is written from
  the paper). F(4x4, 3x3)'s
  transforms have entries up to 8 (input) and 1/24 (filter): in float32 the
  outputs differ from direct correlation by about 5e-6 of their largest
  value against 3e-7 for F(2x2, 3x3), and the objective's loss agrees with
  CorrMM's within 1e-4 relative (tests/test_network.py).
* **Unfused** F(2x2, 3x3) (:func:`correlate3x3_same`, ``fused=0``): the
  input and output transforms as separate Theano ops (:class:`InputTransform`,
  :class:`OutputTransform`, gradients by their adjoints) around one
  ``batched_dot`` over all tiles; transformed tensors (16, C, tiles) go
  through memory. The default before 2026-11-27, kept as a second path.

Design choices (measurements: docs/performance.md):

* Fused F(4x4) is the default: of the three variants it takes the least
  time per layer (forward + input gradient), and it keeps no transformed
  tensor in memory.
* The 6-point transforms are written so that GCC vectorizes them
  (``__restrict__``, ``omp simd``, and the strip de-interleaved by phase so
  the column step reads unit strides), and the alpha² transformed planes of
  a block lie one cache line further apart than they need (WG_STRIDE), so
  that they do not share cache sets.
* The products are our own kernel, not the BLAS's sgemm: the filters'
  transform is stored once in the order the kernel reads
  (:func:`kernel_filters`: panels of 6 output channels) and the input
  transform writes the tiles in panels of two vector registers (16 tiles
  with AVX2, 32 with AVX-512), so nothing is packed at each call, where
  OpenBLAS packs both matrices at every sgemm: with the few tiles of a
  block of a deep layer (56-256), that packing cost it a third of its
  speed. The kernel keeps 2 x 6 vector accumulators (GCC's vector
  extensions, so one source serves every vector width; see
  :data:`VECTOR_FLOATS`).
* Blocks hold about 2 MiB of transformed data and at least
  :data:`MIN_TILES` = 128 tiles before they are evened out (below)
  (chosen while the products were OpenBLAS's, whose packing made smaller
  blocks slower). With fewer blocks than threads (deep layers of small
  images) the threads share each block's alpha² products instead, and
  its transforms channel by channel (since 2026-12-06: 0.6-1.8 ms less per
  such layer at 256 px, where one thread had done them while the other
  waited).
* Threads: this op uses OMP_NUM_THREADS if set, else OPENBLAS_NUM_THREADS
  if set (so ``OPENBLAS_NUM_THREADS=1`` keeps a process on one core, as
  ``make compare`` expects), else the cores.
* The same bytes on any thread count: a tile's values do not depend on
  its block, each product runs on one thread, and so does the filter
  transform's gemm (tests/test_reproducibility.py, tests/test_winograd.py).
  So the blocks may depend on the threads: their number is rounded up to
  whole rounds of the threads, and the tiles are cut at panel boundaries
  into blocks that differ by at most a panel. A short last block had left
  a thread idle: 176 tiles (a 512 x 341 image's conv4 layers) ran as
  128 + 48, now 80 + 96; 512 -> 512 channels at 42 x 64, forward +
  gradient, two threads, four runs: 60.8-71.3 -> 44.9-53.0 ms.

Code: the C is in ``c/winograd_fused.c`` and ``c/winograd_unfused.c`` (read
at import by :mod:`.c_sources`), the numpy side (transform matrices,
filter transform, unfused transforms, the float64 reference) in
:mod:`.winograd_reference`, whose names this module re-exports. Shapes:
images are (N, C, H, W); sizes that are not multiples of m are padded with
zeros and cropped.

**Filter transforms on a worker thread.** Inside
:func:`filters_in_background` (the objective compiles its function in
it), each layer's two transforms are computed on one worker thread into
arrays the layer's shared variables already hold, while the caller's
thread builds, optimises and links the graph (pure Python: the gemms of
the transform let go of the GIL). Leaving the context waits for them.
Start-up figures: docs/performance.md.
"""
import concurrent.futures
import contextlib
import sys
import zlib

import numpy as np
import theano
import theano.tensor as T
from lasagne.layers import Conv2DLayer
from theano.gof import Apply, Op

from .c_sources import OP_THREADS, reuse_output, sections
from .winograd_reference import (A_T, A_T4, B_T, B_T4, G, G4, PANEL_COLUMNS,
                                 TRANSFORMS, adjoint_filters, input_transform,
                                 input_transform_adjoint, kernel_filters,
                                 natural_filters, output_transform,
                                 output_transform_adjoint, transform_filters,
                                 transform_filters_m, winograd_correlate)

__all__ = [
    "FUSED", "BLOCK_BYTES", "MIN_TILES", "WinogradConv3x3Layer",
    "filters_in_background",
    "FusedCorrelation", "FusedCorrelationGrad", "correlate3x3",
    "correlate3x3_same", "InputTransform", "InputTransformAdjoint",
    "OutputTransform", "OutputTransformAdjoint",
    # from winograd_reference
    "A_T", "A_T4", "B_T", "B_T4", "G", "G4", "TRANSFORMS", "adjoint_filters",
    "input_transform", "input_transform_adjoint", "output_transform",
    "output_transform_adjoint", "transform_filters", "transform_filters_m",
    "kernel_filters", "natural_filters", "winograd_correlate"]

#: The C of the unfused ops (c/winograd_unfused.c) and of the fused ones
#: (c/winograd_fused.c).
_UNFUSED = sections("winograd_unfused.c", (
    "tile_loop", "input", "input_adjoint_tile", "output_tile",
    "output_adjoint", "sizes_image", "sizes_transformed",
    "check_transformed", "op"))
_FUSED = sections("winograd_fused.c", ("functions", "op"))

#: Tile size m of the fused F(m x m, 3x3) path that
#: :class:`WinogradConv3x3Layer` uses by default; 0: the unfused F(2x2, 3x3)
#: ops.
FUSED = 4
#: Bytes of transformed input and products (alpha² (C_in + C_out) floats a
#: tile) one block of tiles may take; see the module docstring.
BLOCK_BYTES = 1 << 21
#: Fewest tiles in a block before the blocks are evened out over the
#: threads (which may leave them smaller).
MIN_TILES = 128
#: Floats per vector register of the products' kernel: 0 lets the compiler
#: flags decide (16 with AVX-512, else 8); tests set 16 to run the AVX-512
#: layout here (GCC emulates the wide vectors).
VECTOR_FLOATS = 0


def _scalar(value):
    return T.as_tensor_variable(value).astype("int64")


class _Transform(Op):
    """An op ``f(array, *sizes)``: a C loop (``c_loop``) where a compiler is
    available, else the numpy ``function``. Its gradient w.r.t. the array is
    given by :meth:`adjoint`; the sizes (image height and width, for ops whose
    input is a transformed tensor) have none. ``image_input`` and
    ``image_output`` say which side is an image (C, H, W)."""
    __props__ = ()
    function = c_loop = None
    image_input = image_output = False
    accumulates = False  # the C loop adds into its output

    def make_node(self, array, *sizes):
        array = T.as_tensor_variable(array)
        return Apply(self, [array] + [_scalar(s) for s in sizes],
                     [T.tensor3(dtype=array.dtype)])

    def perform(self, node, inputs, outputs):
        array, sizes = inputs[0], [int(s) for s in inputs[1:]]
        outputs[0][0] = type(self).function(array, *sizes)

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)

    def grad(self, inputs, grads):
        return [self.adjoint(inputs, grads[0])] + [
            theano.gradient.DisconnectedType()() for _ in inputs[1:]]

    def c_compile_args(self):
        return ["-fopenmp"]

    def c_code_cache_version(self):
        # 5: the C moved to c/winograd_unfused.c, the output buffer by the
        # shared reuse_output snippet (same computation, other text)
        return (5,)

    def c_code(self, node, name, inputs, outputs, sub):
        if node.inputs[0].dtype != "float32":
            raise theano.gof.utils.MethodNotDefined()  # numpy perform
        x, z, fail = inputs[0], outputs[0], sub["fail"]
        if self.image_input:
            sizes, check = _UNFUSED["sizes_image"], ""
        else:
            sizes = _UNFUSED["sizes_transformed"] % dict(
                height=inputs[1], width=inputs[2])
            check = _UNFUSED["check_transformed"] % dict(fail=fail)
        return _UNFUSED["op"] % dict(
            x=x, z=z, fail=fail, sizes=sizes, check=check,
            dims="C, H, W" if self.image_output else "16, C, th * tw",
            output=reuse_output(z, "dims", 3, "Py_DECREF(in_arr); " + fail,
                                zero_new=True,
                                zero_reused=self.accumulates),
            loop=type(self).c_loop)


class InputTransformAdjoint(_Transform):
    """``(gV, height, width) -> gx``; see :func:`input_transform_adjoint`."""
    function = staticmethod(input_transform_adjoint)
    c_loop = _UNFUSED["tile_loop"] % dict(tile=_UNFUSED["input_adjoint_tile"])
    image_output = accumulates = True

    def adjoint(self, inputs, g):
        return InputTransform()(g)


class InputTransform(_Transform):
    """``x (C, H, W) -> V (16, C, tiles)``; see :func:`input_transform`."""
    function = staticmethod(input_transform)
    c_loop = _UNFUSED["input"]
    image_input = True

    def adjoint(self, inputs, g):
        x = inputs[0]
        return InputTransformAdjoint()(g, x.shape[1], x.shape[2])


class OutputTransformAdjoint(_Transform):
    """``gY (C, H, W) -> gM``; see :func:`output_transform_adjoint`."""
    function = staticmethod(output_transform_adjoint)
    c_loop = _UNFUSED["output_adjoint"]
    image_input = True

    def adjoint(self, inputs, g):
        gY = inputs[0]
        return OutputTransform()(g, gY.shape[1], gY.shape[2])


class OutputTransform(_Transform):
    """``(M, height, width) -> Y (C, H, W)``; see :func:`output_transform`."""
    function = staticmethod(output_transform)
    c_loop = _UNFUSED["tile_loop"] % dict(tile=_UNFUSED["output_tile"])
    image_output = True

    def adjoint(self, inputs, g):
        return OutputTransformAdjoint()(g)


def correlate3x3_same(x, U):
    """Cross-correlation of ``x`` (1, C_in, H, W) with 3x3 filters given by
    their transform ``U`` = :func:`transform_filters` (W), zero padding 1: the
    same result as ``conv2d(x, W, border_mode=1, filter_flip=False)``."""
    M = T.batched_dot(U, InputTransform()(x[0]))  # (16, C_out, tiles)
    return OutputTransform()(M, x.shape[2], x.shape[3]).dimshuffle(
        "x", 0, 1, 2)


def _fixed(array):
    """Transformed filters in a graph: a shared variable, never updated,
    rather than a constant, whose data Theano hashes (sha256) when it merges
    the graph and keys its C modules: 0.6 s of a warm start for the five
    style layers' filters (docs/performance.md). In ``floatX``, so that no
    cast runs at every evaluation."""
    return theano.shared(np.asarray(array, theano.config.floatX), borrow=True)


#: While :func:`filters_in_background` runs: its worker and the futures of
#: the transforms handed to it.
_background = None
#: Python's thread switch interval meanwhile: the worker waits for the GIL
#: between its gemms up to this long, instead of the default 5 ms.
SWITCH_INTERVAL = 5e-4


@contextlib.contextmanager
def filters_in_background():
    """Inside, :class:`WinogradConv3x3Layer` computes its filter transforms
    on one worker thread (see the module docstring); on leaving, waits for
    them and raises the first error (an error inside cancels those not
    started). Nothing may evaluate the layers' outputs inside. Nested: the
    outermost waits."""
    global _background
    if _background is not None:
        yield
        return
    futures = []
    interval = sys.getswitchinterval()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        _background = pool, futures
        sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
        try:
            yield
        except BaseException:  # Ctrl-C while compiling: no more transforms
            pool.shutdown(cancel_futures=True)
            raise
        finally:  # the pool's exit waits for the worker
            _background = None
            sys.setswitchinterval(interval)
    for future in futures:
        future.result()


def _transform(W, m, adjoint=False):
    """The shared variable of ``kernel_filters(W, m)`` (of the
    adjoint filters if ``adjoint``): filled on the worker thread inside
    :func:`filters_in_background`, at once outside it."""
    W = np.asarray(W)

    def compute(out=None):
        return kernel_filters(adjoint_filters(W) if adjoint else W, m, out)

    if _background is None or theano.config.floatX != "float32":
        return _fixed(compute())
    pool, futures = _background
    shape = ((m + 2) ** 2,) + (W.shape[1::-1] if adjoint else W.shape[:2])
    out = np.empty(shape, np.float32)
    futures.append(pool.submit(compute, out))
    return _fixed(out)


class WinogradConv3x3Layer(Conv2DLayer):
    """Lasagne's Conv2DLayer (3x3, pad 1, stride 1) with fixed numpy weights
    ``W``, computed by Winograd's algorithm instead of Theano's CorrMM: by
    :class:`FusedCorrelation` with F(m x m, 3x3), bias and ReLU folded in,
    if ``fused`` (default :data:`FUSED`) is a tile size m, else by
    :func:`correlate3x3_same` (F(2x2, 3x3), unfused). ``W`` stays the
    layer's parameter; its transforms are fixed (:func:`_fixed`)."""

    def __init__(self, incoming, num_filters, W, b, fused=None, **kwargs):
        super(WinogradConv3x3Layer, self).__init__(
            incoming, num_filters, 3, pad=1, W=W, b=b, flip_filters=False,
            **kwargs)
        self.fused = FUSED if fused is None else fused
        if self.fused:
            self.U = _transform(W, self.fused)
            self.U_adjoint = _transform(W, self.fused, adjoint=True)
        else:
            self.U = _fixed(transform_filters(W))

    def get_output_for(self, input, **kwargs):
        if self.fused:
            from lasagne.nonlinearities import rectify
            relu = self.nonlinearity is rectify
            y = FusedCorrelation(self.fused, relu)(input, self.U, self.b,
                                                    self.U_adjoint)
            return y if relu else self.nonlinearity(y)
        conved = correlate3x3_same(input, self.U)
        return self.nonlinearity(conved + self.b.dimshuffle("x", 0, "x", "x"))


def correlate3x3(x, W, m=4):
    """Cross-correlation of ``x`` (N, C_in, H, W) with numpy 3x3 filters
    ``W`` (C_out, C_in, 3, 3), zero padding 1, by :class:`FusedCorrelation`
    with F(m x m, 3x3): ``conv2d(x, W, border_mode=1, filter_flip=False)``,
    differentiable w.r.t. ``x``."""
    U = _fixed(kernel_filters(W, m))
    U_adjoint = _fixed(kernel_filters(adjoint_filters(W), m))
    return FusedCorrelation(m, False)(x, U, np.zeros(W.shape[0], "float32"),
                                      U_adjoint)


# ---------------------------------------------------------------------------
# Fused Winograd convolution: input transform -> gemms -> output transform
# per block of tiles, in one C op.
# ---------------------------------------------------------------------------

def _combination(coefficients, terms):
    """C expression of sum_k coefficients[k] * terms[k], zeros skipped."""
    out = []
    for c, t in zip(coefficients, terms):
        if c == 0:
            continue
        if c == 1:
            out.append("+ " + t)
        elif c == -1:
            out.append("- " + t)
        else:
            out.append("%s %sf * %s" % ("+" if c > 0 else "-",
                                        repr(float(abs(c))), t))
    return " ".join(out).lstrip("+ ") if out else "0.f"


def _assignments(matrix, target, terms):
    """``target % i = sum_k matrix[i, k] * terms[k]`` for every row i."""
    return "\n".join("%s = %s;" % (target % i, _combination(row, terms))
                     for i, row in enumerate(matrix))


def _fused_functions(m):
    """The C functions of c/winograd_fused.c for F(m x m, 3x3), its
    transforms unrolled."""
    B_T_m, _, A_T_m = TRANSFORMS[m]
    a = m + 2
    rows = ["d%d" % k for k in range(a)]
    load_rows = " ".join("const float d%d = strip[%d * ws + s];" % (k, k)
                         for k in range(a))
    rows_bt = _assignments(B_T_m, "rows[%d * ws + s]", rows)
    deinterleave = " ".join("D[%d * L + j] = R[%d * j + %d];" % (k, m, k)
                            for k in range(m))
    load_e = " ".join("const float e%d = S[%d * L + q + %d];"
                      % (k, k % m, k // m) for k in range(a))
    cols_b = _assignments(B_T_m, "vi[%d * CN + q]",
                          ["e%d" % k for k in range(a)])
    load_m = " ".join("const float m%d = mp[%d * CN + q];" % (k, k)
                      for k in range(a * a))
    a_t_rows = "\n".join(
        "const float s%d_%d = %s;" % (i, j, _combination(
            A_T_m[i], ["m%d" % (k * a + j) for k in range(a)]))
        for i in range(m) for j in range(a))
    a_t_cols = "\n".join(
        "float o%d_%d = bc + %s;" % (i, j, _combination(
            A_T_m[j], ["s%d_%d" % (i, k) for k in range(a)]))
        for i in range(m) for j in range(m))
    relu = " ".join("o%d_%d = o%d_%d > 0.f ? o%d_%d : 0.f;" % ((i, j) * 3)
                    for i in range(m) for j in range(m))
    store = " ".join("stage[%d * sw + %d * q + %d] = o%d_%d;" % (i, m, j, i, j)
                     for i in range(m) for j in range(m))
    return _FUSED["functions"] % dict(
        m=m, a=a, aa=a * a, load_rows=load_rows, min_tiles=MIN_TILES,
        deinterleave=deinterleave, rows_bt=rows_bt, load_e=load_e,
        cols_b=cols_b, load_m=load_m, a_t_rows=a_t_rows, a_t_cols=a_t_cols,
        relu=relu, store=store, vector=VECTOR_FLOATS, cols=PANEL_COLUMNS)


class FusedCorrelation(Op):
    """``y = relu?(x ⋆ W + b)`` for ``x`` (N, C_in, H, W), 3x3 filters ``W``
    given by their transform ``U`` = :func:`kernel_filters` (W, m) (in
    the products' order), zero padding 1, by Winograd's F(m x m, 3x3) fused
    per block of tiles (c/winograd_fused.c). Inputs: ``x, U, b, U_adjoint``
    where ``U_adjoint`` is ``kernel_filters(adjoint_filters(W), m)``, used
    only by the gradient: ``dL/dx = FusedCorrelationGrad(dL/dy, y)``, the
    correlation of ``dL/dy`` (masked by ``y > 0`` if ``relu``) with the
    transposed, flipped filters, by the same C code."""
    __props__ = ("m", "relu")
    masked = False

    def __init__(self, m=4, relu=True):
        self.m, self.relu = m, bool(relu)

    def make_node(self, x, U, b, U_adjoint):
        x = T.as_tensor_variable(x)
        U, b, U_adjoint = [T.cast(v, x.dtype) for v in (U, b, U_adjoint)]
        return Apply(self, [x, U, b, U_adjoint], [x.type()])

    def perform(self, node, inputs, outputs):
        x, U, b = inputs[:3]
        mask = inputs[1] if self.masked else None
        if self.masked:
            x, U, b = inputs[0], inputs[2], None
        U = natural_filters(U)  # once for the batch
        y = np.empty(x.shape[:1] + (U.shape[1],) + x.shape[2:], x.dtype)
        for n in range(x.shape[0]):
            y[n] = winograd_correlate(
                x[n], U, self.m, b, self.relu,
                None if mask is None else mask[n])
        outputs[0][0] = y

    def L_op(self, inputs, outputs, grads):
        x, U, b, U_adjoint = inputs
        y, gy = outputs[0], grads[0]
        if self.relu:
            gx = FusedCorrelationGrad(self.m)(gy, y, U_adjoint, U)
            gb = T.switch(y > 0, gy, 0).sum(axis=(0, 2, 3))
        else:
            gx = FusedCorrelation(self.m, False)(
                gy, U_adjoint, T.zeros_like(U_adjoint[0, :, 0]), U)
            gb = gy.sum(axis=(0, 2, 3))
        undefined = theano.gradient.grad_undefined
        return [gx, undefined(self, 1, U, "filters are fixed"), gb,
                undefined(self, 3, U_adjoint, "filters are fixed")]

    def c_support_code(self):
        return ("#include <omp.h>\n#include <string.h>\n#include <stdlib.h>\n"
                + OP_THREADS + "\n" + _fused_functions(self.m))

    def c_compile_args(self):
        return ["-fopenmp"]

    def c_code_cache_version(self):
        # the generated code itself is part of the key: any change to it
        # (or to BLOCK_BYTES, MIN_TILES, VECTOR_FLOATS) compiles a new
        # module. 4: own products instead of the BLAS's sgemm
        code = OP_THREADS + _fused_functions(self.m) + self._c_body(
            ["x", "U", "b", "Ua"], ["y"], {"fail": ""})
        return (4, zlib.crc32(code.encode()), BLOCK_BYTES)

    def c_code(self, node, name, inputs, outputs, sub):
        if any(v.dtype != "float32" for v in node.inputs[:2]):
            raise theano.gof.utils.MethodNotDefined()  # numpy perform
        return self._c_body(inputs, outputs, sub)

    def _c_body(self, inputs, outputs, sub):
        y, fail = outputs[0], sub["fail"]
        if self.masked:  # FusedCorrelationGrad: gy, y (the mask), U_adjoint
            x, mask, U = inputs[:3]
            third = dict(
                e="ma", e_in=mask,
                check_e="PyArray_NDIM(ma) == 4 && PyArray_DIMS(ma)[0] == N "
                        "&& PyArray_DIMS(ma)[1] == Ci "
                        "&& PyArray_DIMS(ma)[2] == H "
                        "&& PyArray_DIMS(ma)[3] == W",
                mask_ptr="(const float*)PyArray_DATA(ma) + n * Ci * H * W",
                bias_ptr="NULL")
        else:
            x, U, b = inputs[:3]
            third = dict(
                e="ba", e_in=b,
                check_e="PyArray_NDIM(ba) == 1 && PyArray_DIMS(ba)[0] == Co",
                mask_ptr="NULL", bias_ptr="(const float*)PyArray_DATA(ba)")
        release = "Py_XDECREF(xa); Py_XDECREF(Ua); Py_XDECREF(%s); " % (
            third["e"])
        return _FUSED["op"] % dict(
            third, x=x, U=U, y=y, fail=fail, m=self.m, aa=(self.m + 2) ** 2,
            relu=int(self.relu and not self.masked), budget=BLOCK_BYTES,
            output=reuse_output(y, "dims", 4, release + fail))


class FusedCorrelationGrad(FusedCorrelation):
    """``(gy, y, U_adjoint, U) -> gx``: the gradient of
    :class:`FusedCorrelation` (``relu=True``) w.r.t. its input, the
    correlation of ``gy`` masked by ``y > 0`` with the transposed, flipped
    filters (transform ``U_adjoint``), no bias. Its own gradient is not
    implemented (the objective needs first derivatives only)."""
    __props__ = ("m",)
    masked = True

    def __init__(self, m=4):
        self.m, self.relu = m, False

    def make_node(self, gy, y, U_adjoint, U):
        gy = T.as_tensor_variable(gy)
        y, U_adjoint, U = [T.cast(v, gy.dtype) for v in (y, U_adjoint, U)]
        return Apply(self, [gy, y, U_adjoint, U], [gy.type()])

    def L_op(self, inputs, outputs, grads):
        return [theano.gradient.grad_not_implemented(self, i, v)
                for i, v in enumerate(inputs)]
