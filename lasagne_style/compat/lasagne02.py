"""Lasagne 0.2's names on PyPI's Lasagne 0.1 (issue 30, item 9).

From late 2015 on, Lasagne's documentation told users to install Lasagne
from its master branch ("0.2.dev1"), and code written from 2016 to 2018 uses
names that Lasagne 0.1, the only Lasagne on PyPI, does not have. Lasagne 0.2
was never released, so the names are written here: our own implementations
of the API of Lasagne's master branch (its documentation and source were
read for the semantics; nothing is copied from them). :func:`apply` puts
each name where 0.2 code imports it from -- ``lasagne.layers`` and the
submodule that defines it in Lasagne 0.2 (``lasagne.layers.conv``,
``lasagne.layers.special``, ...) -- right after Lasagne is imported
(:mod:`lasagne_style.compat` calls it with fixes 8 and 9).

New names (one section each below):

* parameters: a Theano *expression* as a layer parameter (``W=l1.W.T``,
  tied weights) and ``Layer.get_params(unwrap_shared=True)`` returning the
  shared variables inside such expressions; ``utils.collect_shared_vars``,
  ``utils.int_types``, ``utils.inspect_kwargs``;
* ``nonlinearities``: ``elu``, ``selu``/``SELU``, ``softplus``,
  ``ScaledTanH`` (alias ``ScaledTanh``);
* ``objectives``: ``categorical_accuracy``, ``binary_accuracy``,
  ``binary_hinge_loss``, ``multiclass_hinge_loss``, ``huber_loss``,
  ``align_targets``;
* ``updates``: ``adamax``, ``amsgrad``;
* ``layers`` (``special``): ``BiasLayer``, ``ScaleLayer``, ``standardize``,
  ``ExpressionLayer``, ``InverseLayer``, ``TransformerLayer``,
  ``ParametricRectifierLayer``/``prelu``,
  ``RandomizedRectifierLayer``/``rrelu`` (and 0.1's ``NonlinearityLayer``
  under its 0.2 module);
* ``layers`` (``normalization``): ``BatchNormLayer``/``batch_norm``,
  ``StandardizationLayer``, ``instance_norm``, ``layer_norm``;
* ``layers`` (``conv``): ``BaseConvLayer``, ``conv_input_length``,
  ``TransposedConv2DLayer`` (alias ``Deconv2DLayer``),
  ``DilatedConv2DLayer``, ``Conv3DLayer``, ``TransposedConv3DLayer``
  (alias ``Deconv3DLayer``);
* ``layers`` (``pool``): ``Pool1DLayer``, ``Upscale1DLayer``,
  ``Upscale2DLayer``, ``Upscale3DLayer``, ``SpatialPyramidPoolingLayer``;
* ``layers`` (``noise``, ``merge``): ``dropout_channels``,
  ``spatial_dropout``, ``dropout_locations``; ``autocrop``,
  ``autocrop_array_shapes``.

Options 0.2 added to classes Lasagne 0.1 has. The classes are extended in
place (so every import path, ``isinstance`` and pickles see one class), and
behave as in Lasagne 0.1 when the option is not given:

* ``LSTMLayer``, ``GRULayer``, ``RecurrentLayer``, ``CustomRecurrentLayer``:
  ``only_return_final=True``, and ``hid_init``/``cell_init`` given as a
  :class:`Layer` (the initial state computed by another layer);
* ``DenseLayer(num_leading_axes=...)``;
* ``DropoutLayer(shared_axes=...)``;
* ``Conv1DLayer(flip_filters=...)`` (``Conv2DLayer``'s is fix 8);
* ``ConcatLayer``, ``ElemwiseMergeLayer``, ``ElemwiseSumLayer``:
  ``cropping=...``.

Not provided: ``TPSTransformerLayer``, ``LocallyConnected2DLayer``,
``AlphaDropoutLayer``, 3-D pooling, ``Conv2DLayer(num_groups=...)`` and
cuDNN's ``BatchNormDNNLayer``/``batch_norm_dnn``/``Conv3DDNNLayer``; see
docs/legacy.md.
"""
import functools
import inspect
import numbers
import sys
import types
import warnings

import numpy as np
import theano
import theano.tensor as T

#: Lasagne 0.2's ``utils.int_types``: what counts as an integer argument.
int_types = (numbers.Integral, np.integer)


# -- parameters ---------------------------------------------------------------

def collect_shared_vars(expressions):
    """The shared variables a Theano expression (or a list of them) depends
    on, each once, in order of first appearance (Lasagne 0.2's
    ``utils.collect_shared_vars``)."""
    if isinstance(expressions, theano.Variable):
        expressions = [expressions]
    found = []
    for expression in expressions:
        for var in theano.gof.graph.inputs([expression]):
            if isinstance(var, theano.compile.SharedVariable) and \
                    not any(var is seen for seen in found):
                found.append(var)
    return found


