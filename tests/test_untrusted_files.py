"""Untrusted files and odd images: checkpoints that are deflate bombs, PNGs
that declare more pixels than memory holds, masks read as users mean them,
32-bit images, an image's bytes given as its path, names too long for a
checkpoint, and one checkpoint per output."""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from conftest import ROOT, sample
from lasagne_style import api, batch, checkpoint, files, images, memory
from lasagne_style.errors import UserError


def one_line(error):
    text = str(error.value)
    assert "\n" not in text and "\r" not in text
    return text


# --- deflate-bomb checkpoints ------------------------------------------------

def npy_header(dtype, shape):
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False, "shape": shape})
    return out.getvalue()


def npy(array):
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def write_member(archive, name, header, zeros):
    """A deflated zip entry: ``header`` then ``zeros`` zero bytes, streamed
    (the test never holds the inflated size)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as member:
        member.write(header)
        chunk = bytes(1 << 20)
        while zeros:
            member.write(chunk[:min(zeros, len(chunk))])
            zeros -= min(zeros, len(chunk))


STATE = dict(level=0, evaluations=3, history=[dict(eval=1, loss=2.0)],
             seconds=1.0, seed=1, fingerprint="fp")
BOMB_SIDE = 4630  # (1, 3, 4630, 4630) float32: 257 MB inflated


def bomb_checkpoint(path, image_side=BOMB_SIDE, state_chars=None):
    """A checkpoint whose image (or state) inflates to about 257 MB."""
    with zipfile.ZipFile(str(path), "w", compresslevel=9) as archive:
        if state_chars:
            write_member(archive, "state.npy",
                         npy_header("<U%d" % state_chars, ()),
                         4 * state_chars)
        else:
            archive.writestr("state.npy", npy(np.array(json.dumps(STATE))))
        archive.writestr("format.npy", npy(np.array(checkpoint.FORMAT)))
        shape = (1, 3, image_side, image_side)
        write_member(archive, "x.npy", npy_header("<f4", shape),
                     4 * int(np.prod(shape)))
    assert path.stat().st_size < 2e6  # a small file
    return path


def peak_allocated(function):
    """(what ``function`` raised, the peak bytes Python and numpy
    allocated meanwhile)."""
    tracemalloc.start()
    try:
        with pytest.raises(UserError) as error:
            function()
        return error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_deflate_bomb_of_another_run_is_refused_before_inflating(tmp_path):
    path = bomb_checkpoint(tmp_path / "bomb.ckpt.npz")
    error, peak = peak_allocated(
        lambda: checkpoint.load(str(path), "another fingerprint"))
    assert "other images or options" in one_line(error)
    assert peak < 16e6, peak  # the image (257 MB) was never inflated


def test_deflate_bomb_image_is_bounded_by_memory(tmp_path, monkeypatch):
    path = bomb_checkpoint(tmp_path / "bomb.ckpt.npz")
    monkeypatch.setattr(memory, "available", lambda: 2e9)
    error, peak = peak_allocated(lambda: checkpoint.load(str(path), "fp"))
    assert "damaged: x claims a 4630x4630 image" in one_line(error)
    assert peak < 16e6, peak
    # a run of that size needs 75 GB: more than the 2 GB "here"
    assert memory.estimated((BOMB_SIDE, BOMB_SIDE)) > 70e9


def test_deflate_bomb_state_is_refused_from_its_header(tmp_path):
    path = bomb_checkpoint(tmp_path / "bomb.ckpt.npz", image_side=4,
                           state_chars=2 ** 26)  # 256 MB of text
    error, peak = peak_allocated(lambda: checkpoint.load(str(path), "fp"))
    assert "cannot read checkpoint" in one_line(error)
    assert "state.npy claims" in str(error.value)
    assert peak < 16e6, peak


def test_a_zip_entry_that_lies_about_its_size_is_damaged(tmp_path):
    # the .npy header says 4x4, the entry holds 4x5: never trusted further
    path = tmp_path / "lie.ckpt.npz"
    with zipfile.ZipFile(str(path), "w") as archive:
        archive.writestr("state.npy", npy(np.array(json.dumps(STATE))))
        archive.writestr("format.npy", npy(np.array(checkpoint.FORMAT)))
        archive.writestr("x.npy", npy_header("<f4", (1, 3, 4, 4))
                         + bytes(4 * 3 * 4 * 5))
    with pytest.raises(UserError, match="damaged: x.npy declares 192 bytes "
                       "of data but holds 240"):
        checkpoint.load(str(path), "fp")
    # and a good one still loads, with every field
    good = tmp_path / "good.ckpt.npz"
    x = np.arange(3 * 4 * 5, dtype=np.float32).reshape(1, 3, 4, 5)
    checkpoint.save(str(good), x, 0, 3, STATE["history"], 1.0, 1, "fp")
    state = checkpoint.load(str(good), "fp")
    np.testing.assert_array_equal(state["x"], x)
    assert state["evaluations"] == 3 and state["history"] == STATE["history"]


# --- PNGs that declare more pixels than memory holds -------------------------

def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def declared_png(path, width, height, bit_depth=16, rows=4):
    """A valid-looking gray PNG declaring ``width`` x ``height``, with only
    ``rows`` rows of data: a few hundred bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    row = b"\0" + bytes(width * bit_depth // 8)
    data = zlib.compress(row * rows, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
                     + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b""))
    return path


