"""Safety of the user's files and machine (issue #13): untrusted weights
and checkpoints, manifests, batch interrupts, float images, atomic writes
and output formats."""
import builtins
import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections import OrderedDict

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, alive, sample
from lasagne_style import (batch, checkpoint, cli, compare, files, images,
                           plots)
from lasagne_style import vgg_weights as weights
from lasagne_style.batch import local
from lasagne_style.errors import UserError


# --- weights -------------------------------------------------------------

class Payload:
    """Pickles as a call that creates ``sentinel`` when unpickled."""

    def __init__(self, sentinel, call):
        self.sentinel, self.call = str(sentinel), call

    def __reduce__(self):
        if self.call == "system":
            return os.system, ("touch '%s'" % self.sentinel,)
        return builtins.open, (self.sentinel, "w")


@pytest.mark.parametrize("call", ["system", "open"])
def test_model_zoo_pickle_cannot_run_code(tmp_path, call):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "vgg19_normalized.pkl"
    with open(path, "wb") as f:
        pickle.dump({"param values": [np.zeros(3), Payload(sentinel, call)]},
                    f, protocol=2)
    with pytest.raises(UserError, match="which a weights file never needs"
                       ) as info:
        weights.load(str(path))
    assert not sentinel.exists()
    assert ("posix.system" if call == "system" else "io.open") in str(
        info.value)
    assert "\n" not in str(info.value)


def write_legacy_pickles(path, objects):
    """A legacy torch file made of the five pickles ``objects`` (magic,
    protocol, sys_info, state_dict, storage keys) and no storage data."""
    with open(path, "wb") as f:
        for obj in objects:
            pickle.dump(obj, f, protocol=2)


@pytest.mark.parametrize("position", range(5))
def test_legacy_torch_pickles_cannot_run_code(tmp_path, position):
    sentinel = tmp_path / "pwned"
    objects = [weights.LEGACY_MAGIC, 1001,
               {"protocol_version": 1001, "little_endian": True},
               OrderedDict(), []]
    payload = Payload(sentinel, "system")
    # in place of the header pickles and the key list; inside the object
    objects[position] = (OrderedDict(w=payload) if position == 3
                         else payload)
    path = tmp_path / "evil.pth"
    write_legacy_pickles(path, objects)
    with pytest.raises(UserError, match="posix.system, which a weights "
                       "file never needs"):
        weights.load(str(path))
    assert not sentinel.exists()
    # the same file without the payload reads (as an empty state_dict):
    # the payload is what was refused
    objects[position] = [weights.LEGACY_MAGIC, 1001,
                         {"little_endian": True}, OrderedDict(),
                         []][position]
    write_legacy_pickles(path, objects)
    assert weights.read_legacy_torch(str(path)) == {}


def vgg19_arrays(seed=3):
    rng = np.random.RandomState(seed)
    flat = []
    for n_out, n_in in weights.VGG19_CHANNELS:
        flat.append(rng.randn(n_out, n_in, 3, 3).astype(np.float32))
        flat.append(rng.randn(n_out).astype(np.float32))
    return flat


@pytest.mark.parametrize("numpy_spelling", ["numpy.core", "numpy._core"])
def test_model_zoo_pickle_written_here_loads(tmp_path, numpy_spelling):
    flat = vgg19_arrays()
    data = pickle.dumps({"param values": flat, "mean value": flat[1][:3],
                         "synset words": ["cat", "dog"], "layers": {1, 2}},
                        protocol=2)
    # numpy 2 writes numpy._core.multiarray where numpy 1 wrote numpy.core
    data = data.replace(b"numpy.core.multiarray",
                        numpy_spelling.encode() + b".multiarray")
    path = tmp_path / "vgg19_normalized.pkl"
    path.write_bytes(data)
    loaded = weights.load(str(path))
    assert len(loaded) == 16
    for got, want in zip([a for pair in loaded for a in pair], flat):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_model_zoo_pickle_of_other_objects_is_refused(tmp_path):
    path = tmp_path / "objects.pkl"
    path.write_bytes(pickle.dumps({"param values": [
        np.array([None, "x"], dtype=object)]}, protocol=2))
    with pytest.raises(UserError, match="list of numeric arrays"):
        weights.load(str(path))


