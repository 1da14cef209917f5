"""VGG19's convolutional part, built with Lasagne layers as in the recipe.

Each ``convX_Y`` layer is a 3x3 cross-correlation with zero padding 1 followed
by a ReLU, so ``conv4_2`` denotes the rectified output. The five pooling
layers average 2x2 blocks (``average_exc_pad``), which Gatys et al. found to
give smoother results than max pooling. Only the layers up to the deepest one
a loss needs are built.

The convolutions are computed, by default, with Winograd's F(4x4, 3x3)
algorithm fused per block of tiles (:mod:`lasagne_style.ops.winograd`), which
``make bench`` measured faster than Theano's CorrMM (im2col + gemm;
measurements: docs/performance.md), and
the pooling with :mod:`lasagne_style.ops.pooling`'s 2x2 op;
``convolution="corrmm"`` builds the recipe's ``Conv2DDNNLayer`` with
``flip_filters=False`` and ``Pool2DLayer`` instead, which without cuDNN is
:mod:`lasagne_style.compat`'s CPU stand-in running CorrMM.

``tileable=True`` makes the network periodic: before every convolution a
:class:`CircularPad` layer wraps one pixel of the opposite edge around, and
the convolution then runs without zero padding (CorrMM with ``pad=0``), or,
for Winograd, runs as usual on the wrapped input and its outer ring (the only
outputs its zero padding touches) is cropped. The layers stay plain Theano
expressions, so the gradient wraps around too. With sides that are multiples
of the deepest layer's receptive stride every 2x2 pooling window lies inside
one period, so the features of an image equal those of its periodic
extension (checked against a wrap-padded numpy cross-correlation in
``tests/test_control.py``). Cost: one copy of each convolution's input,
and two extra rows and columns that the Winograd path computes and discards.
"""
import lasagne
import theano
import theano.tensor as T
from lasagne.layers import InputLayer, Layer, Pool2DLayer

from . import compat
from .config import CONV_LAYERS, CONVOLUTIONS, LAYERS, choice
from .config import receptive_stride  # noqa: F401  (part of this API)
from .ops.pooling import AveragePool2x2Layer
from .ops.winograd import WinogradConv3x3Layer

__all__ = ["LAYERS", "CONV_LAYERS", "CONVOLUTIONS", "CircularPad", "build",
           "feature_function", "receptive_stride"]


def _grow(size, by):
    return None if size is None else size + by


class CircularPad(Layer):
    """Pads (1, C, H, W) maps periodically by ``width`` pixels on each side:
    ``out[i, j] = in[(i - width) mod H, (j - width) mod W]`` (so ``width``
    must not exceed H or W)."""

    def __init__(self, incoming, width=1, **kwargs):
        super(CircularPad, self).__init__(incoming, **kwargs)
        self.width = width

    def get_output_shape_for(self, input_shape):
        w = 2 * self.width
        return input_shape[:2] + (_grow(input_shape[2], w),
                                  _grow(input_shape[3], w))

    def get_output_for(self, input, **kwargs):
        w = self.width
        x = T.concatenate([input[:, :, :, -w:], input, input[:, :, :, :w]],
                          axis=3)
        return T.concatenate([x[:, :, -w:], x, x[:, :, :w]], axis=2)


class _Crop(Layer):
    """Drops ``width`` pixels on each side of (1, C, H, W) maps."""

    def __init__(self, incoming, width=1, **kwargs):
        super(_Crop, self).__init__(incoming, **kwargs)
        self.width = width

    def get_output_shape_for(self, input_shape):
        w = -2 * self.width
        return input_shape[:2] + (_grow(input_shape[2], w),
                                  _grow(input_shape[3], w))

    def get_output_for(self, input, **kwargs):
        w = self.width
        return input[:, :, w:-w, w:-w]


def _conv(incoming, W, b, convolution, tileable=False):
    if tileable:
        padded = CircularPad(incoming, 1)
        if convolution == "winograd":
            # the zero padding only reaches the ring that is cropped
            return _Crop(WinogradConv3x3Layer(padded, W.shape[0], W=W, b=b))
        return compat.Conv2DDNNLayer(padded, W.shape[0], 3, pad=0, W=W, b=b,
                                     flip_filters=False)
    if convolution == "winograd":
        return WinogradConv3x3Layer(incoming, W.shape[0], W=W, b=b)
    return compat.Conv2DDNNLayer(incoming, W.shape[0], 3, pad=1, W=W, b=b,
                                 flip_filters=False)


def build(params, up_to, input_var=None, convolution="winograd",
          tileable=False):
    """Build VGG19 up to (and including) layer ``up_to``.

    Parameters
    ----------
    params : list of (W, b)
        The 16 conv layers' weights
        (:func:`lasagne_style.vgg_weights.load`).
    up_to : str
        Deepest layer to build, e.g. ``'conv5_1'``.
    input_var : Theano 4-D tensor, optional
        Input of shape (1, 3, H, W); any H, W.
    convolution : {'winograd', 'corrmm'}
        CPU convolution algorithm.
    tileable : bool
        Pad every convolution circularly instead of with zeros (see the
        module docstring); H and W should then be multiples of
        :func:`receptive_stride` (``up_to``).

    Returns
    -------
    dict
        Layer name -> Lasagne layer, plus ``'input'``.
    """
    choice("layer", up_to, LAYERS)
    choice("convolution", convolution, CONVOLUTIONS)
    net = {"input": InputLayer((1, 3, None, None), input_var=input_var)}
    incoming, conv_index = net["input"], 0
    for name in LAYERS[:LAYERS.index(up_to) + 1]:
        if name.startswith("conv"):
            W, b = params[conv_index]
            conv_index += 1
            net[name] = _conv(incoming, W, b, convolution, tileable)
        elif convolution == "winograd":
            net[name] = AveragePool2x2Layer(incoming)
        else:
            net[name] = Pool2DLayer(incoming, 2, mode="average_exc_pad")
        incoming = net[name]
    return net


def feature_function(params, layers, convolution="winograd",
                     tileable=False):
    """Compile ``image -> [features of each of layers]``.

    Parameters
    ----------
    params : list of (W, b)
    layers : sequence of str
        Layer names, any order; the network is built up to the deepest.
    convolution : {'winograd', 'corrmm'}
    tileable : bool
        Circular padding (see :func:`build`).

    Returns
    -------
    callable
        ``f(x)`` for a preprocessed image x (1, 3, H, W) -> list of arrays
        (1, N_l, H_l, W_l) in the order of ``layers``.
    """
    x = T.tensor4("x")
    net = build(params, max(layers, key=LAYERS.index), input_var=x,
                convolution=convolution, tileable=tileable)
    return theano.function([x], lasagne.layers.get_output(
        [net[name] for name in layers]))
