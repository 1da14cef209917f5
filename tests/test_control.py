"""The control options (docs/control.md): tileable textures (circular
padding, wrap-around variation), style scale, and spatial masks (guided Gram
matrices, Gatys et al. 2017), each against an independent numpy
computation; the options recorded in the CLI's output, and their one-line
errors before anything is compiled."""
import numpy as np
import pytest
from PIL import Image

import reference
from conftest import compiled_objective, sample
from lasagne_style import api, cli, config, images, memory
from lasagne_style import schedule, statistics, vgg
from lasagne_style.errors import UserError
from lasagne_style.optimize import LBFGSOptimiser

SHALLOW = ("conv1_1", "conv2_1")


# --- numpy references, written from the definitions ----------------------

def wrap_correlate(x, W, b):
    return reference.cross_correlate(x, W, b, mode="wrap")


def wrap_features(x, params):
    """conv1_1 and conv2_1 of VGG19 with circular padding, float64."""
    x = np.asarray(x, np.float64)
    out = {}
    h = np.maximum(wrap_correlate(x, *[np.float64(a) for a in params[0]]), 0)
    out["conv1_1"] = h
    h = np.maximum(wrap_correlate(h, *[np.float64(a) for a in params[1]]), 0)
    C, H, W = h.shape
    h = h.reshape(C, H // 2, 2, W // 2, 2).mean(axis=(2, 4))
    out["conv2_1"] = np.maximum(
        wrap_correlate(h, *[np.float64(a) for a in params[2]]), 0)
    return out


def block_average(mask, times):
    """2x2 block means ``times`` times (dropping odd edges)."""
    for _ in range(times):
        h, w = mask.shape[0] // 2, mask.shape[1] // 2
        mask = sum(mask[a:2 * h:2, b:2 * w:2] for a in (0, 1) for b in (0, 1))
        mask = mask / 4.0
    return mask


def seam_ratio(rgb):
    """Mean absolute difference across the wrap (last column vs first, last
    row vs first) over that between neighbouring interior columns and
    rows."""
    x = rgb.astype(np.float64)
    across = np.concatenate([np.abs(x[:, -1] - x[:, 0]).ravel(),
                             np.abs(x[-1] - x[0]).ravel()]).mean()
    inside = np.concatenate([np.abs(np.diff(x, axis=1)).ravel(),
                             np.abs(np.diff(x, axis=0)).ravel()]).mean()
    return across / inside


# --- tileable: circular padding ------------------------------------------

@pytest.fixture(scope="module", params=vgg.CONVOLUTIONS)
def tileable_net(request, params):
    import lasagne
    import theano
    import theano.tensor as T
    x = T.tensor4("x")
    net = vgg.build(params, "conv2_1", input_var=x, convolution=request.param,
                    tileable=True)
    out = lasagne.layers.get_output([net["conv1_1"], net["conv2_1"]])
    weights = T.tensor4("r")
    grad = T.grad((weights * out[0]).sum(), x)
    return (theano.function([x], out), theano.function([x, weights], grad),
            request.param)


def test_circular_padding_equals_wrapped_cross_correlation(tileable_net,
                                                           params, rng):
    forward, _, _ = tileable_net
    x = rng.uniform(-100, 100, (1, 3, 12, 16)).astype(np.float32)
    conv1, conv2 = forward(x)
    expected = wrap_features(x[0], params)
    for got, name in ((conv1, "conv1_1"), (conv2, "conv2_1")):
        want = expected[name]
        assert got.shape == (1,) + want.shape
        np.testing.assert_allclose(got[0], want,
                                   atol=1e-5 * np.abs(want).max(), rtol=1e-4)
    # periodic: shifting the input by a pooling period shifts the features
    shifted = forward(np.roll(x, (4, -6), axis=(2, 3)))[1]
    np.testing.assert_allclose(shifted, np.roll(conv2, (2, -3), axis=(2, 3)),
                               atol=1e-4 * np.abs(conv2).max())


def test_circular_padding_gradient_wraps_around(tileable_net, params, rng):
    """The gradient against Theano's own valid conv2d on a wrap-padded
    input, whose gradient is folded back onto the image in numpy."""
    import theano
    import theano.tensor as T
    _, grad, _ = tileable_net
    x = rng.uniform(-100, 100, (1, 3, 10, 14)).astype(np.float32)
    r = rng.randn(1, 64, 10, 14).astype(np.float32)
    W, b = params[0]
    p = T.tensor4("p")
    y = T.nnet.relu(T.nnet.conv2d(p, W, border_mode="valid",
                                  filter_flip=False)
                    + b.reshape((1, -1, 1, 1)))
    rt = T.tensor4("r")
    grad_padded = theano.function([p, rt], T.grad((rt * y).sum(), p))(
        np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="wrap"), r)
    expected = np.zeros(x.shape, np.float64)
    rows = (np.arange(12) - 1) % 10
    cols = (np.arange(16) - 1) % 14
    np.add.at(expected, (slice(None), slice(None), rows[:, None],
                         cols[None, :]), grad_padded)
    got = grad(x, r)
    np.testing.assert_allclose(got, expected,
                               atol=1e-4 * np.abs(expected).max())
    # the edge pixels really receive the wrapped contributions
    assert np.abs(got[0, :, 0] - grad_padded[0, :, 1, 1:-1]).max() > 1e-3


