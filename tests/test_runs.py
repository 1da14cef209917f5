"""Long-run features: checkpoints and --resume, coarse-to-fine, loss plots,
memory that stays flat over many evaluations."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import compiled_objective, sample
from lasagne_style import api, cli, images, optimize
from lasagne_style.config import preset
from lasagne_style.errors import UserError


def interrupt_at(n):
    def progress(i, total, loss, terms, seconds):
        if i == n:
            raise KeyboardInterrupt
    return progress


def interrupt_at_call(n):
    """Interrupt at the n-th evaluation of the whole run (the progress
    counter restarts at each level): with iters (7, k), 9 is the 2nd
    evaluation of the last level."""
    calls = []

    def progress(*_):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
    return progress


def test_interrupted_run_resumes_where_it_stopped(tmp_path):
    out = str(tmp_path / "t.png")
    args = dict(size=48, seed=5, output=out)
    first = api.synthesize(sample("cork.png"), iters=10,
                           progress=interrupt_at(4), **args)
    assert first.stopped == "interrupted" and first.evaluations == 4
    ckpt = tmp_path / "t.png.ckpt.npz"
    assert first.checkpoint == str(ckpt) and ckpt.exists()
    # the checkpoint keeps the best image at full precision, not 8 bits
    with np.load(str(ckpt)) as data:
        np.testing.assert_array_equal(data["x"], first.x)
        state = json.loads(str(data["state"]))
    assert state["evaluations"] == 4 and state["seed"] == 5
    assert not np.array_equal(first.x, images.preprocess(first.image))

    resumed = api.synthesize(sample("cork.png"), iters=10, progress=False,
                             resume=str(ckpt), **args)
    assert resumed.stopped == "budget"
    assert [h["eval"] for h in resumed.history] == list(range(1, 11))
    assert resumed.history[:4] == first.history
    # L-BFGS-B restarts from the checkpointed image: no detour back to noise
    assert resumed.history[4]["loss"] <= 1.01 * first.loss
    assert resumed.loss < first.loss
    assert not ckpt.exists()  # a finished run leaves no stale checkpoint
    with Image.open(out) as im:
        np.testing.assert_array_equal(np.asarray(im), resumed.image)


def test_resume_refuses_another_run_and_a_spent_budget(tmp_path):
    out = str(tmp_path / "t.png")
    api.synthesize(sample("cork.png"), size=32, iters=6, seed=0, output=out,
                   progress=interrupt_at(3))
    ckpt = str(tmp_path / "t.png.ckpt.npz")
    with pytest.raises(UserError, match="other images or options"):
        api.synthesize(sample("brick_wall.png"), size=32, iters=6, output=out,
                       progress=False, resume=ckpt)
    with pytest.raises(UserError, match="other images or options"):
        api.synthesize(sample("cork.png"), size=32, iters=6, output=out,
                       progress=False, resume=ckpt, statistic="mean")
    with pytest.raises(UserError, match="already has 3 evaluations"):
        api.synthesize(sample("cork.png"), size=32, iters=3, output=out,
                       progress=False, resume=ckpt)
    bad = tmp_path / "bad.ckpt.npz"
    bad.write_bytes(b"PK not really")
    with pytest.raises(UserError, match="cannot read checkpoint"):
        api.synthesize(sample("cork.png"), size=32, iters=6, output=out,
                       progress=False, resume=str(bad))


def test_coarse_to_fine_levels_and_resume_across_levels(tmp_path):
    out = str(tmp_path / "ms.png")
    args = dict(size=64, iters=5, seed=2, multiscale=2, output=out)
    whole = api.synthesize(sample("cork.png"), progress=False, **args)
    assert [h["size"] for h in whole.history] == [32] * 5 + [64] * 5
    assert whole.image.shape == (64, 64, 3)
    # the fine level starts from the coarse result, well below a noise start
    single = api.synthesize(sample("cork.png"), size=64, iters=1, seed=2,
                            progress=False)
    assert whole.history[5]["loss"] < 0.75 * single.history[0]["loss"]

    stopped = api.synthesize(sample("cork.png"), progress=interrupt_at(3),
                             **args)
    assert stopped.image.shape == (64, 64, 3)  # upsampled to the output size
    with np.load(str(tmp_path / "ms.png.ckpt.npz")) as data:
        assert data["x"].shape == (1, 3, 32, 32)
    resumed = api.synthesize(sample("cork.png"), progress=False,
                             resume=str(tmp_path / "ms.png.ckpt.npz"), **args)
    assert [h["size"] for h in resumed.history] == [32] * 5 + [64] * 5


def test_each_level_its_own_budget_also_after_a_resume(tmp_path):
    out = tmp_path / "ms.png"
    log = tmp_path / "ms.json"
    argv = ["texture", sample("cork.png"), "-o", str(out), "--size", "64",
            "--iters", "7,3", "--multiscale", "2", "--seed", "2", "-q",
            "--log", str(log)]
    assert cli.main(argv) == 0
    sizes = [h["size"] for h in json.loads(log.read_text())["history"]]
    assert sizes == [32] * 7 + [64] * 3
    # interrupted in the coarse level, resumed: the same budgets
    stopped = api.synthesize(sample("cork.png"), size=64, iters=[7, 3],
                             multiscale=2, seed=2, output=str(out),
                             progress=interrupt_at(4))
    assert stopped.stopped == "interrupted"
    resumed = api.synthesize(sample("cork.png"), size=64, iters=(7, 3),
                             multiscale=2, seed=2, output=str(out),
                             progress=False,
                             resume=str(tmp_path / "ms.png.ckpt.npz"))
    assert [h["size"] for h in resumed.history] == [32] * 7 + [64] * 3
    # a coarse budget lowered below what the checkpoint spent: straight on
    api.synthesize(sample("cork.png"), size=64, iters=[7, 3], multiscale=2,
                   seed=2, output=str(out), progress=interrupt_at(4))
    resumed = api.synthesize(sample("cork.png"), size=64, iters=(2, 3),
                             multiscale=2, seed=2, output=str(out),
                             progress=False,
                             resume=str(tmp_path / "ms.png.ckpt.npz"))
    assert [h["size"] for h in resumed.history] == [32] * 4 + [64] * 3


def test_a_resume_in_the_last_level_counts_against_its_own_budget(tmp_path):
    out = str(tmp_path / "ms.png")
    args = dict(size=64, multiscale=2, seed=2, output=out)
    api.synthesize(sample("cork.png"), iters=(7, 3),
                   progress=interrupt_at_call(9), **args)
    ckpt = str(tmp_path / "ms.png.ckpt.npz")
    with np.load(ckpt) as data:
        assert json.loads(str(data["state"]))["evaluations"] == 2
    # the last level's budget is the last number: 2 spent, 2 more allowed
    with pytest.raises(UserError, match="already has 2 evaluations at the "
                       "last level"):
        api.synthesize(sample("cork.png"), iters=(100, 2), progress=False,
                       resume=ckpt, **args)
    resumed = api.synthesize(sample("cork.png"), iters=(1, 4),
                             progress=False, resume=ckpt, **args)
    assert [h["size"] for h in resumed.history] == [32] * 7 + [64] * 4


def test_a_failed_final_save_keeps_the_result_in_a_true_checkpoint(
        tmp_path, monkeypatch):
    out = str(tmp_path / "ms.png")
    ckpt = str(tmp_path / "ms.png.ckpt.npz")
    args = dict(size=64, multiscale=2, seed=2, output=out, iters=(7, 5))
    api.synthesize(sample("cork.png"), progress=interrupt_at_call(9),
                   **args)

    def disk_full(*_args, **_kwargs):
        raise UserError("cannot write %s (No space left on device)" % out)
    monkeypatch.setattr(images, "save_image", disk_full)
    with pytest.raises(UserError, match="kept in .*ms.png.ckpt.npz: resume "
                       "from it once the output can be written$"):
        api.synthesize(sample("cork.png"), progress=False, resume=ckpt,
                       **args)
    # the last level's 2 + 3 evaluations, its image at full size
    with np.load(ckpt) as data:
        state = json.loads(str(data["state"]))
        kept = data["x"]
    assert kept.shape == (1, 3, 64, 64)
    assert state["level"] == 1 and state["evaluations"] == 5
    assert state["stopped"] == "budget"
    assert [h["size"] for h in state["history"]] == [32] * 7 + [64] * 5

    # a larger budget continues from it (the disk still full)
    args["iters"] = (7, 8)
    with pytest.raises(UserError, match="resume from it once the output "
                       "can be written$"):
        api.synthesize(sample("cork.png"), progress=False, resume=ckpt,
                       **args)
    with np.load(ckpt) as data:
        assert json.loads(str(data["state"]))["evaluations"] == 8
        kept = data["x"]
    # with space again, the same command saves the kept image: no evaluation
    monkeypatch.undo()
    calls = []
    saved = api.synthesize(sample("cork.png"), resume=ckpt,
                           progress=lambda *a: calls.append(a), **args)
    assert calls == [] and saved.stopped == "budget"
    np.testing.assert_array_equal(saved.x, kept)
    assert [h["size"] for h in saved.history] == [32] * 7 + [64] * 8
    with Image.open(out) as im:
        np.testing.assert_array_equal(np.asarray(im), saved.image)
    assert not os.path.exists(ckpt)


def test_coarse_to_fine_needs_room_for_its_coarsest_level():
    with pytest.raises(UserError, match="at least 64 pixels"):
        api.synthesize(sample("cork.png"), size=48, iters=2, multiscale=3,
                       progress=False)


def test_cli_plot_and_resume(tmp_path, capsys):
    out, plot = tmp_path / "t.png", tmp_path / "loss.png"
    assert cli.main(["texture", sample("cork.png"), "-o", str(out), "--size",
                     "32", "--iters", "4", "--seed", "1", "--plot", str(plot),
                     "-q"]) == 0
    with Image.open(plot) as im:
        assert im.format == "PNG" and im.size[0] > 300
    code = cli.main(["texture", sample("cork.png"), "-o", str(out), "--size",
                     "32", "--iters", "4", "-q", "--resume",
                     str(tmp_path / "none.ckpt.npz")])
    assert code == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_memory_stays_flat_over_a_long_run():
    # Resident memory after 40 evaluations (caches warm) and after 400: a leak
    # of even 50 kB per evaluation would show as 18 MB.
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    config = preset("default", content_weight=0.0)
    objective = compiled_objective(config)
    style = images.preprocess(images.resize(images.load_image(
        sample("cork.png")), (48, 48)))
    objective.set_targets((1, 3, 48, 48), None,
                          objective.style_target([style], None))
    marks = {}

    def progress(i, total, loss, terms, seconds):
        if i in (40, 400):
            marks[i] = rss()

    x0 = np.random.RandomState(0).uniform(-100, 100, (1, 3, 48, 48))
    result = optimize.minimize(objective, x0.astype(np.float32), 400,
                               progress=progress)
    assert result.evaluations == 400
    assert marks[400] - marks[40] < 8e6, marks
