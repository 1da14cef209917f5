"""What a run may ask for, without Theano: the names of every choice, the
loss configuration and its presets, the adversarial loop's options, and one
validator per kind of value.

The CLI checks its arguments against these names before it pays for
Theano's start-up, and the API uses the same validators, so a mistake gets
the same one-line message from both, e.g. ``unknown statistic 'x' (choose
from gram, mean, meancov, sliced, disc)``.
"""
import dataclasses
import difflib
import math
import numbers
from typing import Optional

from .errors import UserError

#: VGG19's convolutional blocks: (channels, conv layers), each block followed
#: by a 2x2 pooling layer.
VGG_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))
#: Layer names in network order (pool layers after each block).
LAYERS = tuple(name for block, (_, count) in enumerate(VGG_BLOCKS, 1)
               for name in ["conv%d_%d" % (block, i)
                            for i in range(1, count + 1)]
               + ["pool%d" % block])
CONV_LAYERS = tuple(name for name in LAYERS if name.startswith("conv"))
#: Channels of each layer (64 ... 512): a pooling layer has its block's.
LAYER_CHANNELS = {name: VGG_BLOCKS[int(name[4]) - 1][0] for name in LAYERS}

STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYERS = ("conv4_2",)
#: Default style layers of the adversarial loss. Deeper layers have more
#: channels than positions at small sizes (conv5_1 at 256 px: 512 channels,
#: 256 positions), so a discriminator separates real from fake perfectly
#: whatever the image and its gradient carries no texture information: with
#: conv4_1 and conv5_1 included a 96 px texture stayed noise (measured: Gram
#: distance 3.9e5 vs 1.8e4 without).
ADVERSARIAL_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1")

#: Style statistics matched by L-BFGS-B (see :mod:`.statistics`), and the
#: ``--stat`` value that selects the adversarial optimiser instead.
STATISTICS = ("gram", "mean", "meancov", "sliced")
#: The statistics that can be weighted by spatial masks (``--masks``): those
#: that are averages over positions (Gatys et al. 2017's guided Gram
#: matrices, and the weighted mean and covariance). Sorted projections
#: (``sliced``) have no weighted form of the same cost.
MASKED_STATISTICS = ("gram", "mean", "meancov")
ADVERSARIAL = "disc"
CONVOLUTIONS = ("winograd", "corrmm")
DISC_KINDS = ("logreg", "quadratic", "mlp")
DISC_LOSSES = ("swap", "confusion")
COLOUR_MODES = ("luminance", "histogram")
INITS = ("noise", "content")

#: Named weight sets. ``recipe`` is the Lasagne Recipes notebook's, tuned for
#: 600x600 images. ``default`` uses size-normalized content and variation
#: terms with weights that reproduce the recipe's balance at 600x600
#: (content 0.001 * N M = 0.001 * 512 * 75 * 75 ~ 2.9e3, variation
#: 1e-8 * 600 * 600 = 3.6e-3), so it behaves the same at every size.
#:
#: The papers' presets (docs/textures.md gives their sources and where ours
#: differ): ``gatys2015`` is the texture model of Gatys, Ecker & Bethge
#: (2015), *Texture Synthesis Using Convolutional Neural Networks*: Gram
#: matrices of conv1_1, pool1, pool2, pool3 and pool4, each layer's
#: ``E_l = 1/(4 N^2 M^2) sum (G - A)^2`` weighted by w_l = 1e9 (the
#: authors' code), no other term. ``gatys2016`` is the transfer of Gatys,
#: Ecker & Bethge (2016), *Image Style Transfer Using Convolutional Neural
#: Networks*: content conv4_2 with ``1/2 sum (F - P)^2`` weighted by alpha,
#: style conv1_1 ... conv5_1 with w_l = 1/5 each, weighted by beta, alpha /
#: beta = 1e-3, no variation term, from white noise.
PRESETS = {
    "default": dict(content_weight=2.9e3, style_weight=0.2e6, tv_weight=3.6e-3,
                    normalize=True),
    "recipe": dict(content_weight=1e-3, style_weight=0.2e6, tv_weight=1e-8,
                   normalize=False),
    "gatys2015": dict(content_weight=0.0, style_weight=1.0, tv_weight=0.0,
                      normalize=False,
                      style_layers=("conv1_1", "pool1", "pool2", "pool3",
                                    "pool4"),
                      style_layer_weights=(1e9,) * 5),
    "gatys2016": dict(content_weight=1.0, style_weight=1e3, tv_weight=0.0,
                      normalize=False, content_layers=("conv4_2",),
                      style_layers=STYLE_LAYERS,
                      style_layer_weights=(1.0 / 5,) * 5),
}
#: The presets that reproduce a paper's setup (their textures keep the
#: papers' style scale, 1, rather than the texture default).
PAPER_PRESETS = ("gatys2015", "gatys2016")
#: Presets without a content term: textures only.
TEXTURE_PRESETS = ("gatys2015",)
#: Start image of each preset when none is given: the recipe and the papers
#: start from noise; from the content image our default converges in fewer
#: steps.
DEFAULT_INIT = {"default": "content", "recipe": "noise", "gatys2015": "noise",
                "gatys2016": "noise"}


