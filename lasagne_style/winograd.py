"""3x3 'same' cross-correlation by Winograd's minimal filtering F(2x2, 3x3).

Lavin and Gray (2016, *Fast Algorithms for Convolutional Neural Networks*):
each 2x2 block of outputs is computed from the 4x4 input tile ``d`` around it
as

.. math:: Y = A^\\top \\left[ (G g G^\\top) \\odot (B^\\top d B) \\right] A,

so the channel sum becomes 16 independent matrix products (one per element of
the 4x4 transformed tile), batched over all tiles: 16 multiplies per 2x2 outputs
and input channel instead of 36 (2.25x fewer). The transforms are additions
over strided slices. Everything is built from Theano ops, so autodiff gives the
backward pass (the transposed transforms and batched products).

The transforms move data through memory several times, which costs more than
the multiplies saved when a layer has few channels (VGG's first blocks), and
less when it has many; :mod:`lasagne_style.vgg` uses this for the layers where
``make bench`` measured a gain.
"""
import numpy as np
import theano.tensor as T
from lasagne.layers import Conv2DLayer

#: F(2x2, 3x3) transforms: input (B^T), filter (G), output (A^T).
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
               np.float32)
G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


def transform_filters(W):
    """U = G g Gᵀ for every (output, input) channel pair of the numpy filters
    ``W`` (C_out, C_in, 3, 3): float32 array (16, C_out, C_in). Computed once:
    the network's weights are fixed."""
    U = np.einsum("ak,oikl,bl->aboi", G, np.asarray(W, np.float32), G)
    return np.ascontiguousarray(U.reshape((16,) + U.shape[2:]), np.float32)


def _apply(matrix, x, axis):
    """Multiply axis ``axis`` (length 4) of ``x`` by the constant ``matrix``;
    the result's new axis comes first."""
    return T.tensordot(matrix, x, axes=[[1], [axis]])


def correlate3x3_same(x, U):
    """Cross-correlation of ``x`` (1, C_in, H, W) with 3x3 filters given by
    their transform ``U`` = :func:`transform_filters` (W) (16, C_out, C_in),
    zero padding 1: the same result as ``conv2d(x, W, border_mode=1,
    filter_flip=False)``. Odd H or W are padded to even and cropped."""
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    tiles_h, tiles_w = (height + 1) // 2, (width + 1) // 2
    padded = T.zeros((channels, 2 * tiles_h + 2, 2 * tiles_w + 2), x.dtype)
    padded = T.set_subtensor(padded[:, 1:height + 1, 1:width + 1], x[0])
    # Input transform Bᵀ d B. Row a of every tile is a strided slice of rows.
    rows = T.stack([padded[:, a:a + 2 * tiles_h:2] for a in range(4)])
    rows = _apply(B_T, rows, 0)  # (4 a, C, tiles_h, W + 2)
    tiles = T.stack([rows[:, :, :, b:b + 2 * tiles_w:2] for b in range(4)])
    V = _apply(B_T, tiles, 0)  # (4 b, 4 a, C, tiles_h, tiles_w)
    V = V.dimshuffle(1, 0, 2, 3, 4).reshape((16, channels, tiles_h * tiles_w))
    out_channels = U.shape[1]
    M = T.batched_dot(U, V)  # (16, C_out, tiles): the channel sums
    M = M.reshape((4, 4, out_channels, tiles_h, tiles_w))
    # Output transform Aᵀ M A: (2 i, 2 j, C_out, tiles_h, tiles_w)
    Y = _apply(A_T, _apply(A_T, M, 1), 1)
    # output (2p + i, 2q + j) of tile (p, q)
    out = Y.dimshuffle(2, 3, 0, 4, 1).reshape(
        (out_channels, 2 * tiles_h, 2 * tiles_w))
    return out[None, :, :height, :width]


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