def test_npz_weights_never_unpickle(tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "w.npz"
    np.savez(path, W00=np.array([Payload(sentinel, "open")], dtype=object),
             source_sha256=np.array("x"))
    with pytest.raises(UserError, match="allow_pickle=False"):
        weights.load(str(path))
    assert not sentinel.exists()


def test_legacy_tensor_outside_its_storage_is_refused(tmp_path,
                                                      monkeypatch):
    from test_weights import write_legacy_torch
    path = str(tmp_path / "forged.pth")
    # a 4-element storage viewed with a stride reaching 1000 elements on
    write_legacy_torch(path, {"w": (np.zeros(4, np.float32), 0, (2,),
                                    (1000,))}, monkeypatch)
    with pytest.raises(ValueError, match="past its storage"):
        weights.read_legacy_torch(path)


def test_weights_path_that_is_no_regular_file(tmp_path):
    with pytest.raises(UserError, match="/dev/zero is not a regular file"):
        weights.load("/dev/zero")
    with pytest.raises(UserError, match="is not a regular file"):
        weights.load(str(tmp_path))
    loop = tmp_path / "loop.pth"
    os.symlink(str(tmp_path / "other.pth"), str(loop))
    os.symlink(str(loop), str(tmp_path / "other.pth"))
    with pytest.raises(UserError, match=r"cannot open weights file .*loop"
                       r"\.pth \(Too many levels of symbolic links\)"):
        weights.load(str(loop))


# --- checkpoints ---------------------------------------------------------

def good_checkpoint(path, rng):
    x = rng.randn(1, 3, 6, 5).astype(np.float32)
    checkpoint.save(str(path), x, 1, 7, [dict(eval=1, loss=3.5, time=0.1)],
                    2.5, 42, "fp")
    return x


def test_valid_checkpoint_loads(tmp_path, rng):
    path = tmp_path / "o.png.ckpt.npz"
    x = good_checkpoint(path, rng)
    state = checkpoint.load(str(path), "fp")
    np.testing.assert_array_equal(state["x"], x)
    assert (state["level"], state["evaluations"], state["seed"],
            state["seconds"]) == (1, 7, 42, 2.5)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.99])
def test_truncated_checkpoint(tmp_path, rng, cut):
    path = tmp_path / "o.png.ckpt.npz"
    good_checkpoint(path, rng)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(UserError, match="damaged or not a checkpoint"):
        checkpoint.load(str(path), "fp")


def test_bit_flipped_checkpoint(tmp_path, rng):
    path = tmp_path / "o.png.ckpt.npz"
    good_checkpoint(path, rng)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle - 8, middle + 8):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="damaged or not a checkpoint"):
        checkpoint.load(str(path), "fp")


def test_a_picture_is_not_a_checkpoint(tmp_path):
    with pytest.raises(UserError, match="cork.png is not a lasagne_style "
                       "checkpoint"):
        checkpoint.load(sample("cork.png"), "fp")
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(UserError, match="is not a lasagne_style checkpoint"):
        checkpoint.load(str(other), "fp")


GOOD_STATE = dict(level=0, evaluations=3, history=[dict(eval=1, loss=2.0)],
                  seconds=1.0, seed=1, fingerprint="fp")


@pytest.mark.parametrize("change,message", [
    (dict(level="0"), "level must be an integer"),
    (dict(evaluations=-1), "evaluations must be an integer"),
    (dict(evaluations=True), "evaluations must be an integer"),
    (dict(seed=2 ** 40), "seed must be an integer"),
    (dict(seconds="1"), "seconds must be a number"),
    (dict(seconds=float("inf")), "seconds must be a number"),
    (dict(history={"eval": 1}), "history must list"),
    (dict(history=[dict(eval="1", loss=2.0)]), "history must list"),
    (dict(fingerprint=None), "fingerprint must be a string"),
    (dict(stopped="interrupted"), "stopped must be one of"),
    (dict(stopped=None), "stopped must be one of"),
    (dict(x=np.zeros((3, 4, 4), np.float32)), "x must be"),
    (dict(x=np.zeros((1, 4, 4, 4), np.float32)), "x must be"),
    (dict(x=np.zeros((1, 3, 4, 4), np.int64)), "x must be"),
    (dict(x=np.full((1, 3, 4, 4), np.nan, np.float32)), "x must be"),
    (dict(state=[1, 2]), "state is not an object"),
])
def test_forged_checkpoint_fields(tmp_path, change, message):
    state = dict(GOOD_STATE)
    x = change.pop("x", np.zeros((1, 3, 4, 4), np.float32))
    state = change.pop("state", dict(state, **change))
    path = tmp_path / "f.ckpt.npz"
    np.savez(path, x=x, format=checkpoint.FORMAT, state=json.dumps(state))
    with pytest.raises(UserError, match="damaged: " + message):
        checkpoint.load(str(path), "fp")
    np.savez(path, x=np.zeros((1, 3, 4, 4), np.float32),
             format=checkpoint.FORMAT, state=json.dumps(GOOD_STATE))
    assert checkpoint.load(str(path), "fp")["evaluations"] == 3