def choice(kind, value, allowed):
    """``value`` if it is one of ``allowed``, else UserError (with the
    closest allowed value when there is one)."""
    if not isinstance(value, str) or value not in allowed:
        close = difflib.get_close_matches(str(value), list(allowed), n=1)
        raise UserError("unknown %s %r (choose from %s)%s"
                        % (kind, value, ", ".join(allowed),
                           "; did you mean %r?" % close[0] if close else ""))
    return value


def positive_int(name, value):
    """``value`` as an int > 0 (numpy integers too, not bools)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or value <= 0:
        raise UserError("%s must be a positive integer, got %r"
                        % (name, value))
    return int(value)


def evaluation_budget(value, levels):
    """``iters`` checked: a positive int (the budget of every level), or a
    list or tuple of them, one per level of a ``levels``-level run, coarsest
    first (returned as a tuple)."""
    if isinstance(value, (list, tuple)):
        if len(value) != levels:
            raise UserError("iters: %d numbers for %d level%s; give one, or "
                            "one per --multiscale level"
                            % (len(value), levels, "s" * (levels > 1)))
        return tuple(positive_int("iters", v) for v in value)
    return positive_int("iters", value)


def number(name, value, positive=False):
    """``value`` as a finite float >= 0 (> 0 if ``positive``); numpy
    numbers are accepted, bools and strings are not."""
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real)
          and math.isfinite(value) and (value > 0 if positive else value >= 0))
    if not ok:
        raise UserError("%s must be a finite number %s 0, got %r"
                        % (name, ">" if positive else ">=", value))
    return float(value)


def seed(value):
    """A seed in [0, 2**32)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or not 0 <= value < 2 ** 32:
        raise UserError("seed must be an integer in [0, 2**32), got %r"
                        % (value,))
    return int(value)


