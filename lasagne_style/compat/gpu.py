"""What old code finds when it asks for Theano's GPU: "not here", and CPU
stand-ins with the same names.

Theano 1.0 removed its old CUDA back-end (``theano.sandbox.cuda``; importing
it raises ``SkipTest``, or ``No module named 'nose'``), and with it the
modules of Lasagne 0.1 built on it. Scripts of 2015-2017 import them to
decide between the GPU and the CPU, or to build layers. Here:

* ``theano.sandbox.cuda`` imports and says no GPU: ``cuda_available`` and
  ``cuda_enabled`` are False, ``use()`` prints one line and leaves Theano on
  the CPU; the variable helpers (``as_cuda_ndarray_variable``,
  ``gpu_from_host``, ``host_from_gpu``, ``gpu_contiguous``,
  ``float32_shared_constructor``) give ordinary CPU tensors.
* ``theano.sandbox.cuda.dnn``: ``dnn_available()`` is False (with ``.msg``);
  ``dnn_conv``, ``dnn_pool`` and the transposed convolution of DCGAN-era
  code (``GpuDnnConvDesc`` + ``GpuDnnConvGradI``) compute the same thing
  with Theano's CPU ops.
* Pickles of Theano 0.7-0.9 GPU shared variables load as CPU shared
  variables holding numpy arrays (``CudaNdarrayType`` becomes a float32
  ``TensorType``, ``CudaNdarraySharedVariable`` a ``TensorSharedVariable``,
  a ``CudaNdarray`` a numpy array).
* ``lasagne.layers.dnn``, ``lasagne.layers.corrmm`` and
  ``lasagne.layers.cuda_convnet`` are CPU layers with the same arguments and
  results (cuda-convnet's ``c01b`` layout included); the GPU libraries'
  restrictions (filter counts in multiples of 16, square filters) are not
  enforced. Importing one says so once on stderr.
"""
import sys

CUDA = "theano.sandbox.cuda"
MESSAGE = ("no CUDA back-end here (Theano 1.0 removed the old one, and the "
           "new one needs pygpu): Theano runs on the CPU")
_told = set()


def notice(key, text):
    """Print ``text`` on stderr, once per ``key`` and process."""
    if key not in _told:
        _told.add(key)
        print(text, file=sys.stderr)


# -- theano.sandbox.cuda ----------------------------------------------------

def _identity(x, *args, **kwargs):
    import theano.tensor as T
    return T.as_tensor_variable(x)


def fill_cuda(module):
    import numpy as np
    import theano
    from theano.tensor import TensorType

    def use(device=None, force=False, *args, **kwargs):
        """Theano 0.8's ``use``: there is no GPU, so Theano stays on the
        CPU (one line on stderr)."""
        notice("use", "lasagne_style: theano.sandbox.cuda.use(%r): %s"
               % (device, MESSAGE))

    class CudaNdarrayType(TensorType):
        """The old GPU tensor type: a float32 ``TensorType`` here (also when
        a pickle of Theano 0.7-0.9 holds one)."""

        def __new__(cls, broadcastable=None, name=None, dtype=None):
            if broadcastable is None:  # unpickling: __setstate__ follows
                return object.__new__(cls)
            return TensorType("float32", broadcastable, name=name)

        def __setstate__(self, state):
            self.__class__ = TensorType
            TensorType.__init__(self, "float32",
                                state.get("broadcastable", ()),
                                name=state.get("name"))

    class CudaNdarraySharedVariable(theano.tensor.sharedvar
                                    .TensorSharedVariable):
        """A GPU shared variable in an old pickle: loads as a CPU one."""

        def __setstate__(self, state):
            state = dict(state)
            if isinstance(state.get("type"), TensorType):
                state["type"].__class__ = TensorType
            self.__dict__.update(state)
            self.__class__ = theano.tensor.sharedvar.TensorSharedVariable
            notice("pickle", "lasagne_style: GPU shared variables of an old "
                   "pickle load as CPU ones (no CUDA back-end here)")

    def CudaNdarray(data, *args, **kwargs):
        """The old GPU array: a float32 numpy array here."""
        return np.asarray(data, dtype="float32")

    def CudaNdarray_unpickler(array):
        """What an old pickle of a ``CudaNdarray`` calls: the numpy array."""
        return np.asarray(array)

    def float32_shared_constructor(value, name=None, strict=False,
                                   allow_downcast=None, borrow=False,
                                   broadcastable=None, target="gpu"):
        return theano.shared(np.asarray(value, dtype="float32"), name=name,
                             strict=strict, allow_downcast=allow_downcast,
                             borrow=borrow, broadcastable=broadcastable)

    names = dict(
        cuda_available=False, cuda_enabled=False, use=use,
        cuda_initialization_error_message=MESSAGE,
        CudaNdarrayType=CudaNdarrayType,
        CudaNdarraySharedVariable=CudaNdarraySharedVariable,
        CudaNdarrayVariable=theano.tensor.TensorVariable,
        CudaNdarrayConstant=theano.tensor.TensorConstant,
        CudaNdarray=CudaNdarray, CudaNdarray_unpickler=CudaNdarray_unpickler,
        float32_shared_constructor=float32_shared_constructor,
        as_cuda_ndarray_variable=_identity, gpu_from_host=_identity,
        host_from_gpu=_identity, gpu_contiguous=_identity,
        as_cuda_array=CudaNdarray)
    module.__dict__.update(names)
    module.__path__ = []  # a package: its submodules come from here too
    module.__doc__ = "CPU answers for Theano's removed old GPU back-end " \
                     "(lasagne_style.compat.gpu)."


