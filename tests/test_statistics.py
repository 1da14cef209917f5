"""Style statistics against numpy, their gradients, what optimising each
one constrains, and style blending."""
import numpy as np
import pytest

import reference
from conftest import compiled_objective, sample
from lasagne_style import api, images, statistics
from lasagne_style.errors import UserError
from lasagne_style.config import preset


def numpy_components(name, F, layer):
    M = F.shape[1]
    mu = F.mean(axis=1)
    if name == "gram":
        return [F @ F.T / M]
    if name == "mean":
        return [mu]
    if name == "meancov":
        C = F - mu[:, None]
        return [mu, C @ C.T / M]
    R = statistics.rotation(F.shape[0], sum(map(ord, layer))).astype(float)
    return [np.sort(R @ F, axis=1)]


@pytest.mark.parametrize("name", sorted(statistics.STATISTICS))
def test_components_equal_numpy(rng, name):
    import theano
    import theano.tensor as T
    F = np.abs(rng.randn(64, 150)).astype(np.float32)
    Fv = T.matrix("F")
    M = T.cast(Fv.shape[1], "float32")
    fn = theano.function([Fv], statistics.get(name).components(Fv, M,
                                                               "conv1_1"))
    for ours, expected in zip(fn(F), numpy_components(name, F.astype(float),
                                                      "conv1_1")):
        np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5)


def test_rotation_is_orthogonal_and_fixed():
    R = statistics.rotation(64, 5)
    np.testing.assert_allclose(R @ R.T, np.eye(64), atol=1e-5)
    np.testing.assert_array_equal(R, statistics.rotation(64, 5))


def test_layer_coefficients(rng):
    A = rng.rand(8, 8)
    mu = rng.rand(8)
    # gram: exactly the recipe's 1/(4 N^2)
    assert statistics.layer_coefficients([A], A)[0] == pytest.approx(
        1 / (4.0 * 64))
    # two components: mean relative errors, scaled by ||A||^2 / (4 N^2)
    c = statistics.layer_coefficients([mu, A], A)
    scale = np.sum(A ** 2) / 256.0
    assert c[0] == pytest.approx(scale / (2 * np.sum(mu ** 2)))
    assert c[1] == pytest.approx(scale / (2 * np.sum(A ** 2)))
    with pytest.raises(UserError, match="unknown statistic"):
        statistics.get("median")


def target_for(objective, path, shape):
    x = images.preprocess(images.resize(images.load_image(path), shape))
    return objective.style_target([x])


@pytest.mark.parametrize("name", ["mean", "meancov"])
def test_objective_gradient_matches_finite_differences(rng, name):
    objective = compiled_objective(preset("default", content_weight=0.0,
                                         statistic=name))
    shape = (1, 3, 32, 32)
    objective.set_targets(shape, None, target_for(objective,
                                                  sample("cork.png"),
                                                  (40, 40)))
    x = rng.uniform(-100, 100, shape).astype(np.float32)
    _, _, grad = objective(x)
    for _ in range(2):
        d = rng.randn(*shape).astype(np.float32)
        d /= np.linalg.norm(d)
        numeric = (objective(x + d)[0] - objective(x - d)[0]) / 2.0
        analytic = float(np.sum(grad.astype(np.float64) * d))
        assert numeric == pytest.approx(analytic, rel=3e-2,
                                        abs=1e-3 * np.linalg.norm(grad))


def test_sliced_gradient_matches_finite_differences_in_float64(rng):
    # Sorting makes the loss piecewise smooth: check it in float64 with a
    # small step, where no two values swap order.
    import theano
    import theano.tensor as T
    F = rng.rand(64, 40)
    target = np.sort(rng.rand(64, 40), axis=1)
    Fv = T.dmatrix("F")
    (q,) = statistics.get("sliced").components(Fv, np.float64(40), "conv1_1")
    loss = T.sqr(q - target).sum()
    f = theano.function([Fv], [loss, T.grad(loss, Fv)])
    value, grad = f(F)
    for _ in range(3):
        d = rng.randn(*F.shape)
        h = 1e-7  # well below the smallest gap between projected values
        numeric = (f(F + h * d)[0] - f(F - h * d)[0]) / (2 * h)
        assert numeric == pytest.approx(np.sum(grad * d), rel=1e-4)
    # every position receives a gradient (quantile picks would leave most
    # positions without one at large M)
    assert np.all(np.abs(grad).sum(axis=0) > 0)


