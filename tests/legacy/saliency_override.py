"""Saliency maps by modified backpropagation, in the shape of the 2015
Lasagne Recipe ("Saliency Maps and Guided Backpropagation"): a ReLU wrapped
in an OpFromGraph whose ``grad`` is replaced by assignment, chosen on
``theano.sandbox.cuda.cuda_enabled``. Written for the tests; it never
imports lasagne_style.

usage: python saliency_override.py OUT.npz
"""
import sys

import numpy as np
import theano
import theano.sandbox.cuda
import theano.tensor as T
import lasagne


class ModifiedBackprop(object):
    def __init__(self, nonlinearity):
        self.nonlinearity = nonlinearity
        self.ops = {}

    def __call__(self, x):
        if theano.sandbox.cuda.cuda_enabled:
            maybe_to_gpu = theano.sandbox.cuda.as_cuda_ndarray_variable
        else:
            maybe_to_gpu = lambda x: x  # noqa: E731
        x = maybe_to_gpu(x)
        tensor_type = x.type
        if tensor_type not in self.ops:
            inp = tensor_type()
            outp = maybe_to_gpu(self.nonlinearity(inp))
            op = theano.OpFromGraph([inp], [outp])
            op.grad = self.grad
            self.ops[tensor_type] = op
        return self.ops[tensor_type](x)


class GuidedBackprop(ModifiedBackprop):
    def grad(self, inputs, out_grads):
        (inp,), (grd,) = inputs, out_grads
        dtype = inp.dtype
        return (grd * (inp > 0).astype(dtype) * (grd > 0).astype(dtype),)


class ZeilerBackprop(ModifiedBackprop):
    def grad(self, inputs, out_grads):
        (grd,) = out_grads
        return (self.nonlinearity(grd),)


rng = np.random.RandomState(3)
W1 = rng.randn(6, 8).astype("float32")
W2 = rng.randn(8, 4).astype("float32")
X = rng.randn(5, 6).astype("float32")
maps = {}
for name, relu in (("plain", lasagne.nonlinearities.rectify),
                   ("guided", GuidedBackprop(lasagne.nonlinearities.rectify)),
                   ("deconv", ZeilerBackprop(lasagne.nonlinearities.rectify))):
    l_in = lasagne.layers.InputLayer((None, 6))
    l_hid = lasagne.layers.DenseLayer(l_in, 8, W=W1, b=None,
                                      nonlinearity=relu)
    l_out = lasagne.layers.DenseLayer(l_hid, 4, W=W2, b=None,
                                      nonlinearity=None)
    x = T.matrix("x")
    scores = lasagne.layers.get_output(l_out, x)
    chosen = scores[T.arange(x.shape[0]), scores.argmax(axis=1)]
    saliency = theano.grad(chosen.sum(), x)
    maps[name] = theano.function([x], saliency)(X)
np.savez(sys.argv[1], W1=W1, W2=W2, X=X, cuda_enabled=bool(
    theano.sandbox.cuda.cuda_enabled), **maps)
print("ok")