def test_wraparound_total_variation_against_numpy(rng):
    import theano
    import theano.tensor as T
    from lasagne_style.losses import total_variation
    x = rng.uniform(-50, 50, (1, 3, 5, 7)).astype(np.float32)
    t = T.tensor4("x")
    wrapped = theano.function([t], total_variation(t, wrap=True))
    plain = theano.function([t], total_variation(t))
    x64 = x[0].astype(np.float64)
    dy = np.roll(x64, -1, axis=1) - x64
    dx = np.roll(x64, -1, axis=2) - x64
    want = ((dx ** 2 + dy ** 2) ** 1.25).sum()
    np.testing.assert_allclose(wrapped(x), want, rtol=1e-4)
    corner = ((dx[:, :-1, :-1] ** 2 + dy[:, :-1, :-1] ** 2) ** 1.25).sum()
    np.testing.assert_allclose(plain(x), corner, rtol=1e-4)
    # a cyclic shift changes nothing when the seam counts like the rest
    np.testing.assert_allclose(wrapped(np.roll(x, (2, 3), axis=(2, 3))),
                               want, rtol=1e-4)


def test_tileable_sizes_round_to_the_stride():
    assert config.tileable_shape((40, 57), 16) == (48, 64)
    assert config.tileable_shape((5, 100), 16) == (16, 96)
    assert config.tileable_shape((64, 64), 16) == (64, 64)


def test_tileable_texture_has_no_seam():
    args = dict(size=64, iters=60, seed=3, progress=False,
                style_layers=SHALLOW)
    tiled = api.synthesize(sample("cork.png"), tileable=True, **args)
    plain = api.synthesize(sample("cork.png"), **args)
    assert tiled.image.shape[:2] == config.tileable_shape(
        images.fit_size(images.load_image(sample("cork.png")).shape, 64), 2)
    ratio, contrast = seam_ratio(tiled.image), seam_ratio(plain.image)
    print("seam ratio: tileable %.3f, plain %.3f" % (ratio, contrast))
    assert 1 / 1.3 <= ratio <= 1.3
    assert contrast > 1.3 * ratio


# --- style scale ----------------------------------------------------------

def test_style_scale_target_is_the_statistic_of_the_resized_style(params):
    style = images.load_image(sample("night_cafe.jpg"))
    loss = config.LossConfig(content_weight=0, style_weight=1, tv_weight=0,
                             normalize=True, style_layers=("conv1_1",))
    run = schedule.Run(config=loss, shape=(24, 32), styles=[style],
                       style_scale=2.0, blend=(1.0,))
    optimiser = LBFGSOptimiser(compiled_objective(loss))
    run.set_targets(optimiser, (24, 32))
    got = optimiser.objective._style_targets[0][0][0].get_value()
    # the style's longer side is twice the output's: 64 px
    h, w = style.shape[:2]
    size = (int(round(h * 64.0 / max(h, w))), int(round(w * 64.0 / max(h, w))))
    assert max(size) == 64
    resized = np.asarray(Image.fromarray(style).resize(size[::-1],
                                                       Image.LANCZOS))
    import reference
    F = reference.vgg_features(resized, params, {"conv1_1"})["conv1_1"]
    F = F.reshape(F.shape[0], -1)
    np.testing.assert_allclose(got, F @ F.T / F.shape[1], rtol=2e-4,
                               atol=1e-4 * np.abs(got).max())
    # and it follows the output at a coarser level
    assert max(run.style_shapes((12, 16))[0]) == 32