# --- batch ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["jobs.csv", "jobs.json"])
def test_manifest_with_a_byte_order_mark(tmp_path, name):
    path = tmp_path / name
    text = ('[{"command": "texture", "style": "s.png", "output": "o.png"}]'
            if name.endswith(".json")
            else "command,style,output\ntexture,s.png,o.png\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    jobs = batch.read_manifest(str(path))
    assert [dict(j) for j in jobs] == [dict(command="texture", style="s.png",
                                            output="o.png")]
    assert batch.job_argv(jobs[0])[:4] == ["texture", "s.png", "-o", "o.png"]


def test_json_lists_become_the_cli_arguments():
    argv = batch.job_argv({"command": "texture", "style": ["a.png", "b.png"],
                           "output": "o.png", "iters": [2400, 800],
                           "style_layers": ["conv1_1", "conv2_1"],
                           "style_blend": [0.7, 0.3], "multiscale": 2})
    assert argv == ["texture", "a.png", "b.png", "-o", "o.png", "--quiet",
                    "--iters", "2400,800", "--style-layers",
                    "conv1_1,conv2_1", "--style-blend", "0.7", "0.3",
                    "--multiscale", "2"]
    # what the CLI makes of them
    args = cli.build_parser().parse_args(argv)
    assert args.iters == (2400, 800) and args.style_blend == [0.7, 0.3]


def test_plan_resumes_interrupted_jobs_and_skips_done_ones(tmp_path):
    argv = ["texture", "s.png", "-o", "sub/o.png", "--quiet"]
    base = str(tmp_path)
    (tmp_path / "sub").mkdir()
    assert batch.plan(argv, base) == ("run", argv)
    (tmp_path / "sub" / "o.png").write_bytes(b"best so far")
    assert batch.plan(argv, base) == ("skip", argv)
    (tmp_path / "sub" / "o.png.ckpt.npz").write_bytes(b"checkpoint")
    assert batch.plan(argv, base) == (
        "resume", argv + ["--resume", os.path.join("sub", "o.png.ckpt.npz")])
    (tmp_path / "sub" / "o.png").unlink()  # the checkpoint is enough
    assert batch.plan(argv, base)[0] == "resume"
    given = argv + ["--resume", "mine.ckpt.npz"]
    assert batch.plan(given, base) == ("run", given)


def test_batch_run_passes_resume_to_interrupted_jobs(tmp_path, monkeypatch):
    started = []

    class FakeProcess:
        returncode = 0

        def __init__(self, command, **kwargs):
            started.append(command[3:])

        def communicate(self):
            return "saved\n", ""

    monkeypatch.setattr(local.subprocess, "Popen", FakeProcess)
    for name in ("done.png", "cut.png", "cut.png.ckpt.npz"):
        (tmp_path / name).write_bytes(b"x")
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("command,style,output\ntexture,s.png,done.png\n"
                        "texture,s.png,cut.png\ntexture,s.png,new.png\n")
    summary = local.run(str(manifest), stream=open(os.devnull, "w"))
    assert summary["skipped"] == [("done.png", "output exists")]
    assert summary["done"] == [("cut.png", "saved (resumed)"),
                               ("new.png", "saved")]
    # absolute paths, as on Dask (see batch.local)
    base = str(tmp_path) + os.sep
    assert started == [[a if a.startswith("-") or a == "texture" else base + a
                        for a in argv] for argv in (
        ["texture", "s.png", "-o", "cut.png", "--quiet", "--resume",
         "cut.png.ckpt.npz"],
        ["texture", "s.png", "-o", "new.png", "--quiet"])]


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def test_sigterm_stops_the_batch_and_its_jobs(tmp_path):
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps([dict(
        command="texture", style=sample("cork.png"), output="slow.png",
        size=48, iters=100000, seed=0, style_layers="conv1_1",
        save_every=1)]))
    ckpt = tmp_path / "slow.png.ckpt.npz"
    proc = subprocess.Popen([sys.executable, "-m", "lasagne_style.cli",
                             "batch", str(manifest), "--local"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    jobs = []
    try:
        deadline = time.time() + 600  # Theano compiles on a loaded machine
        while not ckpt.exists():  # the job is optimising
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "the job never started"
            time.sleep(0.2)
        jobs = children_of(proc.pid)
        assert len(jobs) == 1
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        # a failing test must not leave a 100000-evaluation job behind
        for pid in jobs + (children_of(proc.pid) if proc.poll() is None
                           else []):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    # the job got SIGTERM, kept its image and checkpoint, and was waited for
    assert "stopped slow.png: interrupted" in stderr, stderr
    assert "checkpoint for --resume" in stderr
    assert not alive(jobs[0])
    with np.load(str(ckpt)) as data:
        assert json.loads(str(data["state"]))["evaluations"] >= 1
    with Image.open(tmp_path / "slow.png") as im:
        assert im.size == (48, 48)
    # and running the batch again would resume it
    argv = batch.job_argv(json.loads(manifest.read_text())[0])
    assert batch.plan(argv, str(tmp_path))[0] == "resume"


# --- float images --------------------------------------------------------

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


# --- atomic writes -------------------------------------------------------

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


# --- output formats ------------------------------------------------------

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


def test_fingerprint_ignores_what_a_resume_may_change():
    arrays = [np.arange(12, dtype=np.uint8).reshape(2, 2, 3)]
    options = dict(size=32, iters=10, tol=0.0, seed=1, preset="default")
    fingerprint = checkpoint.fingerprint(options, arrays)
    assert fingerprint == checkpoint.fingerprint(
        dict(options, iters=20, tol=0.01, seed=2), arrays)
    assert fingerprint != checkpoint.fingerprint(dict(options, size=64),
                                                 arrays)
    assert fingerprint != checkpoint.fingerprint(options, [arrays[0] + 1])
