"""Every 3x3 convolution path of lasagne_style.ops.winograd against
independent computations: numpy cross-correlation (tests/reference.py),
Theano's own conv2d, the adjoint identity and finite differences. No
timings."""
import sys
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import reference
from lasagne_style.ops import winograd as w


def correlate(x, W, b=None):
    """numpy float64 'same' cross-correlation of x (C, H, W)."""
    b = np.zeros(W.shape[0]) if b is None else b
    return reference.cross_correlate(np.asarray(x, np.float64),
                                     np.asarray(W, np.float64),
                                     np.asarray(b, np.float64))


def random_layer(rng, C, K, H, Wd):
    """Filters, bias, an input and an output gradient for a C -> K layer
    on one H x Wd image, all float32."""
    return (rng.randn(K, C, 3, 3).astype(np.float32),
            rng.randn(K).astype(np.float32),
            rng.randn(1, C, H, Wd).astype(np.float32),
            rng.randn(1, K, H, Wd).astype(np.float32))


def compile_layer(W, b, m, relu, extra_outputs=()):
    """Theano function x, g -> (y, d<y, g>/dx, d<y, g>/db) of
    FusedCorrelation with F(m x m, 3x3)."""
    import theano
    import theano.tensor as T
    x, g = T.tensor4("x"), T.tensor4("g")
    bias = theano.shared(b.astype(np.float32))
    y = w.FusedCorrelation(m, relu)(
        x, T.constant(w.kernel_filters(W, m)), bias,
        T.constant(w.kernel_filters(w.adjoint_filters(W), m)))
    loss = (y * g).sum()
    return theano.function([x, g], [y] + T.grad(loss, [x, bias]))


@pytest.mark.parametrize("m", [2, 4])
def test_transforms_compute_a_1d_correlation(m, rng):
    # A^T [(G g) * (B^T d)] is the correlation of the alpha = m + 2 inputs d
    # with the 3 taps g, in exact arithmetic (float64 here)
    B_T, G, A_T = w.TRANSFORMS[m]
    d, g = rng.randn(m + 2), rng.randn(3)
    expected = [d[i:i + 3] @ g for i in range(m)]
    np.testing.assert_allclose(A_T @ ((G @ g) * (B_T @ d)), expected,
                               rtol=1e-12, atol=1e-12)


def test_adjoint_filters_give_the_input_gradient(rng):
    # <x * W, y> = <x, y * W'> for the 'same' correlation (zero padding)
    W = rng.randn(4, 3, 3, 3)
    x, y = rng.randn(3, 6, 7), rng.randn(4, 6, 7)
    assert np.vdot(correlate(x, W), y) == pytest.approx(
        np.vdot(x, correlate(y, w.adjoint_filters(W))), rel=1e-12)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape", [(3, 5, 7, 9), (4, 6, 1, 2),
                                   (5, 2, 13, 10)])
def test_numpy_winograd_equals_direct_correlation(m, shape, rng):
    C, K, H, Wd = shape
    W, b = rng.randn(K, C, 3, 3), rng.randn(K)
    x = rng.randn(C, H, Wd)
    U = w.transform_filters_m(W, m)
    got = w.winograd_correlate(x, U, m, b, relu=True)
    expected = np.maximum(correlate(x, W, b), 0)
    np.testing.assert_allclose(got, expected, atol=1e-5 * abs(expected).max())


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_filter_transform_in_blocks_has_the_bits_of_one_product(
        m, dtype, rng, monkeypatch):
    # U = G g G^T per channel pair, in float64, rounded once to float32: the
    # blocks (here 7 pairs each, the last one partial) change nothing
    from lasagne_style.ops import winograd_reference
    monkeypatch.setattr(winograd_reference, "FILTER_BLOCK", 7)
    W = rng.randn(5, 6, 3, 3).astype(dtype)
    G = w.TRANSFORMS[m][1].astype(np.float64)
    expected = np.einsum("ak,oikl,bl->aboi", G, W.astype(np.float64), G)
    got = w.transform_filters_m(W, m)
    assert got.dtype == np.float32 and got.shape == ((m + 2) ** 2, 5, 6)
    np.testing.assert_allclose(got, expected.reshape(got.shape), rtol=1e-6,
                               atol=1e-7)
    with threadpool_limits(1, "blas"):
        whole = np.kron(G, G) @ W.astype(np.float64).transpose(
            2, 3, 0, 1).reshape(9, -1)
    assert np.array_equal(got, whole.astype(np.float32).reshape(got.shape))
    out = np.full(got.shape, np.nan, np.float32)
    assert w.transform_filters_m(W, m, out=out) is out
    assert np.array_equal(out, got)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape", [(3, 5, 7, 9), (4, 6, 1, 2),
                                   (16, 24, 37, 50)])
