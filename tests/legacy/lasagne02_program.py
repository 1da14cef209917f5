"""A script of the Lasagne-master era (2016-2017), as its users wrote them
after ``pip install https://github.com/Lasagne/Lasagne/archive/master.zip``:
a spatial transformer in front of a batch-normalised CNN with ELUs, a
classifier head and a transposed-convolution decoder, trained a few steps
with AdaMax, measured with ``categorical_accuracy``. Written for the tests
(our own code); it never imports lasagne_style: the environment must
provide Lasagne 0.2's names.

usage: python lasagne02_program.py OUT.npz
"""
import pickle
import sys

import numpy as np
import theano
import theano.tensor as T
import lasagne
from lasagne.layers import (InputLayer, DenseLayer, Conv2DLayer,
                            MaxPool2DLayer, GlobalPoolLayer, batch_norm,
                            TransformerLayer, TransposedConv2DLayer,
                            get_output, get_all_params, get_all_layers)
from lasagne.layers.normalization import BatchNormLayer
from lasagne.nonlinearities import elu, softmax
from lasagne.objectives import (categorical_crossentropy,
                                categorical_accuracy, squared_error)
from lasagne.updates import adamax

out_path = sys.argv[1]
lasagne.random.set_rng(np.random.RandomState(3))
rng = np.random.RandomState(4)

# synthetic data: 12x12 images of three classes (a bar in three places)
X = rng.rand(24, 1, 12, 12).astype(theano.config.floatX) * 0.3
y = np.arange(24).astype("int32") % 3
for i, label in enumerate(y):
    X[i, 0, 2 + 3 * label:5 + 3 * label, 2:10] += 1.0


def build_model(input_var=None):
    net = {}
    net['input'] = InputLayer((None, 1, 12, 12), input_var=input_var)
    # localization network initialised to the identity transform
    b = np.zeros((2, 3), dtype='float32')
    b[0, 0] = 1
    b[1, 1] = 1
    net['loc_pool'] = MaxPool2DLayer(net['input'], 2)
    net['loc'] = DenseLayer(net['loc_pool'], 6, W=lasagne.init.Constant(0.0),
                            b=b.flatten(), nonlinearity=None)
    net['st'] = TransformerLayer(net['input'], net['loc'])
    net['conv1'] = batch_norm(Conv2DLayer(net['st'], 4, 3, pad=1,
                                          nonlinearity=elu, name='conv1'))
    net['conv2'] = batch_norm(Conv2DLayer(net['conv1'], 6, 3, stride=2,
                                          nonlinearity=elu, name='conv2'))
    net['prob'] = DenseLayer(GlobalPoolLayer(net['conv2']), 3,
                             nonlinearity=softmax)
    net['decoded'] = TransposedConv2DLayer(net['conv2'], 1, 4, stride=2,
                                           nonlinearity=None)
    return net


input_var = T.tensor4('inputs')
target_var = T.ivector('targets')
net = build_model(input_var)
prob, decoded = get_output([net['prob'], net['decoded']])
loss = categorical_crossentropy(prob, target_var).mean() + \
    squared_error(decoded, input_var).mean()
params = get_all_params([net['prob'], net['decoded']], trainable=True)
updates = adamax(loss, params, learning_rate=0.01)
train_fn = theano.function([input_var, target_var], loss, updates=updates)

test_prob, test_decoded = get_output([net['prob'], net['decoded']],
                                     deterministic=True)
test_acc = T.mean(categorical_accuracy(test_prob, target_var))
val_fn = theano.function([input_var, target_var],
                         [test_prob, test_decoded, test_acc])

losses = [float(train_fn(X[i:i + 8], y[i:i + 8]))
          for epoch in range(3) for i in range(0, 24, 8)]
probs, recon, acc = val_fn(X, y)

# one more training-mode pass that only refreshes the running averages
bn_layers = [layer for layer in get_all_layers(net['prob'])
             if isinstance(layer, BatchNormLayer)]
before = [(bn.mean.get_value(), bn.inv_std.get_value()) for bn in bn_layers]
refresh = theano.function([input_var], get_output(net['prob']))
refresh(X[:8])

result = dict(X=X, y=y, losses=np.array(losses), probs=probs, recon=recon,
              acc=acc, pickled_type=type(pickle.loads(
                  pickle.dumps(net['conv1']))).__name__)
for name in ('loc', 'prob', 'decoded'):
    for p in net[name].get_params():
        result['%s_%s' % (name, p.name)] = p.get_value()
for i, bn in enumerate(bn_layers):
    conv = bn.input_layer
    result['conv%d_W' % (i + 1)] = conv.W.get_value()
    for p in bn.get_params():
        result['bn%d_%s' % (i + 1, p.name.split('.')[-1])] = p.get_value()
    result['bn%d_mean_before' % (i + 1)] = before[i][0]
    result['bn%d_inv_std_before' % (i + 1)] = before[i][1]
np.savez(out_path, **result)
print("losses", " ".join("%.4f" % v for v in losses), "accuracy", acc)
