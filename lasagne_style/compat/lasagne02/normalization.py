"""Lasagne 0.2's additions to ``lasagne.layers.normalization``:
``BatchNormLayer``/``batch_norm``, ``StandardizationLayer``,
``instance_norm`` and ``layer_norm`` (the last two with :mod:`.special`'s
``ScaleLayer`` and ``BiasLayer``)."""
import theano
import theano.tensor as T

from ._util import (_broadcast_pattern, _named, _param_shape,
                    _steal_nonlinearity, int_types)


def _suffix(name, suffix):
    return name and name + suffix


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
