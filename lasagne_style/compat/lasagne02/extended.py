"""Options Lasagne 0.2 added to classes Lasagne 0.1 has. The classes are
extended in place (so every import path, ``isinstance`` and pickles see one
class), once (``apply`` is idempotent), and behave as in Lasagne 0.1 when
the option is not given:

* ``LSTMLayer``, ``GRULayer``, ``RecurrentLayer``, ``CustomRecurrentLayer``:
  ``only_return_final=True``, and ``hid_init``/``cell_init`` given as a
  :class:`Layer` (the initial state computed by another layer);
* ``DenseLayer(num_leading_axes=...)``;
* ``DropoutLayer(shared_axes=...)``, with 0.2's shortcuts
  ``dropout_channels`` (alias ``spatial_dropout``) and
  ``dropout_locations`` in ``lasagne.layers.noise``;
* ``Conv1DLayer(flip_filters=...)`` (``Conv2DLayer``'s is fix 8);
* ``ConcatLayer``, ``ElemwiseMergeLayer``, ``ElemwiseSumLayer``:
  ``cropping=...``, with ``autocrop`` and ``autocrop_array_shapes`` in
  ``lasagne.layers.merge``.
"""
import functools

import numpy as np
import theano
import theano.tensor as T

from ._util import _named


def _patched(cls, method):
    """Whether ``cls.method`` is already ours (apply is idempotent)."""
    return getattr(getattr(cls, method), "_lasagne02", False)


def _mark(*functions):
    for f in functions:
        f._lasagne02 = True


class FlippedConvolution(object):
    """A Lasagne 0.1 1-D ``convolution`` function applied to the filters
    reversed along their length: a convolution becomes a
    cross-correlation (``Conv1DLayer(flip_filters=False)``). A class, so
    that layers holding it pickle."""

    def __init__(self, convolution):
        self.convolution = convolution

    def __call__(self, input, filters, *args, **kwargs):
        return self.convolution(input, filters[:, :, ::-1], *args, **kwargs)


def _extend_conv1d(lasagne):
    """``Conv1DLayer(flip_filters=...)``: True (Lasagne 0.1's only
    behaviour, and 0.2's default) convolves, False cross-correlates."""
    cls = lasagne.layers.conv.Conv1DLayer
    if _patched(cls, "__init__"):
        return
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self, *args, flip_filters=True, **kwargs):
        original(self, *args, **kwargs)
        self.flip_filters = flip_filters
        if not flip_filters:
            self.convolution = FlippedConvolution(self.convolution)

    _mark(__init__)
    cls.__init__ = __init__


def _extend_dense(lasagne):
    """``DenseLayer(num_leading_axes=n)``: the first n axes are kept and the
    rest are flattened into the dot product (negative n: the last -n axes
    go into it). 1 is Lasagne 0.1's behaviour."""
    from lasagne import init, nonlinearities
    from lasagne.layers.base import Layer
    cls = lasagne.layers.dense.DenseLayer
    if _patched(cls, "__init__"):
        return
    original_init = cls.__init__
    original_shape = cls.get_output_shape_for
    original_output = cls.get_output_for

    def arguments(W=init.GlorotUniform(), b=init.Constant(0.),
                  nonlinearity=nonlinearities.rectify, **kwargs):
        return W, b, nonlinearity, kwargs

    @functools.wraps(original_init)
    def __init__(self, incoming, num_units, *args, num_leading_axes=1,
                 **kwargs):
        if num_leading_axes == 1:
            original_init(self, incoming, num_units, *args, **kwargs)
            self.num_leading_axes = 1
            return
        W, b, nonlinearity, kwargs = arguments(*args, **kwargs)
        Layer.__init__(self, incoming, **kwargs)
        ndim = len(self.input_shape)
        if num_leading_axes >= ndim or num_leading_axes < -ndim:
            raise ValueError("num_leading_axes=%d does not fit a "
                             "%d-dimensional input" % (num_leading_axes,
                                                       ndim))
        self.nonlinearity = nonlinearities.identity if nonlinearity is None \
            else nonlinearity
        self.num_units = num_units
        self.num_leading_axes = num_leading_axes
        trailing = self.input_shape[num_leading_axes:]
        if any(s is None for s in trailing):
            raise ValueError("DenseLayer needs known sizes for the axes of "
                             "its dot product, got input shape %r"
                             % (self.input_shape,))
        self.W = self.add_param(W, (int(np.prod(trailing)), num_units),
                                name="W")
        self.b = None if b is None else self.add_param(
            b, (num_units,), name="b", regularizable=False)

    def get_output_shape_for(self, input_shape):
        n = getattr(self, "num_leading_axes", 1)
        if n == 1:
            return original_shape(self, input_shape)
        return tuple(input_shape[:n]) + (self.num_units,)

    def get_output_for(self, input, **kwargs):
        n = getattr(self, "num_leading_axes", 1)
        if n == 1:
            return original_output(self, input, **kwargs)
        if n < 0:
            n += input.ndim
        if input.ndim > n + 1:
            input = input.flatten(n + 1)
        out = T.dot(input, self.W)
        if self.b is not None:
            out = out + self.b
        return self.nonlinearity(out)

    _mark(__init__, get_output_shape_for, get_output_for)
    cls.__init__ = __init__
    cls.get_output_shape_for = get_output_shape_for
    cls.get_output_for = get_output_for


