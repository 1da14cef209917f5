"""Lasagne 0.2's additions to ``lasagne.layers.pool``: ``Pool1DLayer``,
``Upscale1DLayer``, ``Upscale2DLayer``, ``Upscale3DLayer`` and
``SpatialPyramidPoolingLayer``."""
import theano
import theano.tensor as T

from ._util import _ints, _named


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
