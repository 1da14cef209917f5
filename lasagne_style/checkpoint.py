"""Checkpoints of an interrupted or long run, for ``--resume``.

A checkpoint holds the best image so far at full (float32) precision, not the
8-bit PNG, together with where the run stood: the coarse-to-fine level, the
evaluations spent at it, the loss history, the seed, and a fingerprint of the
inputs and options; for a run that finished but could not save its image (a
full disk), also why its last level ended, so that resuming it saves the
image without evaluating again. scipy's L-BFGS-B does not expose its
curvature memory, so a resumed run restarts L-BFGS-B from the saved image:
its first few evaluations rebuild that memory (a small detour, not lost
work).
"""
import hashlib
import json
import math
import os
import stat
import struct
import zipfile
import zlib

import numpy as np

from .errors import UserError
from .files import write_atomically

FORMAT = "lasagne_style-checkpoint-1"


def path_for(output):
    """Where the checkpoint of a run writing ``output`` goes:
    ``out.ckpt.npz``."""
    return os.path.splitext(output)[0] + ".ckpt.npz"


def fingerprint(options, arrays):
    """sha256 of the options (without ``iters``, ``tol`` and ``seed``, which
    a resumed run may change or not repeat) and of the input pixel arrays."""
    digest = hashlib.sha256()
    fixed = {k: v for k, v in options.items()
             if k not in ("iters", "tol", "seed")}
    digest.update(json.dumps(fixed, sort_keys=True, default=str).encode())
    for array in arrays:
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


#: How a finished run's last level may have ended (``Result.stopped``).
FINISHED = ("budget", "converged", "optimiser")


def save(path, x, level, evaluations, history, seconds, seed, fingerprint,
         stopped=None):
    """Write a checkpoint atomically (an interruption never leaves half of
    one). ``stopped``: one of :data:`FINISHED` for a finished run, else
    None."""
    state = dict(level=level, evaluations=evaluations, history=history,
                 seconds=seconds, seed=seed, fingerprint=fingerprint)
    if stopped is not None:
        state["stopped"] = stopped
    write_atomically(path, lambda f: np.savez(
        f, x=np.asarray(x, np.float32), format=FORMAT,
        state=json.dumps(state)))


def load(path, expected_fingerprint):
    """Read a checkpoint; UserError if it is unreadable or from another run.

    Returns
    -------
    dict
        ``x`` (1, 3, H, W) float32 and the fields given to :func:`save`
        (``stopped`` only if it was given).
    """
    not_ours = UserError("cannot read checkpoint: %s is not a lasagne_style "
                         "checkpoint" % path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise not_ours
        with open(path, "rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        raise UserError("checkpoint not found: %s" % path)
    except OSError as e:
        raise UserError("cannot open checkpoint %s (%s)" % (path, e.strerror))
    if magic != b"PK\x03\x04":  # np.savez writes a zip file
        raise not_ours
    try:
        with np.load(path, allow_pickle=False) as data:
            if not {"format", "state", "x"} <= set(data.files):
                raise not_ours
            if data["format"].shape != () or str(data["format"]) != FORMAT:
                raise not_ours
            text, x = data["state"], data["x"]
            state = json.loads(str(text)) if text.shape == () else None
    except UserError:
        raise
    # What a truncated or bit-flipped zip can raise, depending on where the
    # damage is (RuntimeError: a flipped "encrypted" flag, or JSON nested
    # past the recursion limit; MemoryError: a forged array size).
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
            zlib.error, struct.error, NotImplementedError, RuntimeError,
            MemoryError, OverflowError):
        raise UserError("cannot read checkpoint %s (damaged or not a "
                        "checkpoint)" % path)
    problem = _invalid(state, x)
    if problem:
        raise UserError("cannot read checkpoint %s (damaged: %s)"
                        % (path, problem))
    state["x"] = x.astype(np.float32)
    if state["fingerprint"] != expected_fingerprint:
        raise UserError("checkpoint %s was made with other images or options: "
                        "resume with the command that wrote it" % path)
    return state


def _is_int(value, low=0, high=None):
    # bool is an int subclass, but true is not an evaluation count
    return (isinstance(value, int) and not isinstance(value, bool)
            and value >= low and (high is None or value < high))


def _is_number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _invalid(state, x):
    """What is wrong with a checkpoint's fields (None if nothing), so that
    a forged one is refused here and not with a traceback later."""
    if not isinstance(state, dict):
        return "state is not an object"
    for key in ("level", "evaluations"):
        if not _is_int(state.get(key)):
            return "%s must be an integer >= 0" % key
    if not _is_int(state.get("seed"), 0, 2 ** 32):
        return "seed must be an integer in [0, 2**32)"
    if not (_is_number(state.get("seconds")) and state["seconds"] >= 0):
        return "seconds must be a number >= 0"
    if not isinstance(state.get("fingerprint"), str):
        return "fingerprint must be a string"
    if state.get("stopped", "budget") not in FINISHED:
        return "stopped must be one of %s" % ", ".join(FINISHED)
    history = state.get("history")
    if not (isinstance(history, list) and all(
            isinstance(h, dict) and "eval" in h and "loss" in h
            and all(isinstance(k, str) and isinstance(v, (int, float))
                    and not isinstance(v, bool) for k, v in h.items())
            for h in history)):
        return "history must list objects of numbers with eval and loss"
    if not (x.ndim == 4 and x.shape[:2] == (1, 3) and min(x.shape) > 0
            and x.dtype.kind == "f" and np.all(np.isfinite(x))):
        return "x must be a finite float image of shape (1, 3, H, W)"
    return None


def remove(path):
    """Delete a checkpoint made stale by a finished run (if there is one)."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