def fill_type(module):
    cuda = sys.modules[CUDA]
    module.CudaNdarrayType = cuda.CudaNdarrayType
    module.CudaNdarray_unpickler = cuda.CudaNdarray_unpickler


def fill_var(module):
    cuda = sys.modules[CUDA]
    for name in ("CudaNdarraySharedVariable", "CudaNdarrayVariable",
                 "CudaNdarrayConstant", "float32_shared_constructor"):
        setattr(module, name, getattr(cuda, name))


def fill_basic_ops(module):
    import theano.tensor as T
    cuda = sys.modules[CUDA]

    def gpu_alloc_empty(*shape):
        return T.AllocEmpty("float32")(*shape)

    def op(name):
        cls = type(name, (), {"__call__": lambda self, x: _identity(x),
                              "__doc__": "Identity on the CPU."})
        return cls

    module.__dict__.update(
        as_cuda_ndarray_variable=_identity, gpu_from_host=_identity,
        host_from_gpu=_identity, gpu_contiguous=_identity,
        gpu_alloc_empty=gpu_alloc_empty, GpuFromHost=op("GpuFromHost"),
        HostFromGpu=op("HostFromGpu"), GpuContiguous=op("GpuContiguous"),
        CudaNdarrayType=cuda.CudaNdarrayType)


def dnn_conv(img, kerns, border_mode="valid", subsample=(1, 1),
             conv_mode="conv", direction_hint=None, workmem=None, algo=None,
             precision=None):
    """cuDNN's convolution on the CPU: ``conv_mode='conv'`` flips the
    filters (a true convolution), ``'cross'`` does not."""
    import theano.tensor as T
    return T.nnet.conv2d(img, kerns, border_mode=border_mode,
                         subsample=tuple(subsample),
                         filter_flip=conv_mode == "conv")


def dnn_pool(img, ws, stride=(1, 1), mode="max", pad=(0, 0)):
    """cuDNN's pooling on the CPU (borders ignored, as in cuDNN);
    ``'average'`` is ``'average_inc_pad'``, as it was there."""
    from theano.tensor.signal import pool
    mode = {"average": "average_inc_pad"}.get(mode, mode)
    return pool.pool_2d(img, ws=tuple(ws), stride=tuple(stride),
                        ignore_border=True, pad=tuple(pad), mode=mode)


class GpuDnnConvDesc:
    """A convolution's description (border, stride, flip), as cuDNN took
    it; applied to shapes it returns itself."""

    def __init__(self, border_mode="valid", subsample=(1, 1),
                 conv_mode="conv", precision=None):
        self.border_mode = border_mode
        self.subsample = tuple(subsample)
        self.conv_mode = conv_mode

    def __call__(self, *shapes):
        return self


