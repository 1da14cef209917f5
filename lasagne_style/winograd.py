"""3x3 'same' cross-correlation by Winograd's minimal filtering F(2x2, 3x3).

Lavin and Gray (2016, *Fast Algorithms for Convolutional Neural Networks*):
each 2x2 block of outputs is computed from the 4x4 input tile ``d`` around it
as

.. math:: Y = A^\\top \\left[ (G g G^\\top) \\odot (B^\\top d B) \\right] A,

so the sum over input channels becomes 16 independent matrix products, one per
element of the 4x4 transformed tile, batched over all tiles (Theano's
``batched_dot``, i.e. BLAS gemm): 16 multiplies per 2x2 outputs and input
channel instead of 36, 2.25x fewer. The filter transform ``U = G g Gᵀ`` is
computed once (the network's weights are fixed). The input and output
transforms are additions and subtractions over strided views, done by two small
Theano ops (:class:`InputTransform`, :class:`OutputTransform`) whose gradients
are their adjoint transforms, two more ops; writing them as ops rather than as
dozens of Theano slicing and ``tensordot`` nodes per layer makes the graph
compile as fast as CorrMM's and avoids Theano's intermediate copies.

Shapes: an image (C, H, W) has ``tiles_h x tiles_w`` = ceil(H/2) x ceil(W/2)
tiles; transformed tensors are (16, C, tiles_h * tiles_w), the 16 in row-major
order of the 4x4 tile. Odd H or W are padded with zeros and cropped.
"""
import numpy as np
import theano
import theano.tensor as T
from lasagne.layers import Conv2DLayer
from theano.gof import Apply, Op

#: F(2x2, 3x3) transforms: input (Bᵀ), filter (G), output (Aᵀ).
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
               np.float32)
G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


def transform_filters(W):
    """U = G g Gᵀ for every (output, input) channel pair of the numpy filters
    ``W`` (C_out, C_in, 3, 3): float32 array (16, C_out, C_in)."""
    U = np.einsum("ak,oikl,bl->aboi", G, np.asarray(W, np.float64), G)
    return np.ascontiguousarray(U.reshape((16,) + U.shape[2:]), np.float32)


def _tiles(height, width):
    return (height + 1) // 2, (width + 1) // 2


def _by_b_t(parts, out):
    """out[i] = sum_k B_T[i, k] parts[k] (4 views in, 4 arrays out)."""
    np.subtract(parts[0], parts[2], out=out[0])
    np.add(parts[1], parts[2], out=out[1])
    np.subtract(parts[2], parts[1], out=out[2])
    np.subtract(parts[1], parts[3], out=out[3])


def _add_by_b(grads, parts):
    """parts[k] += sum_i B_T[i, k] grads[i]: the adjoint of :func:`_by_b_t`
    (``parts`` are overlapping views, so they are accumulated one by one)."""
    parts[0] += grads[0]
    parts[1] += grads[1]
    parts[1] -= grads[2]
    parts[1] += grads[3]
    parts[2] -= grads[0]
    parts[2] += grads[1]
    parts[2] += grads[2]
    parts[3] -= grads[3]


def input_transform(x):
    """Bᵀ d B of every 4x4 tile (stride 2) of ``x`` (C, H, W) padded by 1:
    (16, C, tiles)."""
    channels, height, width = x.shape
    tiles_h, tiles_w = _tiles(height, width)
    padded = np.zeros((channels, 2 * tiles_h + 2, 2 * tiles_w + 2), x.dtype)
    padded[:, 1:height + 1, 1:width + 1] = x
    rows = np.empty((4, channels, tiles_h, 2 * tiles_w + 2), x.dtype)
    _by_b_t([padded[:, a:a + 2 * tiles_h:2] for a in range(4)], rows)
    V = np.empty((4, 4, channels, tiles_h, tiles_w), x.dtype)
    for a in range(4):
        _by_b_t([rows[a][:, :, b:b + 2 * tiles_w:2] for b in range(4)], V[a])
    return V.reshape(16, channels, tiles_h * tiles_w)


def input_transform_adjoint(gV, height, width):
    """Gradient of :func:`input_transform` w.r.t. ``x``: (C, H, W)."""
    channels = gV.shape[1]
    tiles_h, tiles_w = _tiles(height, width)
    gV = gV.reshape(4, 4, channels, tiles_h, tiles_w)
    g_rows = np.zeros((4, channels, tiles_h, 2 * tiles_w + 2), gV.dtype)
    for a in range(4):
        _add_by_b(gV[a], [g_rows[a][:, :, b:b + 2 * tiles_w:2]
                          for b in range(4)])
    g_padded = np.zeros((channels, 2 * tiles_h + 2, 2 * tiles_w + 2),
                        gV.dtype)
    _add_by_b(g_rows, [g_padded[:, a:a + 2 * tiles_h:2] for a in range(4)])
    return np.ascontiguousarray(g_padded[:, 1:height + 1, 1:width + 1])