def _extend_dropout(lasagne):
    """``DropoutLayer(shared_axes=...)``: one mask value shared along those
    axes (whole channels dropped, say); plus 0.2's shortcuts."""
    noise = lasagne.layers.noise
    cls = noise.DropoutLayer
    if not _patched(cls, "__init__"):
        original_init = cls.__init__
        original_output = cls.get_output_for

        @functools.wraps(original_init)
        def __init__(self, *args, shared_axes=(), **kwargs):
            original_init(self, *args, **kwargs)
            self.shared_axes = tuple(shared_axes)

        def get_output_for(self, input, deterministic=False, **kwargs):
            shared = getattr(self, "shared_axes", ())
            if not shared or deterministic or self.p == 0:
                return original_output(self, input,
                                       deterministic=deterministic, **kwargs)
            keep = 1 - self.p
            if self.rescale:
                input = input / keep
            shape = list(self.input_shape)
            if any(s is None for s in shape):
                shape = [input.shape[i] for i in range(input.ndim)]
            shared = {a % input.ndim for a in shared}
            for axis in shared:
                shape[axis] = 1
            mask = self._srng.binomial(tuple(shape), p=keep,
                                       dtype=input.dtype)
            return input * T.addbroadcast(mask, *sorted(shared))

        _mark(__init__, get_output_for)
        cls.__init__ = __init__
        cls.get_output_for = get_output_for

    def dropout_channels(incoming, *args, **kwargs):
        """Dropout of whole channels: one mask value per example and
        channel, shared over axes 2 on (spatial dropout)."""
        ndim = len(getattr(incoming, "output_shape", incoming))
        kwargs["shared_axes"] = tuple(range(2, ndim))
        return noise.DropoutLayer(incoming, *args, **kwargs)

    def dropout_locations(incoming, *args, **kwargs):
        """Dropout of whole positions: one mask value per example and
        position, shared over the channels (axis 1)."""
        kwargs["shared_axes"] = (1,)
        return noise.DropoutLayer(incoming, *args, **kwargs)

    for f in (dropout_channels, dropout_locations):
        _named(f, "lasagne.layers.noise")
    return {"dropout_channels": dropout_channels,
            "spatial_dropout": dropout_channels,
            "dropout_locations": dropout_locations}


