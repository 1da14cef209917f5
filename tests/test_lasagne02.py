"""Lasagne 0.2's names on Lasagne 0.1 (issue 30, item 9;
lasagne_style/compat/lasagne02/): each layer and function checked
against a numpy computation written here from its definition."""
import pickle

import numpy as np
import pytest
import theano
import theano.tensor as T

import lasagne
from lasagne import layers as L
from lasagne_style.compat import lasagne02

floatX = theano.config.floatX


def f32(a):
    return np.asarray(a, dtype=floatX)


def close(got, expected, tol=1e-4):
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    scale = max(1.0, np.abs(expected).max())
    assert np.abs(got - expected).max() <= tol * scale, \
        np.abs(got - expected).max()


def output(layer, *values, **kwargs):
    """Evaluate ``layer`` with the values of its InputLayers (in the order
    of get_all_layers)."""
    inputs = [lay for lay in L.get_all_layers(layer)
              if isinstance(lay, L.InputLayer)]
    variables = [lay.input_var for lay in inputs]
    out = L.get_output(layer, **kwargs)
    return theano.function(variables, out)(*values)


@pytest.fixture
def rng():
    return np.random.RandomState(1)


# -- numpy references ---------------------------------------------------------

def correlate(X, K, stride=1, pad=0, dilation=1):
    """n-dimensional cross-correlation: X (N, C, ...), K (O, C, ...)."""
    X, K = np.asarray(X, np.float64), np.asarray(K, np.float64)
    n = X.ndim - 2
    stride, pad, dilation = ((v,) * n if np.isscalar(v) else tuple(v)
                             for v in (stride, pad, dilation))
    X = np.pad(X, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    ks = K.shape[2:]
    sizes = [(X.shape[2 + i] - (ks[i] - 1) * dilation[i] - 1) // stride[i]
             + 1 for i in range(n)]
    out = np.zeros((X.shape[0], K.shape[0]) + tuple(sizes))
    for offset in np.ndindex(*ks):
        window = tuple(slice(o * d, o * d + s * (m - 1) + 1, s) for
                       o, d, s, m in zip(offset, dilation, stride, sizes))
        patch = X[(slice(None), slice(None)) + window]
        out += np.einsum("oc,nc...->no...",
                         K[(slice(None), slice(None)) + offset], patch)
    return out


def scatter(Y, W, stride, crop, flip):
    """Transposed convolution written as a scatter: each input value adds
    ``W[c, f]`` (reversed unless ``flip``, see below) times itself to the
    output window it maps to; then ``crop`` is cut from every border.
    (A transposed convolution that does not flip cross-correlates the
    zero-dilated input with W, so it scatters W reversed.)"""
    Y, W = np.asarray(Y, np.float64), np.asarray(W, np.float64)
    n = Y.ndim - 2
    ks = W.shape[2:]
    if not flip:
        W = W[(slice(None), slice(None)) + (slice(None, None, -1),) * n]
    full = [(Y.shape[2 + i] - 1) * stride + ks[i] for i in range(n)]
    out = np.zeros((Y.shape[0], W.shape[1]) + tuple(full))
    for pos in np.ndindex(*Y.shape[2:]):
        window = tuple(slice(p * stride, p * stride + k)
                       for p, k in zip(pos, ks))
        out[(slice(None), slice(None)) + window] += np.einsum(
            "nc,cf...->nf...", Y[(slice(None), slice(None)) + pos], W)
    return out[(slice(None), slice(None)) +
               tuple(slice(crop, f - crop) for f in full)]


def bilinear(images, theta, out_rows, out_cols, border="nearest"):
    """The spatial transformer's sampling, pixel by pixel."""
    n, c, rows, cols = images.shape
    out = np.zeros((n, c, out_rows, out_cols))

    def fix(i, size):
        if border == "nearest":
            return min(max(i, 0), size - 1)
        if border == "wrap":
            return i % size
        period = 2 * (size - 1)
        i %= period
        return i if i < size else period - i

    for b in range(n):
        t = theta[b].reshape(2, 3)
        for i in range(out_rows):
            for j in range(out_cols):
                xt = -1 + 2 * j / (out_cols - 1)
                yt = -1 + 2 * i / (out_rows - 1)
                xs, ys = t @ [xt, yt, 1]
                px, py = (xs + 1) * (cols - 1) / 2, (ys + 1) * (rows - 1) / 2
                x0, y0 = int(np.floor(px)), int(np.floor(py))
                fx, fy = px - x0, py - y0
                for dy, wy in ((0, 1 - fy), (1, fy)):
                    for dx, wx in ((0, 1 - fx), (1, fx)):
                        out[b, :, i, j] += wy * wx * images[
                            b, :, fix(y0 + dy, rows), fix(x0 + dx, cols)]
    return out


# -- where the names are ------------------------------------------------------

PATHS = {
    "layers.special": ["BiasLayer", "ScaleLayer", "standardize",
                       "ExpressionLayer", "InverseLayer", "TransformerLayer",
                       "ParametricRectifierLayer", "prelu",
                       "RandomizedRectifierLayer", "rrelu",
                       "NonlinearityLayer"],
    "layers.normalization": ["BatchNormLayer", "batch_norm",
                             "StandardizationLayer", "instance_norm",
                             "layer_norm"],
    "layers.conv": ["TransposedConv2DLayer", "Deconv2DLayer",
                    "DilatedConv2DLayer", "Conv3DLayer",
                    "TransposedConv3DLayer", "Deconv3DLayer",
                    "BaseConvLayer"],
    "layers.pool": ["Pool1DLayer", "Upscale1DLayer", "Upscale2DLayer",
                    "Upscale3DLayer", "SpatialPyramidPoolingLayer"],
    "layers.noise": ["dropout_channels", "spatial_dropout",
                     "dropout_locations"],
    "layers.merge": ["autocrop", "autocrop_array_shapes"],
}


def test_names_are_where_lasagne_02_code_imports_them():
    import importlib
    for module, names in PATHS.items():
        sub = importlib.import_module("lasagne." + module)
        for name in names:
            assert getattr(L, name) is getattr(sub, name), (module, name)
            if module != "layers.special" or name != "NonlinearityLayer":
                assert name in sub.__all__, (module, name)
    for module, names in {
            "nonlinearities": ["elu", "selu", "SELU", "softplus",
                               "ScaledTanH", "ScaledTanh"],
            "objectives": ["categorical_accuracy", "binary_accuracy",
                           "binary_hinge_loss", "multiclass_hinge_loss",
                           "huber_loss"],
            "updates": ["adamax", "amsgrad"],
            "utils": ["collect_shared_vars", "int_types", "inspect_kwargs"]
    }.items():
        for name in names:
            assert hasattr(getattr(lasagne, module), name), (module, name)
    from lasagne.layers.special import TransformerLayer  # noqa: F401
    from lasagne.layers.conv import conv_input_length  # noqa: F401
    # Lasagne 0.1's own names are 0.1's objects
    assert L.NonlinearityLayer is L.dense.NonlinearityLayer
    assert L.special.NonlinearityLayer is L.dense.NonlinearityLayer
    assert L.DenseLayer is L.dense.DenseLayer
    assert L.LSTMLayer is L.recurrent.LSTMLayer
    assert L.MaxPool1DLayer.__module__ == "lasagne.layers.pool"
    assert lasagne.nonlinearities.leaky_rectify.leakiness == 0.01
    assert lasagne02.provided["lasagne.layers.special"]


def test_new_layers_pickle_by_their_lasagne_02_names():
    net = L.InputLayer((None, 2, 6, 6))
    net = L.batch_norm(L.TransposedConv2DLayer(net, 3, 3, stride=2))
    copy = pickle.loads(pickle.dumps(net))
    assert type(copy) is L.NonlinearityLayer
    assert type(copy.input_layer) is L.BatchNormLayer
    assert type(copy).__module__ == "lasagne.layers.dense"
    assert L.BatchNormLayer.__module__ == "lasagne.layers.normalization"
    assert L.TransformerLayer.__module__ == "lasagne.layers.special"


# -- nonlinearities, objectives, updates --------------------------------------

def test_nonlinearities(rng):
    x = T.vector()
    v = f32(np.concatenate([rng.randn(20) * 3, [0.0, 50.0, -50.0]]))
    nl = lasagne.nonlinearities
    funcs = [nl.elu(x), nl.selu(x), nl.softplus(x),
             nl.ScaledTanH(2 / 3., 1.7159)(x), nl.SELU(2, 3)(x),
             T.grad(nl.elu(x).sum(), x)]
    elu, selu, softplus, stanh, selu23, grad = theano.function([x], funcs)(v)
    v = v.astype(np.float64)
    close(elu, np.where(v > 0, v, np.exp(v) - 1))
    lam, alpha = 1.0507009873554805, 1.6732632423543772
    close(selu, lam * np.where(v > 0, v, alpha * (np.exp(v) - 1)))
    close(selu23, 2 * np.where(v > 0, v, 3 * (np.exp(v) - 1)))
    close(softplus, np.logaddexp(0, v))
    close(stanh, 1.7159 * np.tanh(2 / 3. * v))
    # finite everywhere (the unused exponential does not overflow)
    close(grad, np.where(v > 0, 1, np.exp(v)))


def test_accuracies_and_losses(rng):
    obj = lasagne.objectives
    p, t, ohe = T.matrix(), T.ivector(), T.matrix()
    P = f32(rng.rand(8, 5))
    P[0, 3] = P[0, 1] = 2.0  # a tie: the first wins
    tgt = np.array([1, 3, 0, 4, 4, 2, 1, 0], dtype="int32")
    onehot = f32(np.eye(5)[tgt])
    fn = theano.function([p, t, ohe], [
        obj.categorical_accuracy(p, t), obj.categorical_accuracy(p, ohe),
        obj.categorical_accuracy(p, t, top_k=3),
        obj.multiclass_hinge_loss(p, t, delta=0.5),
        obj.multiclass_hinge_loss(p, ohe)])
    acc, acc_ohe, top3, hinge, hinge_ohe = fn(P, tgt, onehot)
    close(acc, P.argmax(axis=1) == tgt, 0)
    close(acc_ohe, acc, 0)
    ranks = np.argsort(-P, axis=1, kind="stable")[:, :3]
    close(top3, [tgt[i] in ranks[i] for i in range(8)], 0)
    assert 0 < acc.sum() < top3.sum() < 8
    correct = P[np.arange(8), tgt]
    others = np.where(onehot > 0, -np.inf, P).max(axis=1)
    close(hinge, np.maximum(0, others - correct + 0.5))
    close(hinge_ohe, np.maximum(0, others - correct + 1))
    # binary
    q, y = T.vector(), T.vector()
    Q = f32(rng.rand(10) * 0.98 + 0.01)
    Yb = f32(rng.rand(10) > 0.5)
    fn = theano.function([q, y], [
        obj.binary_accuracy(q, y), obj.binary_accuracy(q, y, threshold=0.3),
        obj.binary_hinge_loss(q, y, log_odds=True),
        obj.binary_hinge_loss(q, y, delta=2, log_odds=False),
        obj.huber_loss(q, y, delta=0.4)])
    bacc, bacc3, hinge_lo, hinge_p, huber = fn(Q, Yb)
    close(bacc, (Q >= 0.5) == Yb, 0)
    close(bacc3, (Q >= 0.3) == Yb, 0)
    sign = 2 * Yb - 1.0
    close(hinge_lo, np.maximum(0, 1 - Q * sign))
    close(hinge_p, np.maximum(0, 2 - np.log(Q / (1 - Q)) * sign))
    r = np.abs(Yb - Q.astype(np.float64))
    close(huber, np.where(r <= 0.4, r ** 2 / 2, 0.4 * (r - 0.2)))
    with pytest.warns(FutureWarning):
        obj.binary_hinge_loss(q, y)


@pytest.mark.parametrize("rule", ["adamax", "amsgrad"])
def test_update_rules_match_their_formulas(rng, rule):
    w0 = rng.randn(4)
    A = rng.randn(4, 4)
    w = theano.shared(f32(w0))
    loss = T.sum(T.dot(f32(A), w) ** 2) + T.sum(w ** 3)
    kwargs = dict(learning_rate=0.01, beta1=0.8, beta2=0.9, epsilon=1e-4)
    step = theano.function([], loss, updates=getattr(
        lasagne.updates, rule)(loss, [w], **kwargs))
    lr, b1, b2, eps = (kwargs[k] for k in ("learning_rate", "beta1", "beta2",
                                           "epsilon"))
    m = u = v_hat = np.zeros(4)
    wn = w0.copy()
    for t in range(1, 4):
        step()
        g = 2 * A.T @ (A @ wn) + 3 * wn ** 2
        m = b1 * m + (1 - b1) * g
        if rule == "adamax":
            u = np.maximum(b2 * u, np.abs(g))
            wn = wn - lr / (1 - b1 ** t) * m / (u + eps)
        else:
            u = b2 * u + (1 - b2) * g ** 2
            v_hat = np.maximum(v_hat, u)
            wn = wn - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (
                np.sqrt(v_hat) + eps)
        close(w.get_value(), wn, 1e-5)


# -- batch normalisation and other normalisations ----------------------------

def test_batch_norm_training_inference_and_running_averages(rng):
    l_in = L.InputLayer((None, 3, 4, 5))
    conv = L.Conv2DLayer(l_in, 2, 3, nonlinearity=lasagne.nonlinearities.tanh,
                         name="conv")
    top = L.batch_norm(conv, alpha=0.3, epsilon=1e-3)
    bn = top.input_layer
    assert isinstance(bn, L.BatchNormLayer) and bn.name == "conv_bn"
    assert top.name == "conv_bn_nonlin"
    assert conv.b is None and conv.nonlinearity is \
        lasagne.nonlinearities.identity
    assert [p.name for p in L.get_all_params(top)] == \
        ["conv.W", "conv_bn.beta", "conv_bn.gamma", "conv_bn.mean",
         "conv_bn.inv_std"]
    assert [p.name for p in L.get_all_params(top, trainable=True)] == \
        ["conv.W", "conv_bn.beta", "conv_bn.gamma"]
    beta, gamma = f32(rng.randn(2)), f32(rng.rand(2) + 0.5)
    bn.beta.set_value(beta)
    bn.gamma.set_value(gamma)
    x = l_in.input_var
    train = theano.function([x], L.get_output(top))
    test = theano.function([x], L.get_output(top, deterministic=True))
    stats_only = theano.function([x], L.get_output(
        top, batch_norm_use_averages=False, batch_norm_update_averages=False))
    X1, X2 = f32(rng.randn(6, 3, 4, 5)), f32(rng.randn(6, 3, 4, 5) * 2 + 1)
    W = conv.W.get_value()
    mean, inv_std = np.zeros(2), np.ones(2)
    for X in (X1, X2):
        A = correlate(X, W[:, :, ::-1, ::-1])  # Conv2DLayer convolves
        mu, var = A.mean(axis=(0, 2, 3)), A.var(axis=(0, 2, 3))
        inv = 1 / np.sqrt(var + 1e-3)
        expected = np.tanh((A - mu[:, None, None]) *
                           (gamma * inv)[:, None, None] + beta[:, None, None])
        close(stats_only(X), expected)
        close(bn.mean.get_value(), mean)  # not updated by stats_only
        close(train(X), expected)
        mean = 0.7 * mean + 0.3 * mu
        inv_std = 0.7 * inv_std + 0.3 * inv
        close(bn.mean.get_value(), mean)
        close(bn.inv_std.get_value(), inv_std)
    A = correlate(X1, W[:, :, ::-1, ::-1])
    close(test(X1), np.tanh((A - mean[:, None, None]) *
                            (gamma * inv_std)[:, None, None] +
                            beta[:, None, None]))
    close(bn.mean.get_value(), mean)  # inference leaves them alone


def test_batch_norm_layer_options(rng):
    layer = L.BatchNormLayer(L.InputLayer((None, 4)), beta=None, gamma=None,
                             axes=0,
                             mode="low_mem")
    assert layer.axes == (0,) and layer.beta is None
    X = f32(rng.randn(7, 4))
    got = output(layer, X, batch_norm_update_averages=False)
    close(got, (X - X.mean(0)) / np.sqrt(X.var(0) + 1e-4))
    with pytest.raises(ValueError):
        L.BatchNormLayer((3, None, 5))


def test_standardization_instance_and_layer_norm(rng):
    X = f32(rng.randn(3, 4, 5, 6))
    l_in = L.InputLayer(X.shape)
    X64 = X.astype(np.float64)

    def standardized(axes):
        m = X64.mean(axis=axes, keepdims=True)
        return (X64 - m) / np.sqrt(X64.var(axis=axes, keepdims=True) + 1e-4)
    close(output(L.StandardizationLayer(l_in), X), standardized((2, 3)))
    close(output(L.StandardizationLayer(l_in, axes="features"), X),
          standardized((1, 2, 3)))
    conv = L.Conv2DLayer(l_in, 4, 1, nonlinearity=lasagne.nonlinearities.elu)
    top = L.instance_norm(conv)
    assert conv.b is None
    assert [type(lay).__name__ for lay in L.get_all_layers(top)][2:] == [
        "StandardizationLayer", "ScaleLayer", "BiasLayer",
        "NonlinearityLayer"]
    scale, bias = top.input_layer.input_layer, top.input_layer
    scale.scales.set_value(f32(rng.rand(4) + 0.5))
    bias.b.set_value(f32(rng.randn(4)))
    A = np.einsum("oc,nchw->nohw", conv.W.get_value()[:, :, 0, 0], X64)
    m = A.mean(axis=(2, 3), keepdims=True)
    Z = (A - m) / np.sqrt(A.var(axis=(2, 3), keepdims=True) + 1e-4)
    Z = Z * scale.scales.get_value()[:, None, None] + \
        bias.b.get_value()[:, None, None]
    close(output(top, X), np.where(Z > 0, Z, np.exp(Z) - 1))
    dense = L.DenseLayer(L.InputLayer((None, 6)), 5)
    top = L.layer_norm(dense)
    D = X64[:, 0, 0, :] @ dense.W.get_value()
    Z = (D - D.mean(1, keepdims=True)) / np.sqrt(D.var(1, keepdims=True) +
                                                  1e-4)
    close(output(top, X[:, 0, 0, :]), np.maximum(Z, 0))


# -- special layers -----------------------------------------------------------

def test_transformer_identity_rotation_and_zoom(rng):
    X = f32(rng.randn(2, 3, 7, 7))
    l_in = L.InputLayer((None, 3, 7, 7))
    identity = f32([1, 0, 0, 0, 1, 0])
    quarter = f32([0, -1, 0, 1, 0, 0])   # (x, y) -> (-y, x)
    b = np.stack([identity, quarter])
    l_theta = L.InputLayer((None, 6))
    layer = L.TransformerLayer(l_in, l_theta)
    assert layer.output_shape == (None, 3, 7, 7)
    fn = theano.function([l_in.input_var, l_theta.input_var],
                         L.get_output(layer))
    out = fn(X, b)
    close(out[0], X[0], 1e-5)
    close(out[1], np.rot90(X[1], k=1, axes=(1, 2)), 1e-5)
    # zoom out, move, shear, shrink the output: bilinear, edges repeated
    down = L.TransformerLayer(l_in, l_theta, downsample_factor=(2, 1.5))
    assert down.output_shape == (None, 3, 3, 4)
    theta = f32([[1.3, 0.2, 0.1, -0.1, 0.7, -0.25],
                 [0.6, -0.4, 0.5, 0.3, 1.1, 0.2]])
    out = theano.function([l_in.input_var, l_theta.input_var],
                          L.get_output(down))(X, theta)
    close(out, bilinear(X, theta, 3, 4), 1e-5)
    for border in ("mirror", "wrap"):
        layer = L.TransformerLayer(l_in, l_theta, border_mode=border)
        out = theano.function([l_in.input_var, l_theta.input_var],
                              L.get_output(layer))(X, theta)
        close(out, bilinear(X, theta, 7, 7, border), 1e-5)
    with pytest.raises(ValueError):
        L.TransformerLayer(l_in, L.InputLayer((None, 5)))


def test_transformer_learns_through_its_localization_network(rng):
    # the 2015 example: a dense localization net initialised to identity
    l_in = L.InputLayer((None, 1, 6, 6))
    l_loc = L.DenseLayer(l_in, 6, W=lasagne.init.Constant(0.0),
                         b=f32([1, 0, 0, 0, 1, 0]), nonlinearity=None)
    layer = L.TransformerLayer(l_in, l_loc)
    X = f32(rng.rand(2, 1, 6, 6))
    loss = T.sum(L.get_output(layer) * f32(rng.randn(2, 1, 6, 6)))
    grads = theano.function([l_in.input_var],
                            T.grad(loss, [l_loc.W, l_loc.b]))(X)
    assert all(np.isfinite(g).all() for g in grads)
    assert np.abs(grads[1]).sum() > 0


def test_parametric_and_randomized_rectifiers(rng):
    X = f32(rng.randn(4, 3, 2, 2))
    l_in = L.InputLayer(X.shape)
    layer = L.ParametricRectifierLayer(l_in)
    assert layer.alpha.get_value().shape == (3,)
    alpha = f32([0.1, 0.5, -0.2])
    layer.alpha.set_value(alpha)
    close(output(layer, X), np.where(X > 0, X, alpha[:, None, None] * X))
    one = L.ParametricRectifierLayer(l_in, alpha=lasagne.init.Constant(0.3),
                                     shared_axes="all")
    close(output(one, X), np.where(X > 0, X, 0.3 * X))
    conv = L.Conv2DLayer(l_in, 3, 1)
    top = L.prelu(conv)
    assert isinstance(top, L.ParametricRectifierLayer)
    assert conv.nonlinearity is lasagne.nonlinearities.identity
    # randomized: a slope in [lower, upper] per example and channel
    rr = L.RandomizedRectifierLayer(l_in, lower=0.2, upper=0.6)
    close(output(rr, X, deterministic=True), np.where(X > 0, X, 0.4 * X))
    Xn = -np.abs(X) - 0.1
    slopes = output(rr, Xn) / Xn
    assert ((slopes >= 0.2 - 1e-6) & (slopes <= 0.6 + 1e-6)).all()
    # shared over the positions
    close(slopes, np.broadcast_to(slopes[:, :, :1, :1], slopes.shape))
    # 'auto' shares a slope over every axis but the channels (Lasagne 0.2),
    # the examples included: one random slope per channel
    close(slopes, np.broadcast_to(slopes[:1], slopes.shape))
    assert np.ptp(slopes[0, :, 0, 0]) > 0
    assert isinstance(L.rrelu(L.DenseLayer(L.InputLayer((2, 3)), 2)),
                      L.RandomizedRectifierLayer)
    with pytest.raises(ValueError):
        L.RandomizedRectifierLayer(l_in, lower=0.7, upper=0.3)


def test_bias_scale_standardize_expression_inverse(rng):
    X = f32(rng.randn(5, 3, 2))
    l_in = L.InputLayer(X.shape)
    bias = L.BiasLayer(l_in, b=f32(rng.randn(3, 2)), shared_axes=0)
    close(output(bias, X), X + bias.b.get_value())
    scale = L.ScaleLayer(l_in)
    scale.scales.set_value(f32([1, 2, 3]))
    close(output(scale, X), X * np.array([1, 2, 3])[:, None])
    offset, sd = rng.randn(3), rng.rand(3) + 0.5
    std = L.standardize(l_in, offset, sd)
    close(output(std, X), (X - offset[:, None]) / sd[:, None])
    assert L.get_all_params(std, trainable=True) == []
    expr = L.ExpressionLayer(l_in, lambda v: v.mean(axis=-1),
                             output_shape="auto")
    assert expr.output_shape == (5, 3)
    close(output(expr, X), X.mean(axis=-1))
    assert L.ExpressionLayer((None, 4), T.sqr).output_shape == (None, 4)
    assert L.ExpressionLayer((None, 4), T.sqr, lambda s: (s[0], 2)) \
        .output_shape == (None, 2)
    # InverseLayer of a dense tanh layer: the transposed Jacobian
    dense_in = L.InputLayer((4, 6))
    dense = L.DenseLayer(dense_in, 3, nonlinearity=lasagne.nonlinearities.tanh)
    arriving = L.InputLayer((4, 3))
    inverse = L.InverseLayer(arriving, dense)
    assert inverse.output_shape == (4, 6)
    V, G = f32(rng.randn(4, 6)), f32(rng.randn(4, 3))
    got = theano.function([dense_in.input_var, arriving.input_var],
                          L.get_output(inverse))(V, G)
    Wd = dense.W.get_value().astype(np.float64)
    h = np.tanh(V @ Wd + dense.b.get_value())
    close(got, (G * (1 - h ** 2)) @ Wd.T)


# -- convolutions -------------------------------------------------------------

def test_transposed_conv_is_the_adjoint_of_the_convolution(rng):
    x_in = L.InputLayer((2, 3, 9, 8))
    conv = L.Conv2DLayer(x_in, 4, (3, 2), stride=2, pad=1, b=None,
                         nonlinearity=None)
    y_in = L.InputLayer(conv.output_shape)
    deconv = L.TransposedConv2DLayer(
        y_in, conv.input_shape[1], conv.filter_size, stride=conv.stride,
        crop=conv.pad, W=conv.W, b=None, nonlinearity=None,
        flip_filters=not conv.flip_filters, output_size=(9, 8))
    assert deconv.W is conv.W and deconv.output_shape == (2, 3, 9, 8)
    X, Y = f32(rng.randn(2, 3, 9, 8)), f32(rng.randn(*conv.output_shape))
    cx = theano.function([x_in.input_var], L.get_output(conv))(X)
    dy = theano.function([y_in.input_var], L.get_output(deconv))(Y)
    W = conv.W.get_value()
    close(cx, correlate(X, W[:, :, ::-1, ::-1], stride=2, pad=1))
    lhs = np.sum(cx.astype(np.float64) * Y)
    rhs = np.sum(X.astype(np.float64) * dy)
    assert abs(lhs - rhs) <= 1e-4 * abs(lhs), (lhs, rhs)
    # Deconv2DLayer, the smallest output, and the direct sum
    for crop, flip in ((0, False), (1, True), ("full", False),
                       ("same", True)):
        layer = L.Deconv2DLayer(L.InputLayer((2, 4, 5, 4)), 3, 3, stride=2,
                                crop=crop, flip_filters=flip,
                                nonlinearity=None)
        c = {"full": 2, "same": 1}.get(crop, crop)
        assert layer.output_shape == (2, 3, 4 * 2 - 2 * c + 3,
                                      3 * 2 - 2 * c + 3)
        Y = f32(rng.randn(2, 4, 5, 4))
        layer.b.set_value(f32(rng.randn(3)))
        close(output(layer, Y), scatter(Y, layer.W.get_value(), 2, c, flip) +
              layer.b.get_value()[:, None, None])
    assert L.conv.conv_input_length(5, 3, 2, "same") == 9
    assert L.conv.conv_input_length(None, 3, 2) is None


def test_transposed_conv_with_unknown_sizes(rng):
    layer = L.TransposedConv2DLayer(L.InputLayer((None, 2, None, None)), 3,
                                    (2, 3), stride=(3, 1), nonlinearity=None)
    assert layer.output_shape == (None, 3, None, None)
    assert layer.W.get_value().shape == (2, 3, 2, 3)
    Y = f32(rng.randn(1, 2, 3, 4))
    close(output(layer, Y), _scatter_anisotropic(Y, layer.W.get_value()))


def _scatter_anisotropic(Y, W):
    # stride (3, 1), no crop, flip_filters=False: reversed W scattered
    Wr = W[:, :, ::-1, ::-1].astype(np.float64)
    out = np.zeros((Y.shape[0], W.shape[1], (Y.shape[2] - 1) * 3 + 2,
                    Y.shape[3] - 1 + 3))
    for i in range(Y.shape[2]):
        for j in range(Y.shape[3]):
            out[:, :, 3 * i:3 * i + 2, j:j + 3] += np.einsum(
                "nc,cfab->nfab", Y[:, :, i, j], Wr)
    return out


def test_dilated_convolution(rng):
    X = f32(rng.randn(2, 3, 11, 10))
    layer = L.DilatedConv2DLayer(L.InputLayer(X.shape), 4, (3, 2),
                                 dilation=(2, 3), nonlinearity=None)
    W = layer.W.get_value()
    assert W.shape == (3, 4, 3, 2)
    assert layer.output_shape == (2, 4, 11 - 4, 10 - 3)
    layer.b.set_value(f32(rng.randn(4)))
    expected = np.zeros((2, 4, 7, 7))
    for a in range(3):
        for c in range(2):
            expected += np.einsum("cf,nchw->nfhw", W[:, :, a, c],
                                  X[:, :, 2 * a:2 * a + 7, 3 * c:3 * c + 7])
    close(output(layer, X), expected + layer.b.get_value()[:, None, None])
    close(expected, correlate(X, W.transpose(1, 0, 2, 3), dilation=(2, 3)))
    with pytest.raises(NotImplementedError):
        L.DilatedConv2DLayer(L.InputLayer(X.shape), 4, 3, pad=1)
    with pytest.raises(NotImplementedError):
        L.DilatedConv2DLayer(L.InputLayer(X.shape), 4, 3, flip_filters=True)


def test_conv3d_and_its_transpose(rng):
    X = f32(rng.randn(2, 2, 5, 4, 6))
    l_in = L.InputLayer(X.shape)
    conv = L.Conv3DLayer(l_in, 3, (3, 2, 3), stride=(1, 2, 2), pad=(1, 0, 1),
                         nonlinearity=None, b=None)
    W = conv.W.get_value()
    got = output(conv, X)
    expected = correlate(X, W[:, :, ::-1, ::-1, ::-1], stride=(1, 2, 2),
                         pad=(1, 0, 1))
    assert conv.output_shape == expected.shape
    close(got, expected)
    cross = L.Conv3DLayer(l_in, 3, 3, pad="same", flip_filters=False,
                          nonlinearity=None, b=None, untie_biases=True)
    close(output(cross, X), correlate(X, cross.W.get_value(), pad=1))
    y_in = L.InputLayer(conv.output_shape)
    deconv = L.TransposedConv3DLayer(
        y_in, 2, (3, 2, 3), stride=(1, 2, 2), crop=(1, 0, 1), W=conv.W,
        b=None, nonlinearity=None, output_size=X.shape[2:])
    Y = f32(rng.randn(*conv.output_shape))
    dy = output(deconv, Y)
    lhs, rhs = np.sum(got.astype(np.float64) * Y), np.sum(X * dy)
    assert abs(lhs - rhs) <= 1e-4 * abs(lhs), (lhs, rhs)


def test_conv1d_flip_filters(rng):
    X = f32(rng.randn(2, 3, 10))
    l_in = L.InputLayer(X.shape)
    conv = L.Conv1DLayer(l_in, 4, 3, pad=1, nonlinearity=None, b=None)
    cross = L.Conv1DLayer(l_in, 4, 3, pad=1, nonlinearity=None, b=None,
                          W=conv.W, flip_filters=False)
    assert conv.flip_filters and not cross.flip_filters
    W = conv.W.get_value()[:, :, None, :]
    X4 = X[:, :, None, :]
    close(output(conv, X), correlate(X4, W[..., ::-1], pad=(0, 1))[:, :, 0])
    close(output(cross, X), correlate(X4, W, pad=(0, 1))[:, :, 0])


# -- pooling and upscaling ----------------------------------------------------

def test_upscale_layers(rng):
    X = f32(rng.randn(2, 3, 4, 5))
    l_in = L.InputLayer((None, 3, None, 5))
    up = L.Upscale2DLayer(l_in, (2, 3))
    assert up.output_shape == (None, 3, None, 15)
    close(output(up, X), X.repeat(2, axis=2).repeat(3, axis=3))
    dil = L.Upscale2DLayer(l_in, 2, mode="dilate")
    expected = np.zeros((2, 3, 8, 10))
    expected[:, :, ::2, ::2] = X
    close(output(dil, X), expected)
    X1 = f32(rng.randn(2, 3, 4))
    close(output(L.Upscale1DLayer(L.InputLayer(X1.shape), 3), X1),
          X1.repeat(3, axis=2))
    X3 = f32(rng.randn(1, 2, 2, 3, 2))
    close(output(L.Upscale3DLayer(L.InputLayer(X3.shape), (1, 2, 3)), X3),
          X3.repeat(2, axis=3).repeat(3, axis=4))
    with pytest.raises(ValueError):
        L.Upscale2DLayer(l_in, 0)


def test_pool1d_and_spatial_pyramid_pooling(rng):
    X = f32(rng.randn(2, 3, 11))
    for mode, reduce in (("max", np.max), ("average_inc_pad", np.mean)):
        layer = L.Pool1DLayer(L.InputLayer(X.shape), 3, stride=2, mode=mode)
        expected = np.stack([reduce(X[:, :, i:i + 3], axis=2)
                             for i in range(0, 9, 2)], axis=2)
        assert layer.output_shape == expected.shape
        close(output(layer, X), expected)
    X = f32(rng.randn(2, 3, 8, 7))  # 8 in 3 bins: 'fast' and 'kaiming' differ
    for impl in ("kaiming", "fast"):
        layer = L.SpatialPyramidPoolingLayer(
            L.InputLayer((None, 3, None, None)), [3, 1], implementation=impl)
        assert layer.output_shape == (None, 3, 10)
        parts = []
        for n in (3, 1):
            for i in range(n):
                for j in range(n):
                    if impl == "kaiming":
                        r = slice(i * 8 // n, -(-(i + 1) * 8 // n))
                        c = slice(j * 7 // n, -(-(j + 1) * 7 // n))
                    else:  # windows ceil(size / n) every floor(size / n)
                        r = slice(i * (8 // n), i * (8 // n) + -(-8 // n))
                        c = slice(j * (7 // n), j * (7 // n) + -(-7 // n))
                    parts.append(X[:, :, r, c].max(axis=(2, 3)))
        close(output(layer, X), np.stack(parts, axis=2))


# -- options added to Lasagne 0.1's classes ----------------------------------

def test_only_return_final_is_the_last_step(rng):
    X = f32(rng.randn(3, 5, 4))
    mask = f32([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]])
    l_in = L.InputLayer((None, None, 4))
    l_mask = L.InputLayer((None, None))
    for cls in (L.LSTMLayer, L.GRULayer, L.RecurrentLayer):
        for backwards in (False, True):
            full = cls(l_in, 6, backwards=backwards, mask_input=l_mask)
            final = cls(l_in, 6, backwards=backwards, mask_input=l_mask,
                        only_return_final=True)
            assert full.output_shape == (None, None, 6)
            assert final.output_shape == (None, 6)
            lasagne.layers.set_all_param_values(
                final, lasagne.layers.get_all_param_values(full))
            fn = theano.function([l_in.input_var, l_mask.input_var],
                                 [L.get_output(full), L.get_output(final)])
            all_steps, last = fn(X, mask)
            assert last.shape == (3, 6)
            close(last, all_steps[:, 0 if backwards else -1], 1e-6)
            assert np.abs(last).max() > 1e-3


def test_initial_state_given_by_a_layer(rng):
    X = f32(rng.randn(2, 4, 3))
    l_in = L.InputLayer((2, 4, 3))
    ctx = L.InputLayer((2, 5))
    l_h0 = L.DenseLayer(ctx, 6, nonlinearity=lasagne.nonlinearities.tanh)
    rnn = L.RecurrentLayer(l_in, 6, hid_init=l_h0, only_return_final=True,
                           nonlinearity=lasagne.nonlinearities.tanh)
    assert l_h0 in L.get_all_layers(rnn)
    assert l_h0.W in L.get_all_params(rnn)
    C = f32(rng.randn(2, 5))
    got = theano.function([l_in.input_var, ctx.input_var],
                          L.get_output(rnn))(X, C)
    h = np.tanh(C @ l_h0.W.get_value() + l_h0.b.get_value())
    for t in range(4):
        h = np.tanh(X[:, t] @ rnn.W_in_to_hid.get_value() + rnn.b.get_value()
                    + h @ rnn.W_hid_to_hid.get_value())
    close(got, h)
    # an LSTM whose initial states come from layers equals one whose
    # learned initial states hold the same values
    c0, h0 = f32(rng.randn(6)), f32(rng.randn(6))
    ctx3 = L.InputLayer((None, 2))
    lstm = L.LSTMLayer(l_in, 6, cell_init=L.DenseLayer(
        ctx3, 6, W=lasagne.init.Constant(0.), b=c0, nonlinearity=None),
        hid_init=L.DenseLayer(ctx3, 6, W=lasagne.init.Constant(0.), b=h0,
                              nonlinearity=None))
    ref = L.LSTMLayer(l_in, 6, cell_init=c0[None], hid_init=h0[None])
    L.set_all_param_values(ref, [p.get_value() for p in
                                 L.get_all_params(lstm)
                                 if p.name not in ("W", "b")] + [c0[None],
                                                                 h0[None]])
    got = theano.function([l_in.input_var, ctx3.input_var],
                          L.get_output(lstm))(X, f32(rng.randn(2, 2)))
    close(got, output(ref, X), 1e-6)


def test_dense_num_leading_axes(rng):
    X = f32(rng.randn(2, 3, 4, 5))
    l_in = L.InputLayer(X.shape)
    two = L.DenseLayer(l_in, 6, num_leading_axes=2)
    assert two.output_shape == (2, 3, 6) and two.W.get_value().shape == (20, 6)
    W, b = two.W.get_value(), two.b.get_value()
    close(output(two, X), np.maximum(X.reshape(2, 3, 20) @ W + b, 0))
    last = L.DenseLayer(l_in, 6, num_leading_axes=-1, nonlinearity=None)
    assert last.output_shape == (2, 3, 4, 6)
    close(output(last, X), X @ last.W.get_value() + last.b.get_value())
    one = L.DenseLayer(l_in, 6)  # Lasagne 0.1's
    assert one.output_shape == (2, 6) and one.num_leading_axes == 1
    with pytest.raises(ValueError):
        L.DenseLayer(l_in, 6, num_leading_axes=4)


def test_dropout_shared_axes(rng):
    X = f32(rng.rand(8, 6, 3, 4) + 1)
    l_in = L.InputLayer((None, 6, 3, 4))
    chan = L.dropout_channels(l_in, p=0.5)
    assert chan.shared_axes == (2, 3)
    out = output(chan, X)
    kept = out / (2 * X)  # 0 or 1
    assert set(np.unique(np.round(kept, 5))) == {0.0, 1.0}
    close(kept, np.broadcast_to(kept[:, :, :1, :1], kept.shape))
    assert 0.2 < kept.mean() < 0.8
    loc = L.dropout_locations(l_in, p=0.5, rescale=False)
    kept = output(loc, X) / X
    close(kept, np.broadcast_to(kept[:, :1], kept.shape))
    close(output(chan, X, deterministic=True), X)
    plain = L.DropoutLayer(l_in, p=0.5)  # Lasagne 0.1's: a mask per value
    kept = output(plain, X) / (2 * X)
    assert np.abs(kept - kept[:, :, :1, :1]).max() > 0.5


def test_merge_cropping(rng):
    A, B = f32(rng.randn(2, 3, 5, 6)), f32(rng.randn(2, 2, 3, 8))
    la, lb = L.InputLayer((None, 3, 5, 6)), L.InputLayer((None, 2, 3, 8))
    cat = L.ConcatLayer([la, lb], cropping=[None, None, "center", "center"])
    assert cat.output_shape == (None, 5, 3, 6)
    fn = theano.function([la.input_var, lb.input_var], L.get_output(cat))
    close(fn(A, B), np.concatenate([A[:, :, 1:4], B[:, :, :, 1:7]], axis=1))
    lc = L.InputLayer((None, 3, 3, 8))
    C = f32(rng.randn(2, 3, 3, 8))
    add = L.ElemwiseSumLayer([la, lc], coeffs=[1, -2],
                             cropping=[None, None, "lower", "upper"])
    assert add.output_shape == (None, 3, 3, 6)
    fn = theano.function([la.input_var, lc.input_var], L.get_output(add))
    close(fn(A, C), A[:, :, :3] - 2 * C[:, :, :, 2:])
    mul = L.ElemwiseMergeLayer([la, lc], T.mul, cropping=[None] * 4)
    with pytest.raises(ValueError):
        mul.output_shape
    assert L.autocrop_array_shapes([(1, 2, 3), (1, None, 5)],
                                   [None, "lower", "center"]) == \
        [(1, None, 3), (1, None, 3)]


def test_expressions_as_parameters_tied_weights(rng):
    l_in = L.InputLayer((None, 6))
    enc = L.DenseLayer(l_in, 3, nonlinearity=None)
    dec = L.DenseLayer(enc, 6, W=enc.W.T, nonlinearity=None)
    assert dec.W.ndim == 2 and dec.W is not enc.W
    params = L.get_all_params(dec)
    assert params == [enc.W, enc.b, dec.b]
    assert dec.get_params(unwrap_shared=False)[0] is dec.W
    assert L.count_params(dec) == 18 + 3 + 6
    X = f32(rng.randn(4, 6))
    W, b1, b2 = enc.W.get_value(), enc.b.get_value(), dec.b.get_value()
    close(output(dec, X), (X @ W + b1) @ W.T + b2)
    loss = T.sum(L.get_output(dec) ** 2)
    step = theano.function([l_in.input_var], loss,
                           updates=lasagne.updates.sgd(loss, params, 0.01))
    step(X)
    assert not np.allclose(enc.W.get_value(), W)
    with pytest.raises(RuntimeError):
        L.DenseLayer(enc, 6, W=T.vector())
    assert lasagne.utils.collect_shared_vars(enc.W.T + enc.W.T) == [enc.W]
    assert lasagne.utils.inspect_kwargs(
        lambda a, b=1, *c, d=2, **e: None) == ["b", "d"]


# -- a program of the Lasagne-master era, in a fresh interpreter -------------

def test_lasagne_master_era_program(tmp_path):
    """tests/legacy/lasagne02_program.py: a spatial transformer, a
    batch-normalised CNN, a transposed-convolution decoder, AdaMax and
    categorical_accuracy, recomputed here in numpy from its parameters."""
    import os
    import subprocess
    import sys
    from conftest import ROOT
    env = {k: v for k, v in os.environ.items()
           if k not in ("THEANO_FLAGS", "THEANORC")}
    # the program never imports lasagne_style: the start-up file does, and
    # must find this tree's
    env["PYTHONPATH"] = ROOT
    out = tmp_path / "run.npz"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "legacy",
                                      "lasagne02_program.py"), str(out)],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    d = {k: v.astype(np.float64) if v.dtype.kind == "f" else v
         for k, v in np.load(out).items()}
    X, y = d["X"], d["y"]
    assert np.isfinite(d["losses"]).all() and str(d["pickled_type"]) == \
        "NonlinearityLayer"

    def elu(a):
        return np.where(a > 0, a, np.exp(np.minimum(a, 0)) - 1)

    def forward(X, batch_statistics):
        n = X.shape[0]
        pooled = X.reshape(n, 1, 6, 2, 6, 2).max(axis=(3, 5))
        theta = pooled.reshape(n, -1) @ d["loc_W"] + d["loc_b"]
        h = bilinear(X, theta, 12, 12)
        stats = []
        for i, stride, pad in ((1, 1, 1), (2, 2, 0)):
            W = d["conv%d_W" % i]
            a = correlate(h, W[:, :, ::-1, ::-1], stride=stride, pad=pad)
            if batch_statistics:
                mu = a.mean(axis=(0, 2, 3))
                inv = 1 / np.sqrt(a.var(axis=(0, 2, 3)) + 1e-4)
            else:
                mu, inv = d["bn%d_mean_before" % i], \
                    d["bn%d_inv_std_before" % i]
            stats.append((mu, inv))
            h = elu((a - mu[:, None, None]) *
                    (d["bn%d_gamma" % i] * inv)[:, None, None] +
                    d["bn%d_beta" % i][:, None, None])
        logits = h.mean(axis=(2, 3)) @ d["prob_W"] + d["prob_b"]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)
        recon = scatter(h, d["decoded_W"], 2, 0, flip=False) + \
            d["decoded_b"][:, None, None]
        return probs, recon, stats

    probs, recon, _ = forward(X, False)
    close(d["probs"], probs)
    close(d["recon"], recon)
    close(d["acc"], np.mean(probs.argmax(axis=1) == y), 1e-6)
    # training mode: the running averages moved 10 % towards the batch's
    _, _, stats = forward(X[:8], True)
    for i, (mu, inv) in enumerate(stats, start=1):
        close(d["bn%d_mean" % i], 0.9 * d["bn%d_mean_before" % i] + 0.1 * mu)
        close(d["bn%d_inv_std" % i],
              0.9 * d["bn%d_inv_std_before" % i] + 0.1 * inv)
        assert not np.allclose(d["bn%d_mean" % i], d["bn%d_mean_before" % i])