def test_score_with_a_style_scale_scores_against_the_resized_style(params):
    # the Gram loss at conv1_1 against the style resized to twice the
    # image's longer side (80 px), computed with numpy
    image = images.resize(images.load_image(sample("cork.png")), (40, 40))
    style = images.load_image(sample("night_cafe.jpg"))
    resized = images.resize(style, images.fit_size(style.shape, 80))
    grams = []
    for rgb in (image, resized):
        F = reference.vgg_features(rgb, params, {"conv1_1"})["conv1_1"]
        F = F.reshape(F.shape[0], -1).astype(np.float64)
        grams.append(F @ F.T / F.shape[1])
    expected = np.sum((grams[0] - grams[1]) ** 2) / (4 * 64 ** 2)
    args = dict(style_layers=("conv1_1",), style_weight=1.0, tv_weight=0.0)
    scaled = api.score(image, style, style_scale=2.0, **args)["style"]
    plain = api.score(image, style, **args)["style"]
    assert scaled == pytest.approx(expected, rel=1e-4)
    assert abs(scaled - plain) > 1e-3 * plain


# --- masks ----------------------------------------------------------------

@pytest.mark.parametrize("name", config.MASKED_STATISTICS)
def test_weighted_statistics_against_numpy(name, rng):
    import theano
    import theano.tensor as T
    F = rng.randn(4, 30).astype(np.float32)
    m = rng.uniform(0, 1, 30).astype(np.float32)
    f, w = T.matrix("F"), T.vector("m")
    got = theano.function([f, w], statistics.get(name).weighted_components(
        f, w, w.sum(), "conv1_1"))(F, m)
    F64, m64 = F.astype(np.float64), m.astype(np.float64)
    mu = F64 @ m64 / m64.sum()
    centred = F64 - mu[:, None]
    want = {"gram": [(F64 * m64) @ F64.T / m64.sum()],
            "mean": [mu],
            "meancov": [mu, (centred * m64) @ centred.T / m64.sum()]}[name]
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)


def masked_config():
    return config.preset("default", regions=2, style_layers=SHALLOW,
                         content_layers=("conv2_1",))


def masked_objective():
    return compiled_objective(masked_config(), keep_buffers=(
        memory.keep_buffers_for((48, 48), "winograd")))


def test_masked_gram_loss_against_numpy(params, rng):
    obj = masked_objective()
    shape = (1, 3, 20, 24)
    style_rgbs = [rng.randint(0, 256, (16, 20, 3)).astype(np.uint8),
                  rng.randint(0, 128, (18, 14, 3)).astype(np.uint8)]
    left = np.zeros(shape[2:], np.float32)
    left[:, :10] = 1
    left[:, 10:13] = 0.5
    masks = [left, 1 - left]
    style_mask = np.zeros((18, 14), np.float32)
    style_mask[4:, 2:9] = 1
    target = obj.style_target([images.preprocess(s) for s in style_rgbs],
                              style_masks=[None, style_mask])
    content = rng.randint(0, 256, (20, 24, 3)).astype(np.uint8)
    obj.set_targets(shape, images.preprocess(content), target, masks)
    image = rng.randint(0, 256, (20, 24, 3)).astype(np.uint8)
    _, terms, _ = obj(images.preprocess(image))

    import reference
    feats = reference.vgg_features(image, params, set(SHALLOW))
    styles = [reference.vgg_features(s, params, set(SHALLOW))
              for s in style_rgbs]
    expected = 0.0
    for times, layer in enumerate(SHALLOW):
        F = feats[layer].reshape(feats[layer].shape[0], -1)
        N, M = F.shape
        for r, mask in enumerate(masks):
            m = block_average(mask.astype(np.float64), times).ravel()
            G = (F * m) @ F.T / m.sum()
            S = styles[r][layer].reshape(N, -1)
            w = (np.ones(S.shape[1]) if r == 0 else
                 block_average(style_mask.astype(np.float64), times).ravel())
            A = (S * w) @ S.T / w.sum()
            expected += (m.sum() / M) * np.sum((G - A) ** 2) / (4.0 * N * N)
    np.testing.assert_allclose(terms["style"],
                               masked_config().style_weight * expected,
                               rtol=2e-3)