def test_fused_layer_forward_and_gradients(m, shape, rng):
    # forward against numpy, dL/dx against the correlation of the masked
    # output gradient with the transposed, flipped filters, dL/db against
    # the masked output gradient summed over the pixels
    C, K, H, Wd = shape
    W = (rng.randn(K, C, 3, 3) / np.sqrt(9 * C)).astype(np.float32)
    b = (0.1 * rng.randn(K)).astype(np.float32)
    x = rng.randn(1, C, H, Wd).astype(np.float32)
    g = rng.randn(1, K, H, Wd).astype(np.float32)
    y, gx, gb = compile_layer(W, b, m, relu=True)(x, g)
    z = correlate(x[0], W, b)
    np.testing.assert_allclose(y[0], np.maximum(z, 0),
                               atol=1e-5 * abs(z).max())
    masked = g[0] * (z > 0)
    expected = correlate(masked, w.adjoint_filters(W))
    np.testing.assert_allclose(gx[0], expected,
                               atol=1e-5 * abs(expected).max())
    np.testing.assert_allclose(gb, masked.sum(axis=(1, 2)), rtol=1e-4,
                               atol=1e-4 * abs(masked).sum() / K)


def test_kernel_filters_are_the_transform_in_panels(rng):
    # the fused op's layout, built here by walking the panels: output
    # channels in panels of 6 (13 = 6 + 6 + 1), each panel's values input
    # channel by input channel
    W = rng.randn(13, 5, 3, 3).astype(np.float32)
    U = w.transform_filters_m(W, 4)
    expected = []
    for start in range(0, 13, 6):
        for c in range(5):
            expected += [U[:, o, c] for o in range(start, min(start + 6, 13))]
    got = w.kernel_filters(W, 4)
    assert got.shape == U.shape
    assert np.array_equal(got.reshape(36, -1), np.stack(expected, axis=1))
    assert np.array_equal(w.natural_filters(got), U)


@pytest.mark.parametrize("vector", [0, 16])
@pytest.mark.parametrize("min_tiles", [16, 20, 40])
@pytest.mark.parametrize("m", [2, 4])
def test_blocks_of_tiles_across_rows(m, min_tiles, vector, rng, monkeypatch):
    # small blocks (from MIN_TILES 16, 20 or 40; cut at panels of 16 or
    # 32 tiles, the last panel short) that start and end inside rows of
    # tiles, and a batch of two images; the products' kernel with the
    # vectors of this machine and with AVX-512's 16 floats (emulated by GCC
    # where there is none); 5 output channels forward, 7 (a panel of 6 and
    # one of 1) in the gradient; the linear op without ReLU: the adjoint
    # identity <Kx, g> = <x, K*g> with K* the op's own gradient
    import theano
    import theano.tensor as T
    monkeypatch.setattr(w, "BLOCK_BYTES", 1)
    monkeypatch.setattr(w, "MIN_TILES", min_tiles)
    monkeypatch.setattr(w, "VECTOR_FLOATS", vector)
    C, K, H, Wd = 7, 5, 30, 50
    W = rng.randn(K, C, 3, 3).astype(np.float32)
    x = rng.randn(2, C, H, Wd).astype(np.float32)
    g = rng.randn(2, K, H, Wd).astype(np.float32)
    xs = T.tensor4("x")
    y = w.correlate3x3(xs, W, m)
    fn = theano.function([xs], [y, T.grad((y * g).sum(), xs)])
    out, gx = fn(x)
    for n in range(2):
        expected = correlate(x[n], W)
        np.testing.assert_allclose(out[n], expected,
                                   atol=1e-5 * abs(expected).max())
    assert np.vdot(out.astype(np.float64), g) == pytest.approx(
        np.vdot(x.astype(np.float64), gx), rel=1e-4)