def autocrop(inputs, cropping):
    """Crop tensors of one dimensionality to a common shape (Lasagne 0.2's
    ``merge.autocrop``): for each axis whose ``cropping`` entry is not None,
    every input keeps the smallest size among them, taken at its start
    (``'lower'``), end (``'upper'``) or middle (``'center'``, the extra
    split as (d // 2, d - d // 2)). ``cropping`` shorter than the number
    of axes leaves the rest alone; None returns ``inputs``."""
    if cropping is None:
        return inputs
    ndim = inputs[0].ndim
    if any(x.ndim != ndim for x in inputs):
        raise ValueError("inputs of different dimensionalities: %r"
                         % ([x.ndim for x in inputs],))
    cropping = list(cropping) + [None] * (ndim - len(cropping))
    shapes = [x.shape for x in inputs]
    slices = [[] for _ in inputs]
    for axis, mode in enumerate(cropping):
        if mode is None:
            for s in slices:
                s.append(slice(None))
            continue
        if mode not in ("lower", "upper", "center"):
            raise ValueError("Unknown crop mode %r" % (mode,))
        smallest = T.min(T.stack([shape[axis] for shape in shapes]))
        for shape, s in zip(shapes, slices):
            start = {"lower": 0, "upper": shape[axis] - smallest,
                     "center": (shape[axis] - smallest) // 2}[mode]
            s.append(slice(start, start + smallest))
    return [x[tuple(s)] for x, s in zip(inputs, slices)]


def autocrop_array_shapes(input_shapes, cropping):
    """The shapes :func:`autocrop` gives inputs of ``input_shapes``: along
    a cropped axis every shape gets the smallest size (None if any is
    unknown)."""
    if cropping is None:
        return input_shapes
    ndim = len(input_shapes[0])
    if any(len(shape) != ndim for shape in input_shapes):
        raise ValueError("input shapes of different dimensionalities: %r"
                         % (input_shapes,))
    cropping = list(cropping) + [None] * (ndim - len(cropping))
    columns = []
    for sizes, mode in zip(zip(*input_shapes), cropping):
        if mode is None:
            columns.append(sizes)
        elif mode in ("lower", "upper", "center"):
            smallest = None if None in sizes else min(sizes)
            columns.append((smallest,) * len(sizes))
        else:
            raise ValueError("Unknown crop mode %r" % (mode,))
    return [tuple(shape) for shape in zip(*columns)]


def _extend_merge(lasagne):
    """``cropping=`` for ``ConcatLayer``, ``ElemwiseMergeLayer`` and
    ``ElemwiseSumLayer`` (through the latter's base): inputs are cropped
    to a common shape (:func:`autocrop`) before they are merged."""
    merge = lasagne.layers.merge
    for cls in (merge.ConcatLayer, merge.ElemwiseMergeLayer):
        if _patched(cls, "__init__"):
            continue
        original_init = cls.__init__
        original_shape = cls.get_output_shape_for
        original_output = cls.get_output_for

        def make(original_init, original_shape, original_output):
            @functools.wraps(original_init)
            def __init__(self, *args, cropping=None, **kwargs):
                original_init(self, *args, **kwargs)
                self.cropping = cropping

            def get_output_shape_for(self, input_shapes):
                return original_shape(self, autocrop_array_shapes(
                    input_shapes, getattr(self, "cropping", None)))

            def get_output_for(self, inputs, **kwargs):
                return original_output(self, autocrop(
                    inputs, getattr(self, "cropping", None)), **kwargs)

            _mark(__init__, get_output_shape_for, get_output_for)
            return __init__, get_output_shape_for, get_output_for

        (cls.__init__, cls.get_output_shape_for,
         cls.get_output_for) = make(original_init, original_shape,
                                    original_output)
    for f in (autocrop, autocrop_array_shapes):
        _named(f, "lasagne.layers.merge")
    return {"autocrop": autocrop,
            "autocrop_array_shapes": autocrop_array_shapes}


def _extend_recurrent(lasagne):
    """Lasagne 0.2's options of the recurrent layers:

    * ``only_return_final=True``: the output is the state after the last
      step, ``(batch, units)``, instead of every step's,
      ``(batch, steps, units)``. (With ``backwards=True`` the last step is
      the one at the first position; with a mask, a sequence's state stays
      at its last unmasked step.)
    * ``hid_init`` (and ``cell_init`` of ``LSTMLayer``) may be a
      :class:`Layer` whose output, ``(batch, units)``, is the initial
      state (not learned, whatever ``learn_init`` says; its own layer's
      parameters are the network's).
    """
    from lasagne.layers.base import Layer
    recurrent = lasagne.layers.recurrent
    initial_states = {recurrent.CustomRecurrentLayer: ("hid_init",),
                      recurrent.LSTMLayer: ("cell_init", "hid_init"),
                      recurrent.GRULayer: ("hid_init",)}
    for cls, states in initial_states.items():
        if _patched(cls, "__init__"):
            continue
        original_init = cls.__init__
        original_shape = cls.get_output_shape_for
        original_output = cls.get_output_for

        def make(states, original_init, original_shape, original_output):
            @functools.wraps(original_init)
            def __init__(self, *args, only_return_final=False, **kwargs):
                # A layer's output stands in as a Theano variable (which 0.1
                # accepts) and is swapped in for it in get_output_for.
                layers = []
                for name in states:
                    value = kwargs.get(name)
                    if isinstance(value, Layer):
                        placeholder = T.TensorType(
                            theano.config.floatX,
                            (False,) * len(value.output_shape))(name)
                        kwargs[name] = placeholder
                        layers.append((placeholder, value))
                original_init(self, *args, **kwargs)
                self.only_return_final = only_return_final
                self._initial_state_layers = [p for p, _ in layers]
                for _, layer in layers:
                    self.input_layers.append(layer)
                    self.input_shapes.append(layer.output_shape)

            def extra(self):
                return len(getattr(self, "_initial_state_layers", ()))

            def get_output_shape_for(self, input_shapes):
                count = extra(self)
                shape = original_shape(
                    self, input_shapes[:len(input_shapes) - count])
                if getattr(self, "only_return_final", False):
                    shape = shape[:1] + shape[2:]
                return shape

            def get_output_for(self, inputs, **kwargs):
                count = extra(self)
                given = inputs[len(inputs) - count:] if count else []
                out = original_output(self, inputs[:len(inputs) - count],
                                      **kwargs)
                if given:
                    out = theano.clone(out, replace={
                        p: T.patternbroadcast(T.cast(v, p.dtype),
                                              p.broadcastable)
                        for p, v in zip(self._initial_state_layers, given)})
                if getattr(self, "only_return_final", False):
                    # 0.1 returns the steps in input order: a backward
                    # pass ends at the first position
                    out = out[:, 0] if self.backwards else out[:, -1]
                return out

            _mark(__init__, get_output_shape_for, get_output_for)
            return __init__, get_output_shape_for, get_output_for

        (cls.__init__, cls.get_output_shape_for,
         cls.get_output_for) = make(states, original_init, original_shape,
                                    original_output)
    # RecurrentLayer builds DenseLayers with its **kwargs: it must not pass
    # the new option on to them
    cls = recurrent.RecurrentLayer
    if not _patched(cls, "__init__"):
        original = cls.__init__

        @functools.wraps(original)
        def __init__(self, *args, only_return_final=False, **kwargs):
            original(self, *args, **kwargs)
            self.only_return_final = only_return_final

        _mark(__init__)
        cls.__init__ = __init__
