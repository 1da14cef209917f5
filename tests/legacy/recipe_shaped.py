"""An original-style Theano/Lasagne style-transfer script, written the way
the Lasagne Recipes notebook and the course homework are (our own code, not
a copy): plain ``import lasagne``, the recipe's layers and losses, weights
from a model-zoo pickle, scipy's L-BFGS. It never imports lasagne_style: the
environment must make it work.

Usage: python recipe_shaped.py WEIGHTS.pkl CONTENT STYLE OUTDIR {dnn|hint}
"""
import os
import pickle
import sys

import lasagne
import numpy as np
import scipy.optimize
import skimage.io
import skimage.transform
import theano
import theano.tensor as T
from lasagne.layers import InputLayer
from lasagne.layers import Pool2DLayer as PoolLayer
from lasagne.utils import floatX

weights_path, content_path, style_path, outdir, variant = sys.argv[1:6]
if variant == "dnn":
    from lasagne.layers.dnn import Conv2DDNNLayer as ConvLayer
else:  # the homework's one-line hint for machines without cuDNN
    from lasagne.layers import Conv2DLayer as ConvLayer

SIZE = 48
MEAN_VALUES = np.array([104, 117, 123]).reshape((3, 1, 1))
BLOCKS = [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]


def build_model():
    net = {"input": InputLayer((1, 3, SIZE, SIZE))}
    layer = net["input"]
    for block, (filters, count) in enumerate(BLOCKS, start=1):
        for i in range(1, count + 1):
            layer = ConvLayer(layer, filters, 3, pad=1, flip_filters=False)
            net["conv%d_%d" % (block, i)] = layer
        layer = PoolLayer(layer, 2, mode="average_exc_pad")
        net["pool%d" % block] = layer
    return net


def prep_image(path):
    im = skimage.io.imread(path)[:, :, :3]
    h, w, _ = im.shape
    if h < w:
        im = skimage.transform.resize(im, (SIZE, w * SIZE // h),
                                      preserve_range=True)
    else:
        im = skimage.transform.resize(im, (h * SIZE // w, SIZE),
                                      preserve_range=True)
    h, w, _ = im.shape
    im = im[h // 2 - SIZE // 2:h // 2 + SIZE // 2,
            w // 2 - SIZE // 2:w // 2 + SIZE // 2]
    rawim = np.copy(im).astype("uint8")
    im = np.swapaxes(np.swapaxes(rawim, 1, 2), 0, 1)[::-1] - MEAN_VALUES
    return rawim, floatX(im[np.newaxis])


def deprocess(x):
    x = np.copy(x[0])[::-1] + MEAN_VALUES
    x = np.swapaxes(np.swapaxes(x, 0, 1), 1, 2)
    return np.clip(x, 0, 255).astype("uint8")


def gram_matrix(x):
    x = x.flatten(ndim=3)
    return T.tensordot(x, x, axes=([2], [2]))


def content_loss(P, X, layer):
    return 1. / 2 * ((X[layer] - P[layer]) ** 2).sum()


def style_loss(A, X, layer):
    a, x = A[layer], X[layer]
    N, M = a.shape[1], a.shape[2] * a.shape[3]
    return 1. / (4 * N ** 2 * M ** 2) * (
        (gram_matrix(x) - gram_matrix(a)) ** 2).sum()


def total_variation_loss(x):
    return (((x[:, :, :-1, :-1] - x[:, :, 1:, :-1]) ** 2
             + (x[:, :, :-1, :-1] - x[:, :, :-1, 1:]) ** 2) ** 1.25).sum()


net = build_model()
with open(weights_path, "rb") as f:  # the one edit Python 3 forces
    values = pickle.load(f, encoding="latin-1")["param values"]
lasagne.layers.set_all_param_values(net["pool5"], values)

raw_content, photo = prep_image(content_path)
raw_style, art = prep_image(style_path)
skimage.io.imsave(os.path.join(outdir, "content.png"), raw_content)
skimage.io.imsave(os.path.join(outdir, "style.png"), raw_style)

layers = ["conv4_2", "conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
layers = {k: net[k] for k in layers}
input_im = T.tensor4()
outputs = lasagne.layers.get_output(layers.values(), input_im)
photo_features = {k: theano.shared(output.eval({input_im: photo}))
                  for k, output in zip(layers.keys(), outputs)}
art_features = {k: theano.shared(output.eval({input_im: art}))
                for k, output in zip(layers.keys(), outputs)}
np.save(os.path.join(outdir, "conv1_1.npy"),
        photo_features["conv1_1"].get_value())

generated = theano.shared(floatX(np.random.RandomState(0).uniform(
    -128, 128, (1, 3, SIZE, SIZE))))
gen_features = dict(zip(layers.keys(), lasagne.layers.get_output(
    layers.values(), generated)))
total_loss = (0.001 * content_loss(photo_features, gen_features, "conv4_2")
              + sum(0.2e6 * style_loss(art_features, gen_features, layer)
                    for layer in ["conv1_1", "conv2_1", "conv3_1", "conv4_1",
                                  "conv5_1"])
              + 0.1e-7 * total_variation_loss(generated))
grad = T.grad(total_loss, generated)
f_loss = theano.function([], total_loss)
f_grad = theano.function([], grad)


def eval_loss(x0):
    generated.set_value(floatX(x0.reshape((1, 3, SIZE, SIZE))))
    return f_loss().astype("float64")


def eval_grad(x0):
    generated.set_value(floatX(x0.reshape((1, 3, SIZE, SIZE))))
    return np.array(f_grad()).flatten().astype("float64")


x0 = generated.get_value().astype("float64")
for i in range(2):
    scipy.optimize.fmin_l_bfgs_b(eval_loss, x0.flatten(), fprime=eval_grad,
                                 maxfun=5)
    x0 = generated.get_value().astype("float64")

# score the saved 8-bit image with the script's own loss
result = deprocess(x0)
skimage.io.imsave(os.path.join(outdir, "result.png"), result)
eight_bit = floatX(np.swapaxes(np.swapaxes(result, 1, 2), 0, 1)[::-1]
                   - MEAN_VALUES)[np.newaxis]
print("loss %.9g" % eval_loss(eight_bit))
