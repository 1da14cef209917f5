"""The Python API: :func:`stylize`, :func:`synthesize` and :func:`score`.

The CLI and the notebook call these; there is no second implementation.
Images can be given as file paths or as RGB uint8 arrays (H, W, 3). Every
argument is checked before any large array is allocated or any Theano
function compiled: a mistake costs a second, not a run.

Threads: calls from several threads are safe and run one at a time. The
compiled objectives are shared within the process (compiling one costs
seconds) and a Theano function with its targets is not safe to use from two
threads at once; for runs in parallel use processes
(:func:`lasagne_style.compare.run_seeds`, ``lasagne-style batch``).
"""
# ruff: noqa: E402  (the idle-thread settings go before numpy loads)
from . import threads

threads.set_env_defaults()  # our runs only: see lasagne_style.threads

import contextlib
import functools
import json
import math
import os
import sys
import threading
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from . import checkpoint, colors, config, files, images, memory, objective
from . import schedule, vgg_weights
from .errors import UserError
from .optimize import CallbackProgress, LBFGSOptimiser, ProgressPrinter
from .optimize import Result
from .options import RunOptions, offered

#: An image: a file path, or an RGB uint8 array (H, W, 3).
ImageInput = Union[str, bytes, os.PathLike, np.ndarray]
#: One style image, or several.
StyleInput = Union[ImageInput, Sequence[ImageInput]]

load_weights = vgg_weights.load_cached


def _rgb(image, what):
    """An RGB uint8 array from a path or an array, ``what`` naming it in
    messages ('content image', 'style image 2', ...)."""
    if isinstance(image, bytes):
        image = os.fsdecode(image)
    if isinstance(image, (str, os.PathLike)):
        return images.load_image(os.fspath(image))
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise UserError("the %s must be a path or an RGB uint8 array of shape "
                        "(H, W, 3), not %s of shape %s"
                        % (what, array.dtype, array.shape))
    if not array.size:
        raise UserError("the %s is empty (shape %s)" % (what, array.shape))
    return array


def _as_list(images_or_one):
    if isinstance(images_or_one, (list, tuple)):
        return list(images_or_one)
    return [images_or_one]


def _style_images(style):
    styles = _as_list(style)
    if not styles:
        raise UserError("no style image given")
    for s in styles:
        if isinstance(s, str) and "," in s and not os.path.exists(s) and all(
                os.path.exists(part) for part in s.split(",")):
            raise UserError("style image not found: %s; to mix several "
                            "styles give them as separate arguments: %s"
                            % (s, " ".join(s.split(","))))
    return [_rgb(s, "style image" if len(styles) == 1 else
                 "style image %d" % (i + 1)) for i, s in enumerate(styles)]


def _check_reaches(loss, shape, what):
    stride = config.receptive_stride(loss.deepest_layer)
    if min(shape[:2]) < stride:
        raise UserError("the %s at %dx%d is too small: layer %s needs at "
                        "least %dx%d pixels" % (what, shape[1], shape[0],
                                                loss.deepest_layer, stride,
                                                stride))


def _check_sizes(loss, shape, styles, levels, style_scale=1.0):
    """Every level's output and style images (their longer side
    ``style_scale`` times the output's) must reach the deepest layer, and
    the run, and the style's forward pass, must fit in memory: checked
    before anything is resized."""
    shapes = schedule.level_shapes(shape, levels)
    stride = config.receptive_stride(loss.deepest_layer)
    if levels > 1 and min(shapes[0]) < stride:
        raise UserError("%d levels need an output of at least %d pixels on "
                        "its shorter side (the coarsest level must reach %s)"
                        % (levels, stride * 2 ** (levels - 1),
                           loss.deepest_layer))
    _check_reaches(loss, shape, "output")
    memory.check(shape)
    scale = "" if style_scale == 1 else " times %g" % style_scale
    for i, rgb in enumerate(styles):
        what = "style image" if len(styles) == 1 else "style image %d" % (
            i + 1)
        _check_reaches(loss, images.fit_size(rgb.shape,
                                             style_scale * max(shapes[0])),
                       "%s (%dx%d) resized to the output's scale%s"
                       % (what, rgb.shape[1], rgb.shape[0], scale))
        largest = images.fit_size(rgb.shape, style_scale * max(shape))
        if largest[0] * largest[1] > shape[0] * shape[1]:
            memory.check(largest, "use a smaller --style-scale or --size")


