"""The copy score (lasagne_style.copying) against independent computations:
a brute-force loop over shifts, scipy's Gaussian filter, and the cases whose
answer is known (an image against itself, a shifted copy, unrelated
noise); and a texture from the defaults on a scene-like image."""
import numpy as np
import pytest
from scipy import ndimage

from lasagne_style import copying


def _smooth_rgb(rng, shape, blur=2.0):
    """A smooth random RGB image (values 0..255, float)."""
    x = ndimage.gaussian_filter(rng.rand(*shape, 3), (blur, blur, 0),
                                mode="wrap")
    x -= x.min()
    return 255 * x / x.max()


def _brute_force(image, exemplar, gradient):
    """r(s) by its definition: for every offset, the exemplar's window
    (periodic), both as feature vectors, each channel centred on its own
    mean; np.corrcoef-style Pearson correlation of the concatenation."""
    a = np.asarray(image, np.float64) @ [0.299, 0.587, 0.114]
    e = np.asarray(exemplar, np.float64) @ [0.299, 0.587, 0.114]
    if gradient:
        fa = [a[1:, :-1] - a[:-1, :-1], a[:-1, 1:] - a[:-1, :-1]]
        fe = [np.roll(e, -1, 0) - e, np.roll(e, -1, 1) - e]
    else:
        fa, fe = [a], [e]
    h, w = fa[0].shape
    big_h, big_w = fe[0].shape
    out = np.zeros((big_h, big_w))
    rows, cols = np.arange(h), np.arange(w)
    for u in range(big_h):
        for v in range(big_w):
            num = den_a = den_e = 0.0
            for ak, ek in zip(fa, fe):
                window = ek[np.ix_((rows + u) % big_h, (cols + v) % big_w)]
                ac, wc = ak - ak.mean(), window - window.mean()
                num += np.sum(ac * wc)
                den_a += np.sum(ac * ac)
                den_e += np.sum(wc * wc)
            out[u, v] = num / np.sqrt(den_a * den_e)
    return out


@pytest.mark.parametrize("gradient", [True, False])
def test_fft_map_equals_a_loop_over_shifts(rng, gradient):
    image = rng.rand(9, 11, 3) * 255
    exemplar = rng.rand(13, 16, 3) * 255
    expected = _brute_force(image, exemplar, gradient)
    got = copying.correlation_map(image, exemplar, sigma=0, gradient=gradient)
    assert got.shape == (13, 16)
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_same_size_map_equals_a_loop_over_circular_shifts(rng):
    image, exemplar = rng.rand(12, 10, 3), rng.rand(12, 10, 3)
    np.testing.assert_allclose(
        copying.correlation_map(image, exemplar, sigma=0),
        _brute_force(image, exemplar, True), atol=1e-10)


def test_blur_is_a_gaussian_filter_reflected_at_the_borders(rng):
    g = rng.rand(40, 57)
    for sigma in (0.8, 2.5):
        np.testing.assert_allclose(copying.smooth(g, sigma),
                                   ndimage.gaussian_filter(g, sigma,
                                                           mode="reflect"),
                                   atol=1e-12)
    assert copying.smooth(g, 0) is g


def test_an_exemplar_against_itself_scores_one(rng):
    x = _smooth_rgb(rng, (48, 64))
    assert copying.copy_score(x, x, sigma=0) == pytest.approx(1, abs=1e-9)
    assert copying.copy_score(x, x) == pytest.approx(1, abs=1e-9)
    assert copying.copy_score(x, x, gradient=False) == pytest.approx(
        1, abs=1e-9)
    m = copying.measure(x.astype(np.uint8), x.astype(np.uint8))
    assert m.score == pytest.approx(1, abs=1e-9) and m.copies


def test_a_circularly_shifted_copy_scores_one(rng):
    x = _smooth_rgb(rng, (48, 64))
    shifted = np.roll(x, (17, -23), axis=(0, 1))
    r = copying.correlation_map(x, shifted, sigma=0)
    assert r.max() == pytest.approx(1, abs=1e-9)
    # found at the shift: x's (0, 0) is the shifted image's (17, 64 - 23)
    assert np.unravel_index(np.argmax(r), r.shape) == (17, 41)
    # with the blur (each image reflected at its own borders) nearly so
    assert copying.copy_score(x, shifted) > 0.9


def test_a_window_of_a_larger_exemplar_scores_one(rng):
    big = _smooth_rgb(rng, (60, 80))
    assert copying.copy_score(big[10:40, 25:70], big, sigma=0) \
        == pytest.approx(1, abs=1e-9)


def test_unrelated_noise_scores_low_and_at_chance(rng):
    a, b = rng.rand(64, 64, 3) * 255, rng.rand(64, 64, 3) * 255
    assert copying.copy_score(a, b, sigma=0) < 0.1
    m = copying.measure(a.astype(np.uint8), b.astype(np.uint8))
    assert abs(m.excess) < copying.COPY_MARGIN and not m.copies
    # a copy of a smooth image stays far above its chance level
    x = _smooth_rgb(rng, (64, 64), blur=4.0).astype(np.uint8)
    assert copying.measure(x, x).excess > 0.4