def test_a_tiles_values_do_not_depend_on_its_block(rng, monkeypatch):
    # the op sizes its blocks by the tiles and the threads (whole rounds
    # of the threads, cut at panels), which is only allowed because a
    # tile's outputs are the same bits in any block: the same layer (104
    # tiles, 13 a row) in one block, and in blocks of about 16 and 48
    # tiles (7 and 4 blocks with 16-tile panels, edges inside rows of
    # tiles), forward and gradient
    W, b, x, g = random_layer(rng, 7, 5, 30, 50)
    one_block = compile_layer(W, b, 4, relu=True)(x, g)
    monkeypatch.setattr(w, "BLOCK_BYTES", 1)
    for min_tiles in (16, 48):
        monkeypatch.setattr(w, "MIN_TILES", min_tiles)
        blocks = compile_layer(W, b, 4, relu=True)(x, g)
        for got, expected in zip(blocks, one_block):
            assert np.array_equal(got, expected)


def test_fused_gradient_by_finite_differences(rng):
    # a nonlinear scalar through two fused layers with ReLU: the gradient's
    # directional derivative against central differences of the same
    # network computed directly in float64 (tests/reference.py), with a
    # step small enough not to cross the ReLUs' kinks (steps of 1e-2 and
    # 1e-3 do, here: -0.98 and -1.35 instead of -1.6997)
    import theano
    import theano.tensor as T
    W1 = (rng.randn(8, 3, 3, 3) / 5).astype(np.float32)
    W2 = (rng.randn(4, 8, 3, 3) / 8).astype(np.float32)
    b1, b2 = [(0.1 * rng.randn(n)).astype(np.float32) for n in (8, 4)]
    xs = T.tensor4("x")
    h = xs
    for W, b in ((W1, b1), (W2, b2)):
        h = w.FusedCorrelation(4, True)(
            h, T.constant(w.kernel_filters(W, 4)), b,
            T.constant(w.kernel_filters(w.adjoint_filters(W), 4)))
    df = theano.function([xs], T.grad(T.sqr(h).sum(), xs))
    x = rng.randn(1, 3, 11, 14).astype(np.float32)
    d = rng.randn(*x.shape)

    def f(x):
        h = np.maximum(correlate(x[0], W1, b1), 0)
        return (np.maximum(correlate(h, W2, b2), 0) ** 2).sum()
    eps = 1e-6
    numeric = (f(x + eps * d) - f(x - eps * d)) / (2 * eps)
    assert np.vdot(df(x), d) == pytest.approx(numeric, rel=1e-4)


@pytest.mark.parametrize("fused", [0, 2, 4])
def test_layer_equals_theano_conv2d(fused, rng):
    # WinogradConv3x3Layer, each path, against Theano's own conv2d + bias +
    # ReLU, forward and gradient w.r.t. the input
    import theano
    import theano.tensor as T
    from lasagne.layers import InputLayer, get_output
    C, K = 7, 9
    W, b, x, g = random_layer(rng, C, K, 19, 22)
    xs = T.tensor4("x")
    layer = w.WinogradConv3x3Layer(InputLayer((1, C, None, None), xs), K,
                                   W=W, b=b, fused=fused)
    direct = T.nnet.relu(T.nnet.conv2d(xs, W, border_mode=1,
                                       filter_flip=False)
                         + b[None, :, None, None])
    outputs = []
    for y in (get_output(layer), direct):
        outputs += [y, T.grad((y * g).sum(), xs)]
    fast, fast_grad, slow, slow_grad = theano.function([xs], outputs)(x)
    np.testing.assert_allclose(fast, slow, atol=1e-5 * abs(slow).max())
    np.testing.assert_allclose(fast_grad, slow_grad,
                               atol=1e-5 * abs(slow_grad).max())