def _mask(image, what):
    """A mask (H, W) float32 in 0..1 (see :func:`images.load_mask`)."""
    return images.load_mask(image, what)


def _masks(masks, style_masks, count):
    """The output's masks and the styles' own masks (or None), loaded and
    checked: one of each per style image, none of them empty."""
    if masks is None:
        if style_masks is not None:
            raise UserError("style masks need masks (one per style image)")
        return None, None
    masks = _as_list(masks)
    if len(masks) != count:
        raise UserError("%d masks given for %d style images: give one per "
                        "style" % (len(masks), count))
    loaded = [_mask(m, "mask %d" % (i + 1)) for i, m in enumerate(masks)]
    if style_masks is None:
        return loaded, None
    style_masks = _as_list(style_masks)
    if len(style_masks) != count:
        raise UserError("%d style masks given for %d style images: give one "
                        "per style" % (len(style_masks), count))
    return loaded, [_mask(m, "style mask %d" % (i + 1))
                    for i, m in enumerate(style_masks)]


def _check_coverage(masks, shape):
    """Every output pixel must belong to some region."""
    total = sum(images.resize_mask(m, shape) for m in masks)
    uncovered = int(np.sum(total < images.EMPTY_MASK))
    if uncovered:
        raise UserError("the masks leave %d of %d output pixels uncovered "
                        "(black in every mask)" % (uncovered, total.size))


def _new_seed(seed):
    if seed is None:
        return int.from_bytes(os.urandom(4), "little") % (2 ** 31)
    return seed


def _init_image(init):
    """'noise', 'content', or an image (path or array) loaded now."""
    if isinstance(init, str) and init in config.INITS:
        return init
    return _rgb(init, "init image")


def _check_files(opts, inputs):
    """Every file the run will write, before any work: formats, places, and
    none of them over an input, another output or the run's checkpoint."""
    if opts.output is None:
        if opts.log or opts.plot:
            raise UserError("log and plot need an output")
        return
    fmt = files.check_image_output(opts.output)
    # an interrupted run writes it: a name that cannot take it would lose
    # the checkpoint only then
    files.check_name_fits(checkpoint.path_for(opts.output),
                          "the checkpoint of %s" % files.shown(opts.output))
    if opts.log:
        files.check_output_file(opts.log)
    if opts.plot:
        files.check_figure_output(opts.plot)
    inputs = (inputs + [("init image", opts.init), ("checkpoint", opts.resume),
                        ("--weights file", opts.weights)]
              + [("mask", m) for m in opts.masks or []]
              + [("style mask", m) for m in opts.style_masks or []])
    files.check_distinct({"-o": opts.output, "--log": opts.log,
                          "--plot": opts.plot}, inputs)
    files.check_distinct({"--log": opts.log, "--plot": opts.plot},
                         [("checkpoint of -o",
                           checkpoint.path_for(opts.output))])
    if opts.progress and fmt not in images.METADATA_FORMATS:
        print("lasagne-style: note: %s is %s: the seed and options are "
              "stored in PNG files only" % (opts.output, fmt),
              file=sys.stderr)


def _progress(progress):
    if progress is True:
        return ProgressPrinter()
    if callable(progress):
        return CallbackProgress(progress)
    return None


#: What the user is told while a new objective is built.
BUILDING = ("building the network (Theano compiles its C code on a first "
            "run: ~15 s; later runs ~3 s)")