def test_declared_size_is_checked_before_decoding(tmp_path, monkeypatch):
    path = declared_png(tmp_path / "big.png", 12000, 12000)
    assert path.stat().st_size < 10000
    decoded = []

    def load(self):
        decoded.append(self.size)
        raise AssertionError("decoded before the check")
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    monkeypatch.setattr(memory, "available", lambda: 1e9)
    with pytest.raises(UserError) as error:
        images.load_image(str(path))
    text = one_line(error)
    assert "declares 12000x12000 pixels (I;16)" in text
    assert "needs about 1.7 GB of memory but only 1.0 GB" in text
    assert decoded == []
    with pytest.raises(UserError, match="declares 12000x12000"):
        images.load_mask(str(path), "mask 1")
    assert decoded == []


def test_declared_size_is_refused_by_the_api_before_any_work(
        tmp_path, monkeypatch, no_compiling):
    path = declared_png(tmp_path / "big.png", 12000, 12000)
    monkeypatch.setattr(memory, "available", lambda: 1e9)
    with pytest.raises(UserError, match="image .*big.png declares "
                       "12000x12000"):
        api.synthesize(str(path), size=32, iters=1, progress=False)


MEASURE = """
import sys
from lasagne_style import images
from PIL import Image

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

with Image.open(sys.argv[1]) as im:
    size, mode = im.size, im.mode
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) starts again from here
base = status("VmRSS")
getattr(images, sys.argv[2])(sys.argv[1])
print(mode, (status("VmHWM") - base) / float(size[0] * size[1]))
"""


