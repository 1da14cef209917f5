"""Checkpoints: a valid one loads; truncated, bit-flipped, forged or foreign
files are refused in one line; the fingerprint ignores what a resume may
change; a checkpoint from a deeper schedule is refused."""
import json

import numpy as np
import pytest

from conftest import sample
from lasagne_style import checkpoint, images
from lasagne_style.errors import UserError


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


def test_fingerprint_ignores_what_a_resume_may_change():
    arrays = [np.arange(12, dtype=np.uint8).reshape(2, 2, 3)]
    options = dict(size=32, iters=10, tol=0.0, seed=1, preset="default")
    fingerprint = checkpoint.fingerprint(options, arrays)
    assert fingerprint == checkpoint.fingerprint(
        dict(options, iters=20, tol=0.01, seed=2), arrays)
    assert fingerprint != checkpoint.fingerprint(dict(options, size=64),
                                                 arrays)
    assert fingerprint != checkpoint.fingerprint(options, [arrays[0] + 1])


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
