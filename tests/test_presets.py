"""The papers' presets against the papers' numbers, pooling layers as style
layers against a numpy reference, and the texture default's style scale
(docs/textures.md)."""
import numpy as np
import pytest

import reference
from lasagne_style import api, config
from lasagne_style.errors import UserError
from lasagne_style.options import RunOptions


# --- the papers' numbers --------------------------------------------------

def test_gatys2015_is_the_texture_papers_model():
    # Gatys, Ecker & Bethge 2015 (texture synthesis): Gram matrices of
    # conv1_1 and pool1..pool4; E_l = 1/(4 N^2 M^2) sum (G - A)^2 with
    # w_l = 1e9 for each of those layers (the authors' code); no other term
    loss = config.preset("gatys2015")
    assert loss.style_layers == ("conv1_1", "pool1", "pool2", "pool3",
                                 "pool4")
    assert [loss.style_weight * w for w in loss.layer_weights] == [1e9] * 5
    assert loss.content_weight == 0 and loss.tv_weight == 0
    assert loss.statistic == "gram"
    assert config.DEFAULT_INIT["gatys2015"] == "noise"


def test_gatys2016_is_the_cvpr_transfer():
    # Gatys, Ecker & Bethge 2016 (CVPR): content conv4_2, 1/2 sum (F-P)^2
    # (not normalised); style conv1_1..conv5_1 with w_l = 1/5;
    # alpha/beta = 1e-3; white-noise start; no variation term
    loss = config.preset("gatys2016")
    assert loss.content_layers == ("conv4_2",)
    assert loss.style_layers == ("conv1_1", "conv2_1", "conv3_1", "conv4_1",
                                 "conv5_1")
    assert loss.layer_weights == pytest.approx((0.2,) * 5)
    assert loss.content_weight / loss.style_weight == pytest.approx(1e-3)
    assert not loss.normalize and loss.tv_weight == 0
    assert config.DEFAULT_INIT["gatys2016"] == "noise"
    assert RunOptions.of("transfer", preset="gatys2016").start == "noise"


def test_other_style_layers_keep_the_presets_layer_weight():
    loss = config.preset("gatys2016", style_layers="conv1_1,conv3_1")
    assert loss.layer_weights == pytest.approx((0.2, 0.2))
    loss = config.preset("gatys2015", style_layers=["pool2"],
                         style_layer_weights=[3.0])
    assert loss.layer_weights == (3.0,)


def test_the_texture_preset_is_refused_for_a_transfer():
    with pytest.raises(UserError, match="texture model without a content"):
        RunOptions.of("transfer", preset="gatys2015")
    RunOptions.of("texture", preset="gatys2015")


# --- pooling layers -------------------------------------------------------

def test_pooling_layers_are_style_layers_with_their_stride():
    assert config.layer_names("conv1_1,pool1,pool4") == ("conv1_1", "pool1",
                                                         "pool4")
    assert [config.receptive_stride(n) for n in ("conv1_2", "pool1",
                                                 "conv2_1", "pool4",
                                                 "conv5_1", "pool5")] \
        == [1, 2, 2, 16, 16, 32]
    assert config.LAYER_CHANNELS["pool3"] == 256
    assert config.layer_shape("pool2", (37, 50)) == (9, 12)
    with pytest.raises(UserError, match="unknown layer 'pool6'"):
        config.layer_names("pool6")


def _pooled(rgb, params):
    """conv1_1 and pool1..pool4 of the numpy reference: each pool the 2x2
    average of its block's last (rectified) conv layer."""
    last = {"pool1": "conv1_2", "pool2": "conv2_2", "pool3": "conv3_4",
            "pool4": "conv4_4"}
    f = reference.vgg_features(rgb, params, {"conv1_1"} | set(last.values()))
    return dict({p: reference.average_pool(f[c]) for p, c in last.items()},
                conv1_1=f["conv1_1"])