def test_quantile_targets_are_resampled_to_the_image_size(rng):
    stat = statistics.get("sliced")
    sorted_rows = np.sort(rng.rand(3, 1000), axis=1)
    (target,) = stat.to_target([sorted_rows])
    assert target.shape == (3, statistics.QUANTILES)
    (back,) = stat.from_target([target], 1000)
    np.testing.assert_allclose(back, sorted_rows, atol=0.02)
    (small,) = stat.from_target([target], 10)
    np.testing.assert_allclose(small, np.quantile(sorted_rows, (np.arange(10)
                                                                + 0.5) / 10,
                                                  axis=1).T, atol=0.02)


def real_features(path, layer="conv2_1", size=40):
    import lasagne
    import theano
    from lasagne_style import vgg
    net = vgg.build(api.load_weights(), layer)
    fn = theano.function([net["input"].input_var],
                         lasagne.layers.get_output(net[layer]))
    rgb = images.resize(images.load_image(path), (size, size))
    F = fn(images.preprocess(rgb))[0]
    return F.reshape(F.shape[0], -1).astype(np.float64)


def fit_features(name, X0, target_F):
    """Minimise a statistic's loss directly over a feature matrix."""
    import scipy.optimize
    import theano
    import theano.tensor as T
    stat = statistics.get(name)
    X = T.dmatrix("X")
    M = np.float64(X0.shape[1])
    targets = numpy_components(name, target_F, "conv2_1")
    gram_t = target_F @ target_F.T / target_F.shape[1]
    coefs = statistics.layer_coefficients(targets, gram_t)
    loss = sum(c * T.sqr(comp - t).sum() for c, comp, t in zip(
        coefs, stat.components(X, M, "conv2_1"), targets))
    f = theano.function([X], [loss, T.grad(loss, X)])

    def fun(flat):
        value, grad = f(flat.reshape(X0.shape))
        return value, grad.ravel()
    flat = scipy.optimize.fmin_l_bfgs_b(fun, X0.ravel(), maxfun=300,
                                        factr=10.0, pgtol=0.0)[0]
    return flat.reshape(X0.shape)


def mean_cov_errors(X, target_F):
    mu_x, C_x = numpy_components("meancov", X, "")
    mu_t, C_t = numpy_components("meancov", target_F, "")
    return (np.sum((mu_x - mu_t) ** 2) / np.sum(mu_t ** 2),
            np.sum((C_x - C_t) ** 2) / np.sum(C_t ** 2))


def test_mean_alone_leaves_the_covariance_free_meancov_does_not():
    # Real conv2_1 features of a photo, fitted to those of a painting.
    X0 = real_features(sample("grace_hopper.jpg"))
    target = real_features(sample("night_cafe.jpg"))
    start_mean, start_cov = mean_cov_errors(X0, target)
    assert start_mean > 0.01 and start_cov > 0.1
    mean_err, cov_err = mean_cov_errors(fit_features("mean", X0, target),
                                        target)
    assert mean_err < 1e-4
    # the mean's gradient is the same at every position: centred features,
    # hence the covariance, never change
    assert cov_err == pytest.approx(start_cov, rel=1e-3)
    mc_mean, mc_cov = mean_cov_errors(fit_features("meancov", X0, target),
                                      target)
    assert mc_mean < 1e-3 and mc_cov < 0.01 * start_cov


def test_blend_target_is_the_weighted_average(params, rng):
    objective = compiled_objective(preset("default", content_weight=0.0,
                                         statistic="meancov"))
    rgb = rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)
    s1 = images.preprocess(rgb)
    s2 = rng.uniform(-100, 100, (1, 3, 64, 48)).astype(np.float32)
    t1, t2 = objective.style_target([s1]), objective.style_target([s2])
    mixed = objective.style_target([s1, s2], [3.0, 1.0])
    only_first = objective.style_target([s1, s2], [1.0, 0.0])
    for (c1, g1), (c2, g2), (cm, gm), (co, go) in zip(t1, t2, mixed,
                                                      only_first):
        for a, b, m, o in zip(c1 + [g1], c2 + [g2], cm + [gm], co + [go]):
            np.testing.assert_allclose(m, 0.75 * a + 0.25 * b, rtol=1e-5,
                                       atol=1e-6 * np.abs(m).max())
            np.testing.assert_array_equal(o, a)
    # the per-position Gram of conv1_1 equals numpy's G / M
    F = reference.vgg_features(rgb, params, {"conv1_1"})["conv1_1"]
    np.testing.assert_allclose(t1[0][1], reference.gram(F) / (32 * 32),
                               rtol=2e-3, atol=1e-3 * np.abs(t1[0][1]).max())
    with pytest.raises(UserError):
        objective.style_target([s1], [0.0])
