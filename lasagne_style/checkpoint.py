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
import io
import json
import math
import os
import stat
import struct
import zipfile
import zlib

import numpy as np

from . import memory
from .errors import UserError
from .files import shown, write_atomically

FORMAT = "lasagne_style-checkpoint-1"


def path_for(output):
    """Where the checkpoint of a run writing ``output`` goes:
    ``OUTPUT.ckpt.npz``, the whole output name plus ``.ckpt.npz``
    (``r.png`` -> ``r.png.ckpt.npz``).

    Why the whole name: outputs that differ only in their extension
    (``r.png`` and ``r.jpg``) are different runs, and with the stem alone
    they shared ``r.ckpt.npz``, so one run's finish deleted the other's
    interrupted work. :func:`legacy_path_for` is the old name, which
    ``--resume`` still reads like any other path.
    """
    return os.fspath(output) + SUFFIX


#: What :func:`path_for` appends to an output's name.
SUFFIX = ".ckpt.npz"


def legacy_path_for(output):
    """The checkpoint name of versions before :func:`path_for` kept the
    extension (``r.png`` -> ``r.ckpt.npz``): for a caller that wants to
    find a checkpoint an older version left (``--resume`` takes any path,
    so resuming from one needs nothing else)."""
    return os.path.splitext(os.fspath(output))[0] + SUFFIX


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


#: The most characters the state (JSON: the fields and the loss history,
#: about 120 characters an evaluation) may declare: 32 Mi characters, some
#: 270000 evaluations, 128 MB as the numpy string it is stored as. A
#: forged checkpoint cannot make :func:`load` allocate more for it.
STATE_CHARS = 2 ** 25
#: Without a memory figure (:func:`lasagne_style.memory.available` None),
#: the most pixels the image ``x`` may declare.
MAX_PIXELS = 10 ** 8
#: The longest .npy header np.save writes for these arrays, with room.
HEADER_BYTES = 4096


class _Damaged(Exception):
    """A checkpoint that is not what :func:`save` writes (the reason)."""


def load(path, expected_fingerprint):
    """Read a checkpoint; UserError if it is unreadable or from another run.

    Nothing is inflated before it is known to be small enough: each array's
    declared size (the zip entry's and the .npy header's shape and dtype)
    is checked against a bound before its data is read, and the state, with
    its fingerprint, is read and compared before the image is touched. Why:
    a checkpoint is a zip file that may come from anyone; a 1.5 MB deflate
    bomb used to inflate to gigabytes before it was refused.

    Returns
    -------
    dict
        ``x`` (1, 3, H, W) float32 and the fields given to :func:`save`
        (``stopped`` only if it was given).
    """
    path = os.fsdecode(path) if isinstance(path, bytes) else path
    name = shown(path)
    not_ours = UserError("cannot read checkpoint: %s is not a lasagne_style "
                         "checkpoint" % name)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise not_ours
        with open(path, "rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        raise UserError("checkpoint not found: %s" % name)
    except ValueError:  # a NUL byte: not a path at all
        raise UserError("checkpoint not found: %s" % name)
    except OSError as e:
        raise UserError("cannot open checkpoint %s (%s)" % (name, e.strerror))
    if magic != b"PK\x03\x04":  # np.savez writes a zip file
        raise not_ours
    try:
        with zipfile.ZipFile(path) as archive:
            members = {}
            for info in archive.infolist():
                if info.filename in members:  # which one would count?
                    raise _Damaged("it holds %s twice" % info.filename)
                members[info.filename] = info
            if not {"format.npy", "state.npy", "x.npy"} <= set(members):
                raise not_ours
            try:
                form = _read_scalar_text(archive, members["format.npy"],
                                         len(FORMAT))
            except _Damaged:  # some other program's format.npy
                form = None
            if form != FORMAT:
                raise not_ours
            text = _read_scalar_text(archive, members["state.npy"],
                                     STATE_CHARS)
            try:
                state = json.loads(text)
            except ValueError:
                raise _Damaged("state is not JSON")
            problem = _invalid_state(state)
            if problem:
                raise _Damaged(problem)
            if state["fingerprint"] != expected_fingerprint:
                raise UserError("checkpoint %s was made with other images or "
                                "options: resume with the command that wrote "
                                "it" % name)
            x = _read_image(archive, members["x.npy"])
    except UserError:
        raise
    except _Damaged as e:
        raise UserError("cannot read checkpoint %s (damaged: %s)"
                        % (name, e))
    # What a truncated or bit-flipped zip can raise, depending on where the
    # damage is (RuntimeError: a flipped "encrypted" flag, or JSON nested
    # past the recursion limit; MemoryError: what the bounds still let
    # through on a machine short of memory).
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
            zlib.error, struct.error, NotImplementedError, RuntimeError,
            MemoryError, OverflowError, SyntaxError):
        raise UserError("cannot read checkpoint %s (damaged or not a "
                        "checkpoint)" % name)
    problem = _invalid_image(x)
    if problem:
        raise UserError("cannot read checkpoint %s (damaged: %s)"
                        % (name, problem))
    state["x"] = x.astype(np.float32)
    return state


