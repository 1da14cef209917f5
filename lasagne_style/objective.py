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

from . import vgg
from .errors import UserError
from .losses import content_loss, gram, gram_loss, total_variation

import lasagne  # noqa: E402  (vgg applied the compatibility fixes)
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
        Layers are fixed at construction; weights can be changed later with
        :meth:`set_weights` at no compilation cost.
    """

    def __init__(self, params, config):
        self.config = config
        self.content_layers = (config.content_layers if config.uses_content
                               else ())
        self.style_layers = config.style_layers
        x = T.tensor4("x")
        net = vgg.build(params, config.deepest_layer, input_var=x)
        names = sorted(set(self.content_layers + self.style_layers),
                       key=vgg.LAYERS.index)
        features = dict(zip(names, lasagne.layers.get_output(
            [net[name] for name in names])))

        self._content_targets = [_shared(4, "P_" + n)
                                 for n in self.content_layers]
        self._style_targets = [_shared(2, "A_" + n) for n in self.style_layers]
        self._weights = {name: theano.shared(np.float32(0), name=name)
                         for name in ("content", "style", "tv")}
        self._layer_weights = theano.shared(np.ones(len(self.style_layers),
                                                    np.float32))

        normalize = config.normalize
        content = sum((content_loss(features[n], P, normalize)
                       for n, P in zip(self.content_layers,
                                       self._content_targets)),
                      T.constant(np.float32(0)))
        style = sum(self._layer_weights[i] * gram_loss(features[n], A)
                    for i, (n, A) in enumerate(zip(self.style_layers,
                                                   self._style_targets)))
        terms = [self._weights["content"] * content,
                 self._weights["style"] * style,
                 self._weights["tv"] * total_variation(x, normalize)]
        total = terms[0] + terms[1] + terms[2]
        self._loss_and_grad = theano.function(
            [x], [total] + terms + [T.grad(total, x)])
        self._represent = theano.function(
            [x], [features[n] for n in self.content_layers]
            + [gram(features[n]) for n in self.style_layers])
        self.set_weights(config)

    def set_weights(self, config):
        """Use the weights of ``config`` (same layers as at construction)."""
        self._weights["content"].set_value(np.float32(config.content_weight))
        self._weights["style"].set_value(np.float32(config.style_weight))
        self._weights["tv"].set_value(np.float32(config.tv_weight))
        self._layer_weights.set_value(np.asarray(config.layer_weights,
                                                 np.float32))
        self.config = config

    def style_target(self, style_images, blend=None):
        """Blend-weighted average of the styles' Gram matrices, per layer.

        Parameters
        ----------
        style_images : list of (1, 3, H, W) preprocessed arrays
        blend : list of float, optional
            Non-negative weights (normalized to sum to 1); equal by default.
        """
        if blend is None:
            blend = [1.0] * len(style_images)
        blend = np.asarray(blend, np.float64)
        if (len(blend) != len(style_images) or not np.all(np.isfinite(blend))
                or np.any(blend < 0) or blend.sum() <= 0):
            raise UserError("need one non-negative blend weight per style "
                            "image, not all zero")
        blend = blend / blend.sum()
        grams = None
        n_content = len(self.content_layers)
        for w, image in zip(blend, style_images):
            layer_grams = self._represent(image)[n_content:]
            # Grams grow with the number of positions M: average G / M, then
            # scale back to the generated image's M when the target is set.
            per_position = [w * G / _positions(image, n)
                            for G, n in zip(layer_grams, self.style_layers)]
            grams = per_position if grams is None else [
                a + b for a, b in zip(grams, per_position)]
        return grams

    def set_targets(self, shape, content_image=None, style_grams=None):
        """Set the targets for generated images of ``shape`` (1, 3, H, W).

        ``style_grams`` are per-position Grams from :meth:`style_target`;
        they are scaled by the number of positions of the generated image so
        that a style image of another size gives the same statistics.
        """
        if self.content_layers:
            if content_image is None or content_image.shape != shape:
                raise ValueError("a content image of shape %s is needed"
                                 % (shape,))
            for P, F in zip(self._content_targets,
                            self._represent(content_image)):
                P.set_value(F)
        for A, G, n in zip(self._style_targets, style_grams,
                           self.style_layers):
            A.set_value(np.asarray(G * _positions(shape, n), np.float32))

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


def _positions(image_or_shape, layer):
    """Number of positions M of ``layer`` for an input image or its shape."""
    shape = getattr(image_or_shape, "shape", image_or_shape)
    h, w = shape[2], shape[3]
    for name in vgg.LAYERS[:vgg.LAYERS.index(layer)]:
        if name.startswith("pool"):
            h, w = h // 2, w // 2
    return float(h * w)
