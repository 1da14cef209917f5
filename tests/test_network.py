"""VGG19 built with Lasagne against a direct numpy forward pass."""
import numpy as np
import pytest

import reference
from lasagne_style import vgg


@pytest.fixture(scope="module", params=vgg.CONVOLUTIONS)
def forward(request, params):
    import lasagne
    import theano
    import theano.tensor as T
    x = T.tensor4("x")
    net = vgg.build(params, "conv5_1", input_var=x,
                    convolution=request.param)
    names = ["conv1_1", "pool1", "conv2_1", "pool2", "conv3_1", "pool3",
             "conv4_2", "pool4", "conv5_1"]
    fn = theano.function([x], lasagne.layers.get_output(
        [net[n] for n in names]))
    return lambda image: dict(zip(names, fn(image)))


def test_output_shapes(forward, rng):
    out = forward(rng.randn(1, 3, 37, 50).astype(np.float32))
    assert out["conv1_1"].shape == (1, 64, 37, 50)
    assert out["pool1"].shape == (1, 64, 18, 25)
    assert out["conv2_1"].shape == (1, 128, 18, 25)
    assert out["conv3_1"].shape == (1, 256, 9, 12)
    assert out["conv4_2"].shape == (1, 512, 4, 6)
    assert out["conv5_1"].shape == (1, 512, 2, 3)
    assert vgg.receptive_stride("conv5_1") == 16
    assert vgg.receptive_stride("conv1_1") == 1


def test_only_needed_layers_are_built(params):
    net = vgg.build(params, "conv3_1")
    assert "conv3_1" in net and "conv3_2" not in net and "pool3" not in net


def test_responses_equal_numpy_cross_correlation(forward, params, rng):
    from lasagne_style.images import preprocess
    rgb = rng.randint(0, 256, (20, 24, 3)).astype(np.uint8)
    out = forward(preprocess(rgb))
    expected = reference.vgg_features(rgb, params, {"conv1_1", "conv2_1",
                                                    "conv3_1"})
    for name in ("conv1_1", "conv2_1", "conv3_1"):
        scale = np.abs(expected[name]).max()
        np.testing.assert_allclose(out[name][0], expected[name],
                                   atol=1e-5 * scale, rtol=1e-4)


def test_filters_are_not_flipped(forward, params):
    # An impulse in the blue channel: around it, a cross-correlation
    # reproduces each kernel reversed (a convolution would give it upright).
    x = np.zeros((1, 3, 16, 16), np.float32)
    x[0, 0, 8, 8] = 100.0
    W, b = params[0]
    out = forward(x)["conv1_1"][0]
    expected = np.maximum(100.0 * W[:, 0, ::-1, ::-1] + b[:, None, None], 0)
    np.testing.assert_allclose(out[:, 7:10, 7:10], expected, atol=1e-3)
    flipped = np.maximum(100.0 * W[:, 0] + b[:, None, None], 0)
    assert np.abs(out[:, 7:10, 7:10] - flipped).max() > 1.0


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (2, 5, 7, 9), (4, 6, 1, 2)])
def test_winograd_layer_equals_theano_conv2d_with_gradient(rng, shape):
    import theano
    import theano.tensor as T
    from lasagne_style.ops import winograd
    C, n_out, H, W = shape
    filters = rng.randn(n_out, C, 3, 3).astype(np.float32)
    image = rng.randn(1, C, H, W).astype(np.float32)
    # weights make a scalar loss
    weights = rng.randn(1, n_out, H, W).astype(np.float32)
    x = T.tensor4("x")
    outputs = []
    for y in (T.nnet.conv2d(x, filters, border_mode=1, filter_flip=False),
              winograd.correlate3x3_same(
                  x, T.constant(winograd.transform_filters(filters)))):
        outputs += [y, T.grad((y * weights).sum(), x)]
    direct, direct_grad, fast, fast_grad = theano.function([x], outputs)(image)
    np.testing.assert_allclose(fast, direct, atol=1e-5 * abs(direct).max())
    np.testing.assert_allclose(fast_grad, direct_grad,
                               atol=1e-5 * abs(direct_grad).max())


