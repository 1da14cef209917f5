"""Image loading (modes, transparency, orientation, animation, truncated
files, float TIFFs scaled or refused), conversion and pre/post-processing."""
import numpy as np
import pytest
from PIL import Image

from lasagne_style import images
from lasagne_style.errors import UserError


def test_preprocess_roundtrip_and_layout(rng):
    rgb = rng.randint(0, 256, (5, 7, 3)).astype(np.uint8)
    x = images.preprocess(rgb)
    assert x.shape == (1, 3, 5, 7) and x.dtype == np.float32
    # channel 0 is blue minus 104
    np.testing.assert_array_equal(x[0, 0], rgb[:, :, 2] - 104.0)
    np.testing.assert_array_equal(images.deprocess(x), rgb)
    low, high = images.pixel_bounds(x.shape)
    assert np.all(x >= low) and np.all(x <= high)
    np.testing.assert_array_equal(images.deprocess(low), 0)
    np.testing.assert_array_equal(images.deprocess(high), 255)


def test_fit_size_keeps_aspect():
    assert images.fit_size((600, 512), 256) == (256, 218)
    assert images.fit_size((100, 400), 200) == (50, 200)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "LA", "RGBA", "I;16"])
def test_modes_become_rgb(tmp_path, mode):
    path = str(tmp_path / ("im.tif" if mode == "CMYK" else "im.png"))
    if mode == "I;16":
        a = (np.arange(12 * 10).reshape(10, 12) * 500).astype(np.uint16)
        Image.fromarray(a).save(path)
        rgb = images.load_image(path)
        expected = np.round(a / 65535.0 * 255).astype(np.uint8)
        np.testing.assert_array_equal(rgb[:, :, 0], expected)
    else:
        Image.new("RGB", (12, 10), (200, 30, 40)).convert(mode).save(path)
        rgb = images.load_image(path)
    assert rgb.shape == (10, 12, 3) and rgb.dtype == np.uint8


def test_transparency_is_composited_on_white(tmp_path):
    path = str(tmp_path / "a.png")
    im = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    im.putpixel((0, 0), (255, 0, 0, 255))
    im.save(path)
    rgb = images.load_image(path)
    assert tuple(rgb[0, 0]) == (255, 0, 0)
    assert tuple(rgb[3, 3]) == (255, 255, 255)


def test_exif_orientation_is_honoured(tmp_path):
    path = str(tmp_path / "rot.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    Image.new("RGB", (40, 20), (0, 128, 0)).save(path, exif=exif)
    assert images.load_image(path).shape == (40, 20, 3)


def test_animation_uses_first_frame(tmp_path):
    path = str(tmp_path / "anim.gif")
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert tuple(images.load_image(path)[0, 0]) == (255, 0, 0)


def test_truncated_file_is_a_user_error(tmp_path, rng):
    path = tmp_path / "t.png"
    Image.fromarray(rng.randint(0, 256, (64, 64, 3)).astype(np.uint8)).save(
        path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(UserError, match="cannot read image"):
        images.load_image(str(path))


def test_save_is_atomic_and_keeps_metadata(tmp_path, rng):
    path = str(tmp_path / "o.png")
    rgb = rng.randint(0, 256, (6, 5, 3)).astype(np.uint8)
    images.save_image(path, rgb, {"k": "v"})
    with Image.open(path) as im:
        assert im.text["k"] == "v"
        np.testing.assert_array_equal(np.asarray(im), rgb)
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]
    with pytest.raises(UserError, match="does not exist"):
        images.save_image(str(tmp_path / "no" / "o.png"), rgb)


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_float_tiff_is_scaled(tmp_path, rng, scale):
    a = (rng.rand(6, 7) * scale).astype(np.float32)
    path = str(tmp_path / "f.tif")
    Image.fromarray(a, "F").save(path)
    with Image.open(path) as im:
        assert im.mode == "F"
    rgb = images.load_image(path)
    expected = np.round(a.astype(np.float64) * (255.0 / scale))
    assert rgb.shape == (6, 7, 3) and rgb.max() > 100
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], expected)


@pytest.mark.parametrize("values,message", [
    ([-1.0, 3.0], "span -1..3; expected 0..1 or 0..255"),
    ([0.0, 300.0], "span 0..300"),
    ([0.0, np.nan], "NaN or infinite"),
    ([0.0, np.inf], "NaN or infinite"),
])
def test_float_tiff_out_of_range_is_refused(tmp_path, values, message):
    path = str(tmp_path / "f.tif")
    Image.fromarray(np.array([values], np.float32), "F").save(path)
    with pytest.raises(UserError, match=message):
        images.load_image(path)
