"""The 2x2 average pooling ops against numpy, finite differences and
Theano's own pooling (the recipe's ``Pool2DLayer``)."""
import numpy as np
import pytest
import theano
import theano.tensor as T
from theano.tensor.signal.pool import pool_2d

from lasagne_style.ops.pooling import average_pool_2x2

SHAPES = [(1, 3, 8, 10), (2, 2, 7, 5), (1, 64, 130, 129)]  # last: threads


def _numpy_pool(x):
    n, c, h, w = x.shape
    out = np.zeros((n, c, h // 2, w // 2), x.dtype)
    for i in range(h // 2):
        for j in range(w // 2):
            out[:, :, i, j] = x[:, :, 2 * i:2 * i + 2,
                                2 * j:2 * j + 2].mean(axis=(2, 3))
    return out


def _functions():
    x, g = T.tensor4("x", dtype="float32"), T.tensor4("g", dtype="float32")
    ours, theirs = average_pool_2x2(x), pool_2d(
        x, (2, 2), ignore_border=True, mode="average_exc_pad")
    ours_grad = T.grad((ours * g).sum(), x)
    # borrowed outputs are not cleared between calls: the ops see (and
    # reuse) their previous output buffers
    return (theano.function([x], theano.Out(ours, borrow=True)),
            theano.function([x], theirs),
            theano.function([x, g], theano.Out(ours_grad, borrow=True)),
            theano.function([x, g], T.grad((theirs * g).sum(), x)))


FUNCTIONS = []


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_gradient_match_numpy_and_theano(shape):
    if not FUNCTIONS:  # one set for every shape: buffers of other shapes
        FUNCTIONS.extend(_functions())
    ours, theirs, ours_grad, theirs_grad = FUNCTIONS
    rng = np.random.RandomState(0)
    for _ in range(2):  # the second call reuses the first call's buffers
        x = rng.randn(*shape).astype("float32")
        g = rng.randn(*_numpy_pool(x).shape).astype("float32")
        y = ours(x).copy()
        np.testing.assert_allclose(y, _numpy_pool(x), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(y, theirs(x), rtol=1e-6, atol=1e-6)
        gx = ours_grad(x, g).copy()
        np.testing.assert_allclose(gx, theirs_grad(x, g), rtol=1e-6,
                                   atol=1e-7)
    # numpy: a quarter of the window's output gradient, zero where no
    # window reaches (the odd last row or column)
    expected = np.zeros_like(x)
    h, w = g.shape[2:]
    expected[:, :, :2 * h, :2 * w] = np.repeat(np.repeat(g, 2, 2), 2, 3) / 4
    np.testing.assert_allclose(gx, expected, rtol=1e-6)


def test_gradient_by_finite_differences_in_float64():
    rng = np.random.RandomState(1)
    theano.gradient.verify_grad(average_pool_2x2, [rng.randn(1, 2, 5, 6)],
                                rng=rng)


def test_float64_runs_the_numpy_perform_and_agrees():
    x = np.random.RandomState(2).randn(2, 3, 9, 6)
    x64 = T.tensor4("x", dtype="float64")
    f = theano.function([x64], average_pool_2x2(x64))
    np.testing.assert_allclose(f(x), _numpy_pool(x), rtol=1e-12)


def test_wrong_gradient_shape_is_refused():
    from lasagne_style.ops.pooling import AveragePool2x2Grad
    x, g = T.tensor4("x", dtype="float32"), T.tensor4("g", dtype="float32")
    f = theano.function([x, g], AveragePool2x2Grad()(x, g))
    with pytest.raises(ValueError, match="gradient of wrong shape"):
        f(np.zeros((1, 1, 4, 4), "float32"), np.zeros((1, 1, 3, 2),
                                                        "float32"))


def test_second_derivative_through_the_gradient_op():
    from lasagne_style.ops.pooling import AveragePool2x2Grad
    rng = np.random.RandomState(3)
    x = theano.shared(rng.randn(1, 2, 5, 6))
    theano.gradient.verify_grad(lambda g: AveragePool2x2Grad()(x, g),
                                [rng.randn(1, 2, 2, 3)], rng=rng)