@pytest.mark.parametrize("height,width", [(6, 8), (5, 7)])
def test_winograd_transforms_and_their_adjoints(rng, height, width):
    # <T x, y> = <x, T* y> for both transforms, and the input transform of a
    # tile equals B^T d B computed with numpy matrices
    from lasagne_style.ops import winograd as w
    x = rng.randn(3, height, width).astype(np.float32)
    V = w.input_transform(x)
    y = rng.randn(*V.shape).astype(np.float32)
    assert np.vdot(V, y) == pytest.approx(
        np.vdot(x, w.input_transform_adjoint(y, height, width)), rel=1e-4)
    M = rng.randn(*V.shape).astype(np.float32)
    Y = w.output_transform(M, height, width)
    z = rng.randn(*Y.shape).astype(np.float32)
    assert np.vdot(Y, z) == pytest.approx(
        np.vdot(M, w.output_transform_adjoint(z)), rel=1e-4)
    padded = np.pad(x, ((0, 0), (1, 3), (1, 3)))
    tile = padded[1, 2:6, 4:8]  # tile (1, 2) of channel 1
    tiles_w = (width + 1) // 2
    np.testing.assert_allclose(V[:, 1, tiles_w + 2].reshape(4, 4),
                               w.B_T @ tile @ w.B_T.T, atol=1e-5)


def test_objective_is_the_same_with_either_convolution(params, rng):
    # the speed issue's faithfulness bar: loss within 1e-4 relative
    from lasagne_style.images import preprocess
    from lasagne_style.config import preset
    from lasagne_style.objective import Objective
    content = preprocess(rng.randint(0, 256, (45, 38, 3)).astype(np.uint8))
    style = preprocess(rng.randint(0, 256, (45, 38, 3)).astype(np.uint8))
    x = rng.uniform(-100, 100, content.shape).astype(np.float32)
    results = []
    for convolution in vgg.CONVOLUTIONS:
        objective = Objective(params, preset("default"),
                              convolution=convolution)
        objective.set_targets(content.shape, content,
                              objective.style_target([style]))
        results.append(objective(x))
    (loss_a, terms_a, grad_a), (loss_b, terms_b, grad_b) = results
    assert loss_b == pytest.approx(loss_a, rel=1e-4)
    for term in ("content", "style", "tv"):
        assert terms_b[term] == pytest.approx(terms_a[term], rel=1e-4)
    assert np.linalg.norm(grad_b - grad_a) < 1e-3 * np.linalg.norm(grad_a)


def test_kept_buffers_across_shapes_give_the_same_objective(params, rng):
    # One compiled function serves the loss and the style and content
    # descriptions; with kept buffers, describing a style of another size
    # between evaluations must not leave stale arrays behind.
    from lasagne_style.images import preprocess
    from lasagne_style.config import preset
    from lasagne_style.objective import Objective

    def image(h, w):
        return preprocess(rng.randint(0, 256, (h, w, 3)).astype(np.uint8))
    content, small, large = image(45, 38), image(40, 33), image(70, 61)
    x = rng.uniform(-100, 100, content.shape).astype(np.float32)
    kept = Objective(params, preset("default"), keep_buffers=True)
    kept.set_targets(content.shape, content, kept.style_target([small]))
    before = kept(x)
    kept.set_targets(content.shape, content, kept.style_target([large]))
    after = kept(x)
    fresh = Objective(params, preset("default"), keep_buffers=False)
    fresh.set_targets(content.shape, content, fresh.style_target([large]))
    expected = fresh(x)
    assert abs(before[0] - expected[0]) > 1e-3 * expected[0]  # not vacuous
    assert after[0] == pytest.approx(expected[0], rel=1e-5)
    for term in ("content", "style", "tv"):
        assert after[1][term] == pytest.approx(expected[1][term], rel=1e-5)
    np.testing.assert_allclose(after[2], expected[2], rtol=1e-4,
                               atol=1e-4 * np.abs(expected[2]).max())
