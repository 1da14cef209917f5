"""Nothing is lost when a run is stopped, whenever it is stopped: while a
level starts, while the result is written, and by SIGHUP as by SIGINT and
SIGTERM; SIGTERM to a local batch stops its job, which keeps its image and
checkpoint."""
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, alive, descendants, sample, wait_until
from lasagne_style import api, batch, checkpoint, schedule


def _state(path):
    with np.load(path) as data:
        return json.loads(str(data["state"])), data["x"].shape


def test_interrupt_while_a_level_starts_keeps_the_earlier_level(
        tmp_path, monkeypatch):
    out = str(tmp_path / "t.png")
    args = dict(size=64, iters=(6, 3), multiscale=2, seed=1, output=out,
                progress=False)
    whole = api.synthesize(sample("cork.png"), **dict(
        args, output=str(tmp_path / "whole.png")))
    calls = []
    original = schedule.Run.set_targets

    def set_targets(self, optimiser, shape):
        calls.append(shape)
        if len(calls) == 2:  # level 2's targets: Ctrl-C arrives here
            raise KeyboardInterrupt
        return original(self, optimiser, shape)

    monkeypatch.setattr(schedule.Run, "set_targets", set_targets)
    stopped = api.synthesize(sample("cork.png"), **args)
    assert stopped.stopped == "interrupted" and stopped.evaluations == 6
    assert os.path.exists(out)  # level 1's image, upsampled
    state, shape = _state(stopped.checkpoint)
    # resuming starts level 2 from level 1's image, at full precision
    assert (state["level"], state["evaluations"]) == (1, 0)
    assert shape == (1, 3, 32, 32)
    monkeypatch.undo()
    resumed = api.synthesize(sample("cork.png"), resume=stopped.checkpoint,
                             **args)
    assert resumed.evaluations == 9
    assert resumed.history[:6] == stopped.history
    # the same image as the run that was never interrupted
    np.testing.assert_array_equal(resumed.image, whole.image)
    assert not os.path.exists(stopped.checkpoint)


def test_interrupt_during_the_final_save_keeps_the_result(tmp_path,
                                                          monkeypatch):
    out = str(tmp_path / "t.png")
    args = dict(size=48, iters=6, seed=2, output=out)

    def stop_at_3(n, *_):
        if n == 3:
            raise KeyboardInterrupt

    first = api.synthesize(sample("cork.png"), progress=stop_at_3, **args)
    ckpt = first.checkpoint
    assert ckpt and os.path.exists(ckpt)

    def slow_write(self, x, finished=False):
        raise KeyboardInterrupt  # Ctrl-C while the final image is written

    monkeypatch.setattr(schedule._Saver, "image", slow_write)
    with pytest.raises(KeyboardInterrupt):
        api.synthesize(sample("cork.png"), progress=False, resume=ckpt,
                       **args)
    # the finished run's result is in the checkpoint, not deleted before
    state, _ = _state(ckpt)
    assert state["evaluations"] == 6 and state["stopped"] == "budget"
    monkeypatch.undo()
    saved = api.synthesize(sample("cork.png"), progress=False, resume=ckpt,
                           **args)
    assert saved.evaluations == 6  # saved without evaluating again
    assert os.path.exists(out) and not os.path.exists(ckpt)


def test_checkpoint_is_removed_only_after_the_image_is_written(
        tmp_path, monkeypatch):
    out = str(tmp_path / "t.png")
    order = []
    monkeypatch.setattr(schedule._Saver, "image",
                        lambda self, x, finished: order.append("image"))
    monkeypatch.setattr(checkpoint, "remove",
                        lambda path: order.append("remove"))
    api.synthesize(sample("cork.png"), size=32, iters=3, seed=0, output=out,
                   progress=False)
    assert order == ["image", "remove"]


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_a_signal_stops_a_single_run_and_keeps_its_image(tmp_path, signum):
    out = str(tmp_path / "t.png")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lasagne_style.cli", "texture",
         sample("cork.png"), "--size", "48", "--iters", "100000", "-o", out],
        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # the first evaluation has run
            if re.match(r"eval +1/", line):
                break
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted: the best image so far is in" in err
    assert os.path.exists(out)
    assert os.path.exists(checkpoint.path_for(out))


def test_resuming_does_not_depend_on_how_a_path_is_spelled(tmp_path,
                                                            monkeypatch):
    import shutil

    shutil.copy(sample("brick_wall.png"), str(tmp_path / "init.png"))
    monkeypatch.chdir(tmp_path)
    args = dict(size=32, iters=6, seed=0, output=str(tmp_path / "t.png"))

    def stop(n, *_):
        if n == 2:
            raise KeyboardInterrupt
    first = api.synthesize(sample("cork.png"), init="init.png",
                           progress=stop, **args)
    # the same run, its init image named absolutely (as a Dask worker does)
    resumed = api.synthesize(sample("cork.png"), progress=False,
                             init=str(tmp_path / "init.png"),
                             resume=first.checkpoint, **args)
    assert resumed.evaluations == 6
    assert resumed.history[:2] == first.history


def test_a_texture_one_pixel_high_has_no_copy_score(tmp_path):
    result = api.synthesize(sample("cork.png"), width=32, height=1,
                            style_layers=["conv1_1"], iters=2, seed=0,
                            progress=False)
    assert result.image.shape == (1, 32, 3) and result.copy_score is None


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
        # the job is optimising (Theano compiles on a loaded machine)
        wait_until(ckpt.exists, proc, 600, "the job never started")
        jobs = descendants(proc.pid, depth=1)
        assert len(jobs) == 1
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        # a failing test must not leave a 100000-evaluation job behind
        for pid in jobs + (descendants(proc.pid, depth=1)
                           if proc.poll() is None else []):
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
