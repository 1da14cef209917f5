"""Writes a pickle laid out as Theano 0.7-0.9 pickled a GPU shared variable
(``theano.shared(x)`` with ``device=gpu``): a CudaNdarraySharedVariable whose
container holds a CudaNdarray, itself pickled as
``theano.sandbox.cuda.type.CudaNdarray_unpickler(numpy_array)``. Theano is
not imported: classes with the old names stand in for it, each pickled the
way Theano 0.8 pickled it (protocol 2, the object's ``__dict__``).

usage: python make_gpu_pickle.py OUT.pkl  (writes a 3x4 float32 array)
"""
import pickle
import sys
import types

import numpy as np


def module(name):
    parts = name.split(".")
    for i in range(1, len(parts) + 1):  # the parents too, for pickle's import
        sys.modules.setdefault(".".join(parts[:i]),
                               types.ModuleType(".".join(parts[:i])))
    return sys.modules[name]


def define(module_name, name, obj):
    obj.__module__, obj.__qualname__, obj.__name__ = module_name, name, name
    setattr(module(module_name), name, obj)
    return obj


def CudaNdarray_unpickler(array):
    raise AssertionError("only pickled here")


define("theano.sandbox.cuda.type", "CudaNdarray_unpickler",
       CudaNdarray_unpickler)


class CudaNdarray:
    def __init__(self, array):
        self.array = array

    def __reduce__(self):
        return (CudaNdarray_unpickler, (self.array,))


CudaNdarrayType = define("theano.sandbox.cuda.type", "CudaNdarrayType",
                         type("CudaNdarrayType", (), {}))
Shared = define("theano.sandbox.cuda.var", "CudaNdarraySharedVariable",
                type("CudaNdarraySharedVariable", (), {}))
Container = define("theano.gof.link", "Container", type("Container", (), {}))
scratchpad = define("theano.gof.utils", "scratchpad",
                    type("scratchpad", (), {}))

value = np.arange(12, dtype="float32").reshape(3, 4) / 4
kind = CudaNdarrayType()
kind.__dict__.update(broadcastable=(False, False), name=None)
container = Container()
container.__dict__.update(type=kind, name="W", storage=[CudaNdarray(value)],
                          readonly=False, strict=False, allow_downcast=None)
tag = scratchpad()
shared = Shared()
shared.__dict__.update(tag=tag, type=kind, owner=None, index=None, name="W",
                       auto_name="auto_7", container=container)
with open(sys.argv[1], "wb") as f:
    pickle.dump(shared, f, protocol=2)