def _read_header(member):
    """The (shape, fortran_order, dtype) of a .npy stream, its header at
    most :data:`HEADER_BYTES` long: bounded here, before numpy parses it
    (numpy < 1.24 has no bound of its own)."""
    start = member.read(8)
    if start[:6] != b"\x93NUMPY" or start[6:] not in (b"\x01\x00",
                                                      b"\x02\x00"):
        raise _Damaged("an entry is not an .npy array np.savez writes")
    size_format = "<H" if start[6] == 1 else "<I"
    size_bytes = member.read(struct.calcsize(size_format))
    (length,) = struct.unpack(size_format, size_bytes)
    if length > HEADER_BYTES:
        raise _Damaged("an .npy header claims %d bytes" % length)
    header = io.BytesIO(size_bytes + member.read(length))
    if start[6] == 1:
        return np.lib.format.read_array_header_1_0(header)
    return np.lib.format.read_array_header_2_0(header)


def _read_data(member, info, shape, dtype, fortran):
    """The array whose header was just read, after checking that the zip
    entry holds exactly its declared bytes: a declared size is never
    trusted further than the entry's, and reading to the entry's end makes
    zipfile check its CRC."""
    count = int(np.prod(shape, dtype=object))
    size = count * dtype.itemsize
    if size != info.file_size - member.tell():
        raise _Damaged("%s declares %d bytes of data but holds %d"
                       % (info.filename, size, info.file_size - member.tell()))
    data = member.read(size)
    if len(data) != size or member.read(1):
        raise _Damaged("%s is truncated" % info.filename)
    order = "F" if fortran else "C"
    return np.frombuffer(data, dtype).reshape(shape, order=order)


def _read_scalar_text(archive, info, chars):
    """A 0-d numpy string of at most ``chars`` characters (the format tag
    or the state's JSON), refused from its header if it claims more."""
    if info.file_size > HEADER_BYTES + 4 * chars:
        raise _Damaged("%s claims %d bytes, more than its %d characters "
                       "allow" % (info.filename, info.file_size, chars))
    with archive.open(info) as member:
        shape, fortran, dtype = _read_header(member)
        if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * chars:
            raise _Damaged("%s is not a string of at most %d characters"
                           % (info.filename, chars))
        return str(_read_data(member, info, shape, dtype, fortran)[()])


def _read_image(archive, info):
    """The checkpoint's image ``x``, refused from its header if it is not a
    (1, 3, H, W) float array or claims more pixels than a run could have
    here (:func:`_check_claim`)."""
    with archive.open(info) as member:
        shape, fortran, dtype = _read_header(member)
        if not (len(shape) == 4 and shape[:2] == (1, 3) and min(shape) > 0
                and dtype.kind == "f" and dtype.itemsize in (2, 4, 8)):
            raise _Damaged("x must be a finite float image of shape "
                           "(1, 3, H, W)")
        _check_claim(shape[2:])
        return _read_data(member, info, shape, dtype, fortran)


def _check_claim(shape):
    """_Damaged if a checkpoint's image of ``shape`` (H, W) is larger than a
    run could be here: one of that size must fit in the memory available
    (the run that resumes it is refused otherwise, before its checkpoint
    is read), or, if that is unknown, have at most :data:`MAX_PIXELS`."""
    have, need = memory.available(), memory.estimated(shape)
    if have is None and shape[0] * shape[1] > MAX_PIXELS:
        raise _Damaged("x claims a %dx%d image, more than the %d pixels "
                       "allowed" % (shape[1], shape[0], MAX_PIXELS))
    if have is not None and need > have:
        raise _Damaged("x claims a %dx%d image: a run of that size needs "
                       "about %.1f GB, more than the %.1f GB available"
                       % (shape[1], shape[0], need / 1e9, have / 1e9))


def _is_int(value, low=0, high=None):
    # bool is an int subclass, but true is not an evaluation count
    return (isinstance(value, int) and not isinstance(value, bool)
            and value >= low and (high is None or value < high))


def _is_number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _invalid_state(state):
    """What is wrong with a checkpoint's fields other than its image (None
    if nothing), so that a forged one is refused here and not with a
    traceback later."""
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
    return None


def _invalid_image(x):
    """What is wrong with a checkpoint's image (None if nothing)."""
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
