"""Fixes 8 and 9: Lasagne 0.1's convolution and cuDNN layers, on the CPU.

8. **``Conv2DLayer(..., flip_filters=...)``** with Lasagne 0.2's meaning:
   ``True`` (the default, Lasagne 0.1's behaviour) convolves, ``False``
   cross-correlates, which is what VGG's weights and the recipe expect.
   Lasagne 0.1 has no such argument, and deleting it from the recipe
   silently computes another network (measured: conv1_1 off by 1.28
   relative L2). The deprecated ``image_shape`` keyword is passed to Theano
   as ``input_shape``; the layer pickles, as old code's networks were.
9. **``lasagne.layers.dnn`` on the CPU.** Lasagne 0.1's cuDNN layers need
   Theano's old CUDA backend, which Theano 1.0 removed (importing it raises
   ``ImportError``, or ``SkipTest`` when ``nose`` is installed). When the
   real module cannot be imported, ``Conv2DDNNLayer``, ``Pool2DDNNLayer`` and
   ``MaxPool2DDNNLayer`` are CPU layers with the same signatures and
   semantics (``Conv2DDNNLayer`` cross-correlates unless
   ``flip_filters=True``); importing the module says so once on stderr
   (:mod:`.gpu` builds the module from :func:`_stand_in_layers`). Our own
   VGG builds its CorrMM layers from the same classes.

The classes exist once Lasagne is imported (:func:`install`, called by the
import hook; Lasagne is imported only then). They are named, shown and
pickled as ``lasagne_style.compat.<name>``, where they lived before this
module existed, so networks pickled then and now load alike.
"""

#: The module the classes below are pickled and shown under.
PUBLIC_MODULE = __name__.rpartition(".")[0]

# Lasagne layer classes of fixes 8 and 9, set by install()
Conv2DLayer = Conv2DDNNLayer = Pool2DDNNLayer = MaxPool2DDNNLayer = None


class TheanoConv2D:
    """A Lasagne 0.1 ``convolution`` function: Theano's ``conv2d`` with
    ``filter_flip=flip_filters`` (False: cross-correlation, what VGG's
    filters are). Lasagne pads explicitly and then asks for a valid
    convolution; its deprecated ``image_shape`` becomes ``input_shape``.
    A class rather than a closure so that layers holding it pickle (old
    code pickles whole networks)."""

    def __init__(self, flip_filters):
        self.flip_filters = flip_filters
        self.__name__ = "conv2d" if flip_filters else "cross_correlation"

    def __call__(self, input, filters, subsample=(1, 1), image_shape=None,
                 filter_shape=None, border_mode="valid", **unused):
        import theano.tensor as T
        return T.nnet.conv2d(input, filters, input_shape=image_shape,
                             filter_shape=filter_shape,
                             border_mode=border_mode, subsample=subsample,
                             filter_flip=self.flip_filters)


TheanoConv2D.__module__ = PUBLIC_MODULE


def theano_conv2d(flip_filters):
    """The ``convolution`` of :class:`TheanoConv2D` for ``flip_filters``."""
    return TheanoConv2D(flip_filters)


def _define_layers():
    """The layer classes of fixes 8 and 9, on top of Lasagne 0.1's."""
    from lasagne import init, nonlinearities
    from lasagne.layers import conv, pool

    class FlipConv2DLayer(conv.Conv2DLayer):
        """Lasagne 0.1's ``Conv2DLayer`` plus Lasagne 0.2's ``flip_filters``
        (True: convolution, Lasagne 0.1's only behaviour; False:
        cross-correlation). It chooses Theano's ``conv2d`` filter flip; a
        ``convolution`` function given explicitly decides for itself."""

        def __init__(self, incoming, num_filters, filter_size, *args,
                     flip_filters=True, convolution=None, **kwargs):
            self.flip_filters = flip_filters
            super().__init__(incoming, num_filters, filter_size, *args,
                             convolution=convolution or theano_conv2d(
                                 flip_filters), **kwargs)

    class CPUConv2DDNNLayer(FlipConv2DLayer):
        """``lasagne.layers.dnn.Conv2DDNNLayer`` on the CPU (Theano's CorrMM):
        same arguments; cross-correlation unless ``flip_filters=True``, as
        in Lasagne 0.1's cuDNN layer."""

        def __init__(self, incoming, num_filters, filter_size, stride=(1, 1),
                     pad=0, untie_biases=False, W=init.GlorotUniform(),
                     b=init.Constant(0.), nonlinearity=nonlinearities.rectify,
                     flip_filters=False, **kwargs):
            super().__init__(incoming, num_filters, filter_size, stride, pad,
                             untie_biases, W, b, nonlinearity,
                             flip_filters=flip_filters, **kwargs)

    class CPUPool2DDNNLayer(pool.Pool2DLayer):
        """``lasagne.layers.dnn.Pool2DDNNLayer`` on the CPU: same arguments
        (``ignore_border`` must stay True, as for cuDNN)."""

        def __init__(self, incoming, pool_size, stride=None, pad=(0, 0),
                     ignore_border=True, mode="max", **kwargs):
            if not ignore_border:
                raise NotImplementedError("Pool2DDNNLayer does not support "
                                          "ignore_border=False")
            super().__init__(incoming, pool_size, stride, pad, True, mode,
                             **kwargs)

    class CPUMaxPool2DDNNLayer(CPUPool2DDNNLayer):
        """``lasagne.layers.dnn.MaxPool2DDNNLayer`` on the CPU."""

        def __init__(self, incoming, pool_size, stride=None, pad=(0, 0),
                     ignore_border=True, **kwargs):
            super().__init__(incoming, pool_size, stride, pad, ignore_border,
                             mode="max", **kwargs)

    # the names users see in reprs and error messages, and pickles record
    for cls, name in ((FlipConv2DLayer, "Conv2DLayer"),
                      (CPUConv2DDNNLayer, "Conv2DDNNLayer"),
                      (CPUPool2DDNNLayer, "Pool2DDNNLayer"),
                      (CPUMaxPool2DDNNLayer, "MaxPool2DDNNLayer")):
        cls.__name__ = cls.__qualname__ = name
        cls.__module__ = PUBLIC_MODULE
    return (FlipConv2DLayer, CPUConv2DDNNLayer, CPUPool2DDNNLayer,
            CPUMaxPool2DDNNLayer)


def install():
    """Define the classes on the imported Lasagne and make
    ``lasagne.layers.Conv2DLayer`` take ``flip_filters`` (fix 8); returns
    ``Conv2DLayer, Conv2DDNNLayer, Pool2DDNNLayer, MaxPool2DDNNLayer``."""
    global Conv2DLayer, Conv2DDNNLayer, Pool2DDNNLayer, MaxPool2DDNNLayer
    import lasagne.layers
    (Conv2DLayer, Conv2DDNNLayer, Pool2DDNNLayer,
     MaxPool2DDNNLayer) = _define_layers()
    # Not in lasagne.layers.conv: Lasagne's own __init__ looks its class up
    # there (``super(Conv2DLayer, self)``).
    lasagne.layers.Conv2DLayer = Conv2DLayer
    return Conv2DLayer, Conv2DDNNLayer, Pool2DDNNLayer, MaxPool2DDNNLayer


def _stand_in_layers():
    """The CPU layers standing in for cuDNN's (fix 9), for :mod:`.gpu`."""
    return Conv2DDNNLayer, Pool2DDNNLayer, MaxPool2DDNNLayer