def test_float64_uses_the_numpy_implementation(rng):
    # no C code for float64: perform() must give the same correlation
    import theano
    import theano.tensor as T
    W = rng.randn(3, 2, 3, 3)
    x = rng.randn(1, 2, 9, 6)
    xs = T.tensor4("x", dtype="float64")
    y = w.FusedCorrelation(4, False)(
        xs, T.constant(w.kernel_filters(W, 4).astype(np.float64)),
        np.zeros(3), T.constant(w.kernel_filters(
            w.adjoint_filters(W), 4).astype(np.float64)))
    out = theano.function([xs], y)(x)
    expected = correlate(x[0], W)
    np.testing.assert_allclose(out[0], expected,
                               atol=1e-5 * abs(expected).max())


def test_unfused_transforms_and_their_adjoints(rng):
    # the F(2x2, 3x3) ops of correlate3x3_same: <T x, y> = <x, T* y>
    x = rng.randn(3, 7, 6).astype(np.float32)
    V = w.input_transform(x)
    y = rng.randn(*V.shape).astype(np.float32)
    assert np.vdot(V, y) == pytest.approx(
        np.vdot(x, w.input_transform_adjoint(y, 7, 6)), rel=1e-4)
    Y = w.output_transform(V, 7, 6)
    z = rng.randn(*Y.shape).astype(np.float32)
    assert np.vdot(Y, z) == pytest.approx(
        np.vdot(V, w.output_transform_adjoint(z)), rel=1e-4)


def _layer(W):
    from lasagne.layers import InputLayer
    return w.WinogradConv3x3Layer(InputLayer((1, W.shape[1], None, None)),
                                  W.shape[0], W=W,
                                  b=np.zeros(W.shape[0], np.float32))


def test_filters_in_background_are_those_computed_at_once(rng):
    W = rng.randn(5, 3, 3, 3).astype(np.float32)
    interval = sys.getswitchinterval()
    with w.filters_in_background():
        with w.filters_in_background():  # nested: the outer one waits
            inner = _layer(W)
        outer = _layer(W)
    assert sys.getswitchinterval() == interval
    at_once = _layer(W)
    for layer in (inner, outer):
        assert np.array_equal(layer.U.get_value(), at_once.U.get_value())
        assert np.array_equal(layer.U_adjoint.get_value(),
                              at_once.U_adjoint.get_value())
    assert at_once.U_adjoint.get_value().shape == (36, 3, 5)


def test_an_error_of_the_worker_is_raised_on_leaving(rng, monkeypatch):
    def fail(*args):
        raise MemoryError("no room for the filters")

    monkeypatch.setattr(w, "kernel_filters", fail)
    with pytest.raises(MemoryError, match="no room"):
        with w.filters_in_background():
            _layer(rng.randn(2, 2, 3, 3).astype(np.float32))
    assert w._background is None


def test_an_error_while_compiling_cancels_the_transforms_not_started(
        rng, monkeypatch):
    started = []

    def slow(W, m, out=None):
        started.append(m)
        threading.Event().wait(0.05)
        return out

    monkeypatch.setattr(w, "kernel_filters", slow)
    with pytest.raises(KeyboardInterrupt):
        with w.filters_in_background():
            for _ in range(10):  # 20 transforms queued
                _layer(rng.randn(2, 2, 3, 3).astype(np.float32))
            raise KeyboardInterrupt
    assert len(started) < 20 and w._background is None
