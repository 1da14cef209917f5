"""A script of the GPU era (2015-2017), run where there is no GPU: it asks
for one in THEANO_FLAGS before importing Theano, uses the old CUDA
back-end's modules (cuDNN's convolution, pooling and the DCGAN-style
transposed convolution), Lasagne 0.1's GPU layer modules, a transposed
convolution layer written like Improved-GAN's ``Deconv2DLayer``,
``compute_test_value`` with a convolution, Theano 0.8's downsample module,
and loads a pickle of a GPU shared variable. Written for the tests; it never
imports lasagne_style.

usage: python gpu_era.py OUT.npz GPU_PICKLE
"""
import os
import pickle
import sys

os.environ["THEANO_FLAGS"] = "device=gpu0,floatX=float32,lib.cnmem=0.5"

import numpy as np  # noqa: E402
import theano  # noqa: E402
import theano.tensor as T  # noqa: E402
import theano.sandbox.cuda  # noqa: E402
from theano.sandbox.cuda import dnn  # noqa: E402
from theano.sandbox.cuda.basic_ops import (gpu_alloc_empty,  # noqa: E402
                                           gpu_contiguous)
from theano.sandbox.cuda.dnn import GpuDnnConvDesc, GpuDnnConvGradI  # noqa
from theano.tensor.signal import downsample  # noqa: E402
import lasagne  # noqa: E402
from lasagne.layers import cuda_convnet, corrmm  # noqa: E402
import lasagne.layers.dnn  # noqa: E402

if not theano.sandbox.cuda.cuda_available:
    theano.sandbox.cuda.use("gpu0")  # says no, once
results = dict(device=theano.config.device,
               cuda_enabled=theano.sandbox.cuda.cuda_enabled,
               dnn_available=dnn.dnn_available())

rng = np.random.RandomState(7)
X = rng.randn(2, 3, 9, 8).astype("float32")
K = rng.randn(4, 3, 3, 3).astype("float32")
x, k = T.tensor4("x"), T.tensor4("k")


def deconv(X, w, subsample=(1, 1), border_mode=(0, 0), conv_mode="conv"):
    """DCGAN's (2015) transposed convolution, through cuDNN's GradI."""
    img = gpu_contiguous(X)
    kerns = gpu_contiguous(w)
    out = gpu_alloc_empty(img.shape[0], kerns.shape[1],
                          img.shape[2] * subsample[0],
                          img.shape[3] * subsample[1])
    desc = GpuDnnConvDesc(border_mode=border_mode, subsample=subsample,
                          conv_mode=conv_mode)(out.shape, kerns.shape)
    return GpuDnnConvGradI()(kerns, img, out, desc)


class Deconv2DLayer(lasagne.layers.Layer):
    """Improved-GAN's (2016) transposed convolution layer."""

    def __init__(self, incoming, target_shape, filter_size, stride=(2, 2),
                 W=lasagne.init.Normal(0.05), b=lasagne.init.Constant(0.),
                 nonlinearity=None, **kwargs):
        super(Deconv2DLayer, self).__init__(incoming, **kwargs)
        self.target_shape = target_shape
        self.nonlinearity = (lasagne.nonlinearities.identity
                             if nonlinearity is None else nonlinearity)
        self.filter_size = lasagne.layers.dnn.as_tuple(filter_size, 2)
        self.stride = lasagne.layers.dnn.as_tuple(stride, 2)
        self.W_shape = (incoming.output_shape[1], target_shape[1],
                        filter_size[0], filter_size[1])
        self.W = self.add_param(W, self.W_shape, name="W")
        self.b = self.add_param(b, (target_shape[1],), name="b")

    def get_output_for(self, input, **kwargs):
        op = T.nnet.abstract_conv.AbstractConv2d_gradInputs(
            imshp=self.target_shape, kshp=self.W_shape,
            subsample=self.stride, border_mode="half")
        activation = op(self.W, input, self.target_shape[2:])
        return self.nonlinearity(activation +
                                 self.b.dimshuffle("x", 0, "x", "x"))

    def get_output_shape_for(self, input_shape):
        return self.target_shape


outputs = dict(
    dnn_cross=dnn.dnn_conv(x, k, border_mode="half", conv_mode="cross"),
    dnn_conv_strided=dnn.dnn_conv(x, k, subsample=(2, 2)),
    dnn_pool=dnn.dnn_pool(x, (2, 2), stride=(2, 2), mode="average"),
    deconv=deconv(x, k.dimshuffle(1, 0, 2, 3), subsample=(2, 2),
                  border_mode=(1, 1)),
    ds_max=downsample.DownsampleFactorMax((2, 2), ignore_border=False)(x),
    ds_same=downsample.max_pool_2d_same_size(x, (2, 2)))
f = theano.function([x, k], list(outputs.values()))
results.update(zip(outputs, f(X, K)))

# Lasagne's GPU layer modules, and the GAN layer
l_in = lasagne.layers.InputLayer((None, 3, 9, 8))
l_mm = corrmm.Conv2DMMLayer(l_in, 4, 3, pad=1, W=K, nonlinearity=None)
l_c01b = cuda_convnet.ShuffleBC01ToC01BLayer(l_in)
l_cc = cuda_convnet.Conv2DCCLayer(l_c01b, 4, 3, stride=2, pad=1,
                                  W=K.transpose(1, 2, 3, 0), dimshuffle=False,
                                  nonlinearity=None)
l_ccpool = cuda_convnet.MaxPool2DCCLayer(l_in, 3, stride=2)
l_small = lasagne.layers.InputLayer((2, 3, 5, 4))
l_deconv = Deconv2DLayer(l_small, (2, 4, 10, 8), (5, 5),
                         W=rng.randn(3, 4, 5, 5).astype("float32"))
layers = dict(mm=l_mm, cc=cuda_convnet.c01b_to_bc01(l_cc), ccpool=l_ccpool)
f = theano.function([x], lasagne.layers.get_output(list(layers.values()), x))
results.update(zip(layers, f(X)))
results["cc_shape"] = [-1 if n is None else n for n in l_cc.output_shape]
Xs = rng.randn(2, 3, 5, 4).astype("float32")
results.update(Xs=Xs, gan_W=l_deconv.W.get_value(), gan_deconv=theano.function(
    [x], lasagne.layers.get_output(l_deconv, x))(Xs))

# compute_test_value through a convolution
theano.config.compute_test_value = "raise"
xt = T.tensor4("xt")
xt.tag.test_value = X
conved = T.nnet.conv2d(xt, theano.shared(K), border_mode="full")
results["test_value"] = conved.tag.test_value
theano.config.compute_test_value = "off"

# a Theano 0.8 GPU shared variable, pickled on a GPU machine
with open(sys.argv[2], "rb") as f:
    W = pickle.load(f, encoding="latin1")
results.update(pickled_type=type(W).__name__, pickled_value=W.get_value(),
               pickled_sum=theano.function([], (2 * W).sum())())
np.savez(sys.argv[1], X=X, K=K, **results)
print("ok")
