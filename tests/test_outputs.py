"""Where results are written, checked before any work: outputs that would
overwrite an input, the checkpoint or the weights they are made from;
output paths, formats and permissions (images and figures); atomic writes
(the permissions of a plain write, a signal right after the rename, a full
disk); saves that fail during or at the end of a run and lose nothing; each
image and figure format written as asked."""
import errno
import os

import numpy as np
import pytest
from PIL import Image

from conftest import TINY_ARGS, run_main, sample
from lasagne_style import compare, files, images, plots
from lasagne_style.errors import UserError


# --- outputs over inputs -----------------------------------------------------

@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.open(sample("grace_hopper.jpg")).save(str(path))
    return path


@pytest.mark.parametrize("which", ["content", "style", "init", "link"])
def test_output_over_an_input_is_refused(which, photo, tmp_path, capsys,
                                         no_compiling):
    before = photo.read_bytes()
    link = tmp_path / "link.jpg"
    link.symlink_to(photo)
    style = sample("night_cafe.jpg")
    argv = ["transfer", str(photo), style, "-o", str(photo)] + TINY_ARGS
    if which == "style":
        argv = ["transfer", sample("cork.png"), str(photo), "-o",
                str(photo)] + TINY_ARGS
    elif which == "init":
        argv = ["transfer", sample("cork.png"), style, "--init", str(photo),
                "-o", str(photo)] + TINY_ARGS
    elif which == "link":
        argv = ["transfer", str(photo), style, "-o", str(link)] + TINY_ARGS
    code, _, err = run_main(argv, capsys)
    assert code == 2, err
    assert "would be overwritten" in err
    assert len(err.strip().splitlines()) == 1
    assert photo.read_bytes() == before


def test_output_over_the_checkpoint_is_refused(tmp_path, capsys,
                                               no_compiling):
    out = tmp_path / "run.png"
    out.write_bytes(b"not really a checkpoint, but the user's file")
    code, _, err = run_main(["texture", sample("cork.png"), "-o", str(out),
                             "--resume", str(out)] + TINY_ARGS, capsys)
    assert code == 2
    assert "is the checkpoint: it would be overwritten" in err


def test_export_weights_never_overwrites_its_source(tmp_path, capsys):
    source = tmp_path / "w.pkl"
    source.write_bytes(b"precious")
    code, _, err = run_main(["export-weights", str(source), "--weights",
                             str(source)], capsys)
    assert code == 2 and "would be overwritten" in err
    assert source.read_bytes() == b"precious"


# --- output paths, checked before any work -----------------------------------

@pytest.mark.parametrize("path,message", [
    ("", "output path is empty"),
    ("{tmp}", "is a directory"),
    ("{tmp}/no/o.png", "output directory does not exist"),
    ("/proc/self/o.png", "under /proc"),
    ("/sys/o.png", "under /sys"),
    ("/dev/null", "under /dev"),
    ("{tmp}/o", "no extension .* use .png"),
    ("{tmp}/o.xbm", "cannot write .xbm images"),
    ("{tmp}/o.txt", "cannot write .txt images"),
])
@pytest.mark.parametrize("check", ["image", "figure"])
def test_bad_output_paths(tmp_path, path, message, check):
    path = path.format(tmp=tmp_path)
    if check == "figure":
        message = message.replace("images", "figures")
        function = files.check_figure_output
    else:
        function = files.check_image_output
    with pytest.raises(UserError, match=message):
        function(path)


