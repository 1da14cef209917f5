"""VGG19's convolutional part, built with Lasagne layers as in the recipe.

Each ``convX_Y`` layer is a 3x3 cross-correlation with zero padding 1 followed
by a ReLU, so ``conv4_2`` denotes the rectified output. The five pooling
layers average 2x2 blocks (``average_exc_pad``), which Gatys et al. found to
give smoother results than max pooling. Only the layers up to the deepest one
a loss needs are built.

The convolutions are computed, by default, with Winograd's F(2x2, 3x3)
algorithm (:mod:`lasagne_style.winograd`), which ``make bench`` measured
faster than Theano's CorrMM (im2col + gemm) on the CPU;
``convolution="corrmm"`` builds the recipe's ``Conv2DDNNLayer`` with
``flip_filters=False`` instead, which without cuDNN is
:mod:`lasagne_style.compat`'s CPU stand-in running CorrMM.
"""
from lasagne.layers import InputLayer, Pool2DLayer

from . import compat
from .winograd import WinogradConv3x3Layer

#: Layer names in network order (pool layers after each block).
LAYERS = ("conv1_1", "conv1_2", "pool1",
          "conv2_1", "conv2_2", "pool2",
          "conv3_1", "conv3_2", "conv3_3", "conv3_4", "pool3",
          "conv4_1", "conv4_2", "conv4_3", "conv4_4", "pool4",
          "conv5_1", "conv5_2", "conv5_3", "conv5_4", "pool5")
CONV_LAYERS = tuple(name for name in LAYERS if name.startswith("conv"))
#: CPU convolution algorithms of :func:`build`.
CONVOLUTIONS = ("winograd", "corrmm")


def _conv(incoming, W, b, convolution):
    if convolution == "winograd":
        return WinogradConv3x3Layer(incoming, W.shape[0], W=W, b=b)
    return compat.Conv2DDNNLayer(incoming, W.shape[0], 3, pad=1, W=W, b=b,
                                 flip_filters=False)


def receptive_stride(layer):
    """How many input pixels one position of ``layer`` spans (2**pools)."""
    return 2 ** sum(1 for name in LAYERS[:LAYERS.index(layer)]
                    if name.startswith("pool"))


def build(params, up_to, input_var=None, convolution="winograd"):
    """Build VGG19 up to (and including) layer ``up_to``.

    Parameters
    ----------
    params : list of (W, b)
        The 16 conv layers' weights, from :func:`lasagne_style.weights.load`.
    up_to : str
        Deepest layer to build, e.g. ``'conv5_1'``.
    input_var : Theano 4-D tensor, optional
        Input of shape (1, 3, H, W); any H, W.
    convolution : {'winograd', 'corrmm'}
        CPU convolution algorithm.

    Returns
    -------
    dict
        Layer name -> Lasagne layer, plus ``'input'``.
    """
    if up_to not in LAYERS:
        raise ValueError("unknown VGG19 layer %r" % up_to)
    if convolution not in CONVOLUTIONS:
        raise ValueError("unknown convolution %r" % convolution)
    net = {"input": InputLayer((1, 3, None, None), input_var=input_var)}
    incoming, conv_index = net["input"], 0
    for name in LAYERS[:LAYERS.index(up_to) + 1]:
        if name.startswith("conv"):
            W, b = params[conv_index]
            conv_index += 1
            net[name] = _conv(incoming, W, b, convolution)
        else:
            net[name] = Pool2DLayer(incoming, 2, mode="average_exc_pad")
        incoming = net[name]
    return net
