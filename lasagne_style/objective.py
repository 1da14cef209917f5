"""The style-transfer objective: loss configuration, presets, and the
compiled Theano functions that evaluate it.

``total = content_weight * L_c + style_weight * sum_l w_l E_l
+ tv_weight * L_tv`` (see :mod:`lasagne_style.losses`). Targets and weights
are Theano shared variables, so new images, sizes or weights never trigger a
recompilation: one :class:`Objective` is compiled per set of layers.
"""
import dataclasses
import math

import numpy as np

from . import statistics, vgg
from .errors import UserError
from .losses import as_matrix, content_loss, num_positions, total_variation

import lasagne  # noqa: E402
import theano  # noqa: E402
import theano.tensor as T  # noqa: E402

STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYERS = ("conv4_2",)


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Which layers and weights make up the objective.

    ``style_weight`` multiplies the sum of the per-layer style terms, each of
    which is first multiplied by its entry in ``style_layer_weights``
    (default 1 for every layer, as in the recipe).
    """
    content_weight: float
    style_weight: float
    tv_weight: float
    normalize: bool
    content_layers: tuple = CONTENT_LAYERS
    style_layers: tuple = STYLE_LAYERS
    style_layer_weights: tuple = None
    statistic: str = "gram"

    def __post_init__(self):
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)
                    and value >= 0):
                raise UserError("%s must be a finite number >= 0, got %r"
                                % (name.replace("_", " "), value))
        for layer in self.content_layers + self.style_layers:
            if layer not in vgg.CONV_LAYERS:
                raise UserError("unknown layer %r (choose from %s)"
                                % (layer, ", ".join(vgg.CONV_LAYERS)))
        if self.statistic != "disc":  # disc: see lasagne_style.disc
            statistics.get(self.statistic)  # raises for an unknown name
        if not self.style_layers:
            raise UserError("at least one style layer is needed")
        weights = self.style_layer_weights
        if weights is not None and len(weights) != len(self.style_layers):
            raise UserError("%d style layer weights given for %d style layers"
                            % (len(weights), len(self.style_layers)))

    @property
    def layer_weights(self):
        return self.style_layer_weights or (1.0,) * len(self.style_layers)

    @property
    def uses_content(self):
        return self.content_weight > 0 and bool(self.content_layers)

    @property
    def deepest_layer(self):
        used = self.style_layers + (self.content_layers
                                    if self.uses_content else ())
        return max(used, key=vgg.LAYERS.index)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


#: Named weight sets. ``recipe`` is the Lasagne Recipes notebook's, tuned for
#: 600x600 images. ``default`` uses size-normalized content and variation
#: terms with weights that reproduce the recipe's balance at 600x600
#: (content 0.001 * N M = 0.001 * 512 * 75 * 75 ~ 2.9e3, variation
#: 1e-8 * 600 * 600 = 3.6e-3), so it behaves the same at every size.
PRESETS = {
    "default": dict(content_weight=2.9e3, style_weight=0.2e6, tv_weight=3.6e-3,
                    normalize=True),
    "recipe": dict(content_weight=1e-3, style_weight=0.2e6, tv_weight=1e-8,
                   normalize=False),
}


def preset(name, **overrides):
    """A :class:`LossConfig` from a named preset, with ``None`` overrides
    ignored."""
    if name not in PRESETS:
        raise UserError("unknown preset %r (choose from %s)"
                        % (name, ", ".join(sorted(PRESETS))))
    settings = dict(PRESETS[name])
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return LossConfig(**settings)


def _shared(ndim, name):
    return theano.shared(np.zeros((1,) * ndim, np.float32), name=name)


class Objective:
    """Compiled loss-and-gradient of one :class:`LossConfig`'s layer set.

    Parameters
    ----------
    params : list of (W, b)
        VGG19 weights.
    config : LossConfig
        Layers and statistic are fixed at construction; weights can be
        changed later with :meth:`set_weights` at no compilation cost.
    convolution : {'winograd', 'corrmm'}
        CPU convolution algorithm of the network (:func:`vgg.build`).
    keep_buffers : bool
        Keep every intermediate array allocated between evaluations
        (Theano's ``allow_gc=False``): each evaluation then reuses the last
        one's memory instead of faulting in fresh pages. Faster (Winograd at
        512 px: 2.9 instead of 3.9 s per evaluation) but needs several times
        the memory (5.6 instead of 1.3 GB at 512 px).
    """

    def __init__(self, params, config, convolution="winograd",
                 keep_buffers=False):
        self.config = config
        self.statistic = statistics.get(config.statistic)
        self.content_layers = (config.content_layers if config.uses_content
                               else ())
        self.style_layers = config.style_layers
        x = T.tensor4("x")
        net = vgg.build(params, config.deepest_layer, input_var=x,
                        convolution=convolution)
        names = sorted(set(self.content_layers + self.style_layers),
                       key=vgg.LAYERS.index)
        features = dict(zip(names, lasagne.layers.get_output(
            [net[name] for name in names])))

        self._content_targets = [_shared(4, "P_" + n)
                                 for n in self.content_layers]
        self._style_targets = [[_shared(ndim, "t_" + n)
                                for ndim in self.statistic.component_ndims]
                               for n in self.style_layers]
        self._style_coefficients = [[_shared(0, "s_" + n) for _ in t]
                                    for n, t in zip(self.style_layers,
                                                    self._style_targets)]
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
            for c, t, s in zip(components, self._style_targets[i],
                               self._style_coefficients[i]):
                style += self._layer_weights[i] * s * T.sqr(c - t).sum()
        terms = [self._weights["content"] * content,
                 self._weights["style"] * style,
                 self._weights["tv"] * total_variation(x, normalize)]
        total = terms[0] + terms[1] + terms[2]
        self._loss_and_grad = theano.function(
            [x], [total] + terms + [T.grad(total, x)],
            mode=theano.compile.get_default_mode().clone(
                link_kwargs=dict(allow_gc=not keep_buffers)))
        self._describe = theano.function(
            [x], [features[n] for n in self.content_layers] + described)
        self.set_weights(config)

    def set_weights(self, config):
        """Use the weights of ``config`` (same layers as at construction)."""
        self._weights["content"].set_value(np.float32(config.content_weight))
        self._weights["style"].set_value(np.float32(config.style_weight))
        self._weights["tv"].set_value(np.float32(config.tv_weight))
        self._layer_weights.set_value(np.asarray(config.layer_weights,
                                                 np.float32))
        self.config = config

    def describe_style(self, image):
        """Per style layer: (target components, per-position Gram) of
        ``image``, independent of its size."""
        out = self._describe(image)[len(self.content_layers):]
        k = len(self.statistic.component_ndims) + 1
        return [(self.statistic.to_target(out[i:i + k - 1]), out[i + k - 1])
                for i in range(0, len(out), k)]

    def style_target(self, style_images, blend=None):
        """Blend-weighted average of the styles' statistics, per layer.

        Parameters
        ----------
        style_images : list of (1, 3, H, W) preprocessed arrays
        blend : list of float, optional
            Non-negative weights (normalized to sum to 1); equal by default.

        Returns
        -------
        list of (components, gram)
            Per style layer, the averaged components and the averaged
            per-position Gram matrix (which sets the layer's loss scale).
        """
        if blend is None:
            blend = [1.0] * len(style_images)
        blend = np.asarray(blend, np.float64)
        if (len(blend) != len(style_images) or not np.all(np.isfinite(blend))
                or np.any(blend < 0) or blend.sum() <= 0):
            raise UserError("need one non-negative blend weight per style "
                            "image, not all zero")
        blend = blend / blend.sum()
        target = None
        for w, image in zip(blend, style_images):
            layers = [([w * c for c in components], w * gram)
                      for components, gram in self.describe_style(image)]
            target = layers if target is None else [
                ([a + b for a, b in zip(ca, cb)], ga + gb)
                for (ca, ga), (cb, gb) in zip(target, layers)]
        return target

    def set_targets(self, shape, content_image=None, style_target=None):
        """Set the content features (of ``content_image``, which must have
        the generated image's ``shape``) and the style statistics (from
        :meth:`style_target`)."""
        if self.content_layers:
            if content_image is None or content_image.shape != shape:
                raise ValueError("a content image of shape %s is needed"
                                 % (shape,))
            for P, F in zip(self._content_targets,
                            self._describe(content_image)):
                P.set_value(F)
        for layer, shared, coefficients, (target, gram) in zip(
                self.style_layers, self._style_targets,
                self._style_coefficients, style_target):
            stride = vgg.receptive_stride(layer)
            components = self.statistic.from_target(
                target, (shape[2] // stride) * (shape[3] // stride))
            for t, value in zip(shared, components):
                t.set_value(np.asarray(value, np.float32))
            for s, value in zip(coefficients, statistics.layer_coefficients(
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
        total, content, style, tv, grad = self._loss_and_grad(
            np.asarray(x, np.float32))
        return float(total), {"content": float(content), "style": float(style),
                              "tv": float(tv)}, grad