def _optimiser(run, opts, progress):
    """The optimiser of ``run``: bounded L-BFGS-B on a compiled objective,
    or the adversarial loop for ``--stat disc``."""
    params = load_weights(run.weights)
    if run.config.adversarial:
        from .adversarial import AdversarialOptimiser
        return AdversarialOptimiser(params, run.config, opts.disc, run.seed)
    # the style images go through the same function (kept buffers too)
    largest = max([run.shape] + run.style_shapes(run.shape),
                  key=lambda shape: shape[0] * shape[1])
    return LBFGSOptimiser(objective.compiled(
        run.config, params, run.weights, opts.convolution,
        memory.keep_buffers_for(largest, opts.convolution),
        announce=lambda: progress.stage(BUILDING) if progress
        else contextlib.nullcontext()), run.tol)


def _run_options(command, options, keywords):
    """The :class:`~lasagne_style.options.RunOptions` of a call: ``options``
    (if given) with ``keywords`` replaced, or ``keywords`` alone."""
    if options is None:
        return RunOptions.of(command, **keywords)
    if not isinstance(options, RunOptions) or options.command != command:
        raise UserError("options must be RunOptions of command %r" % command)
    return RunOptions.of(command, **dict(
        {f.name: getattr(options, f.name) for f in offered(command)},
        **keywords))


def _copy_score(run, result):
    """A texture's :class:`~lasagne_style.copying.CopyScore` against the
    style image it copies most (at the scales the run used), or None for a
    transfer, a run without an image, or an image too thin to have edges
    in both directions (docs/textures.md)."""
    if run.content is not None or result.image is None \
            or min(result.image.shape[:2]) < 2:
        return None
    from . import copying
    return max((copying.measure(result.image, rgb, run.style_scale)
                for rgb in run.styles), key=lambda copy: copy.excess)


def _execute(run, opts, styles):
    """Run ``run`` (built from ``opts``), then write the log and plot. A
    texture's result gets its copy score: ``copy`` (a
    :class:`~lasagne_style.copying.CopyScore`) and ``copy_score`` (its
    score), None for a transfer."""
    if run.config.adversarial and len(styles) != 1:
        raise UserError("the discriminator loss takes one style image")
    run.blend = config.blend_weights(opts.style_blend, len(styles))
    progress = _progress(opts.progress)
    state = schedule.resume_state(run)  # before the network is built
    result = schedule.execute(run, _optimiser(run, opts, progress), progress,
                              state)
    result.copy = _copy_score(run, result)
    result.copy_score = result.copy.score if result.copy else None
    if opts.log:
        text = json.dumps(dict(seed=result.seed, stopped=result.stopped,
                               history=result.history,
                               saved_loss=result.saved_loss,
                               saved_terms=result.saved_terms,
                               copy_score=(result.copy.as_dict()
                                           if result.copy else None)),
                          indent=1)
        files.write_atomically(opts.log, lambda f: f.write(text.encode()))
    if opts.plot:
        from .plots import loss_curves
        loss_curves(result.history, opts.plot,
                    title=os.path.basename(opts.output))
    return result


#: One run at a time in this process (see the module's docstring).
_RUN_LOCK = threading.RLock()


def _one_at_a_time(function):
    @functools.wraps(function)
    def locked(*args, **kwargs):
        with _RUN_LOCK:
            return function(*args, **kwargs)
    return locked