def test_two_masks_put_each_style_in_its_region(rng):
    size = 48
    content = np.full((size, size, 3), 128, np.uint8)
    red = np.clip(rng.normal((200, 60, 60), 40, (64, 64, 3)), 0,
                  255).astype(np.uint8)
    blue = np.clip(rng.normal((60, 60, 200), 40, (64, 64, 3)), 0,
                   255).astype(np.uint8)
    left = np.zeros((size, size), np.uint8)
    left[:, :size // 2] = 255
    result = api.stylize(content, [red, blue], size=size, iters=40, seed=0,
                         progress=False, masks=[left, 255 - left],
                         style_layers=SHALLOW, content_layers=("conv2_1",))
    x = result.image.astype(np.float64)
    redness = x[..., 0] - x[..., 2]
    half = size // 2
    left_red, right_red = redness[:, :half - 4].mean(), \
        redness[:, half + 4:].mean()
    print("red - blue: left %.1f, right %.1f" % (left_red, right_red))
    assert left_red > 40 and right_red < -40


def test_one_white_mask_is_the_unmasked_loss(rng):
    layers = dict(style_layers=("conv1_1",), content_layers=("conv1_1",))
    plain = compiled_objective(config.preset("default", **layers))
    masked = compiled_objective(config.preset("default", regions=1,
                                              **layers))
    style = images.preprocess(rng.randint(0, 256, (14, 18, 3)).astype(
        np.uint8))
    content = images.preprocess(rng.randint(0, 256, (12, 16, 3)).astype(
        np.uint8))
    plain.set_targets(content.shape, content, plain.style_target([style]))
    masked.set_targets(content.shape, content, masked.style_target([style]),
                       [np.ones((12, 16), np.float32)])
    x = rng.uniform(-100, 100, content.shape).astype(np.float32)
    (total, terms, grad), (total_m, terms_m, grad_m) = plain(x), masked(x)
    np.testing.assert_allclose(total_m, total, rtol=1e-4)
    assert terms["style"] > 0.1 * total
    np.testing.assert_allclose(terms_m["style"], terms["style"], rtol=1e-4)
    np.testing.assert_allclose(grad_m, grad, rtol=1e-3,
                               atol=1e-4 * np.abs(grad).max())


def test_cli_masks_and_tileable_runs_record_their_options(tmp_path, capsys):
    red = tmp_path / "red.png"
    blue = tmp_path / "blue.png"
    rng = np.random.RandomState(1)
    for path, mean in ((red, (200, 60, 60)), (blue, (60, 60, 200))):
        Image.fromarray(np.clip(rng.normal(mean, 40, (40, 40, 3)), 0, 255)
                        .astype(np.uint8)).save(str(path))
    left, right = tmp_path / "left.png", tmp_path / "right.png"
    for path, mask in zip((left, right), _halves(20)):
        Image.fromarray(mask).save(str(path))
    photo = tmp_path / "gray.png"
    Image.fromarray(np.full((48, 48, 3), 128, np.uint8)).save(str(photo))
    out = str(tmp_path / "out.png")
    assert cli.main(["transfer", str(photo), str(red), str(blue), "-o", out,
                     "--size", "48", "--iters", "3", "--seed", "0", "-q",
                     "--style-layers", ",".join(SHALLOW), "--content-layers",
                     "conv2_1", "--masks", str(left), str(right)]) == 0
    assert cli.main(["info", out]) == 0
    info = capsys.readouterr().out
    assert str(left) in info and '"style_scale": 1.0' in info
    tex = str(tmp_path / "tex.png")
    assert cli.main(["texture", str(red), "-o", tex, "--size", "31",
                     "--iters", "3", "--seed", "0", "-q", "--tileable",
                     "--style-scale", "1.5", "--style-layers",
                     ",".join(SHALLOW)]) == 0
    # 31 rounds to 32, a multiple of conv2_1's stride
    assert images.load_image(tex).shape == (32, 32, 3)
    assert cli.main(["info", tex]) == 0
    info = capsys.readouterr().out
    assert '"tileable": true' in info and '"style_scale": 1.5' in info


# --- one-line errors, before anything is compiled -------------------------

def _halves(size=32):
    left = np.zeros((size, size), np.uint8)
    left[:, :size // 2] = 255
    return left, 255 - left


@pytest.mark.parametrize("changes, message", [
    (dict(masks=[_halves()[0]]), "1 masks given for 2 style images"),
    (dict(masks=[_halves()[0], np.zeros((32, 32), np.uint8)]),
     "mask 2 is empty"),
    (dict(masks=[_halves()[0], _halves()[0]]),
     "leave 512 of 1024 output pixels uncovered"),
    (dict(masks=list(_halves()), statistic="sliced"),
     "masks work with statistic gram, mean, meancov, not 'sliced'"),
    (dict(masks=list(_halves()), statistic="disc"),
     "not 'disc'"),
    (dict(masks=list(_halves()), style_blend=[1, 2]),
     "use one or the other"),
    (dict(style_masks=list(_halves())), "style masks need masks"),
    (dict(masks=list(_halves()), style_masks=[_halves()[0]]),
     "1 style masks given for 2 style images"),
    (dict(tileable=True), "tileable is an option of texture, not of "
     "transfer"),
    (dict(style_scale=0), "style scale must be a finite number > 0"),
    (dict(style_scale=float("nan")), "style scale must be a finite"),
    (dict(style_scale=0.01), "too small"),
    (dict(tol=1.0), "tol is a relative fall of the loss, below 1"),
    (dict(tol=-0.1), "tol must be a finite number >= 0"),
])
def test_transfer_control_errors(changes, message, no_compiling):
    photo = np.full((32, 32, 3), 100, np.uint8)
    styles = [np.full((40, 40, 3), 30, np.uint8),
              np.full((40, 40, 3), 200, np.uint8)]
    with pytest.raises(UserError, match=message):
        api.stylize(photo, styles, size=32, iters=2, progress=False,
                    **changes)


def test_texture_control_errors(no_compiling):
    style = np.full((40, 40, 3), 30, np.uint8)
    with pytest.raises(UserError, match="not with statistic 'disc'"):
        api.synthesize(style, size=32, tileable=True, statistic="disc")
    with pytest.raises(UserError, match="tileable must be True or False"):
        api.synthesize(style, size=32, tileable="yes")
    with pytest.raises(UserError, match="style scale"):
        api.synthesize(style, size=32, style_scale=-1)
    with pytest.raises(UserError, match="--tol work with the L-BFGS-B"):
        api.synthesize(style, size=32, tol=0.01, statistic="disc")


def test_cli_control_errors(tmp_path, capsys, no_compiling):
    photo, style = sample("grace_hopper.jpg"), sample("night_cafe.jpg")
    out = str(tmp_path / "out.png")
    mask = tmp_path / "mask.png"
    Image.fromarray(_halves()[0]).save(str(mask))
    tiny = ["-o", out, "--size", "32", "--iters", "2", "-q"]
    cases = [
        (["transfer", photo, style, "--masks", str(mask), str(mask)] + tiny,
         "2 masks given for 1 style images"),
        (["transfer", photo, style, "--masks",
          str(tmp_path / "missing.png")] + tiny, "mask 1 not found"),
        (["transfer", photo, style, "--masks", str(mask)] + tiny,
         "output pixels uncovered"),
        (["transfer", photo, style, "--masks", str(mask), "-o",
          str(mask)] + tiny[2:], "is the mask: it would be overwritten"),
        (["texture", style, "--style-scale", "0"] + tiny,
         "style scale must be a finite number > 0"),
        (["texture", style, "--tol", "1.5"] + tiny,
         "tol is a relative fall of the loss, below 1"),
        (["transfer", photo, style, "--tileable"] + tiny,
         "unrecognized arguments: --tileable"),
    ]
    for argv, message in cases:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)