def test_pooling_layer_style_terms_equal_a_numpy_reference(params, rng):
    # odd sides: each pooling drops the last row/column (36x29 -> pool4 2x1)
    image = rng.randint(0, 256, (36, 29, 3)).astype(np.uint8)
    style = rng.randint(0, 256, (36, 29, 3)).astype(np.uint8)
    fx, fs = _pooled(image, params), _pooled(style, params)
    assert fx["pool4"].shape == (512, 2, 1)
    expected = 0.0
    for name in ("conv1_1", "pool1", "pool2", "pool3", "pool4"):
        N, M = fx[name].shape[0], fx[name][0].size
        expected += 1e9 * np.sum((reference.gram(fx[name])
                                  - reference.gram(fs[name])) ** 2) \
            / (4.0 * N ** 2 * M ** 2)
    terms = api.score(image, style, preset="gatys2015")
    assert terms["style"] == pytest.approx(expected, rel=2e-3)
    assert terms["total"] == pytest.approx(terms["style"])


def test_a_single_pooling_layer_against_the_reference(params, rng):
    image = rng.randint(0, 256, (24, 24, 3)).astype(np.uint8)
    style = rng.randint(0, 256, (24, 24, 3)).astype(np.uint8)
    fx, fs = _pooled(image, params), _pooled(style, params)
    N, M = 128, 36
    expected = np.sum((reference.gram(fx["pool2"]) - reference.gram(
        fs["pool2"])) ** 2) / (4.0 * N ** 2 * M ** 2)
    got = api.score(image, style, style_layers="pool2", style_weight=1.0,
                    tv_weight=0.0, style_scale=1.0)["style"]
    assert got == pytest.approx(expected, rel=2e-3)


# --- the texture default's style scale ------------------------------------

def _faithful_by_hand(shape, strides_channels):
    """The smallest longer side L at which an image of ``shape``'s aspect
    ratio, resized as images.fit_size does, has at every (stride,
    channels) floor(h/stride) * floor(w/stride) >= channels."""
    from lasagne_style.images import fit_size
    L = 1
    while True:
        h, w = fit_size(shape, L)
        if all((h // s) * (w // s) >= n for s, n in strides_channels):
            return L
        L += 1


def test_faithful_side_against_a_count_by_hand():
    layers = config.STYLE_LAYERS
    table = [(1, 64), (2, 128), (4, 256), (8, 512), (16, 512)]
    for shape in ((100, 100), (500, 634), (1600, 2560), (60, 600)):
        assert config.faithful_side(layers, shape) \
            == _faithful_by_hand(shape, table)
    assert config.faithful_side(layers, (1, 1)) == 368  # 23 * 23 >= 512
    assert config.starved_layers(layers, (256, 256)) == ("conv5_1",)
    assert config.starved_layers(layers, (128, 128)) == ("conv4_1",
                                                         "conv5_1")
    assert config.starved_layers(("conv1_1", "pool4"), (256, 256)) \
        == ("pool4",)


def test_texture_default_scale_and_the_warning(capsys, rng):
    style = rng.randint(0, 256, (500, 634, 3)).astype(np.uint8)
    shape = (50, 64)
    loss = config.preset("default")
    opts = api._texture_scale(RunOptions.of("texture", size=64), loss,
                              [style], shape)
    assert opts.style_scale == pytest.approx(
        config.faithful_side(loss.style_layers, style.shape) / 64.0)
    assert capsys.readouterr().err == ""
    # large outputs keep the style at the output's size
    big = api._texture_scale(RunOptions.of("texture", size=512), loss,
                             [style], (404, 512))
    assert big.style_scale == 1.0
    # the user's scale is kept, with one warning line naming the option
    kept = api._texture_scale(RunOptions.of("texture", size=64,
                                            style_scale=1.0), loss,
                              [style], shape)
    assert kept.style_scale == 1.0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "conv1_1" not in err
    assert "conv4_1, conv5_1" in err and "--style-scale 1 " in err
    assert "--style-scale %g avoids" % (
        np.ceil(opts.style_scale * 100) / 100) in err
    # the paper's preset keeps the paper's scale (1), and says so
    paper = api._texture_scale(RunOptions.of("texture", size=64,
                                             preset="gatys2015"),
                               config.preset("gatys2015"), [style], shape)
    assert paper.style_scale == 1.0
    assert "--preset gatys2015" in capsys.readouterr().err
    # no warning where nothing is starved, nor without progress output
    api._texture_scale(RunOptions.of("texture", size=64, style_scale=1.0,
                                     progress=False), loss, [style], shape)
    api._texture_scale(RunOptions.of("texture", size=64, style_scale=1.0,
                                     style_layers="conv1_1,conv2_1"),
                       config.preset("default", style_layers="conv1_1,"
                                     "conv2_1"), [style], shape)
    assert capsys.readouterr().err == ""
