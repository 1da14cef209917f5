"""A recurrent net of the Theano 0.8 / Lasagne 0.1 era, as its users wrote
it: an Elman RNN with theano.scan and its gradient (backpropagation through
time), and Lasagne's LSTMLayer. Written for the tests; it never imports
lasagne_style.

usage: python recurrent_scan.py OUT.npz
"""
import sys

import numpy as np
import theano
import theano.tensor as T
import lasagne

rng = np.random.RandomState(42)
steps, batch, n_in, n_hid = 7, 3, 4, 5
X = rng.randn(steps, batch, n_in).astype(theano.config.floatX)
W = theano.shared(rng.randn(n_in, n_hid).astype("float32") * 0.5, name="W")
U = theano.shared(rng.randn(n_hid, n_hid).astype("float32") * 0.5, name="U")
b = theano.shared(rng.randn(n_hid).astype("float32") * 0.1, name="b")

x = T.tensor3("x")
h0 = T.zeros((x.shape[1], n_hid), dtype=theano.config.floatX)


def step(x_t, h_prev, W, U, b):
    return T.tanh(T.dot(x_t, W) + T.dot(h_prev, U) + b)


h, updates = theano.scan(step, sequences=x, outputs_info=h0,
                         non_sequences=[W, U, b])
loss = T.sum(h[-1] ** 2) + 0.1 * T.sum(h)
grads = T.grad(loss, [W, U, b])
rnn = theano.function([x], [h, loss] + grads, updates=updates)
H, L, gW, gU, gb = rnn(X)

# Lasagne 0.1's LSTM (batch, time, features), without peepholes
l_in = lasagne.layers.InputLayer((None, steps, n_in))
l_lstm = lasagne.layers.LSTMLayer(l_in, n_hid, peepholes=False)
for param in l_lstm.get_params():
    value = param.get_value()
    param.set_value(rng.uniform(-0.5, 0.5, value.shape).astype(value.dtype))
xs = T.tensor3("xs")
lstm = theano.function([xs], lasagne.layers.get_output(l_lstm, xs))
Xb = X.transpose(1, 0, 2).copy()
compiled = sys.modules.get("theano.scan_module.scan_perform_ext") is not None
np.savez(sys.argv[1], X=X, W=W.get_value(), U=U.get_value(),
         b=b.get_value(), H=H, loss=L, gW=gW, gU=gU, gb=gb, Xb=Xb,
         lstm=lstm(Xb), compiled=compiled,
         **{"lstm_" + p.name: p.get_value() for p in l_lstm.get_params()})
print("ok", "compiled scan" if compiled else "python scan")
