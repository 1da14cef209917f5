"""``lasagne.layers.special``, a module Lasagne 0.1 lacks: ``BiasLayer``,
``ScaleLayer``, ``standardize``, ``ExpressionLayer``, ``InverseLayer``,
``TransformerLayer`` (its sampling: :func:`affine_sample`),
``ParametricRectifierLayer``/``prelu``,
``RandomizedRectifierLayer``/``rrelu``, and 0.1's ``NonlinearityLayer``
under its 0.2 module."""
import numpy as np
import theano
import theano.tensor as T

from ._util import (_broadcast_pattern, _named, _param_shape,
                    _steal_nonlinearity, int_types)


def _shared_axes(spec, ndim):
    """Axes a per-feature parameter is shared over: ``'auto'`` all but the
    second (a dense layer's batch axis, a convolution's batch and spatial
    axes), ``'all'`` every axis, or the given axis or axes."""
    if spec == "auto":
        return (0,) + tuple(range(2, ndim))
    if spec == "all":
        return tuple(range(ndim))
    if isinstance(spec, int_types):
        return (int(spec),)
    return tuple(spec)


def _special_layers(lasagne):
    """``lasagne.layers.special`` of Lasagne 0.2 (a module 0.1 lacks)."""
    from lasagne import init
    from lasagne.layers.base import Layer, MergeLayer
    from lasagne.random import get_rng
    from theano.sandbox.rng_mrg import MRG_RandomStreams
    module = "lasagne.layers.special"

    class BiasLayer(Layer):
        """Adds a learned bias: :math:`y = x + b`, with ``b`` shared over
        ``shared_axes`` (``'auto'``: all axes but the second, so one bias
        per unit of a dense layer, per channel of a convolution).
        ``b=None`` makes the layer the identity."""

        def __init__(self, incoming, b=init.Constant(0), shared_axes="auto",
                     **kwargs):
            super().__init__(incoming, **kwargs)
            self.shared_axes = _shared_axes(shared_axes,
                                            len(self.input_shape))
            if b is None:
                self.b = None
            else:
                shape = _param_shape(self.input_shape, self.shared_axes,
                                     "BiasLayer")
                self.b = self.add_param(b, shape, "b", regularizable=False)

        def get_output_for(self, input, **kwargs):
            if self.b is None:
                return input
            return input + self.b.dimshuffle(
                _broadcast_pattern(input.ndim, self.shared_axes))

    class ScaleLayer(Layer):
        """Multiplies by learned scales: :math:`y = s x`, with ``scales``
        shared over ``shared_axes`` (as for :class:`BiasLayer`)."""

        def __init__(self, incoming, scales=init.Constant(1),
                     shared_axes="auto", **kwargs):
            super().__init__(incoming, **kwargs)
            self.shared_axes = _shared_axes(shared_axes,
                                            len(self.input_shape))
            shape = _param_shape(self.input_shape, self.shared_axes,
                                 "ScaleLayer")
            self.scales = self.add_param(scales, shape, "scales",
                                         regularizable=False)

        def get_output_for(self, input, **kwargs):
            return input * self.scales.dimshuffle(
                _broadcast_pattern(input.ndim, self.shared_axes))

    def standardize(layer, offset, scale, shared_axes="auto"):
        """Fixed standardisation :math:`y = (x - o) / s` (e.g. training-set
        mean and standard deviation): a :class:`BiasLayer` with ``-offset``
        and a :class:`ScaleLayer` with ``1 / scale``, neither trained."""
        # numbers in floatX, so that float64 statistics do not turn the
        # network's float32 into float64
        if not isinstance(offset, theano.Variable):
            offset = np.asarray(offset, dtype=theano.config.floatX)
        if not isinstance(scale, theano.Variable):
            scale = np.asarray(scale, dtype=theano.config.floatX)
        layer = BiasLayer(layer, -offset, shared_axes)
        layer.params[layer.b].discard("trainable")
        # 1 / scale as an expression, as in Lasagne 0.2 (no shared variable
        # for a numpy scale)
        layer = ScaleLayer(layer, T.inv(T.as_tensor_variable(scale)),
                           shared_axes)
        layer.params[layer.scales].discard("trainable")
        return layer

    class ExpressionLayer(Layer):
        """Applies ``function`` (a Theano expression of the input).

        ``output_shape``: None (unchanged), a tuple, a callable of the input
        shape, or ``'auto'`` (``function`` evaluated on zeros of the input
        shape, unknown sizes taken as 0 and reported as None)."""

        def __init__(self, incoming, function, output_shape=None, **kwargs):
            super().__init__(incoming, **kwargs)
            self.function = function
            if output_shape is None or output_shape == "auto":
                self._output_shape = output_shape
            elif callable(output_shape):
                self._output_shape = None
                self.get_output_shape_for = output_shape
            else:
                self._output_shape = tuple(output_shape)

        def get_output_shape_for(self, input_shape):
            if self._output_shape is None:
                return input_shape
            if self._output_shape != "auto":
                return self._output_shape
            zeros = T.zeros([0 if s is None else s for s in input_shape],
                            dtype=theano.config.floatX)
            shape = self.function(zeros).shape.eval()
            return tuple(int(s) if s else None for s in shape)

        def get_output_for(self, input, **kwargs):
            return self.function(input)

    class InverseLayer(MergeLayer):
        """The transpose of ``layer``'s Jacobian applied to the input: the
        gradient of ``layer``'s output, with ``incoming`` as the gradient
        arriving there, with respect to ``layer``'s input. For a
        ``DenseLayer`` that multiplies by ``W.T``; for a convolution it is
        the transposed convolution; for max-pooling, unpooling. (A
        nonlinearity or bias of ``layer`` takes part through its
        derivative.)"""

        def __init__(self, incoming, layer, **kwargs):
            super().__init__([incoming, layer, layer.input_layer], **kwargs)

        def get_output_shape_for(self, input_shapes):
            return input_shapes[2]

        def get_output_for(self, inputs, **kwargs):
            arriving, layer_out, layer_in = inputs
            return theano.grad(None, wrt=layer_in,
                               known_grads={layer_out: arriving})

    class TransformerLayer(MergeLayer):
        """Spatial transformer (Jaderberg et al., 2015) with an affine
        transformation.

        ``localization_network`` gives 6 numbers per example,
        :math:`\\theta = [[t_1, t_2, t_3], [t_4, t_5, t_6]]`. Output pixel
        centres have normalised coordinates :math:`(x_t, y_t)` evenly
        spaced from -1 (first column/row) to 1 (last); each samples the
        input at :math:`(x_s, y_s) = \\theta (x_t, y_t, 1)`, in the same
        normalised coordinates of the input, bilinearly (the four
        surrounding pixels weighted by closeness). Samples outside the
        input take ``border_mode``: ``'nearest'`` (the edge pixel),
        ``'mirror'`` (reflected about the edge pixel) or ``'wrap'``
        (periodic). :math:`\\theta = [[1, 0, 0], [0, 1, 0]]` is the
        identity.

        The output has ``input rows // downsample_factor[0]`` rows and
        ``input columns // downsample_factor[1]`` columns (a factor below
        1 upsamples)."""

        def __init__(self, incoming, localization_network,
                     downsample_factor=1, border_mode="nearest", **kwargs):
            super().__init__([incoming, localization_network], **kwargs)
            self.downsample_factor = (
                tuple(downsample_factor)
                if isinstance(downsample_factor, (tuple, list))
                else (downsample_factor,) * 2)
            if border_mode not in ("nearest", "mirror", "wrap"):
                raise ValueError("border_mode must be 'nearest', 'mirror' or "
                                 "'wrap', not %r" % (border_mode,))
            self.border_mode = border_mode
            input_shape, theta_shape = self.input_shapes
            if len(theta_shape) != 2 or theta_shape[1] != 6:
                raise ValueError("the localization network must have output "
                                 "shape (batch_size, 6), not %r"
                                 % (theta_shape,))
            if len(input_shape) != 4:
                raise ValueError("the input must be 4-dimensional (batch, "
                                 "channels, rows, columns), not %r"
                                 % (input_shape,))

        def get_output_shape_for(self, input_shapes):
            shape = input_shapes[0]
            return shape[:2] + tuple(
                None if s is None else int(s // f)
                for s, f in zip(shape[2:], self.downsample_factor))

        def get_output_for(self, inputs, **kwargs):
            images, theta = inputs
            return affine_sample(images, theta, self.downsample_factor,
                                 self.border_mode)

    class ParametricRectifierLayer(Layer):
        """Parametric rectifier (He et al., 2015): :math:`y = x` for
        :math:`x > 0`, :math:`\\alpha x` otherwise, with learned slopes
        :math:`\\alpha` shared over ``shared_axes`` (``'auto'``: one per
        unit or channel, ``'all'``: a single one)."""

        def __init__(self, incoming, alpha=init.Constant(0.25),
                     shared_axes="auto", **kwargs):
            super().__init__(incoming, **kwargs)
            self.shared_axes = _shared_axes(shared_axes,
                                            len(self.input_shape))
            shape = _param_shape(self.input_shape, self.shared_axes,
                                 "ParametricRectifierLayer")
            self.alpha = self.add_param(alpha, shape, "alpha",
                                        regularizable=False)

        def get_output_for(self, input, **kwargs):
            alpha = self.alpha.dimshuffle(
                _broadcast_pattern(input.ndim, self.shared_axes))
            return T.nnet.relu(input, alpha)

    def prelu(layer, **kwargs):
        """``layer`` with its nonlinearity replaced by a
        :class:`ParametricRectifierLayer` on top (``kwargs`` go to it)."""
        _steal_nonlinearity(layer, drop_bias=False)
        return ParametricRectifierLayer(layer, **kwargs)

    class RandomizedRectifierLayer(Layer):
        """Randomized leaky rectifier (Xu et al., 2015): :math:`y = x` for
        :math:`x \\ge 0`, :math:`a x` otherwise, with slopes :math:`a`
        drawn uniformly from [``lower``, ``upper``] at every evaluation in
        training (one per position, shared over ``shared_axes``), and
        :math:`a = (lower + upper) / 2` when ``deterministic=True``."""

        def __init__(self, incoming, lower=0.3, upper=0.8,
                     shared_axes="auto", **kwargs):
            super().__init__(incoming, **kwargs)
            self._srng = MRG_RandomStreams(get_rng().randint(1, 2147462579))
            if not isinstance(lower, theano.Variable) and \
                    not isinstance(upper, theano.Variable) and lower > upper:
                raise ValueError("RandomizedRectifierLayer: the upper bound "
                                 "must not be below the lower one")
            self.lower, self.upper = lower, upper
            self.shared_axes = _shared_axes(shared_axes,
                                            len(self.input_shape))

        def get_output_for(self, input, deterministic=False, **kwargs):
            numbers = not isinstance(self.lower, theano.Variable) and \
                not isinstance(self.upper, theano.Variable)
            if deterministic or (numbers and self.upper == self.lower):
                return T.nnet.relu(input, (self.upper + self.lower) / 2.0)
            shape = list(self.input_shape)
            if any(s is None for s in shape):
                shape = [input.shape[i] for i in range(input.ndim)]
            for axis in self.shared_axes:
                shape[axis] = 1
            slopes = self._srng.uniform(tuple(shape), low=self.lower,
                                        high=self.upper,
                                        dtype=theano.config.floatX)
            slopes = T.addbroadcast(slopes, *self.shared_axes)
            return T.nnet.relu(input, slopes)

    def rrelu(layer, **kwargs):
        """``layer`` with its nonlinearity replaced by a
        :class:`RandomizedRectifierLayer` on top."""
        _steal_nonlinearity(layer, drop_bias=False)
        return RandomizedRectifierLayer(layer, **kwargs)

    names = {obj.__name__: _named(obj, module) for obj in (
        BiasLayer, ScaleLayer, standardize, ExpressionLayer, InverseLayer,
        TransformerLayer, ParametricRectifierLayer, prelu,
        RandomizedRectifierLayer, rrelu)}
    # Lasagne 0.2 moved NonlinearityLayer here from ``dense``
    names["NonlinearityLayer"] = lasagne.layers.dense.NonlinearityLayer
    return names


def _linspace(n):
    """n values evenly spaced from -1 to 1 (just -1 when n is 1)."""
    step = 2.0 / T.cast(T.maximum(n - 1, 1), theano.config.floatX)
    return T.cast(T.arange(n), theano.config.floatX) * step - 1


def _border_index(i, size, border_mode):
    """Pixel index ``i`` (int64, may be outside [0, size)) brought inside
    by ``border_mode``."""
    if border_mode == "nearest":
        return T.clip(i, 0, size - 1)
    if border_mode == "wrap":
        return T.mod(i, size)
    # mirror: reflection about the edge pixels, period 2 (size - 1)
    period = T.maximum(2 * (size - 1), 1)
    i = T.mod(i, period)
    return T.minimum(i, period - i)


def affine_sample(images, theta, downsample_factor=(1, 1),
                  border_mode="nearest"):
    """:class:`TransformerLayer`'s sampling: ``images`` (batch, channels,
    rows, columns) sampled bilinearly at ``theta`` (batch, 6) applied to the
    output grid (see the layer's docstring)."""
    floatX = theano.config.floatX
    batch, channels, rows, cols = (images.shape[i] for i in range(4))
    out_rows = T.cast(rows // downsample_factor[0], "int64")
    out_cols = T.cast(cols // downsample_factor[1], "int64")
    # target grid, row-major: (x_t, y_t, 1) for every output pixel
    x_t = T.outer(T.ones((out_rows,)), _linspace(out_cols)).flatten()
    y_t = T.outer(_linspace(out_rows), T.ones((out_cols,))).flatten()
    grid = T.stack([x_t, y_t, T.ones_like(x_t)])              # (3, P)
    source = T.dot(T.reshape(theta, (-1, 2, 3)), grid)        # (N, 2, P)
    # normalised [-1, 1] -> pixel coordinates [0, size - 1]
    x = (source[:, 0].flatten() + 1) * (T.cast(cols, floatX) - 1) / 2
    y = (source[:, 1].flatten() + 1) * (T.cast(rows, floatX) - 1) / 2
    x0, y0 = T.floor(x), T.floor(y)
    fx, fy = x - x0, y - y0              # weights of the right/lower pixel
    x0i, y0i = T.cast(x0, "int64"), T.cast(y0, "int64")
    left = _border_index(x0i, cols, border_mode)
    right = _border_index(x0i + 1, cols, border_mode)
    top = _border_index(y0i, rows, border_mode)
    bottom = _border_index(y0i + 1, rows, border_mode)
    # look the pixels up in the images as one (N * rows * cols, channels)
    flat = images.dimshuffle(0, 2, 3, 1).reshape((-1, channels))
    first = T.repeat(T.arange(batch, dtype="int64") * rows * cols,
                     out_rows * out_cols)

    def pixels(r, c):
        return flat[first + r * cols + c]

    out = (pixels(top, left) * ((1 - fx) * (1 - fy)).dimshuffle(0, "x") +
           pixels(top, right) * (fx * (1 - fy)).dimshuffle(0, "x") +
           pixels(bottom, left) * ((1 - fx) * fy).dimshuffle(0, "x") +
           pixels(bottom, right) * (fx * fy).dimshuffle(0, "x"))
    out = T.reshape(out, (batch, out_rows, out_cols, channels))
    return out.dimshuffle(0, 3, 1, 2)