def test_phase_randomised_keeps_the_spectrum_and_the_mean(rng):
    x = _smooth_rgb(rng, (32, 48))
    g = x @ [0.299, 0.587, 0.114]
    fake = copying.phase_randomised(x, np.random.RandomState(3))
    assert fake.mean() == pytest.approx(g.mean())
    np.testing.assert_allclose(np.abs(np.fft.fft2(fake - fake.mean())),
                               np.abs(np.fft.fft2(g - g.mean())),
                               rtol=1e-8, atol=1e-8 * np.abs(g).max())
    assert copying.copy_score(fake, g, sigma=0, gradient=False) < 0.9


def test_chance_level_is_reproducible_and_the_mean_of_its_draws(rng):
    x, e = rng.rand(20, 30), rng.rand(20, 30)
    level = copying.chance_level(x, e, sigma=0, draws=3, seed=5)
    draws = np.random.RandomState(5)
    expected = np.mean([copying.copy_score(
        copying.phase_randomised(x, draws), e, sigma=0) for _ in range(3)])
    assert level == pytest.approx(expected)


def test_the_exemplar_is_taken_at_the_runs_scales(rng):
    ex = _smooth_rgb(rng, (100, 150)).astype(np.uint8)
    assert [e.shape for e in copying.exemplars_at(ex, (40, 60))] \
        == [(40, 60, 3)]
    assert [e.shape for e in copying.exemplars_at(ex, (40, 60), 2.0)] \
        == [(40, 60, 3), (80, 120, 3)]


def test_the_exemplar_must_cover_the_image(rng):
    with pytest.raises(ValueError, match="at least as large"):
        copying.copy_score(rng.rand(20, 20), rng.rand(10, 30))


# --- a run's copy score ----------------------------------------------------

def _scene(h=150, w=200):
    """A scene-like image: a sky over a hill, a mountain, a sun, a tower."""
    y, x = np.mgrid[0:h, 0:w].astype(float)
    img = np.zeros((h, w, 3))
    t = y / h
    img[:] = np.stack([80 + 100 * t, 140 + 80 * t, 230 - 20 * t], -1)
    ground = y > 0.6 * h + 10 * np.sin(x / 23.0)
    img[ground] = [60, 140, 50]
    img[(y > 0.25 * h + np.abs(x - 0.35 * w) * 0.9) & ~ground] = [110, 100,
                                                                  110]
    img[(y - 0.18 * h) ** 2 + (x - 0.8 * w) ** 2 < (0.08 * w) ** 2] = [
        250, 230, 120]
    img[(np.abs(x - 0.62 * w) < 0.03 * w) & (y > 0.3 * h)] = [40, 30, 30]
    img += np.random.RandomState(0).normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_a_default_texture_of_a_scene_is_not_a_copy(tmp_path, capsys):
    # the defaults at 128 px (100 evaluations to keep the test short): the
    # score must stay within COPY_MARGIN of its chance level, the margin
    # chosen on the tuning images of docs/textures.md (visible copies were
    # 0.15-0.65 above chance, textures at most 0.06 above)
    import json

    from PIL import Image

    from lasagne_style import cli
    scene = tmp_path / "scene.png"
    Image.fromarray(_scene()).save(str(scene))
    out, log = str(tmp_path / "t.png"), str(tmp_path / "t.json")
    assert cli.main(["texture", str(scene), "-o", out, "--size", "128",
                     "--iters", "100", "--seed", "0", "--log", log]) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err
    line = [x for x in captured.out.splitlines()
            if x.startswith("copy score")]
    assert len(line) == 1 and line[0].endswith("a texture, not a copy")
    recorded = json.load(open(log))["copy_score"]
    assert recorded["excess"] == pytest.approx(recorded["score"]
                                               - recorded["chance"])
    assert recorded["excess"] <= copying.COPY_MARGIN
    assert not recorded["copies"]
    # the number printed and recorded is the one measure() gives the image
    from lasagne_style import images
    again = copying.measure(images.load_image(out), _scene(),
                            json.loads(images.load_image_and_text(out)[1][
                                "lasagne_style:options"])["style_scale"])
    assert again.score == pytest.approx(recorded["score"], abs=1e-9)


def test_the_api_result_has_the_copy_score_of_textures_only(rng):
    from lasagne_style import api
    style = rng.randint(0, 256, (40, 40, 3)).astype(np.uint8)
    shallow = dict(size=32, iters=2, seed=0, progress=False,
                   style_layers="conv1_1,conv2_1")
    result = api.synthesize(style, **shallow)
    assert result.copy_score == result.copy.score
    # conv1_1 and conv2_1 have enough positions at 32 px: scale 1
    assert result.copy == copying.measure(result.image, style, 1.0)
    transfer = api.stylize(style, style, content_layers="conv2_1", **shallow)
    assert transfer.copy is None and transfer.copy_score is None
