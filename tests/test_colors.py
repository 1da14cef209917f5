"""Colour preservation on synthetic images."""
import numpy as np
import pytest

from conftest import sample
from lasagne_style import api, colors


def test_yiq_roundtrip(rng):
    rgb = rng.randint(0, 256, (8, 9, 3)).astype(np.uint8)
    np.testing.assert_array_equal(colors.yiq_to_rgb(colors.rgb_to_yiq(rgb)),
                                  rgb)
    gray = np.full((2, 2, 3), 77, np.uint8)
    yiq = colors.rgb_to_yiq(gray)
    np.testing.assert_allclose(yiq[:, :, 0], 77)
    np.testing.assert_allclose(yiq[:, :, 1:], 0, atol=1e-9)


def test_histogram_matching_moves_mean_and_covariance(rng):
    # a bluish, low-contrast style and a reddish, contrasty content
    style = np.clip(rng.randn(40, 40, 3) * [10, 15, 20] + [60, 90, 170], 0,
                    255).astype(np.uint8)
    mix = np.array([[1.0, 0.4, 0.1], [0.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
    content = np.clip(rng.randn(30, 50, 3) @ mix.T * 30 + [160, 90, 70], 0,
                      255).astype(np.uint8)
    out = colors.match_histogram(style, content)
    x = out.reshape(-1, 3).astype(float)
    y = content.reshape(-1, 3).astype(float)
    np.testing.assert_allclose(x.mean(axis=0), y.mean(axis=0), atol=1.0)
    np.testing.assert_allclose(np.cov(x, rowvar=False),
                               np.cov(y, rowvar=False), rtol=0.05, atol=5.0)


def test_luminance_keeps_the_content_chrominance(rng):
    content = rng.randint(0, 256, (10, 12, 3)).astype(np.uint8)
    other = rng.randint(0, 256, (10, 12, 3)).astype(np.uint8)
    gray = colors.luminance(other, like=content)
    assert np.all(gray[:, :, 0] == gray[:, :, 2])
    y = colors.rgb_to_yiq(gray)[:, :, 0]
    y_c = colors.rgb_to_yiq(content)[:, :, 0]
    assert y.mean() == pytest.approx(y_c.mean(), abs=1.0)
    assert y.std() == pytest.approx(y_c.std(), rel=0.02)
    out = colors.recombine(gray, content)
    yiq_out, yiq_c = colors.rgb_to_yiq(out), colors.rgb_to_yiq(content)
    inside = np.all((out > 0) & (out < 255), axis=2)  # no clipping there
    np.testing.assert_allclose(yiq_out[inside][:, 1:], yiq_c[inside][:, 1:],
                               atol=1.0)
    np.testing.assert_allclose(yiq_out[inside][:, 0],
                               colors.rgb_to_yiq(gray)[inside][:, 0], atol=1.0)


@pytest.mark.parametrize("mode", ["luminance", "histogram"])
def test_transfer_with_preserved_colours(mode):
    result = api.stylize(sample("grace_hopper.jpg"), sample("night_cafe.jpg"),
                         size=40, iters=3, seed=0, progress=False,
                         preserve_colors=mode)
    assert result.image.shape == (40, 34, 3)