def test_output_in_a_directory_that_is_not_writable(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write in any directory")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(UserError, match="not writable"):
            files.check_image_output(str(locked / "o.png"))
    finally:
        locked.chmod(0o755)


def test_a_read_only_output_is_refused_before_work(tmp_path):
    path = tmp_path / "o.png"
    path.write_bytes(b"keep")
    path.chmod(0o444)
    with pytest.raises(UserError, match="read-only"):
        files.check_image_output(str(path))


# --- atomic writes -----------------------------------------------------------

def leftovers(directory, keep):
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def test_interrupt_right_after_the_rename_propagates(tmp_path, monkeypatch):
    path = tmp_path / "o.bin"
    real_replace = os.replace

    def replace_then_interrupt(src, dst):
        real_replace(src, dst)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomically(str(path), lambda f: f.write(b"data"))
    assert path.read_bytes() == b"data"
    assert leftovers(tmp_path, {"o.bin"}) == []


def test_permissions_are_those_of_a_plain_write(tmp_path):
    old = os.umask(0o027)
    try:
        new = tmp_path / "new.bin"
        files.write_atomically(str(new), lambda f: f.write(b"1"))
        assert oct(new.stat().st_mode & 0o7777) == oct(0o640)
    finally:
        os.umask(old)
    private = tmp_path / "private.bin"
    private.write_bytes(b"old")
    private.chmod(0o600)
    files.write_atomically(str(private), lambda f: f.write(b"new"))
    assert oct(private.stat().st_mode & 0o7777) == oct(0o600)
    assert private.read_bytes() == b"new"
    locked = tmp_path / "locked.bin"
    locked.write_bytes(b"keep")
    locked.chmod(0o444)
    with pytest.raises(UserError, match="locked.bin is read-only"):
        files.write_atomically(str(locked), lambda f: f.write(b"lost"))
    assert locked.read_bytes() == b"keep"
    assert leftovers(tmp_path, {"new.bin", "private.bin", "locked.bin"}) \
        == []


def test_a_full_disk_is_a_user_error(tmp_path):
    path = tmp_path / "o.png"
    path.write_bytes(b"previous")

    def write(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(UserError) as info:
        files.write_atomically(str(path), write)
    assert str(info.value) == "cannot write %s (No space left on device)" \
        % path
    assert path.read_bytes() == b"previous"
    assert leftovers(tmp_path, {"o.png"}) == []


# --- saves that fail during or at the end of a run ---------------------------

def test_failed_intermediate_save_keeps_optimising(tmp_path, monkeypatch,
                                                   capsys):
    real_save = images.save_image
    calls = []

    def flaky(path, rgb, metadata=None):
        calls.append(path)
        if len(calls) == 1:
            raise UserError("cannot write %s (No space left on device)"
                            % path)
        return real_save(path, rgb, metadata)
    monkeypatch.setattr(images, "save_image", flaky)
    out = tmp_path / "t.png"
    code, stdout, err = run_main(["texture", sample("cork.png"), "-o",
                                  str(out), "--save-every", "2"] + TINY_ARGS
                                 + ["--iters", "8"], capsys)
    assert code == 0, err
    assert "intermediate save failed" in err and "goes on" in err
    assert "after 8 evaluations" in stdout
    assert out.exists() and len(calls) >= 2
    assert not os.path.exists(str(tmp_path / "t.png.ckpt.npz"))


def test_failed_final_save_keeps_the_result_in_a_checkpoint(
        tmp_path, monkeypatch, capsys):
    def full_disk(path, rgb, metadata=None):
        raise UserError("cannot write %s (No space left on device)" % path)
    monkeypatch.setattr(images, "save_image", full_disk)
    out = tmp_path / "t.png"
    code, _, err = run_main(["texture", sample("cork.png"), "-o", str(out)]
                            + TINY_ARGS, capsys)
    assert code == 2
    assert "No space left on device" in err
    ckpt = tmp_path / "t.png.ckpt.npz"
    assert str(ckpt) in err and ckpt.exists()
    assert len(err.strip().splitlines()) == 1


# --- output formats ----------------------------------------------------------

@pytest.mark.parametrize("name,fmt", [("o.png", "PNG"), ("o.JPG", "JPEG"),
                                      ("o.jpeg", "JPEG"), ("o.tif", "TIFF"),
                                      ("o.webp", "WEBP"), ("o.bmp", "BMP")])
def test_image_output_formats(tmp_path, rng, name, fmt):
    path = str(tmp_path / name)
    assert files.check_image_output(path) == fmt
    rgb = rng.randint(0, 256, (8, 9, 3)).astype(np.uint8)
    kept = images.save_image(path, rgb, {"lasagne_style:seed": 1})
    assert kept == (fmt == "PNG")
    with Image.open(path) as im:
        assert im.format == fmt and im.size == (9, 8)
        if fmt in ("PNG", "TIFF", "BMP"):  # lossless
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), rgb)
    assert images.save_image(path, rgb) is True  # no metadata, none lost


FIGURE_MAGIC = {"png": b"\x89PNG", "pdf": b"%PDF", "svg": b"<?xml",
                "jpg": b"\xff\xd8\xff", "eps": b"%!PS-Adobe",
                "tiff": b"II*\x00"}


@pytest.mark.parametrize("ext", sorted(FIGURE_MAGIC))
def test_loss_curves_write_the_format_asked_for(tmp_path, ext):
    assert files.check_figure_output("x." + ext) == ext
    path = tmp_path / ("loss." + ext)
    history = [dict(eval=i + 1, loss=10.0 / (i + 1), content=1.0,
                    style=9.0 / (i + 1), tv=0.1) for i in range(5)]
    plots.loss_curves(history, str(path))
    assert path.read_bytes().startswith(FIGURE_MAGIC[ext])


@pytest.mark.parametrize("ext", ["pdf", "svg", "png"])
def test_compare_figure_writes_the_format_asked_for(tmp_path, rng, ext):
    rows = [dict(kind="texture", style=sample("cork.png"), content=None,
                 results={"gram": dict(image=rng.randint(
                     0, 256, (8, 8, 3)).astype(np.uint8))})]
    path = tmp_path / ("grid." + ext)
    compare.figure(rows, str(path))
    assert path.read_bytes().startswith(FIGURE_MAGIC[ext])
    with pytest.raises(UserError, match="cannot write .xbm figures"):
        compare.figure(rows, str(tmp_path / "grid.xbm"))
    assert not (tmp_path / "grid.xbm").exists()