@_one_at_a_time
def stylize(content: ImageInput, style: StyleInput,
            options: Optional[RunOptions] = None,
            **keywords: Any) -> Result:
    """Render the content image in the style of ``style`` (Gatys et al.).

    Parameters
    ----------
    content : path or RGB uint8 array
        Resized so that its longer side is ``size``.
    style : path or array, or a list of them
        Resized to the same longer side (times ``style_scale``). Several
        styles are mixed by averaging their statistics with the weights
        ``style_blend``, or given regions with ``masks``.
    options : lasagne_style.options.RunOptions, optional
        Options of an earlier call to start from (``keywords`` replace
        single ones).
    **keywords
        Any field of :class:`lasagne_style.options.RunOptions` that a
        transfer takes (``lasagne-style transfer --help`` lists them with
        their defaults): ``size``, ``iters``, ``preset``, ``statistic``,
        ``style_layers``, ``init``, ``seed``, ``output``, ``multiscale``,
        ``tol``, ``masks``, ``preserve_colors``, ``progress``, ... An
        unknown keyword is a :class:`UserError`.

    Returns
    -------
    optimize.Result
        With ``image`` (RGB uint8), ``loss``, ``terms``, ``history``,
        ``seed``, ``stopped``, and ``saved_loss``/``saved_terms`` of the
        8-bit image.
    """
    opts = _run_options("transfer", options, keywords)
    _check_files(opts, [("content image", content)]
                 + [("style image", s) for s in _as_list(style)])
    loss = opts.loss()
    rgb = _rgb(content, "content image")
    styles = _style_images(style)
    shape = images.fit_size(rgb.shape, opts.size)
    _check_sizes(loss, shape, styles, opts.multiscale, opts.style_scale)
    mask_arrays, style_mask_arrays = _masks(opts.masks, opts.style_masks,
                                            len(styles))
    if mask_arrays is not None:
        _check_coverage(mask_arrays, shape)
    init_image = _init_image(opts.start)
    content_rgb, finish = images.resize(rgb, shape), None
    if opts.preserve_colors == "histogram":
        styles = [colors.match_histogram(s, content_rgb) for s in styles]
    elif opts.preserve_colors == "luminance":
        styles = [colors.luminance(s, like=content_rgb) for s in styles]
        original_rgb, content_rgb = content_rgb, colors.luminance(content_rgb)

        def finish(y):
            return colors.recombine(y, original_rgb)
    run = schedule.Run(
        config=loss, shape=shape, styles=styles, content=content_rgb,
        init=init_image, iters=opts.iters, tol=opts.tol,
        levels=opts.multiscale, seed=_new_seed(opts.seed),
        output=opts.output, save_every=opts.save_every, resume=opts.resume,
        finish=finish, weights=opts.weights, style_scale=opts.style_scale,
        masks=mask_arrays, style_masks=style_mask_arrays,
        options=opts.recorded())
    return _execute(run, opts, styles)


def _texture_scale(opts, loss, styles, shape, warn=True):
    """``opts`` with a texture's style scale: the user's, or by default
    :func:`config.texture_style_scale` (1, or larger where every style
    layer then has at least as many positions as channels; the papers'
    presets keep their 1): docs/textures.md. When the scale leaves a style
    layer with fewer positions than channels, the regime that copies the
    style's layout, one warning line says which option avoids it."""
    shapes = [rgb.shape for rgb in styles]
    needed = config.texture_style_scale(loss.style_layers, shapes, shape)
    if opts.style_scale is None:
        if opts.preset not in config.PAPER_PRESETS:
            return opts.replace(style_scale=needed)
        opts = opts.replace(style_scale=1.0)
        cause = "--preset %s" % opts.preset
    else:
        cause = "--style-scale %g" % opts.style_scale
    if opts.style_scale < needed and opts.progress and warn:
        starved = sorted({name for rgb in styles
                          for name in config.starved_layers(
                              loss.style_layers, images.fit_size(
                                  rgb.shape, opts.style_scale * max(shape)))},
                         key=config.LAYERS.index)
        print("lasagne-style: warning: with %s the style has fewer positions "
              "than channels at %s, so the texture may copy its layout; "
              "--style-scale %g avoids it (docs/textures.md)"
              % (cause, ", ".join(starved), math.ceil(needed * 100) / 100.0),
              file=sys.stderr)
    return opts


