"""Lasagne 0.2's additions to ``lasagne.layers.conv``: ``BaseConvLayer``,
``conv_input_length``, ``TransposedConv2DLayer`` (alias
``Deconv2DLayer``), ``DilatedConv2DLayer``, ``Conv3DLayer``,
``TransposedConv3DLayer`` (alias ``Deconv3DLayer``)."""
import theano
import theano.tensor as T

from ._util import _ints, _named, int_types


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
