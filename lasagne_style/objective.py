"""The style-transfer objective: the compiled Theano functions that evaluate
a :class:`lasagne_style.config.LossConfig` (its weights and presets live in
:mod:`lasagne_style.config`).

``total = content_weight * L_c + style_weight * sum_l w_l E_l
+ tv_weight * L_tv`` (see :mod:`lasagne_style.losses`). Targets and weights
are Theano shared variables, so new images, sizes or weights never trigger a
recompilation: one :class:`Objective` is compiled per set of layers.

A tileable objective (``config.tileable``) uses the circularly padded
network (:func:`lasagne_style.vgg.build`) and the wrap-around variation
term. With ``config.regions`` masks, each style layer compares one weighted
statistic per region with its own style's (see :mod:`.statistics`); the
masks are shared variables set with the targets, so only their number is
fixed at compile time.
"""
import contextlib
import os

import numpy as np

from . import statistics, threads, vgg
from .compat.compiling import remembered_modules
from .ops.winograd import filters_in_background
from .config import blend_weights
from .losses import as_matrix, content_loss, num_positions, total_variation

import lasagne  # noqa: E402
import theano  # noqa: E402
import theano.tensor as T  # noqa: E402

_compiled = {}


def compiled(config, params, params_key=None, convolution="winograd",
             keep_buffers=False, announce=contextlib.nullcontext):
    """A compiled :class:`Objective` for ``config``, reused within the
    process for the same layers, statistic, convolution and weights file
    ``params_key`` (only its loss weights are updated: no recompilation for
    new images, sizes or weights). Building a new one happens inside the
    context manager ``announce()`` (progress output)."""
    key = (os.path.abspath(params_key) if params_key else None,
           config.normalize,
           config.content_layers if config.uses_content else (),
           config.style_layers, config.statistic, convolution, keep_buffers,
           config.tileable, config.regions)
    if key not in _compiled:
        with announce():
            _compiled[key] = Objective(params, config, convolution,
                                       keep_buffers)
    objective = _compiled[key]
    objective.set_weights(config)
    return objective


def _shared(ndim, name):
    return theano.shared(np.zeros((1,) * ndim, np.float32), name=name)