@pytest.mark.parametrize("kind", ["I;16", "RGB", "RGBA"])
def test_decoding_stays_within_the_memory_model(tmp_path, kind):
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("no /proc/self/clear_refs to reset the peak RSS")
    side = 1600
    ramp = np.add.outer(np.arange(side), np.arange(side)) % 256
    if kind == "I;16":
        im = Image.fromarray((ramp * 257).astype(np.uint16))
    else:
        im = Image.fromarray(np.stack([ramp] * len(kind), 2).astype(
            np.uint8), kind)
    path = str(tmp_path / "ramp.png")
    im.save(path)
    per_pixel = {}
    for function in ("load_image", "load_mask"):
        out = subprocess.run([sys.executable, "-c", MEASURE, path, function],
                             cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
        assert out[0] == kind
        per_pixel[function] = float(out[1])
    model = memory.DECODE_BYTES_PER_PIXEL[kind]
    # the decoded pixels at least (2 or 4 bytes), within the model
    assert 2 <= min(per_pixel.values()), per_pixel
    assert max(per_pixel.values()) <= model, per_pixel
    if kind == "I;16":
        # float64 copies made it 21 bytes a pixel: 2.95 GB at 12000x12000
        assert per_pixel["load_image"] < 12
        assert memory.decode_bytes((12000, 12000), kind) < 1.8e9


# --- masks as users mean them ------------------------------------------------

def region():
    mask = np.zeros((6, 8), np.uint8)
    mask[1:4, 2:7] = 1
    return mask


def test_a_0_1_png_is_a_binary_mask(tmp_path):
    path = str(tmp_path / "m.png")
    Image.fromarray(region()).save(path)  # values 0 and 1, mode L
    mask = images.load_mask(path, "mask 1")
    assert mask.dtype == np.float32 and mask.shape == (6, 8)
    np.testing.assert_array_equal(mask, region())
    # 0/1 in 16 bits too; a 16-bit gray mask by its depth
    Image.fromarray(region().astype(np.uint16)).save(path)
    np.testing.assert_array_equal(images.load_mask(path), region())
    Image.fromarray(region().astype(np.uint16) * 30000).save(path)
    np.testing.assert_allclose(images.load_mask(path),
                               region() * np.float32(30000 / 65535.0),
                               atol=1e-6)


def test_an_8_bit_gray_mask_is_gray_over_255(tmp_path):
    path = str(tmp_path / "m.png")
    gray = (region() * 255).astype(np.uint8)
    gray[0, 0] = 128
    Image.fromarray(gray).save(path)
    mask = images.load_mask(path)
    assert mask[0, 0] == pytest.approx(128 / 255.0)
    assert mask[2, 3] == 1.0 and mask[5, 0] == 0.0
    # an RGB file of gray pixels: exactly the same
    Image.fromarray(np.stack([gray] * 3, 2)).save(path)
    np.testing.assert_array_equal(images.load_mask(path), mask)


def test_alpha_is_the_mask_where_an_image_has_one(tmp_path):
    path = str(tmp_path / "m.png")
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere, transparent outside the region
    rgba[..., 3] = region() * 255
    Image.fromarray(rgba, "RGBA").save(path)
    np.testing.assert_array_equal(images.load_mask(path), region())
    # what the old reading (composited on white) made of it: all white
    assert images.gray(images.load_image(path)).min() == 1.0
    # a region painted black on a transparent layer is the region too
    rgba[..., :3] = 0
    Image.fromarray(rgba, "RGBA").save(path)
    np.testing.assert_array_equal(images.load_mask(path), region())
    # as an array as well
    np.testing.assert_array_equal(images.load_mask(rgba), region())
    # gray + alpha, and a palette image with a transparent index
    Image.fromarray(rgba[..., [0, 3]], "LA").save(path)
    np.testing.assert_array_equal(images.load_mask(path), region())
    palette = Image.fromarray(region(), "P")
    palette.putpalette([255, 255, 255, 255, 255, 255])
    palette.save(path, transparency=0)
    np.testing.assert_array_equal(images.load_mask(path), region())


def test_opaque_alpha_says_nothing(tmp_path):
    path = str(tmp_path / "m.png")
    rgba = np.full((6, 8, 4), 255, np.uint8)
    rgba[..., :3] = (region() * 255)[..., None]
    Image.fromarray(rgba, "RGBA").save(path)
    np.testing.assert_array_equal(images.load_mask(path), region())


def test_mask_arrays(tmp_path):
    r = region()
    np.testing.assert_array_equal(images.load_mask(r), r)  # uint8 0/1
    np.testing.assert_array_equal(images.load_mask(r.astype(int)), r)
    np.testing.assert_array_equal(images.load_mask(r.astype(bool)), r)
    np.testing.assert_allclose(images.load_mask(r * 200),
                               r * np.float32(200 / 255.0))
    half = r * np.float64(0.5)
    np.testing.assert_array_equal(images.load_mask(half), half)
    rgb = np.stack([r * 255] * 3, 2).astype(np.uint8)
    np.testing.assert_array_equal(images.load_mask(rgb), r)
    # a path as bytes
    path = tmp_path / "m.png"
    Image.fromarray(r).save(str(path))
    np.testing.assert_array_equal(images.load_mask(os.fsencode(path)), r)


@pytest.mark.parametrize("array,message", [
    (np.linspace(0, 1.5, 16).reshape(4, 4),
     "float values 0..1.5: floats must lie in 0..1"),
    (np.full((4, 4), np.nan), "NaN or infinite"),
    (np.arange(16).reshape(4, 4) * 30, "int64 values 0..450"),
    (np.zeros((4, 4, 3), np.float32), "must be a path, an RGB or RGBA"),
    (np.zeros((4, 4, 2), np.uint8), "must be a path, an RGB or RGBA"),
    (np.zeros((2, 4, 4, 3), np.uint8), "must be a path, an RGB or RGBA"),
    (np.zeros((0, 4), np.uint8), "empty \\(shape"),
    (np.zeros((4, 4), np.uint8), "empty \\(black everywhere\\)"),
    (np.zeros((4, 4, 4), np.uint8), "empty \\(transparent everywhere\\)"),
])
def test_other_masks_are_refused_in_one_line(array, message):
    with pytest.raises(UserError, match="the style mask 2 .*" + message) as e:
        images.load_mask(array, "style mask 2")
    one_line(e)


# --- 32-bit integer images ---------------------------------------------------

def test_32_bit_integer_images_do_not_wrap(tmp_path):
    path = str(tmp_path / "i.tif")
    Image.fromarray(np.array([[0, 200000]], np.int32)).save(path)
    with Image.open(path) as im:
        assert im.mode == "I"
    with pytest.raises(UserError, match="32-bit integer pixel values span "
                       "0..200000; expected 0..255 or 0..65535") as error:
        images.load_image(path)  # it was read as [0, 10]
    one_line(error)
    Image.fromarray(np.array([[-5, 100]], np.int32)).save(path)
    with pytest.raises(UserError, match="span -5..100"):
        images.load_image(path)
    # values that fit 16 bits are read as 16 bits, 8 bits as 8 bits
    Image.fromarray(np.array([[0, 257 * 100, 65535]], np.int32)).save(path)
    assert images.load_image(path)[0, :, 0].tolist() == [0, 100, 255]
    Image.fromarray(np.array([[0, 7, 255]], np.int32)).save(path)
    assert images.load_image(path)[0, :, 1].tolist() == [0, 7, 255]


def test_16_bit_images_keep_their_depth(tmp_path):
    # a dark 16-bit image stays dark: it is not taken for an 8-bit one
    # (255 of 65535 used to become white)
    path = str(tmp_path / "d.png")
    Image.fromarray(np.array([[0, 128, 255]], np.uint16)).save(path)
    with Image.open(path) as im:
        assert im.mode == "I;16"
    assert images.load_image(path)[0, :, 2].tolist() == [0, 0, 1]


# --- an image's bytes as its path, names too long ----------------------------

def test_an_images_bytes_given_as_its_path(no_compiling):
    with open(sample("cork.png"), "rb") as f:
        data = f.read()
    assert len(data) > 10000
    for function in (images.load_image, lambda p: images.load_mask(p)):
        with pytest.raises(UserError, match="not found") as error:
            function(data)
        text = one_line(error)
        assert len(text) < 200, text
        assert "\\x89PNG" in text and "(%d bytes)" % len(data) in text
        assert "the file's path, not its contents" in text
    with pytest.raises(UserError) as error:
        api.synthesize(data, size=32, iters=1, progress=False)
    assert len(one_line(error)) < 200
    with pytest.raises(UserError, match="checkpoint not found") as error:
        checkpoint.load(data, "fp")
    assert len(one_line(error)) < 200


def test_shown_paths():
    assert files.shown("out/r.png") == "out/r.png"
    assert files.shown(b"r.png") == "r.png"
    long = "a" * 1000
    assert files.shown(long) == repr("a" * 40) + "... (1000 characters)"
    assert files.shown("a\nb") == repr("a\nb")


def test_an_output_name_too_long_for_its_checkpoint(tmp_path, no_compiling):
    name = "r" * (255 - len(".png")) + ".png"  # fits; the checkpoint not
    output = str(tmp_path / name)
    open(output, "wb").close()  # the file system takes the name itself
    os.remove(output)
    with pytest.raises(UserError, match="the file name of the checkpoint "
                       "of .* is 264 bytes long; this file system allows "
                       "255") as error:
        api.synthesize(sample("cork.png"), size=32, iters=1, output=output,
                       progress=False)
    assert len(one_line(error)) < 300
    # a name too long for the image itself
    with pytest.raises(UserError, match="is 260 bytes long"):
        files.check_image_output(str(tmp_path / ("r" * 256 + ".png")))
    # one that fits both is fine
    assert files.check_image_output(str(tmp_path / "r.png")) == "PNG"


# --- one checkpoint per output -----------------------------------------------

def test_each_output_has_its_own_checkpoint_name():
    assert checkpoint.path_for("out/r.png") == "out/r.png.ckpt.npz"
    assert checkpoint.path_for("r.png") != checkpoint.path_for("r.jpg")
    assert checkpoint.legacy_path_for("out/r.png") == "out/r.ckpt.npz"
    # the batch looks for the same name
    argv = ["texture", "s.png", "-o", "r.jpg", "--quiet"]
    assert batch.plan(argv, "/nonexistent")[0] == "run"


def stop_at(n):
    def progress(i, *_):
        if i == n:
            raise KeyboardInterrupt
    return progress


def test_outputs_with_one_stem_keep_their_checkpoints(tmp_path):
    tiny = dict(size=32, seed=0, style_layers="conv1_1")
    png, jpg = str(tmp_path / "r.png"), str(tmp_path / "r.jpg")
    stopped = api.synthesize(sample("cork.png"), iters=6, output=png,
                             progress=stop_at(2), **tiny)
    assert stopped.stopped == "interrupted"
    assert stopped.checkpoint == png + ".ckpt.npz"
    assert os.path.exists(png + ".ckpt.npz")
    plan = batch.plan(["texture", "s.png", "-o", "r.png"], str(tmp_path))
    assert plan[0] == "resume" and plan[1][-1] == "r.png.ckpt.npz"
    # another output with the same stem finishes: r.png's work is kept
    done = api.synthesize(sample("cork.png"), iters=3, output=jpg,
                          progress=False, **tiny)
    assert done.stopped == "budget" and os.path.exists(jpg)
    assert os.path.exists(png + ".ckpt.npz")
    # a checkpoint under the old name still resumes when given
    legacy = checkpoint.legacy_path_for(png)
    shutil.copy(png + ".ckpt.npz", legacy)
    resumed = api.synthesize(sample("cork.png"), iters=6, output=png,
                             progress=False, resume=legacy, **tiny)
    assert resumed.stopped == "budget"
    assert [h["eval"] for h in resumed.history] == list(range(1, 7))
    assert resumed.history[:2] == stopped.history
    assert not os.path.exists(png + ".ckpt.npz")  # finished: removed
