"""Checks made before any work: outputs that would destroy an input or each
other, unwritable or unknown outputs, bad API arguments, and failures while
saving that must not lose the result (issue 13)."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import sample
from lasagne_style import api, cli, images
from lasagne_style.errors import UserError

TINY = ["--size", "32", "--iters", "3", "--style-layers", "conv1_1",
        "--seed", "0", "-q"]


def run_main(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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
    argv = ["transfer", str(photo), style, "-o", str(photo)] + TINY
    if which == "style":
        argv = ["transfer", sample("cork.png"), str(photo), "-o",
                str(photo)] + TINY
    elif which == "init":
        argv = ["transfer", sample("cork.png"), style, "--init", str(photo),
                "-o", str(photo)] + TINY
    elif which == "link":
        argv = ["transfer", str(photo), style, "-o", str(link)] + TINY
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
                             "--resume", str(out)] + TINY, capsys)
    assert code == 2
    assert "is the checkpoint: it would be overwritten" in err


@pytest.mark.parametrize("extra,message", [
    (["-o", ""], "output path is empty"),
    (["-o", "{tmp}"], "is a directory"),
    (["-o", "{tmp}/x.xbm"], "cannot write .xbm images"),
    (["-o", "/proc/x.png"], "under /proc"),
    (["-o", "{tmp}/x"], "no extension"),
    (["-o", "{tmp}/x.png", "--log", "{tmp}/x.png"], "same file"),
    (["-o", "{tmp}/x.png", "--plot", "{tmp}/x.png"], "same file"),
    (["-o", "{tmp}/x.png", "--plot", "{tmp}/p.doc"], "cannot write .doc"),
    (["-o", "{tmp}/x.png", "--style-layers", ""], "no style layers"),
    (["-o", "{tmp}/x.png", "--style-blend", "1", "2"], "blend weight"),
    (["-o", "{tmp}/x.png", "--init", "{tmp}/missing.png"],
     "image not found"),
    (["-o", "{tmp}/x.png", "--stat", "disc", "--multiscale", "2"],
     "--multiscale, --resume and --tol work with"),
    (["-o", "{tmp}/x.png", "--iters", "5,3"],
     "iters: 2 numbers for 1 level; give one, or one per --multiscale "
     "level"),
    (["-o", "{tmp}/x.png", "--iters", "5,0", "--multiscale", "2"],
     "argument --iters: expected a positive integer, got '0'"),
])
def test_bad_paths_and_options_fail_before_any_work(extra, message, tmp_path,
                                                    capsys, no_compiling):
    # the options after TINY win
    argv = ["texture", sample("cork.png")] + TINY + [
        a.format(tmp=tmp_path) for a in extra]
    code, _, err = run_main(argv, capsys)
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_elongated_style_is_named_in_the_message(tmp_path, capsys,
                                                 no_compiling):
    thin = tmp_path / "thin.png"
    Image.new("RGB", (400, 3)).save(str(thin))
    code, _, err = run_main(["transfer", sample("cork.png"), str(thin), "-o",
                             str(tmp_path / "x.png"), "--size", "64",
                             "--iters", "2", "-q"], capsys)
    assert code == 2
    assert "style image (400x3) resized to the output's scale" in err
    assert "conv5_1" in err


@pytest.mark.parametrize("call,message", [
    (lambda: api.stylize(np.zeros((0, 0, 3), np.uint8), sample("cork.png")),
     "content image is empty"),
    (lambda: api.synthesize([]), "no style image"),
    (lambda: api.synthesize(sample("cork.png"), style_layers=["conv9_9"]),
     "unknown layer"),
    (lambda: api.synthesize(b"/nonexistent.png"), "image not found"),
    (lambda: api.synthesize(np.zeros((8, 8), np.uint8)),
     "RGB uint8 array of shape (H, W, 3)"),
    (lambda: api.synthesize(sample("cork.png"), style_weight="1"),
     "finite number"),
])
def test_api_arguments_get_one_clear_error(call, message, no_compiling):
    with pytest.raises(UserError) as info:
        call()
    assert message in str(info.value)


def test_api_takes_lists_numpy_numbers_and_bytes_paths(tmp_path):
    out = tmp_path / "t.png"
    result = api.synthesize(os.fsencode(sample("cork.png")), size=32,
                            iters=2, seed=0, style_layers=["conv1_1"],
                            style_weight=np.float32(1e5),
                            tv_weight=np.float64(0), progress=False,
                            output=str(out))
    assert result.config.style_layers == ("conv1_1",)
    assert result.config.style_weight == 1e5
    assert images.load_image(str(out)).shape == (32, 32, 3)


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
                                  str(out), "--save-every", "2"] + TINY
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
                            + TINY, capsys)
    assert code == 2
    assert "No space left on device" in err
    ckpt = tmp_path / "t.png.ckpt.npz"
    assert str(ckpt) in err and ckpt.exists()
    assert len(err.strip().splitlines()) == 1


def test_info_reads_a_pipe_once(tmp_path):
    out = tmp_path / "t.png"
    assert cli.main(["texture", sample("cork.png"), "-o", str(out)]
                    + TINY) == 0
    proc = subprocess.run(
        ["bash", "-c", "%s -m lasagne_style.cli info <(cat %s)"
         % (sys.executable, out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "seed: 0" in proc.stdout


def test_checkpoint_from_a_deeper_schedule_is_refused(tmp_path, capsys):
    from lasagne_style import checkpoint, config, schedule
    loss = config.preset("default", content_weight=0.0,
                         style_layers="conv1_1")
    cork = images.load_image(sample("cork.png"))
    run = schedule.Run(config=loss, shape=(32, 32), styles=[cork],
                       options={})
    ckpt = str(tmp_path / "c.ckpt.npz")
    checkpoint.save(ckpt, np.zeros((1, 3, 32, 32), np.float32), 3, 1, [],
                    0.0, 0, run.fingerprint)
    run.resume = ckpt
    with pytest.raises(UserError, match="level 4 of a 1-level run"):
        schedule.execute(run, optimiser=None)


def test_export_weights_never_overwrites_its_source(tmp_path, capsys):
    source = tmp_path / "w.pkl"
    source.write_bytes(b"precious")
    code, _, err = run_main(["export-weights", str(source), "--weights",
                             str(source)], capsys)
    assert code == 2 and "would be overwritten" in err
    assert source.read_bytes() == b"precious"
