"""The discriminator style loss on synthetic Gaussian features and on a
real image."""
import numpy as np
import pytest

from conftest import sample
from lasagne_style import adversarial as disc
from lasagne_style.config import AdversarialOptions
from lasagne_style.errors import UserError


def gaussian(rng, mean, cov, m):
    L = np.linalg.cholesky(cov)
    samples = mean[:, None] + L @ rng.randn(len(mean), m)
    return samples.reshape(1, len(mean), 1, m).astype(np.float32)


def fit(kind):
    """The toy's errors at the start and at the end, checked against numpy
    on the final samples. 5 D steps per X step: with 1, the logistic D lags
    behind and X oscillates around the target mean instead of settling."""
    trace, X, mean, cov = disc.gaussian_toy(kind, d_steps=5)
    end = (np.linalg.norm(X.mean(axis=1) - mean) / np.linalg.norm(mean),
           np.linalg.norm(np.cov(X) - cov) / np.linalg.norm(cov))
    np.testing.assert_allclose(trace[-1, 1:3], end, rtol=1e-6)
    assert trace[0, 0] == 0 and trace[-1, 0] == 400
    return trace[0, 1:3], end


def test_logreg_matches_the_mean_only():
    (_, start_cov_err), (mean_err, cov_err) = fit("logreg")
    assert mean_err < 0.1
    # a linear logit cannot see the covariance: it stays where it started
    assert cov_err > 0.8 * start_cov_err


def test_quadratic_matches_mean_and_covariance():
    (_, start_cov_err), (mean_err, cov_err) = fit("quadratic")
    assert mean_err < 0.1
    assert cov_err < 0.2 * start_cov_err


def test_toy_refuses_a_budget_that_is_not_whole_chunks():
    with pytest.raises(ValueError):
        disc.gaussian_toy("logreg", 1, iterations=15, chunk=10)


def test_discriminator_learns_separable_data(rng):
    import theano
    real = gaussian(rng, np.array([1.0, 1.0]), 0.1 * np.eye(2), 500)
    fake = theano.shared(gaussian(rng, np.array([-1.0, -1.0]),
                                  0.1 * np.eye(2), 500))
    matcher = disc.AdversarialMatcher([fake], [real],
                                      AdversarialOptions(kind="logreg",
                                                       d_lr=0.05))
    first = matcher.train(1)[1][0]
    for _ in range(30):
        last = matcher.train(1)[1][0]
    assert last > 0.99 and last >= first


def numpy_logits(kind, values, X):
    """Independent numpy forward pass of a discriminator on X (C, M)."""
    def conv(W, x):
        return W[:, :, 0, 0].astype(np.float64) @ x
    if kind == "logreg":
        W, b = values
        return conv(W, X)[0] + b[0]
    if kind == "quadratic":
        U, W, b = values
        return conv(W, np.vstack([X, conv(U, X) ** 2]))[0] + b[0]
    W1, b1, W2, b2, W3, b3 = values
    h = np.maximum(conv(W1, X) + b1[:, None], 0)
    h = np.maximum(conv(W2, h) + b2[:, None], 0)
    return conv(W3, h)[0] + b3[0]


def numpy_generator_loss(z, kind):
    softplus = lambda v: np.logaddexp(0, v)  # noqa: E731
    if kind == "swap":
        return softplus(-z).mean()
    return 0.5 * (softplus(-z).mean() + softplus(z).mean())


def test_generator_loss_and_gradient_match_numpy(rng):
    import lasagne
    import theano
    import theano.tensor as T
    real = gaussian(rng, np.zeros(3), np.eye(3), 50)
    X = T.tensor4("X")
    for kind in disc.KINDS:
        matcher = disc.AdversarialMatcher(
            [theano.shared(np.zeros((1, 3, 1, 20), np.float32))], [real],
            AdversarialOptions(kind=kind, rank=4, hidden=8))
        values = lasagne.layers.get_all_param_values(matcher.layers[0])
        logits = lasagne.layers.get_output(matcher.layers[0], X)
        for loss_kind in disc.LOSSES:
            loss = disc.generator_loss(logits, loss_kind)
            f = theano.function([X], [loss, T.grad(loss, X)])
            x0 = rng.randn(1, 3, 1, 20)
            value, grad = f(x0.astype(np.float32))

            def reference(x):
                return numpy_generator_loss(
                    numpy_logits(kind, values, x.reshape(3, 20)), loss_kind)
            assert value == pytest.approx(reference(x0), rel=1e-5)
            d = rng.randn(*x0.shape)
            h = 1e-6
            numeric = (reference(x0 + h * d) - reference(x0 - h * d)) / (2 * h)
            assert float(np.sum(grad * d)) == pytest.approx(numeric, rel=1e-3,
                                                            abs=1e-7)


def test_short_texture_run_lowers_the_gram_distance(tmp_path):
    from lasagne_style import api
    out = str(tmp_path / "t.png")
    result = api.synthesize(sample("cork.png"), size=48, iters=40, seed=0,
                            statistic="disc", adversarial=AdversarialOptions(
                                kind="logreg", x_lr=4.0),
                            output=out, progress=False)
    noise = api.synthesize(sample("cork.png"), size=48, iters=1, seed=0,
                           progress=False)
    assert len(result.history) == 40
    assert all(len(h["accuracy"]) == 3 for h in result.history)
    after = api.score(out, sample("cork.png"))["style"]
    before = api.score(noise.image, sample("cork.png"))["style"]
    assert after < 0.5 * before


def test_bad_options():
    with pytest.raises(UserError, match="unknown discriminator"):
        AdversarialOptions(kind="svm")
    with pytest.raises(UserError, match="d_lr"):
        AdversarialOptions(d_lr=-1)


@pytest.mark.parametrize("real_positions", [30, 500])
def test_each_d_update_sees_as_many_real_positions_as_fake_ones(
        rng, real_positions):
    """A real map larger than the fake one (a style at a larger scale) is
    sampled afresh for every D update, as many positions as the fake map
    has; a smaller one is used whole. The D loss of the first update
    against numpy on the sample the matcher drew."""
    import lasagne
    import theano
    real = gaussian(rng, np.ones(3), np.eye(3), real_positions)
    fake_values = gaussian(rng, -np.ones(3), np.eye(3), 40)
    matcher = disc.AdversarialMatcher(
        [theano.shared(fake_values)], [real],
        AdversarialOptions(kind="logreg", d_decay=0.0), seed=3)
    values = lasagne.layers.get_all_param_values(matcher.layers[0])
    loss, _ = matcher.train(1)
    flat = real.reshape(3, -1).astype(np.float64)
    mean, std = flat.mean(axis=1), flat.std(axis=1) + 1e-3
    if real_positions > 40:  # the matcher's draw, made again here
        flat = flat[:, np.sort(np.random.RandomState(3).choice(
            real_positions, 40, replace=False))]
    softplus = lambda v: np.logaddexp(0, v)  # noqa: E731
    z_real = numpy_logits("logreg", values, (flat - mean[:, None])
                          / std[:, None])
    z_fake = numpy_logits("logreg", values, (fake_values.reshape(3, -1)
                                             - mean[:, None]) / std[:, None])
    assert len(z_real) == min(real_positions, 40)
    assert loss == pytest.approx(softplus(-z_real).mean()
                                 + softplus(z_fake).mean(), rel=1e-5)
    if real_positions > 40:  # the next update draws another sample
        seen = [matcher._real_sample(matcher._real[0], (1, 3, 1, 40))
                for _ in range(2)]
        assert seen[0].shape == (1, 3, 1, 40)
        assert not np.array_equal(seen[0], seen[1])