def inspect_kwargs(func):
    """The names of the arguments of ``func`` that have a default value
    (Lasagne 0.2's ``utils.inspect_kwargs``)."""
    return [name for name, p in inspect.signature(func).parameters.items()
            if p.default is not inspect.Parameter.empty and
            p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _extend_parameters(lasagne):
    """Lasagne 0.2 accepts a Theano expression where a parameter is
    expected (``DenseLayer(l, 10, W=encoder.W.T)``: weights tied to another
    layer's); 0.1's ``create_param`` refuses it. ``get_params`` then lists
    the shared variables the expressions depend on (``unwrap_shared=True``,
    the default), so that updates and ``get_all_param_values`` see those."""
    utils, base = lasagne.utils, lasagne.layers.base
    if getattr(utils.create_param, "_lasagne02", False):
        return
    original_create = utils.create_param

    @functools.wraps(original_create)
    def create_param(spec, shape, name=None):
        if isinstance(spec, theano.Variable) and \
                not isinstance(spec, theano.compile.SharedVariable):
            # an expression: only its number of dimensions can be checked
            if spec.ndim != len(shape):
                raise RuntimeError("parameter variable has %d dimensions, "
                                   "should be %d" % (spec.ndim, len(shape)))
            return spec
        return original_create(spec, shape, name)

    create_param._lasagne02 = True
    utils.create_param = create_param
    original_get_params = base.Layer.get_params

    @functools.wraps(original_get_params)
    def get_params(self, unwrap_shared=True, **tags):
        params = original_get_params(self, **tags)
        if unwrap_shared:
            return collect_shared_vars(params)
        return params

    base.Layer.get_params = get_params
    utils.collect_shared_vars = collect_shared_vars
    utils.inspect_kwargs = inspect_kwargs
    utils.int_types = int_types


# -- nonlinearities -----------------------------------------------------------

def elu(x):
    """Exponential linear unit (Clevert et al., 2015):
    :math:`f(x) = x` for :math:`x > 0`, :math:`e^x - 1` otherwise."""
    # expm1 of min(x, 0): the unused branch must not overflow for large x,
    # or its infinite gradient times 0 would give NaN
    return T.switch(x > 0, x, T.expm1(T.minimum(x, 0)))


class SELU(object):
    """Scaled exponential linear unit (Klambauer et al., 2017):
    :math:`f(x) = \\lambda x` for :math:`x > 0`,
    :math:`\\lambda \\alpha (e^x - 1)` otherwise.

    Parameters
    ----------
    scale : float
        :math:`\\lambda`, the factor of both branches.
    scale_neg : float
        :math:`\\alpha`, the factor of the negative branch.
    """

    def __init__(self, scale=1, scale_neg=1):
        self.scale = scale
        self.scale_neg = scale_neg

    def __call__(self, x):
        negative = self.scale_neg * T.expm1(T.minimum(x, 0))
        return self.scale * T.switch(x > 0, x, negative)


#: SELU with the constants of the paper, which keep activations at zero
#: mean and unit variance.
selu = SELU(scale=1.0507009873554804934193349852946,
            scale_neg=1.6732632423543772848170429916717)


class ScaledTanH(object):
    """Scaled hyperbolic tangent: :math:`f(x) = b \\tanh(a x)`, with
    ``scale_in`` :math:`a` and ``scale_out`` :math:`b` (LeCun et al. 1998
    recommend :math:`a = 2/3`, :math:`b = 1.7159`)."""

    def __init__(self, scale_in=1, scale_out=1):
        self.scale_in = scale_in
        self.scale_out = scale_out

    def __call__(self, x):
        return self.scale_out * T.tanh(self.scale_in * x)


ScaledTanh = ScaledTanH


def softplus(x):
    """Softplus: :math:`f(x) = \\log(1 + e^x)`."""
    return T.nnet.softplus(x)


# -- objectives ---------------------------------------------------------------

def align_targets(predictions, targets):
    """Lasagne 0.2's helper: a ``(N, 1)`` prediction known to be
    broadcastable in its second axis is compared with ``(N,)`` targets as
    ``(N, 1)`` (not broadcast to ``(N, N)``)."""
    if getattr(predictions, "broadcastable", None) == (False, True) and \
            getattr(targets, "ndim", None) == 1:
        targets = T.as_tensor_variable(targets).dimshuffle(0, "x")
    return predictions, targets


def _class_indices(predictions, targets):
    """Integer class targets from one-hot (or class-index) ``targets``."""
    if targets.ndim == predictions.ndim:
        return T.argmax(targets, axis=-1)
    if targets.ndim != predictions.ndim - 1:
        raise TypeError("rank mismatch between targets and predictions")
    return targets


def categorical_accuracy(predictions, targets, top_k=1):
    """1 where the target class is among the ``top_k`` largest predictions,
    else 0 (one value per example).

    ``predictions`` has the classes in its last axis; ``targets`` are class
    indices (one axis fewer) or one-hot (same shape), as for
    ``categorical_crossentropy``. With ``top_k=1``, the prediction is the
    arg max (the first one on ties)."""
    targets = _class_indices(predictions, targets)
    if top_k == 1:
        return T.eq(T.argmax(predictions, axis=-1), targets)
    best = T.argsort(predictions, axis=-1)
    best = best[(slice(None),) * (predictions.ndim - 1) +
                (slice(-top_k, None),)]
    return T.any(T.eq(best, T.shape_padright(targets)), axis=-1)


def binary_accuracy(predictions, targets, threshold=0.5):
    """1 where ``predictions >= threshold`` equals the 0/1 ``targets``."""
    predictions, targets = align_targets(predictions, targets)
    return T.eq(T.ge(predictions, threshold), targets)


def binary_hinge_loss(predictions, targets, delta=1, log_odds=None,
                      binary=True):
    """:math:`\\max(0, \\delta - t p)` with targets :math:`t` in
    {-1, +1} (from {0, 1} when ``binary``) and predictions :math:`p` as
    log-odds; with ``log_odds=False`` the predictions are probabilities,
    turned into log-odds :math:`\\log(p / (1 - p))` first.

    As in Lasagne 0.2, omitting ``log_odds`` means ``True`` (with a
    ``FutureWarning``: Lasagne announced the default would change)."""
    if log_odds is None:
        warnings.warn("binary_hinge_loss: log_odds not given, taken as True "
                      "(Lasagne 0.2's default, which it meant to change)",
                      FutureWarning, stacklevel=2)
        log_odds = True
    if not log_odds:
        predictions = T.log(predictions / (1 - predictions))
    if binary:
        targets = 2 * targets - 1
    predictions, targets = align_targets(predictions, targets)
    return T.maximum(0, delta - predictions * targets)


def multiclass_hinge_loss(predictions, targets, delta=1):
    """Crammer-Singer hinge loss, one value per example:
    :math:`\\max(0, \\max_{j \\ne t} p_j - p_t + \\delta)`
    (``targets`` as class indices or one-hot)."""
    num_classes = predictions.shape[-1]
    if targets.ndim == predictions.ndim - 1:
        targets = T.extra_ops.to_one_hot(targets, num_classes)
    elif targets.ndim != predictions.ndim:
        raise TypeError("rank mismatch between targets and predictions")
    correct = T.sum(predictions * targets, axis=-1)
    # the largest prediction among the wrong classes
    others = T.switch(T.gt(targets, 0), -np.inf, predictions)
    return T.maximum(0, T.max(others, axis=-1) - correct + delta)


def huber_loss(predictions, targets, delta=1):
    """Huber loss, elementwise: :math:`r^2 / 2` for
    :math:`|r| \\le \\delta`, :math:`\\delta (|r| - \\delta / 2)` beyond,
    with :math:`r` = targets - predictions."""
    predictions, targets = align_targets(predictions, targets)
    r = abs(targets - predictions)
    return T.switch(r <= delta, 0.5 * r ** 2, delta * (r - 0.5 * delta))


# -- updates ------------------------------------------------------------------

def _zeros_like(param):
    value = param.get_value(borrow=True)
    return theano.shared(np.zeros(value.shape, dtype=value.dtype),
                         broadcastable=param.broadcastable)


def adamax(loss_or_grads, params, learning_rate=0.002, beta1=0.9,
           beta2=0.999, epsilon=1e-8):
    """AdaMax (Kingma and Ba, 2015, section 7.1), Adam with the infinity
    norm. At step :math:`t` (from 1), for each parameter and gradient
    :math:`g`:

    .. math::
        m_t = \\beta_1 m_{t-1} + (1 - \\beta_1) g, \\quad
        u_t = \\max(\\beta_2 u_{t-1}, |g|), \\quad
        \\theta_t = \\theta_{t-1} - \\frac{\\eta}{1 - \\beta_1^t}
                    \\frac{m_t}{u_t + \\epsilon}

    with :math:`m_0 = u_0 = 0`. Returns an ``OrderedDict`` of updates, like
    every function of ``lasagne.updates``."""
    from collections import OrderedDict
    from lasagne.updates import get_or_compute_grads
    grads = get_or_compute_grads(loss_or_grads, params)
    step = theano.shared(np.asarray(0, dtype=theano.config.floatX))
    t = step + 1
    rate = learning_rate / (1 - beta1 ** t)
    updates = OrderedDict()
    for param, g in zip(params, grads):
        m, u = _zeros_like(param), _zeros_like(param)
        m_t = beta1 * m + (1 - beta1) * g
        u_t = T.maximum(beta2 * u, abs(g))
        updates[m] = m_t
        updates[u] = u_t
        updates[param] = param - rate * m_t / (u_t + epsilon)
    updates[step] = t
    return updates


def amsgrad(loss_or_grads, params, learning_rate=0.001, beta1=0.9,
            beta2=0.999, epsilon=1e-8):
    """AMSGrad (Reddi et al., 2018): Adam whose second-moment estimate
    never decreases.

    .. math::
        m_t = \\beta_1 m_{t-1} + (1 - \\beta_1) g, \\quad
        v_t = \\beta_2 v_{t-1} + (1 - \\beta_2) g^2, \\quad
        \\hat v_t = \\max(\\hat v_{t-1}, v_t), \\\\
        \\theta_t = \\theta_{t-1} - \\eta \\frac{\\sqrt{1 - \\beta_2^t}}
        {1 - \\beta_1^t} \\frac{m_t}{\\sqrt{\\hat v_t} + \\epsilon}
    """
    from collections import OrderedDict
    from lasagne.updates import get_or_compute_grads
    grads = get_or_compute_grads(loss_or_grads, params)
    step = theano.shared(np.asarray(0, dtype=theano.config.floatX))
    t = step + 1
    rate = learning_rate * T.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    updates = OrderedDict()
    for param, g in zip(params, grads):
        m, v, v_hat = _zeros_like(param), _zeros_like(param), \
            _zeros_like(param)
        m_t = beta1 * m + (1 - beta1) * g
        v_t = beta2 * v + (1 - beta2) * g ** 2
        v_hat_t = T.maximum(v_hat, v_t)
        updates[m] = m_t
        updates[v] = v_t
        updates[v_hat] = v_hat_t
        updates[param] = param - rate * m_t / (T.sqrt(v_hat_t) + epsilon)
    updates[step] = t
    return updates


# -- helpers for the layers ---------------------------------------------------

def _ints(value, n, what="value"):
    """``value`` (an int or n of them) as a tuple of n Python ints."""
    values = tuple(value) if isinstance(value, (tuple, list)) else \
        (value,) * n
    if len(values) != n or not all(isinstance(v, int_types)
                                   for v in values):
        raise TypeError("expected an int or %d ints for %s, got %r"
                        % (n, what, value))
    return tuple(int(v) for v in values)


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


def _param_shape(input_shape, shared, layer_name):
    shape = tuple(size for axis, size in enumerate(input_shape)
                  if axis not in shared)
    if any(size is None for size in shape):
        raise ValueError("%s needs known input sizes for every axis its "
                         "parameters are not shared over" % layer_name)
    return shape


def _broadcast_pattern(ndim, shared):
    """The dimshuffle pattern that puts a parameter of the unshared axes
    back among ``ndim`` axes (``'x'`` where shared)."""
    axes = iter(range(ndim - len(shared)))
    return ["x" if axis in shared else next(axes) for axis in range(ndim)]


def _steal_nonlinearity(layer, drop_bias):
    """Take ``layer``'s nonlinearity (and bias) away, as Lasagne 0.2's
    ``batch_norm``, ``prelu``... do; return the nonlinearity, or None."""
    from lasagne import nonlinearities
    nonlinearity = getattr(layer, "nonlinearity", None)
    if nonlinearity is not None:
        layer.nonlinearity = nonlinearities.identity
    if drop_bias and getattr(layer, "b", None) is not None:
        del layer.params[layer.b]
        layer.b = None
    return nonlinearity


def _suffix(name, suffix):
    return name and name + suffix


def _named(obj, module, name=None):
    """Give a class or function the name and module 0.2 code (and pickle)
    looks it up by: those defined in a function would not pickle."""
    obj.__name__ = obj.__qualname__ = name or obj.__name__
    obj.__module__ = module
    return obj


# -- special layers -----------------------------------------------------------

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


# -- normalization ------------------------------------------------------------

def _normalization_layers(lasagne, special):
    """Lasagne 0.2's additions to ``lasagne.layers.normalization``."""
    from lasagne import init
    from lasagne.layers.base import Layer
    NonlinearityLayer = lasagne.layers.dense.NonlinearityLayer
    module = "lasagne.layers.normalization"

    class BatchNormLayer(Layer):
        """Batch normalisation (Ioffe and Szegedy, 2015):

        .. math::
            y = \\gamma \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}}
                + \\beta

        over ``axes`` (``'auto'``: all but the second, i.e. over the batch,
        and over the positions of a convolution). In training
        (``get_output(..., deterministic=False)``, the default),
        :math:`\\mu` and :math:`\\sigma^2` are the mean and (biased)
        variance of the mini-batch, and the layer's stored averages are
        updated -- by the compiled Theano function itself, without any
        update the user adds -- as exponential moving averages:
        ``mean <- (1 - alpha) mean + alpha mu`` and ``inv_std <- (1 -
        alpha) inv_std + alpha / sqrt(sigma^2 + epsilon)``. With
        ``deterministic=True``, the stored ``mean`` and ``inv_std`` (which
        stands for :math:`1 / \\sqrt{\\sigma^2 + \\epsilon}`) are used and
        not updated. ``batch_norm_use_averages`` and
        ``batch_norm_update_averages`` (keywords of ``get_output``) choose
        each behaviour separately.

        ``beta=None`` / ``gamma=None`` fix them at 0 / 1. ``mode=``, an
        argument of early 0.2 versions (a memory/speed choice), is accepted
        and ignored."""

        def __init__(self, incoming, axes="auto", epsilon=1e-4, alpha=0.1,
                     beta=init.Constant(0), gamma=init.Constant(1),
                     mean=init.Constant(0), inv_std=init.Constant(1),
                     mode=None, **kwargs):
            super().__init__(incoming, **kwargs)
            if axes == "auto":
                axes = (0,) + tuple(range(2, len(self.input_shape)))
            elif isinstance(axes, int_types):
                axes = (int(axes),)
            self.axes = tuple(axes)
            self.epsilon, self.alpha = epsilon, alpha
            shape = _param_shape(self.input_shape, self.axes,
                                 "BatchNormLayer")
            self.beta = None if beta is None else self.add_param(
                beta, shape, "beta", trainable=True, regularizable=False)
            self.gamma = None if gamma is None else self.add_param(
                gamma, shape, "gamma", trainable=True, regularizable=True)
            self.mean = self.add_param(mean, shape, "mean", trainable=False,
                                       regularizable=False)
            self.inv_std = self.add_param(inv_std, shape, "inv_std",
                                          trainable=False,
                                          regularizable=False)

        def get_output_for(self, input, deterministic=False,
                           batch_norm_use_averages=None,
                           batch_norm_update_averages=None, **kwargs):
            batch_mean = input.mean(self.axes)
            batch_inv_std = T.inv(T.sqrt(input.var(self.axes) +
                                         self.epsilon))
            use_averages = deterministic if batch_norm_use_averages is None \
                else batch_norm_use_averages
            update = (not deterministic) if batch_norm_update_averages is \
                None else batch_norm_update_averages
            if use_averages:
                mean, inv_std = self.mean, self.inv_std
            else:
                mean, inv_std = batch_mean, batch_inv_std
            if update:
                # The averages are updated by default updates (collected by
                # theano.function) of aliases of the stored variables, which
                # enter the output multiplied by 0 so that the function
                # finds them.
                mean_alias = theano.clone(self.mean, share_inputs=False)
                inv_std_alias = theano.clone(self.inv_std,
                                             share_inputs=False)
                mean_alias.default_update = \
                    (1 - self.alpha) * mean_alias + self.alpha * batch_mean
                inv_std_alias.default_update = \
                    (1 - self.alpha) * inv_std_alias + \
                    self.alpha * batch_inv_std
                mean = mean + 0 * mean_alias
                inv_std = inv_std + 0 * inv_std_alias
            pattern = _broadcast_pattern(input.ndim, self.axes)
            scale = inv_std.dimshuffle(pattern)
            if self.gamma is not None:
                scale = scale * self.gamma.dimshuffle(pattern)
            out = (input - mean.dimshuffle(pattern)) * scale
            if self.beta is not None:
                out = out + self.beta.dimshuffle(pattern)
            return out

    def batch_norm(layer, **kwargs):
        """Batch-normalise ``layer``'s output before its nonlinearity:
        the layer loses its nonlinearity and its bias (``beta`` replaces
        it), and a :class:`BatchNormLayer` (``kwargs`` go to it) plus a
        ``NonlinearityLayer`` with the old nonlinearity are put on top;
        returns the top layer. A named layer names them ``name + '_bn'``
        and ``name + '_bn_nonlin'``."""
        nonlinearity = _steal_nonlinearity(layer, drop_bias=True)
        name = kwargs.pop("name", None) or _suffix(
            getattr(layer, "name", None), "_bn")
        layer = BatchNormLayer(layer, name=name, **kwargs)
        if nonlinearity is not None:
            layer = NonlinearityLayer(layer, nonlinearity,
                                      name=_suffix(name, "_nonlin"))
        return layer

    class StandardizationLayer(Layer):
        """Standardises each example over ``axes``, without learned or
        stored parameters: :math:`y = (x - \\mu) / \\sqrt{\\sigma^2 +
        \\epsilon}`, mean and variance over ``axes`` of each example.
        ``axes``: ``'auto'`` (the features of a 2-D input, the positions
        of a convolution's), ``'spatial'`` (axes 2 on: instance
        normalisation), ``'features'`` (axes 1 on: layer normalisation),
        or the axes."""

        def __init__(self, incoming, axes="auto", epsilon=1e-4, **kwargs):
            super().__init__(incoming, **kwargs)
            ndim = len(self.input_shape)
            if axes == "auto":
                axes = (1,) if ndim == 2 else tuple(range(2, ndim))
            elif axes == "spatial":
                axes = tuple(range(2, ndim))
            elif axes == "features":
                axes = tuple(range(1, ndim))
            elif isinstance(axes, int_types):
                axes = (int(axes),)
            self.axes = tuple(axes)
            self.epsilon = epsilon

        def get_output_for(self, input, **kwargs):
            mean = input.mean(self.axes, keepdims=True)
            var = input.var(self.axes, keepdims=True)
            return (input - mean) / T.sqrt(var + self.epsilon)

    def _standardized(layer, axes, suffix, learn_scale, learn_bias,
                      **kwargs):
        nonlinearity = _steal_nonlinearity(layer, drop_bias=True)
        name = kwargs.pop("name", None) or _suffix(
            getattr(layer, "name", None), suffix)
        layer = StandardizationLayer(layer, axes=axes, name=name, **kwargs)
        if learn_scale:
            layer = special["ScaleLayer"](layer, shared_axes="auto",
                                          name=_suffix(name, "_scale"))
        if learn_bias:
            layer = special["BiasLayer"](layer, shared_axes="auto",
                                         name=_suffix(name, "_bias"))
        if nonlinearity is not None:
            layer = NonlinearityLayer(layer, nonlinearity,
                                      name=_suffix(name, "_nonlin"))
        return layer

    def instance_norm(layer, learn_scale=True, learn_bias=True, **kwargs):
        """Instance normalisation (Ulyanov et al., 2016) in front of
        ``layer``'s nonlinearity: each example's channels standardised
        over their positions, then a learned per-channel scale and bias
        (unless switched off), then the nonlinearity."""
        return _standardized(layer, "spatial", "_in", learn_scale,
                             learn_bias, **kwargs)

    def layer_norm(layer, **kwargs):
        """Layer normalisation (Ba et al., 2016) in front of ``layer``'s
        nonlinearity: each example standardised over all its features,
        then a learned per-unit (per-channel) scale and bias, then the
        nonlinearity."""
        return _standardized(layer, "features", "_ln", True, True, **kwargs)

    return {obj.__name__: _named(obj, module) for obj in (
        BatchNormLayer, batch_norm, StandardizationLayer, instance_norm,
        layer_norm)}


# -- convolutions -------------------------------------------------------------

def conv_input_length(output_length, filter_size, stride, pad=0):
    """The smallest input length a convolution (``filter_size``,
    ``stride``, ``pad``) maps to ``output_length``: the output length of
    the transposed convolution, :math:`(o - 1) s - 2 p + f` (``pad``
    ``'valid'`` is 0, ``'full'`` is ``f - 1``, ``'same'`` is ``f // 2``).
    None stays None."""
    if output_length is None:
        return None
    pad = {"valid": 0, "full": filter_size - 1,
           "same": filter_size // 2}.get(pad, pad)
    if not isinstance(pad, int_types):
        raise ValueError("Invalid pad: %r" % (pad,))
    return (output_length - 1) * stride - 2 * pad + filter_size


def _conv_layers(lasagne):
    """Lasagne 0.2's additions to ``lasagne.layers.conv``."""
    from lasagne import init, nonlinearities
    from lasagne.layers.base import Layer
    from lasagne.layers.conv import conv_output_length
    from theano.tensor.nnet import abstract_conv
    module = "lasagne.layers.conv"

    class BaseConvLayer(Layer):
        """Lasagne 0.2's base of n-dimensional convolution layers: input
        ``(batch, channels, <n spatial axes>)``, ``W`` of shape
        ``(num_filters, channels) + filter_size``, a bias per filter (or per
        filter and position with ``untie_biases``) and a nonlinearity.
        ``pad``: an int or n ints, ``'valid'`` (0), ``'full'``
        (``filter_size - 1``) or ``'same'`` (``filter_size // 2``, odd
        filters only). ``flip_filters=True`` convolves, ``False``
        cross-correlates. Subclasses implement :meth:`convolve`.

        (Lasagne 0.1's ``Conv1DLayer`` and ``Conv2DLayer`` stay 0.1's
        classes and are not subclasses of this one.)"""

        def __init__(self, incoming, num_filters, filter_size, stride=1,
                     pad=0, untie_biases=False, W=init.GlorotUniform(),
                     b=init.Constant(0.), nonlinearity=nonlinearities.rectify,
                     flip_filters=True, n=None, **kwargs):
            super().__init__(incoming, **kwargs)
            self.nonlinearity = nonlinearities.identity \
                if nonlinearity is None else nonlinearity
            if n is None:
                n = len(self.input_shape) - 2
            elif n != len(self.input_shape) - 2:
                raise ValueError("a %dD convolution needs input of %d "
                                 "dimensions (batch, channels, %d spatial), "
                                 "not %r" % (n, n + 2, n, self.input_shape))
            self.n = n
            self.num_filters = num_filters
            self.filter_size = _ints(filter_size, n, "filter_size")
            self.stride = _ints(stride, n, "stride")
            self.flip_filters = flip_filters
            self.untie_biases = untie_biases
            if pad == "same" and any(f % 2 == 0 for f in self.filter_size):
                raise NotImplementedError("'same' padding needs odd filter "
                                          "sizes")
            if pad == "valid":
                self.pad = (0,) * n
            elif pad in ("full", "same"):
                self.pad = pad
            else:
                self.pad = _ints(pad, n, "pad")
            self.W = self.add_param(W, self.get_W_shape(), name="W")
            if b is None:
                self.b = None
            else:
                shape = (num_filters,) + (self.output_shape[2:]
                                          if untie_biases else ())
                self.b = self.add_param(b, shape, name="b",
                                        regularizable=False)

        def get_W_shape(self):
            """The shape of ``W``."""
            return (self.num_filters, self.input_shape[1]) + self.filter_size

        def _padding(self):
            return self.pad

        def get_output_shape_for(self, input_shape):
            pad = self._padding()
            pad = pad if isinstance(pad, tuple) else (pad,) * self.n
            return (input_shape[0], self.num_filters) + tuple(
                conv_output_length(size, f, s, p) for size, f, s, p in
                zip(input_shape[2:], self.filter_size, self.stride, pad))

        def get_output_for(self, input, **kwargs):
            out = self.convolve(input, **kwargs)
            if self.b is not None:
                if self.untie_biases:
                    out = out + T.shape_padleft(self.b, 1)
                else:
                    out = out + self.b.dimshuffle(("x", 0) + ("x",) * self.n)
            return self.nonlinearity(out)

        def convolve(self, input, **kwargs):
            """``input`` convolved with ``W`` (no bias, no nonlinearity)."""
            raise NotImplementedError("BaseConvLayer.convolve: use a "
                                      "subclass such as Conv3DLayer")

    def _border_mode(pad):
        return "half" if pad == "same" else pad

    class Conv3DLayer(BaseConvLayer):
        """3-D convolution, input ``(batch, channels, depth, rows,
        columns)`` (see :class:`BaseConvLayer`), through
        ``convolution`` (Theano's ``conv3d``)."""

        def __init__(self, incoming, num_filters, filter_size,
                     stride=(1, 1, 1), pad=0, untie_biases=False,
                     W=init.GlorotUniform(), b=init.Constant(0.),
                     nonlinearity=nonlinearities.rectify, flip_filters=True,
                     convolution=None, **kwargs):
            super().__init__(incoming, num_filters, filter_size, stride, pad,
                             untie_biases, W, b, nonlinearity, flip_filters,
                             n=3, **kwargs)
            self.convolution = convolution or T.nnet.conv3d

        def convolve(self, input, **kwargs):
            return self.convolution(input, self.W, self.input_shape,
                                    self.get_W_shape(),
                                    subsample=self.stride,
                                    border_mode=_border_mode(self.pad),
                                    filter_flip=self.flip_filters)

    gradient_ops = {2: abstract_conv.AbstractConv2d_gradInputs,
                    3: abstract_conv.AbstractConv3d_gradInputs}

    class _TransposedConv(BaseConvLayer):
        """The transposed convolution (also called fractionally strided
        convolution, or deconvolution): the gradient with respect to its
        input of the convolution with the same ``W``, ``stride`` and
        ``pad = crop`` -- with the filters flipped relative to this layer,
        as the gradient of a convolution is a cross-correlation. So
        ``TransposedConv2DLayer(conv, conv.input_shape[1],
        conv.filter_size, stride=conv.stride, crop=conv.pad, W=conv.W,
        flip_filters=not conv.flip_filters)`` computes the transpose
        (adjoint) of ``conv``'s linear map.

        ``W`` has shape ``(input channels, num_filters) + filter_size`` (the
        first two swapped compared to a convolution). Each spatial size
        becomes :math:`(i - 1) s - 2 c + f` (:func:`conv_input_length`),
        unless ``output_size`` chooses another of the sizes a strided
        convolution maps back to the input's (up to ``stride - 1`` more).
        ``crop``: an int or ints, ``'valid'`` (0: the full transposed
        convolution), ``'full'`` (``f - 1``) or ``'same'`` (``f // 2``).
        ``flip_filters=False`` (the default) cross-correlates the
        zero-dilated input with ``W``."""

        def __init__(self, incoming, num_filters, filter_size, stride, crop,
                     untie_biases, W, b, nonlinearity, flip_filters,
                     output_size, n, **kwargs):
            if output_size is not None and \
                    not isinstance(output_size, theano.Variable):
                output_size = _ints(output_size, n, "output_size")
            self.output_size = output_size
            super().__init__(incoming, num_filters, filter_size, stride,
                             crop, untie_biases, W, b, nonlinearity,
                             flip_filters, n=n, **kwargs)
            self.crop = self.pad
            del self.pad

        def _padding(self):
            return self.crop if hasattr(self, "crop") else self.pad

        def get_W_shape(self):
            return (self.input_shape[1], self.num_filters) + self.filter_size

        def get_output_shape_for(self, input_shape):
            if self.output_size is not None:
                size = (None,) * self.n \
                    if isinstance(self.output_size, theano.Variable) \
                    else self.output_size
                return (input_shape[0], self.num_filters) + tuple(size)
            crop = self._padding()
            crop = crop if isinstance(crop, tuple) else (crop,) * self.n
            return (input_shape[0], self.num_filters) + tuple(
                conv_input_length(size, f, s, c) for size, f, s, c in
                zip(input_shape[2:], self.filter_size, self.stride, crop))

        def convolve(self, input, **kwargs):
            shape = self.output_shape
            if isinstance(self.output_size, theano.Variable):
                size = self.output_size
            elif any(s is None for s in shape[2:]):
                size = self.get_output_shape_for(
                    [input.shape[i] for i in range(input.ndim)])[2:]
            else:
                size = shape[2:]
            op = gradient_ops[self.n](
                imshp=shape, kshp=self.get_W_shape(), subsample=self.stride,
                border_mode=_border_mode(self.crop),
                filter_flip=not self.flip_filters)
            return op(self.W, input, size)

    class TransposedConv2DLayer(_TransposedConv):
        __doc__ = "2-D " + _TransposedConv.__doc__[4:]

        def __init__(self, incoming, num_filters, filter_size,
                     stride=(1, 1), crop=0, untie_biases=False,
                     W=init.GlorotUniform(), b=init.Constant(0.),
                     nonlinearity=nonlinearities.rectify, flip_filters=False,
                     output_size=None, **kwargs):
            super().__init__(incoming, num_filters, filter_size, stride, crop,
                             untie_biases, W, b, nonlinearity, flip_filters,
                             output_size, 2, **kwargs)

    class TransposedConv3DLayer(_TransposedConv):
        __doc__ = "3-D " + _TransposedConv.__doc__[4:]

        def __init__(self, incoming, num_filters, filter_size,
                     stride=(1, 1, 1), crop=0, untie_biases=False,
                     W=init.GlorotUniform(), b=init.Constant(0.),
                     nonlinearity=nonlinearities.rectify, flip_filters=False,
                     output_size=None, **kwargs):
            super().__init__(incoming, num_filters, filter_size, stride, crop,
                             untie_biases, W, b, nonlinearity, flip_filters,
                             output_size, 3, **kwargs)

    class DilatedConv2DLayer(BaseConvLayer):
        """2-D dilated ("atrous") convolution (Yu and Koltun, 2016): the
        input cross-correlated with filters spread out by ``dilation``
        (``dilation - 1`` zeros between taps), so each output sees a
        window of :math:`(f - 1) d + 1` and each size becomes
        :math:`i - (f - 1) d`.

        As in Lasagne 0.2: ``W`` has shape ``(input channels, num_filters,
        rows, columns)`` (the first two swapped compared to a
        convolution); only ``pad=0`` and ``flip_filters=False`` are
        supported (put a ``PadLayer`` in front for padding)."""

        def __init__(self, incoming, num_filters, filter_size,
                     dilation=(1, 1), pad=0, untie_biases=False,
                     W=init.GlorotUniform(), b=init.Constant(0.),
                     nonlinearity=nonlinearities.rectify, flip_filters=False,
                     **kwargs):
            self.dilation = _ints(dilation, 2, "dilation")
            super().__init__(incoming, num_filters, filter_size, 1, pad,
                             untie_biases, W, b, nonlinearity, flip_filters,
                             n=2, **kwargs)
            del self.stride
            if self.pad != (0, 0):
                raise NotImplementedError(
                    "DilatedConv2DLayer needs pad=0 (got %r): put a PadLayer "
                    "in front for a padded dilated convolution" % (pad,))
            if self.flip_filters:
                raise NotImplementedError("DilatedConv2DLayer needs "
                                          "flip_filters=False")

        def get_W_shape(self):
            return (self.input_shape[1], self.num_filters) + self.filter_size

        def get_output_shape_for(self, input_shape):
            return (input_shape[0], self.num_filters) + tuple(
                conv_output_length(size, (f - 1) * d + 1, 1, 0)
                for size, f, d in zip(input_shape[2:], self.filter_size,
                                      self.dilation))

        def convolve(self, input, **kwargs):
            # Theano's CPU convolution dilates filters itself
            return T.nnet.conv2d(
                input, self.W.dimshuffle(1, 0, 2, 3), self.input_shape,
                (self.num_filters, self.input_shape[1]) + self.filter_size,
                border_mode="valid", subsample=(1, 1), filter_flip=False,
                filter_dilation=self.dilation)

    names = {"conv_input_length": conv_input_length,
             "Deconv2DLayer": TransposedConv2DLayer,
             "Deconv3DLayer": TransposedConv3DLayer}
    _named(_TransposedConv, module)
    for cls in (BaseConvLayer, Conv3DLayer, TransposedConv2DLayer,
                TransposedConv3DLayer, DilatedConv2DLayer):
        names[cls.__name__] = _named(cls, module)
    return names


# -- pooling and upscaling ----------------------------------------------------

def _pool_layers(lasagne):
    """Lasagne 0.2's additions to ``lasagne.layers.pool``."""
    from lasagne.layers.base import Layer
    from lasagne.layers.pool import pool_output_length
    from theano.tensor.signal.pool import pool_2d
    module = "lasagne.layers.pool"

    class Pool1DLayer(Layer):
        """Pooling over the last axis of a 3-D input ``(batch, channels,
        length)``: windows of ``pool_size`` every ``stride`` (default:
        ``pool_size``) after ``pad`` on both sides; ``mode`` ``'max'``,
        ``'average_inc_pad'`` or ``'average_exc_pad'``;
        ``ignore_border=False`` keeps a last partial window."""

        def __init__(self, incoming, pool_size, stride=None, pad=0,
                     ignore_border=True, mode="max", **kwargs):
            super().__init__(incoming, **kwargs)
            if len(self.input_shape) != 3:
                raise ValueError("a 1D pooling layer needs 3-dimensional "
                                 "input, not %r" % (self.input_shape,))
            self.pool_size = _ints(pool_size, 1, "pool_size")
            self.stride = self.pool_size if stride is None else \
                _ints(stride, 1, "stride")
            self.pad = _ints(pad, 1, "pad")
            self.ignore_border = ignore_border
            self.mode = mode

        def get_output_shape_for(self, input_shape):
            return tuple(input_shape[:2]) + (pool_output_length(
                input_shape[2], self.pool_size[0], self.stride[0],
                self.pad[0], self.ignore_border),)

        def get_output_for(self, input, **kwargs):
            pooled = pool_2d(T.shape_padright(input, 1),
                             ws=(self.pool_size[0], 1),
                             stride=(self.stride[0], 1),
                             pad=(self.pad[0], 0),
                             ignore_border=self.ignore_border,
                             mode=self.mode)
            return pooled[:, :, :, 0]

    def upscale_class(n):
        class Upscale(Layer):
            """Upscaling of the %d spatial axes by integer
            ``scale_factor``: ``mode='repeat'`` repeats each value,
            ``'dilate'`` puts it first in its block and zeros after."""

            def __init__(self, incoming, scale_factor, mode="repeat",
                         **kwargs):
                super().__init__(incoming, **kwargs)
                self.scale_factor = _ints(scale_factor, n, "scale_factor")
                if any(f < 1 for f in self.scale_factor):
                    raise ValueError("Scale factor must be >= 1, not %r"
                                     % (self.scale_factor,))
                if mode not in ("repeat", "dilate"):
                    raise ValueError("Mode must be either 'repeat' or "
                                     "'dilate', not %r" % (mode,))
                self.mode = mode

            def get_output_shape_for(self, input_shape):
                shape = list(input_shape)
                for i, f in enumerate(self.scale_factor):
                    if shape[2 + i] is not None:
                        shape[2 + i] = shape[2 + i] * f
                return tuple(shape)

            def get_output_for(self, input, **kwargs):
                if all(f == 1 for f in self.scale_factor):
                    return input
                if self.mode == "repeat":
                    for i, f in enumerate(self.scale_factor):
                        if f > 1:
                            input = T.extra_ops.repeat(input, f, 2 + i)
                    return input
                shape = self.get_output_shape_for(
                    [input.shape[i] for i in range(input.ndim)])
                every = (slice(None),) * 2 + tuple(
                    slice(None, None, f) for f in self.scale_factor)
                return T.set_subtensor(
                    T.zeros(shape, dtype=input.dtype)[every], input)

        Upscale.__doc__ = Upscale.__doc__ % n
        return _named(Upscale, module, "Upscale%dDLayer" % n)

    def pyramid_bins(images, count, reduce):
        """``reduce`` over count x count bins of the two last axes, bin i
        spanning [floor(i h / count), ceil((i + 1) h / count)): a list of
        (batch, channels, 1) tensors, row by row."""
        rows, cols = images.shape[2], images.shape[3]
        out = []
        for i in range(count):
            for j in range(count):
                r0 = T.cast(T.floor(i * rows / count), "int64")
                r1 = T.cast(T.ceil((i + 1) * rows / count), "int64")
                c0 = T.cast(T.floor(j * cols / count), "int64")
                c1 = T.cast(T.ceil((j + 1) * cols / count), "int64")
                out.append(T.shape_padright(
                    reduce(images[:, :, r0:r1, c0:c1], axis=(2, 3)), 1))
        return out

    class SpatialPyramidPoolingLayer(Layer):
        """Spatial pyramid pooling (He et al., 2015): for each n of
        ``pool_dims``, the two spatial axes pooled into n x n bins, all
        flattened and concatenated: output ``(batch, channels, sum n^2)``
        whatever the input size. ``implementation='fast'`` pools with
        windows of ceil(size / n) every floor(size / n) (Theano's pooling;
        not every size gives n bins), ``'kaiming'`` with the paper's exact
        bins (bin i spans floor(i size / n) to ceil((i + 1) size / n))."""

        def __init__(self, incoming, pool_dims=(4, 2, 1), mode="max",
                     implementation="fast", **kwargs):
            super().__init__(incoming, **kwargs)
            if len(self.input_shape) != 4:
                raise ValueError("SpatialPyramidPoolingLayer needs "
                                 "4-dimensional input, not %r"
                                 % (self.input_shape,))
            if implementation not in ("fast", "kaiming"):
                raise ValueError("implementation must be 'fast' or "
                                 "'kaiming', not %r" % (implementation,))
            if mode not in ("max", "average_inc_pad", "average_exc_pad"):
                raise ValueError("Mode must be 'max', 'average_inc_pad' or "
                                 "'average_exc_pad', not %r" % (mode,))
            self.pool_dims = list(pool_dims)
            self.mode = mode
            self.implementation = implementation

        def get_output_shape_for(self, input_shape):
            return tuple(input_shape[:2]) + (
                sum(n * n for n in self.pool_dims),)

        def get_output_for(self, input, **kwargs):
            sizes = [input.shape[2 + i] if s is None else s
                     for i, s in enumerate(self.input_shape[2:])]
            parts = []
            for n in self.pool_dims:
                if self.implementation == "kaiming":
                    parts += pyramid_bins(
                        input, n, T.max if self.mode == "max" else T.mean)
                    continue
                window = [(s + n - 1) // n for s in sizes]
                stride = [s // n for s in sizes]
                if any(isinstance(s, theano.Variable) for s in sizes):
                    # symbolic sizes go to Theano's pooling as vectors
                    window, stride = (T.stack([T.cast(v, "int64")
                                               for v in values])
                                      for values in (window, stride))
                else:
                    window, stride = tuple(window), tuple(stride)
                parts.append(pool_2d(input, ws=window, stride=stride,
                                     pad=(0, 0), ignore_border=True,
                                     mode=self.mode).flatten(3))
            return T.concatenate(parts, axis=2)

    names = {}
    for cls in (_named(Pool1DLayer, module), upscale_class(1),
                upscale_class(2), upscale_class(3),
                _named(SpatialPyramidPoolingLayer, module)):
        names[cls.__name__] = cls
    return names


# -- options 0.2 added to Lasagne 0.1's classes -------------------------------

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


# -- putting the names in place -----------------------------------------------

def _publish(module, names):
    """Put ``names`` in ``module`` (and its ``__all__``, for ``import
    *``), leaving any name the module already has alone."""
    exported = getattr(module, "__all__", None)
    for name, obj in names.items():
        if hasattr(module, name):
            continue
        setattr(module, name, obj)
        if exported is not None and name not in exported:
            exported.append(name)


def _special_module(lasagne):
    """``lasagne.layers.special``, a module Lasagne 0.1 does not have."""
    name = "lasagne.layers.special"
    module = sys.modules.get(name)
    if module is None:
        module = types.ModuleType(name, "Lasagne 0.2's special layers, "
                                  "written for Lasagne 0.1 by "
                                  "lasagne_style.compat.lasagne02.")
        module.__all__ = []
        sys.modules[name] = module
        lasagne.layers.special = module
    return module


#: Set by :func:`apply`: the names it added, by module.
provided = {}


def apply():
    """Add Lasagne 0.2's names to the imported Lasagne 0.1 (idempotent)."""
    import lasagne
    import lasagne.layers
    if provided:
        return provided
    layers = lasagne.layers
    _extend_parameters(lasagne)
    added = {
        lasagne.utils: {"collect_shared_vars": collect_shared_vars,
                        "inspect_kwargs": inspect_kwargs,
                        "int_types": int_types},
        lasagne.nonlinearities: {"elu": elu, "SELU": SELU, "selu": selu,
                                 "ScaledTanH": ScaledTanH,
                                 "ScaledTanh": ScaledTanh,
                                 "softplus": softplus},
        lasagne.objectives: {
            "align_targets": align_targets,
            "categorical_accuracy": categorical_accuracy,
            "binary_accuracy": binary_accuracy,
            "binary_hinge_loss": binary_hinge_loss,
            "multiclass_hinge_loss": multiclass_hinge_loss,
            "huber_loss": huber_loss},
        lasagne.updates: {"adamax": adamax, "amsgrad": amsgrad},
    }
    special = _special_layers(lasagne)
    per_module = [
        (_special_module(lasagne), special),
        (layers.normalization, _normalization_layers(lasagne, special)),
        (layers.conv, _conv_layers(lasagne)),
        (layers.pool, _pool_layers(lasagne)),
        (layers.noise, _extend_dropout(lasagne)),
        (layers.merge, _extend_merge(lasagne)),
    ]
    _extend_conv1d(lasagne)
    _extend_dense(lasagne)
    _extend_recurrent(lasagne)
    for module, names in added.items():
        _publish(module, names)
    for module, names in per_module:
        _publish(module, names)
        # and in lasagne.layers, where 0.2 code mostly takes them from
        # (conv_input_length stays in conv, as conv_output_length does)
        _publish(layers, {k: v for k, v in names.items()
                          if k != "conv_input_length"})
    for module, names in added.items():
        provided[module.__name__] = sorted(names)
    for module, names in per_module:
        provided.setdefault(module.__name__, []).extend(sorted(names))
    return provided