def output_transform(M, height, width):
    """Aᵀ m A of every transformed tile ``M`` (16, C, tiles), each 2x2 result
    put in place: (C, H, W)."""
    channels = M.shape[1]
    tiles_h, tiles_w = _tiles(height, width)
    m = M.reshape(4, 4, channels, tiles_h, tiles_w)
    s = np.empty((2, 4, channels, tiles_h, tiles_w), M.dtype)
    np.add(m[0], m[1], out=s[0])
    s[0] += m[2]
    np.subtract(m[1], m[2], out=s[1])
    s[1] -= m[3]
    out = np.empty((channels, tiles_h, 2, tiles_w, 2), M.dtype)
    for i in range(2):
        left, right = out[:, :, i, :, 0], out[:, :, i, :, 1]
        np.add(s[i, 0], s[i, 1], out=left)
        left += s[i, 2]
        np.subtract(s[i, 1], s[i, 2], out=right)
        right -= s[i, 3]
    out = out.reshape(channels, 2 * tiles_h, 2 * tiles_w)
    return np.ascontiguousarray(out[:, :height, :width])


def output_transform_adjoint(gY):
    """Gradient of :func:`output_transform` w.r.t. ``M``: (16, C, tiles)."""
    channels, height, width = gY.shape
    tiles_h, tiles_w = _tiles(height, width)
    g = np.zeros((channels, tiles_h, 2, tiles_w, 2), gY.dtype)
    g.reshape(channels, 2 * tiles_h, 2 * tiles_w)[:, :height, :width] = gY
    gs = np.empty((2, 4, channels, tiles_h, tiles_w), gY.dtype)
    for i in range(2):
        left, right = g[:, :, i, :, 0], g[:, :, i, :, 1]
        gs[i, 0] = left
        np.add(left, right, out=gs[i, 1])
        np.subtract(left, right, out=gs[i, 2])
        np.negative(right, out=gs[i, 3])
    gM = np.empty((4, 4, channels, tiles_h, tiles_w), gY.dtype)
    gM[0] = gs[0]
    np.add(gs[0], gs[1], out=gM[1])
    np.subtract(gs[0], gs[1], out=gM[2])
    np.negative(gs[1], out=gM[3])
    return gM.reshape(16, channels, tiles_h * tiles_w)


def _scalar(value):
    return T.as_tensor_variable(value).astype("int64")


class _Transform(Op):
    """An op ``f(array, *sizes)`` computed by a numpy function; its gradient
    w.r.t. the array is given by :meth:`adjoint`, the sizes have none."""
    __props__ = ()
    function = None

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


class InputTransformAdjoint(_Transform):
    """``(gV, height, width) -> gx``; see :func:`input_transform_adjoint`."""
    function = staticmethod(input_transform_adjoint)

    def adjoint(self, inputs, g):
        return InputTransform()(g)


class InputTransform(_Transform):
    """``x (C, H, W) -> V (16, C, tiles)``; see :func:`input_transform`."""
    function = staticmethod(input_transform)

    def adjoint(self, inputs, g):
        x = inputs[0]
        return InputTransformAdjoint()(g, x.shape[1], x.shape[2])


class OutputTransformAdjoint(_Transform):
    """``gY (C, H, W) -> gM``; see :func:`output_transform_adjoint`."""
    function = staticmethod(output_transform_adjoint)

    def adjoint(self, inputs, g):
        gY = inputs[0]
        return OutputTransform()(g, gY.shape[1], gY.shape[2])


class OutputTransform(_Transform):
    """``(M, height, width) -> Y (C, H, W)``; see :func:`output_transform`."""
    function = staticmethod(output_transform)

    def adjoint(self, inputs, g):
        return OutputTransformAdjoint()(g)


def correlate3x3_same(x, U):
    """Cross-correlation of ``x`` (1, C_in, H, W) with 3x3 filters given by
    their transform ``U`` = :func:`transform_filters` (W), zero padding 1: the
    same result as ``conv2d(x, W, border_mode=1, filter_flip=False)``."""
    M = T.batched_dot(U, InputTransform()(x[0]))  # (16, C_out, tiles)
    return OutputTransform()(M, x.shape[2], x.shape[3]).dimshuffle(
        "x", 0, 1, 2)


class WinogradConv3x3Layer(Conv2DLayer):
    """Lasagne's Conv2DLayer (3x3, pad 1, stride 1) with fixed numpy weights
    ``W``, computed by :func:`correlate3x3_same` instead of Theano's CorrMM.
    ``W`` stays the layer's parameter; its transform is a constant."""

    def __init__(self, incoming, num_filters, W, b, **kwargs):
        super(WinogradConv3x3Layer, self).__init__(
            incoming, num_filters, 3, pad=1, W=W, b=b, **kwargs)
        self.U = T.constant(transform_filters(W))

    def get_output_for(self, input, **kwargs):
        conved = correlate3x3_same(input, self.U)
        return self.nonlinearity(conved + self.b.dimshuffle("x", 0, "x", "x"))