@_one_at_a_time
def synthesize(style: StyleInput, options: Optional[RunOptions] = None,
               **keywords: Any) -> Result:
    """Texture synthesis: match the style statistics only, from noise.

    The output keeps the (first) style image's aspect ratio with its longer
    side ``size``, unless ``width`` and ``height`` are given. ``options``
    and ``keywords`` as in :func:`stylize`, with the fields of
    :class:`lasagne_style.options.RunOptions` that a texture takes.

    Without ``style_scale`` the style is resized so that every style layer
    has at least as many positions as channels (``style_scale`` 1 from
    about 370-500 px up, larger below; the papers' presets keep 1), which
    keeps the texture from copying the style's layout; the result's
    ``copy`` and ``copy_score`` say how much it does
    (:mod:`lasagne_style.copying`, docs/textures.md).

    With ``tileable`` the texture wraps around: the network pads every
    convolution circularly and the variation term includes the differences
    across the edges, so copies placed side by side show no seam. Each side
    is then rounded to the nearest multiple (at least one) of the deepest
    layer's receptive stride times ``2**(multiscale - 1)`` (16 for conv5_1
    without levels), which keeps every pooling window inside one period at
    every level.
    """
    opts = _run_options("texture", options, keywords)
    _check_files(opts, [("style image", s) for s in _as_list(style)])
    loss = opts.loss()
    styles = _style_images(style)
    if opts.width is not None:
        shape = (opts.height, opts.width)
    else:
        shape = images.fit_size(styles[0].shape, opts.size)
    if loss.tileable:
        shape = config.tileable_shape(shape, config.receptive_stride(
            loss.deepest_layer) * 2 ** (opts.multiscale - 1))
    opts = _texture_scale(opts, loss, styles, shape)
    _check_sizes(loss, shape, styles, opts.multiscale, opts.style_scale)
    run = schedule.Run(
        config=loss, shape=shape, styles=styles, init=_init_image(opts.start),
        iters=opts.iters, tol=opts.tol, levels=opts.multiscale,
        seed=_new_seed(opts.seed), output=opts.output,
        save_every=opts.save_every, resume=opts.resume, weights=opts.weights,
        style_scale=opts.style_scale, options=opts.recorded())
    return _execute(run, opts, styles)


@_one_at_a_time
def score(image: ImageInput, style: StyleInput,
          content: Optional[ImageInput] = None,
          options: Optional[RunOptions] = None,
          **keywords: Any) -> Dict[str, float]:
    """Loss terms of ``image`` exactly as the optimiser defines them.

    The image is scored at its own size; the style is resized to its scale
    (its longer side ``style_scale`` times the image's, as in
    :func:`stylize`; without a content image and without ``style_scale``,
    the scale a texture of this size gets by default, so that a texture's
    score is the loss its run printed) and the content (if given) to its
    exact size. Without a
    content image the content term is 0 (a texture's score). ``options``
    and ``keywords``: the loss options of
    :class:`lasagne_style.options.RunOptions` (``preset``, ``statistic``,
    the weights and layers, ``style_blend``, ``style_scale``, ``weights``,
    ``convolution``).

    Returns
    -------
    dict
        ``content``, ``style``, ``tv`` (weighted) and ``total``.
    """
    opts = _run_options("score", options, keywords)
    if content is None:
        opts = opts.replace(content_weight=0.0)
    loss = opts.loss()
    if loss.adversarial:
        raise UserError("the discriminator loss has no fixed target to score "
                        "against: score with gram, mean, meancov or sliced")
    rgb = _rgb(image, "image")
    styles = _style_images(style)
    shape = rgb.shape[:2]
    if opts.style_scale is None:  # a texture's default scale, or 1
        opts = opts.replace(style_scale=1.0) if content is not None else \
            _texture_scale(opts, loss, styles, shape, warn=False)
    _check_sizes(loss, shape, styles, 1, opts.style_scale)
    run = schedule.Run(config=loss, shape=shape, styles=styles,
                       style_scale=opts.style_scale,
                       content=(images.resize(_rgb(content, "content image"),
                                              shape)
                                if loss.uses_content else None),
                       blend=config.blend_weights(opts.style_blend,
                                                  len(styles)))
    optimiser = LBFGSOptimiser(objective.compiled(
        loss, load_weights(opts.weights), opts.weights, opts.convolution))
    run.set_targets(optimiser, shape)
    total, terms = optimiser.evaluate(images.preprocess(rgb))
    return dict(terms, total=total)