class Objective:
    """Compiled loss-and-gradient of one :class:`LossConfig`'s layer set.

    Parameters
    ----------
    params : list of (W, b)
        VGG19 weights.
    config : lasagne_style.config.LossConfig
        Layers and statistic are fixed at construction; weights can be
        changed later with :meth:`set_weights` at no compilation cost.
    convolution : {'winograd', 'corrmm'}
        CPU convolution algorithm of the network (:func:`vgg.build`).
    keep_buffers : bool
        Keep every intermediate array allocated between evaluations
        (Theano's ``allow_gc=False``): each evaluation then reuses the last
        one's memory instead of faulting in fresh pages: faster, but needs
        more memory (measurements: docs/performance.md). Describing a style
        image keeps its forward pass's arrays at the style's size too.
    """

    def __init__(self, params, config, convolution="winograd",
                 keep_buffers=False):
        threads.blas_on_one_thread()  # the same bytes on any thread count
        self.config = config
        self.statistic = statistics.get(config.statistic)
        self.content_layers = (config.content_layers if config.uses_content
                               else ())
        self.style_layers = config.style_layers
        self.regions = config.regions
        # the filter transforms run on a worker thread meanwhile; the C
        # modules used are remembered for the next process's warm start
        with filters_in_background(), remembered_modules():
            outputs = self._compile(params, config, convolution,
                                    keep_buffers)
        first, self._subsets = 0, {}
        for name, values in outputs.items():
            self._subsets[name] = list(range(first, first + len(values)))
            first += len(values)
        self._describe_weighted = None
        self.set_weights(config)

    def _compile(self, params, config, convolution, keep_buffers):
        """Build the network and the loss graph; compile the function;
        returns its outputs by subset name."""
        x = self._x = T.tensor4("x")
        net = vgg.build(params, config.deepest_layer, input_var=x,
                        convolution=convolution, tileable=config.tileable)
        names = sorted(set(self.content_layers + self.style_layers),
                       key=vgg.LAYERS.index)
        features = dict(zip(names, lasagne.layers.get_output(
            [net[name] for name in names])))

        self._content_targets = [_shared(4, "P_" + n)
                                 for n in self.content_layers]
        # [layer][region][component]; one region (index 0) without masks
        self._style_targets = [[[_shared(ndim, "t_" + n)
                                 for ndim in self.statistic.component_ndims]
                                for _ in range(max(self.regions, 1))]
                               for n in self.style_layers]
        self._style_coefficients = [[[_shared(0, "s_" + n) for _ in t]
                                     for t in regions]
                                    for n, regions in zip(
                                        self.style_layers,
                                        self._style_targets)]
        # per style layer, the masks at its size: (regions, positions)
        self._masks = [_shared(2, "m_" + n) for n in self.style_layers]
        self._features = features
        self._weights = {name: _shared(0, name)
                         for name in ("content", "style", "tv")}
        self._layer_weights = theano.shared(np.ones(len(self.style_layers),
                                                    np.float32))

        normalize = config.normalize
        content = sum((content_loss(features[n], P, normalize)
                       for n, P in zip(self.content_layers,
                                       self._content_targets)),
                      T.constant(np.float32(0)))
        style, described = T.constant(np.float32(0)), []
        for i, n in enumerate(self.style_layers):
            F, M = as_matrix(features[n]), num_positions(features[n])
            components = self.statistic.components(F, M, n)
            described += components + [statistics.gram(F, M)]
            for r in range(self.regions):
                m = self._masks[i][r]
                W = m.sum()
                # an area that vanishes at a deep layer has weight W / M = 0
                region = self.statistic.weighted_components(
                    F, m, T.maximum(W, np.float32(1e-6)), n)
                for c, t, s in zip(region, self._style_targets[i][r],
                                   self._style_coefficients[i][r]):
                    style += (self._layer_weights[i] * (W / M) * s
                              * T.sqr(c - t).sum())
            if not self.regions:
                for c, t, s in zip(components, self._style_targets[i][0],
                                   self._style_coefficients[i][0]):
                    style += self._layer_weights[i] * s * T.sqr(c - t).sum()
        terms = [self._weights["content"] * content,
                 self._weights["style"] * style,
                 self._weights["tv"] * total_variation(
                     x, normalize, wrap=config.tileable)]
        total = terms[0] + terms[1] + terms[2]
        outputs = {"loss": [total] + terms + [T.grad(total, x)],
                   "content": [features[n] for n in self.content_layers],
                   "style": described}
        # One function; each call computes one subset of its outputs (which
        # needs Theano's default 'cvm' linker). Two functions (loss,
        # descriptions) optimised and linked the forward pass twice, which
        # made a warm start slower (measurements: docs/performance.md).
        self._function = theano.function(
            [x], sum(outputs.values(), []),
            mode=theano.compile.get_default_mode().clone(
                link_kwargs=dict(allow_gc=not keep_buffers)))
        return outputs

    def set_weights(self, config):
        """Use the weights of ``config`` (same layers as at construction)."""
        self._weights["content"].set_value(np.float32(config.content_weight))
        self._weights["style"].set_value(np.float32(config.style_weight))
        self._weights["tv"].set_value(np.float32(config.tv_weight))
        self._layer_weights.set_value(np.asarray(config.layer_weights,
                                                 np.float32))
        self.config = config

    def _compute(self, subset, image):
        """The outputs named ``subset`` ('loss', 'content' or 'style') at
        ``image`` (1, 3, H, W); nothing else is computed."""
        return self._function(np.asarray(image, np.float32),
                              output_subset=self._subsets[subset])

    def _weighted_describer(self):
        """Compiled on first use: image and one mask vector per style layer
        -> the weighted components and weighted Gram of each layer."""
        if self._describe_weighted is None:
            masks = [T.vector("w_" + n) for n in self.style_layers]
            out = []
            for n, m in zip(self.style_layers, masks):
                F = as_matrix(self._features[n])
                W = T.maximum(m.sum(), np.float32(1e-6))
                out += (self.statistic.weighted_components(F, m, W, n)
                        + [statistics.weighted_gram(F, m, W)])
            self._describe_weighted = theano.function([self._x] + masks, out)
        return self._describe_weighted

    def describe_style(self, image, mask=None):
        """Per style layer: (target components, per-position Gram) of
        ``image``, independent of its size; with ``mask`` (H, W) in 0..1,
        of the positions weighted by it (see :mod:`.statistics`)."""
        if mask is None:
            out = self._compute("style", image)
        else:
            out = self._weighted_describer()(image, *[
                statistics.mask_at(mask, n).ravel()
                for n in self.style_layers])
        k = len(self.statistic.component_ndims) + 1
        return [(self.statistic.to_target(out[i:i + k - 1]), out[i + k - 1])
                for i in range(0, len(out), k)]

    def style_target(self, style_images, blend=None, style_masks=None):
        """Blend-weighted average of the styles' statistics, per layer.

        Parameters
        ----------
        style_images : list of (1, 3, H, W) preprocessed arrays
        blend : list of float, optional
            Non-negative weights, normalized to sum to 1
            (:func:`lasagne_style.config.blend_weights`); equal by default.
            Not used with masks: each region has its own style.
        style_masks : list of (H, W) arrays in 0..1 or None, optional
            With masks only: the region of each style image to describe.

        Returns
        -------
        list of (components, gram)
            Per style layer, the averaged components and the averaged
            per-position Gram matrix (which sets the layer's loss scale).
            With masks, one such list per region (style).
        """
        if self.regions:
            if len(style_images) != self.regions:
                raise ValueError("%d style images for %d regions"
                                 % (len(style_images), self.regions))
            style_masks = style_masks or [None] * len(style_images)
            return [self.describe_style(image, mask)
                    for image, mask in zip(style_images, style_masks)]
        blend = blend_weights(blend, len(style_images))
        target = None
        for w, image in zip(blend, style_images):
            layers = [([w * c for c in components], w * gram)
                      for components, gram in self.describe_style(image)]
            target = layers if target is None else [
                ([a + b for a, b in zip(ca, cb)], ga + gb)
                for (ca, ga), (cb, gb) in zip(target, layers)]
        return target

    def set_targets(self, shape, content_image=None, style_target=None,
                    masks=None):
        """Set the content features (of ``content_image``, which must have
        the generated image's ``shape``) and the style statistics (from
        :meth:`style_target`); with regions, the ``masks`` (regions, H, W)
        in 0..1 at the generated image's size."""
        if self.content_layers:
            if content_image is None or content_image.shape != shape:
                raise ValueError("a content image of shape %s is needed"
                                 % (shape,))
            for P, F in zip(self._content_targets,
                            self._compute("content", content_image)):
                P.set_value(F)
        if self.regions:
            if masks is None or len(masks) != self.regions or any(
                    np.shape(m) != tuple(shape[2:]) for m in masks):
                raise ValueError("%d masks of size %s are needed"
                                 % (self.regions, shape[2:]))
            per_layer = list(zip(*style_target))  # [layer][region]
        else:
            per_layer = [[layer] for layer in style_target]
        for i, layer in enumerate(self.style_layers):
            stride = vgg.receptive_stride(layer)
            positions = (shape[2] // stride) * (shape[3] // stride)
            if self.regions:
                self._masks[i].set_value(np.stack(
                    [statistics.mask_at(m, layer).ravel() for m in masks]))
            for shared, coefficients, (target, gram) in zip(
                    self._style_targets[i], self._style_coefficients[i],
                    per_layer[i]):
                components = self.statistic.from_target(target, positions)
                for t, value in zip(shared, components):
                    t.set_value(np.asarray(value, np.float32))
                for s, value in zip(coefficients,
                                    statistics.layer_coefficients(
                                        components, gram)):
                    s.set_value(np.float32(value))

    def __call__(self, x):
        """Loss terms and gradient at image ``x`` (1, 3, H, W).

        Returns
        -------
        total : float
        terms : dict
            Weighted ``content``, ``style`` and ``tv`` terms (sum = total).
        grad : ndarray, float32, shape of ``x``
        """
        total, content, style, tv, grad = self._compute("loss", x)
        return float(total), {"content": float(content), "style": float(style),
                              "tv": float(tv)}, grad