class GpuDnnConvGradI:
    """The gradient of a convolution with respect to its input (the
    "deconvolution" of DCGAN-era code) on the CPU: ``op(kerns, topgrad,
    output, desc)`` returns a tensor of ``output``'s shape."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, kerns, topgrad, output, desc, *args):
        from theano.tensor.nnet.abstract_conv import AbstractConv2d_gradInputs
        op = AbstractConv2d_gradInputs(border_mode=desc.border_mode,
                                       subsample=desc.subsample,
                                       filter_flip=desc.conv_mode == "conv")
        return op(kerns, topgrad, output.shape[2:])


def fill_dnn(module):
    def dnn_available(*args):
        return False
    dnn_available.msg = MESSAGE

    def version(*args, **kwargs):
        raise RuntimeError("cuDNN is not available here: " + MESSAGE)

    module.__dict__.update(
        dnn_available=dnn_available, version=version, dnn_conv=dnn_conv,
        dnn_pool=dnn_pool, GpuDnnConvDesc=GpuDnnConvDesc,
        GpuDnnConvGradI=GpuDnnConvGradI)
    module.__doc__ = "CPU stand-ins for theano.sandbox.cuda.dnn " \
                     "(lasagne_style.compat.gpu): dnn_available() is False."


CUDA_MODULES = {CUDA: fill_cuda, CUDA + ".type": fill_type,
                CUDA + ".var": fill_var, CUDA + ".basic_ops": fill_basic_ops,
                CUDA + ".dnn": fill_dnn}


class StandInLoader:
    """Fills a module with ``fill(module)``; used for modules that cannot be
    imported on Theano 1.0."""

    def __init__(self, fill):
        self.fill = fill

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        self.fill(module)


# -- Lasagne's GPU layer modules --------------------------------------------

def lasagne_notice(name):
    notice(name, "lasagne_style: no %s here (Theano 1.0 removed the backend "
           "%s needs): its layers run on the CPU" % (
               "cuDNN" if name.endswith("dnn") else "CUDA", name))


def cc_layers():
    """CPU stand-ins for ``lasagne.layers.cuda_convnet``."""
    import theano.tensor as T
    from lasagne import init, nonlinearities
    from lasagne.layers import Layer
    from lasagne.layers.conv import conv_output_length
    from lasagne.utils import as_tuple

    def square(value, what):
        value = as_tuple(value, 2)
        if value[0] != value[1]:
            raise NotImplementedError("the cuda-convnet layers take square "
                                      "%s only, not %r" % (what, value))
        return value[0]

    class CCLayer(Layer):
        pass

    class Conv2DCCLayer(CCLayer):
        """cuda-convnet's convolution on the CPU: same parameters (``W`` in
        c01b order when ``dimshuffle=False``); cross-correlation unless
        ``flip_filters=True``."""

        def __init__(self, incoming, num_filters, filter_size, stride=(1, 1),
                     pad=0, untie_biases=False, W=None,
                     b=init.Constant(0.), nonlinearity=nonlinearities.rectify,
                     dimshuffle=True, flip_filters=False, partial_sum=1,
                     **kwargs):
            super().__init__(incoming, **kwargs)
            self.nonlinearity = nonlinearity or nonlinearities.identity
            self.num_filters = num_filters
            self.filter_size = square(filter_size, "filters")
            self.stride = square(stride, "strides")
            self.untie_biases = untie_biases
            self.dimshuffle = dimshuffle
            self.flip_filters = flip_filters
            self.partial_sum = partial_sum
            self.pad = {"valid": 0, "full": self.filter_size - 1,
                        "same": (self.filter_size - 1) // 2}.get(pad) \
                if isinstance(pad, str) else square(pad, "padding")
            if W is None:
                W = init.GlorotUniform(c01b=not dimshuffle)
            self.W = self.add_param(W, self.get_W_shape(), name="W")
            if b is None:
                self.b = None
            else:
                shape = (num_filters,)
                if untie_biases:
                    out = self.output_shape
                    shape += out[2:4] if dimshuffle else out[1:3]
                self.b = self.add_param(b, shape, name="b",
                                        regularizable=False)

        @property
        def num_input_channels(self):
            return self.input_shape[1 if self.dimshuffle else 0]

        def get_W_shape(self):
            size, channels = self.filter_size, self.num_input_channels
            if self.dimshuffle:
                return (self.num_filters, channels, size, size)
            return (channels, size, size, self.num_filters)

        def get_output_shape_for(self, input_shape):
            if self.dimshuffle:
                batch, rows, cols = input_shape[0], *input_shape[2:4]
            else:
                batch, rows, cols = input_shape[3], *input_shape[1:3]
            rows, cols = (conv_output_length(n, self.filter_size,
                                             self.stride, self.pad)
                          for n in (rows, cols))
            if self.dimshuffle:
                return (batch, self.num_filters, rows, cols)
            return (self.num_filters, rows, cols, batch)

        def get_output_for(self, input, **kwargs):
            W = self.W
            if not self.dimshuffle:  # c01b -> bc01
                input = input.dimshuffle(3, 0, 1, 2)
                W = W.dimshuffle(3, 0, 1, 2)
            out = T.nnet.conv2d(input, W, border_mode=self.pad,
                                subsample=(self.stride, self.stride),
                                filter_flip=self.flip_filters)
            if self.b is not None:
                out += (self.b.dimshuffle("x", 0, 1, 2) if self.untie_biases
                        else self.b.dimshuffle("x", 0, "x", "x"))
            out = self.nonlinearity(out)
            return out if self.dimshuffle else out.dimshuffle(1, 2, 3, 0)

    class MaxPool2DCCLayer(CCLayer):
        """cuda-convnet's max-pooling on the CPU (borders never ignored)."""

        def __init__(self, incoming, pool_size, stride=None,
                     ignore_border=False, dimshuffle=True, **kwargs):
            if as_tuple(kwargs.pop("pad", 0), 2) != (0, 0):
                raise NotImplementedError("MaxPool2DCCLayer does not support "
                                          "padding")
            if ignore_border:
                raise NotImplementedError("MaxPool2DCCLayer does not support "
                                          "ignore_border=True")
            super().__init__(incoming, **kwargs)
            self.pool_size = square(pool_size, "pooling regions")
            self.stride = self.pool_size if stride is None else \
                square(stride, "strides")
            if self.stride > self.pool_size:
                raise NotImplementedError("MaxPool2DCCLayer only supports "
                                          "stride <= pool_size")
            self.dimshuffle = dimshuffle

        def get_output_shape_for(self, input_shape):
            from lasagne.layers.pool import pool_output_length
            shape = list(input_shape)
            for axis in ((2, 3) if self.dimshuffle else (1, 2)):
                shape[axis] = pool_output_length(
                    shape[axis], pool_size=self.pool_size,
                    stride=self.stride, pad=0, ignore_border=False)
            return tuple(shape)

        def get_output_for(self, input, **kwargs):
            from theano.tensor.signal import pool
            if not self.dimshuffle:
                input = input.dimshuffle(3, 0, 1, 2)
            size, stride = (self.pool_size,) * 2, (self.stride,) * 2
            out = pool.pool_2d(input, ws=size, stride=stride,
                               ignore_border=False, mode="max")
            return out if self.dimshuffle else out.dimshuffle(1, 2, 3, 0)

    class ShuffleBC01ToC01BLayer(Layer):
        """bc01 (batch first) to c01b (batch last)."""

        def get_output_shape_for(self, input_shape):
            return tuple(input_shape[1:]) + (input_shape[0],)

        def get_output_for(self, input, **kwargs):
            return input.dimshuffle(1, 2, 3, 0)

    class ShuffleC01BToBC01Layer(Layer):
        """c01b (batch last) to bc01 (batch first)."""

        def get_output_shape_for(self, input_shape):
            return (input_shape[3],) + tuple(input_shape[:3])

        def get_output_for(self, input, **kwargs):
            return input.dimshuffle(3, 0, 1, 2)

    class NINLayer_c01b(Layer):
        """A network-in-network (1x1) layer on c01b input."""

        def __init__(self, incoming, num_units, untie_biases=False,
                     W=init.GlorotUniform(), b=init.Constant(0.),
                     nonlinearity=nonlinearities.rectify, **kwargs):
            super().__init__(incoming, **kwargs)
            self.nonlinearity = nonlinearity or nonlinearities.identity
            self.num_units = num_units
            self.untie_biases = untie_biases
            self.W = self.add_param(W, (num_units, self.input_shape[0]),
                                    name="W")
            if b is None:
                self.b = None
            else:
                shape = (num_units,) + (tuple(self.output_shape[1:-1])
                                        if untie_biases else ())
                self.b = self.add_param(b, shape, name="b",
                                        regularizable=False)

        def get_output_shape_for(self, input_shape):
            return (self.num_units,) + tuple(input_shape[1:])

        def get_output_for(self, input, **kwargs):
            out = T.tensordot(self.W, input, axes=[[1], [0]])
            if self.b is not None:
                axes = (list(range(input.ndim - 1)) + ["x"]
                        if self.untie_biases
                        else [0] + ["x"] * (input.ndim - 1))
                out = out + self.b.dimshuffle(axes)
            return self.nonlinearity(out)

    names = dict(CCLayer=CCLayer, Conv2DCCLayer=Conv2DCCLayer,
                 MaxPool2DCCLayer=MaxPool2DCCLayer,
                 ShuffleBC01ToC01BLayer=ShuffleBC01ToC01BLayer,
                 bc01_to_c01b=ShuffleBC01ToC01BLayer,
                 ShuffleC01BToBC01Layer=ShuffleC01BToBC01Layer,
                 c01b_to_bc01=ShuffleC01BToBC01Layer,
                 NINLayer_c01b=NINLayer_c01b)
    return names


