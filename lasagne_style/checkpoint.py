"""Checkpoints of an interrupted or long run, for ``--resume``.

A checkpoint holds the best image so far at full (float32) precision, not the
8-bit PNG, together with where the run stood: the coarse-to-fine level, the
evaluations spent at it, the loss history, the seed, and a fingerprint of the
inputs and options. scipy's L-BFGS-B does not expose its curvature memory, so a
resumed run restarts L-BFGS-B from the saved image: its first few evaluations
rebuild that memory (a small detour, not lost work).
"""
import hashlib
import json
import os

import numpy as np

from .errors import UserError
from .images import write_atomically

FORMAT = "lasagne_style-checkpoint-1"


def path_for(output):
    """Where the checkpoint of a run writing ``output`` goes: ``out.ckpt.npz``."""
    return os.path.splitext(output)[0] + ".ckpt.npz"


def fingerprint(options, arrays):
    """sha256 of the options (without ``iters`` and ``seed``, which a resumed
    run may change or not repeat) and of the input pixel arrays."""
    digest = hashlib.sha256()
    fixed = {k: v for k, v in options.items() if k not in ("iters", "seed")}
    digest.update(json.dumps(fixed, sort_keys=True, default=str).encode())
    for array in arrays:
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def save(path, x, level, evaluations, history, seconds, seed, fingerprint):
    """Write a checkpoint atomically (an interruption never leaves half of one)."""
    state = dict(level=level, evaluations=evaluations, history=history,
                 seconds=seconds, seed=seed, fingerprint=fingerprint)
    write_atomically(path, lambda f: np.savez(
        f, x=np.asarray(x, np.float32), format=FORMAT,
        state=json.dumps(state)))


def load(path, expected_fingerprint):
    """Read a checkpoint; UserError if it is unreadable or from another run.

    Returns
    -------
    dict
        ``x`` (1, 3, H, W) float32 and the fields given to :func:`save`.
    """
    if not os.path.isfile(path):
        raise UserError("checkpoint not found: %s" % path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != FORMAT:
                raise ValueError("not a lasagne_style checkpoint")
            state = json.loads(str(data["state"]))
            state["x"] = data["x"].astype(np.float32)
    except (OSError, ValueError, KeyError) as e:
        raise UserError("cannot read checkpoint %s (%s)" % (path, e))
    if state["fingerprint"] != expected_fingerprint:
        raise UserError("checkpoint %s was made with other images or options: "
                        "resume with the command that wrote it" % path)
    return state


def remove(path):
    """Delete a checkpoint made stale by a finished run (if there is one)."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