def layer_names(value, what="style layers"):
    """A tuple of layer names from ``"a,b"`` or a list/tuple: conv layers
    (their ReLU output) or pooling layers ``pool1`` ... ``pool5`` (2x2
    averages of the block's last conv layer, as Gatys et al. 2015 used for
    textures)."""
    if isinstance(value, str):
        value = [name.strip() for name in value.split(",") if name.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise UserError("no %s given (e.g. conv1_1,conv2_1)" % what)
    for name in value:
        if isinstance(name, str) and name.startswith("relu") \
                and "conv" + name[4:] in CONV_LAYERS:
            raise UserError("layer %r: layers are named after their "
                            "convolution here, and %r is its ReLU output "
                            "(as in the recipe): use %r"
                            % (name, "conv" + name[4:], "conv" + name[4:]))
        choice("layer", name, LAYERS)
    return tuple(value)


def blend_weights(blend, count):
    """Blend weights of ``count`` styles, normalized to sum to 1 (equal when
    ``blend`` is None)."""
    if blend is None:
        return (1.0 / count,) * count
    blend = [number("a blend weight", w) for w in blend]
    if len(blend) != count or sum(blend) <= 0:
        raise UserError("need one non-negative blend weight per style image "
                        "(%d given for %d), not all zero"
                        % (len(blend), count))
    return tuple(w / sum(blend) for w in blend)


def receptive_stride(layer):
    """How many input pixels one position of ``layer`` spans: 2**k for the
    k pooling layers up to ``layer`` (a pooling layer counts itself: pool1
    has stride 2, like conv2_1)."""
    return 2 ** sum(1 for name in LAYERS[:LAYERS.index(layer) + 1]
                    if name.startswith("pool"))


def layer_shape(layer, shape):
    """(H, W) of ``layer``'s maps for an input of ``shape`` (H, W): each
    2x2 pooling layer up to it halves each side, rounding down."""
    h, w = shape[:2]
    for _ in range(receptive_stride(layer).bit_length() - 1):
        h, w = h // 2, w // 2
    return h, w


def positions(layer, shape):
    """Number of positions (M) of ``layer`` for an input of ``shape``."""
    h, w = layer_shape(layer, shape)
    return h * w


def starved_layers(layers, shape):
    """The layers of ``layers`` that have fewer positions than channels for
    an image of ``shape`` (H, W). Matching such a layer's Gram matrix (rank
    at most M < N) pins its features down to a rearrangement of the
    exemplar's, which copies the exemplar (docs/textures.md)."""
    return tuple(name for name in layers
                 if positions(name, shape) < LAYER_CHANNELS[name])


def _fit(shape, longest):
    # lasagne_style.images.fit_size (same rounding), without Pillow
    h, w = shape[:2]
    scale = float(longest) / max(h, w)
    return max(1, int(round(h * scale))), max(1, int(round(w * scale)))


def faithful_side(layers, shape):
    """The smallest longer side at which an image with the aspect ratio of
    ``shape`` (H, W) has at least as many positions as channels at every
    layer of ``layers`` (for conv1_1..conv5_1 and a square image: 368)."""
    longest = max(receptive_stride(name) for name in layers)
    while starved_layers(layers, _fit(shape, longest)):
        longest += 1
    return longest


def texture_style_scale(layers, style_shapes, shape):
    """The default style scale of a texture (docs/textures.md): 1, or
    larger where that keeps every style image at a size at which every
    style layer has at least as many positions as channels, so that the
    layers' statistics describe the exemplar without pinning its layout:
    the largest ``faithful_side / max(shape)`` over the styles."""
    side = max(faithful_side(layers, s) for s in style_shapes)
    return max(1.0, side / float(max(shape[:2])))


def style_scale(value):
    """The style scale F: a finite number > 0 (the style's longer side is F
    times the output's)."""
    return number("style scale", value, positive=True)


def tolerance(value):
    """A convergence tolerance: a finite number in [0, 1) (0: off)."""
    value = number("tol", value)
    if value >= 1:
        raise UserError("tol is a relative fall of the loss, below 1; got %r"
                        % (value,))
    return value


def tileable_shape(shape, unit):
    """``shape`` (H, W) with each side rounded to the nearest multiple of
    ``unit`` (at least one): the sizes at which every pooling layer of a
    tileable texture stays aligned with the wrap-around."""
    return tuple(max(1, int(math.floor(side / float(unit) + 0.5))) * unit
                 for side in shape)


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Which layers and weights make up the objective.

    ``style_weight`` multiplies the sum of the per-layer style terms, each of
    which is first multiplied by its entry in ``style_layer_weights``
    (default 1 for every layer, as in the recipe). ``statistic`` is one of
    :data:`STATISTICS`, or :data:`ADVERSARIAL` for the discriminator loss.
    ``tileable`` pads every convolution circularly and lets the variation
    term wrap around (textures that tile). ``regions`` is the number of
    spatial masks (one per style, set by the API from ``masks``; 0: none):
    it fixes the compiled graph, like the layers.
    """
    content_weight: float
    style_weight: float
    tv_weight: float
    normalize: bool
    content_layers: tuple = CONTENT_LAYERS
    style_layers: tuple = STYLE_LAYERS
    style_layer_weights: Optional[tuple] = None
    statistic: str = "gram"
    tileable: bool = False
    regions: int = 0

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalize the fields once
        for name in ("content_weight", "style_weight", "tv_weight"):
            set_(self, name, number(name.replace("_", " "),
                                    getattr(self, name)))
        set_(self, "content_layers", layer_names(self.content_layers,
                                                 "content layers"))
        set_(self, "style_layers", layer_names(self.style_layers))
        choice("statistic", self.statistic, STATISTICS + (ADVERSARIAL,))
        if not isinstance(self.tileable, bool):
            raise UserError("tileable must be True or False, got %r"
                            % (self.tileable,))
        if self.tileable and self.adversarial:
            raise UserError("tileable works with the L-BFGS-B statistics, "
                            "not with statistic 'disc'")
        if self.regions:
            set_(self, "regions", positive_int("regions", self.regions))
            if self.statistic not in MASKED_STATISTICS:
                raise UserError("masks work with statistic %s, not %r"
                                % (", ".join(MASKED_STATISTICS),
                                   self.statistic))
        weights = self.style_layer_weights
        if weights is not None:
            if len(weights) != len(self.style_layers):
                raise UserError("%d style layer weights given for %d style "
                                "layers" % (len(weights),
                                            len(self.style_layers)))
            set_(self, "style_layer_weights", tuple(
                number("a style layer weight", w) for w in weights))

    @property
    def adversarial(self):
        return self.statistic == ADVERSARIAL

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
        return max(used, key=LAYERS.index)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def preset(name, **overrides):
    """A :class:`LossConfig` from a named preset, with ``None`` overrides
    ignored. The adversarial loss has its own default style layers."""
    settings = dict(PRESETS[choice("preset", name, tuple(PRESETS))])
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "style_layers" in overrides and "style_layer_weights" not in overrides:
        # the preset's layer weights belong to the preset's layers: other
        # layers get the preset's first weight each
        weights = settings.pop("style_layer_weights", None)
        if weights:
            overrides["style_layer_weights"] = (weights[0],) * len(
                layer_names(overrides["style_layers"]))
    settings.update(overrides)
    if settings.get("statistic") == ADVERSARIAL:
        settings.setdefault("style_layers", ADVERSARIAL_STYLE_LAYERS)
    return LossConfig(**settings)


def _disc_option(default, flag, text, parse=str, choices=None):
    """A field of :class:`AdversarialOptions` with its command-line flag,
    help and parser (read by :mod:`lasagne_style.options`)."""
    return dataclasses.field(default=default, metadata=dict(
        cli=(flag, text, _parsed(parse, flag)), choices=choices))


def _parsed(parse, flag):
    def convert(text):
        try:
            return parse(text)
        except ValueError:
            raise UserError("%s: expected a number, got %r" % (flag, text))
    return convert


@dataclasses.dataclass(frozen=True)
class AdversarialOptions:
    """Settings of the adversarial loop (see :mod:`.adversarial`).

    ``d_steps`` discriminator updates every ``d_every`` image updates;
    ``d_lr`` and ``x_lr`` are Adam learning rates (``x_lr`` in pixel units
    of the 0..255 range); ``d_decay`` an L2 penalty on D's weights;
    ``tv_weight`` weighs the (size-normalized) total variation against the
    adversarial losses; ``rank`` of the quadratic form; ``hidden`` units of
    the MLP.
    """
    kind: str = _disc_option("quadratic", "--disc", "discriminator",
                             choices=DISC_KINDS)
    loss: str = _disc_option("swap", "--disc-loss", "image loss: swap "
                             "(non-saturating) or confusion (cross-entropy "
                             "against 1/2)", choices=DISC_LOSSES)
    d_steps: int = _disc_option(5, "--disc-steps", "D updates per round",
                                int)
    d_every: int = _disc_option(1, "--disc-every", "image steps per round",
                                int)
    d_lr: float = _disc_option(0.01, "--disc-lr", "Adam learning rate of D",
                               float)
    d_decay: float = _disc_option(0.0, "--disc-decay", "L2 penalty on D's "
                                  "weights", float)
    x_lr: float = _disc_option(2.0, "--image-lr", "Adam step on pixels, "
                               "0..255 units", float)
    tv_weight: float = _disc_option(2e-5, "--disc-tv-weight", "total "
                                    "variation against the adversarial loss "
                                    "(--tv-weight is for L-BFGS-B runs)",
                                    float)
    rank: int = _disc_option(16, "--disc-rank", "rank of the quadratic D",
                             int)
    hidden: int = _disc_option(64, "--disc-hidden", "hidden units of the "
                               "mlp D", int)

    def __post_init__(self):
        choice("discriminator", self.kind, DISC_KINDS)
        choice("discriminator loss", self.loss, DISC_LOSSES)
        for name in ("d_steps", "d_every", "rank", "hidden"):
            positive_int(name, getattr(self, name))
        for name in ("d_lr", "x_lr"):
            number(name, getattr(self, name), positive=True)
        for name in ("d_decay", "tv_weight"):
            number(name, getattr(self, name))