def fill_lasagne_module(module, name):
    """``lasagne.layers.<name>`` (dnn, corrmm, cuda_convnet) with CPU
    layers; the names of the real module that do not need a GPU too."""
    import lasagne.layers
    from lasagne.layers.conv import conv_output_length
    from lasagne.layers.pool import pool_output_length
    from lasagne.utils import as_tuple

    from .lasagne01 import _stand_in_layers
    conv, pool_layer, max_pool = _stand_in_layers()
    common = dict(conv_output_length=conv_output_length,
                  pool_output_length=pool_output_length, as_tuple=as_tuple,
                  init=lasagne.init, nonlinearities=lasagne.nonlinearities,
                  Layer=lasagne.layers.Layer, theano=sys.modules["theano"])
    module.__dict__.update(common)
    if name == "dnn":
        import importlib
        dnn = importlib.import_module(CUDA + ".dnn")
        module.__dict__.update(
            dnn=dnn, DNNLayer=lasagne.layers.Layer, Conv2DDNNLayer=conv,
            Pool2DDNNLayer=pool_layer, MaxPool2DDNNLayer=max_pool)
        module.__all__ = ["Pool2DDNNLayer", "MaxPool2DDNNLayer",
                          "Conv2DDNNLayer"]
    elif name == "corrmm":
        mm = type("Conv2DMMLayer", (conv,), {
            "__doc__": "``Conv2DMMLayer`` on the CPU (Theano's CorrMM): "
                       "cross-correlation unless ``flip_filters=True``."})
        module.__dict__.update(MMLayer=lasagne.layers.Layer,
                               Conv2DMMLayer=mm)
        module.__all__ = ["MMLayer", "Conv2DMMLayer"]
    else:
        names = cc_layers()
        module.__dict__.update(names)
        module.__all__ = sorted(names)
    module.__doc__ = ("CPU stand-ins for lasagne.layers.%s, installed by "
                      "lasagne_style.compat (no GPU back-end here)." % name)
    lasagne_notice("lasagne.layers." + name)


class LasagneGpuLoader:
    """Loads the real ``lasagne.layers.<name>`` if it can be, else fills the
    module with CPU stand-ins."""

    def __init__(self, real_spec, name):
        self.real_spec, self.name = real_spec, name

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        if self.real_spec is not None:
            try:
                self.real_spec.loader.exec_module(module)
                return
            except Exception:  # ImportError, or nose's SkipTest
                pass
        fill_lasagne_module(module, self.name)


LASAGNE_MODULES = ("lasagne.layers.dnn", "lasagne.layers.corrmm",
                   "lasagne.layers.cuda_convnet")
