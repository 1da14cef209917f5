"""The Python API: :func:`stylize`, :func:`synthesize` and :func:`score`.

The CLI and the notebook call these; there is no second implementation.
Images can be given as file paths or as RGB uint8 arrays (H, W, 3).
"""
import dataclasses
import json
import os

import numpy as np

from . import __version__, checkpoint, colors, images, optimize, vgg
from . import disc as adversarial
from . import weights as weights_module
from .errors import UserError
from .objective import Objective, preset as make_config

#: Start image of each preset when ``init`` is not given: the recipe starts
#: from noise; from the content image our default converges in fewer steps.
DEFAULT_INIT = {"default": "content", "recipe": "noise"}

_params_cache = {}
_objective_cache = {}


def load_weights(path=None):
    """VGG19 weights, loaded once per process (see :mod:`.weights`)."""
    key = os.path.abspath(path) if path else None
    if key not in _params_cache:
        _params_cache[key] = weights_module.load(path)
    return _params_cache[key]


def objective_for(config, weights=None, convolution="winograd",
                  keep_buffers=False):
    """A compiled :class:`Objective` for ``config``, reused across calls with
    the same layers (only its weights are updated). ``convolution`` is the
    CPU algorithm, 'winograd' or Theano's 'corrmm' (see :mod:`.vgg`);
    ``keep_buffers`` trades memory for speed (see :class:`Objective`)."""
    if convolution not in vgg.CONVOLUTIONS:
        raise UserError("unknown convolution %r (choose from %s)"
                        % (convolution, ", ".join(vgg.CONVOLUTIONS)))
    key = (os.path.abspath(weights) if weights else None, config.normalize,
           config.content_layers if config.uses_content else (),
           config.style_layers, config.statistic, convolution, keep_buffers)
    if key not in _objective_cache:
        _objective_cache[key] = Objective(load_weights(weights), config,
                                          convolution, keep_buffers)
    objective = _objective_cache[key]
    objective.set_weights(config)
    return objective


def _rgb(image):
    if isinstance(image, (str, os.PathLike)):
        return images.load_image(os.fspath(image))
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise UserError("image arrays must be RGB uint8 of shape (H, W, 3)")
    return array


def _as_list(images_or_one):
    if isinstance(images_or_one, (list, tuple)):
        return list(images_or_one)
    return [images_or_one]


def _check_size(shape, config):
    stride = vgg.receptive_stride(config.deepest_layer)
    if min(shape[:2]) < stride:
        raise UserError("image of %dx%d is too small: layer %s needs at least "
                        "%dx%d pixels" % (shape[1], shape[0],
                                          config.deepest_layer, stride, stride))


#: Peak memory model of one run, fitted to `make bench`'s peak RSS (objective
#: up to conv5_1; 0.70/1.30/3.26 GB at 256/512/1024 px with Winograd, 0.62/
#: 1.34/4.12 GB with CorrMM): a fixed part (Python, Theano, weights) plus
#: activations and their gradients per pixel. With ``keep_buffers`` every
#: intermediate stays allocated (1.72/5.62 GB at 256/512 px).
MEMORY_FIXED_BYTES = 0.45e9
MEMORY_BYTES_PER_PIXEL = 3.5e3
KEPT_BUFFERS_BYTES_PER_PIXEL = 20e3


def estimated_memory(shape, keep_buffers=False):
    """Estimated peak memory in bytes of a run producing ``shape`` (H, W)."""
    per_pixel = (KEPT_BUFFERS_BYTES_PER_PIXEL if keep_buffers
                 else MEMORY_BYTES_PER_PIXEL)
    return MEMORY_FIXED_BYTES + per_pixel * shape[0] * shape[1]


def keep_buffers_for(shape, convolution):
    """Whether a run at ``shape`` keeps its buffers between evaluations:
    with Winograd (where it pays: CorrMM gained nothing) and only while that
    needs at most half the available memory."""
    have = available_memory()
    return (convolution == "winograd" and have is not None
            and estimated_memory(shape, keep_buffers=True) <= 0.5 * have)


def available_memory():
    """MemAvailable from /proc/meminfo in bytes, or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _check_memory(shape):
    need, have = estimated_memory(shape), available_memory()
    if have is not None and need > have:
        raise UserError("a %dx%d image needs about %.1f GB of memory but only "
                        "%.1f GB are available: use a smaller --size"
                        % (shape[1], shape[0], need / 1e9, have / 1e9))


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value <= 0:
        raise UserError("%s must be a positive integer, got %r"
                        % (name, value))
    return int(value)


def _style_inputs(style, shape):
    """Style image(s) resized to the output's scale (longer side equal)."""
    styles = _as_list(style)
    longest = max(shape[:2])
    return [images.preprocess(images.resize(rgb, images.fit_size(rgb.shape,
                                                                 longest)))
            for rgb in map(_rgb, styles)]


def _start_image(init, shape, content_x, seed):
    if init == "noise":
        rng = np.random.RandomState(seed)
        return rng.uniform(-128, 128, (1, 3) + shape).astype(np.float32)
    if init == "content":
        if content_x is None:
            raise UserError("init 'content' needs a content image")
        return content_x.copy()
    return images.preprocess(images.resize(_rgb(init), shape))


def _new_seed(seed):
    if seed is None:
        return int.from_bytes(os.urandom(4), "little") % (2 ** 31)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed < 2 ** 32:
        raise UserError("seed must be an integer in [0, 2**32), got %r"
                        % (seed,))
    return int(seed)


def _disc_defaults(config_changes):
    """The discriminator loss uses its own default style layers."""
    if config_changes.get("statistic") == "disc" and \
            not config_changes.get("style_layers"):
        return dict(config_changes, style_layers=adversarial.STYLE_LAYERS)
    return config_changes


def level_shapes(shape, levels):
    """Output sizes of a coarse-to-fine schedule of ``levels`` levels: the
    final ``shape`` (H, W) halved ``levels - 1`` times, coarsest first."""
    return [(max(1, int(round(shape[0] / 2.0 ** k))),
             max(1, int(round(shape[1] / 2.0 ** k))))
            for k in reversed(range(levels))]


def _run(config, shape, content_rgb, style, style_blend, init, iters, seed,
         weights, output, save_every, progress, options, disc_options=None,
         finish=None, multiscale=1, resume=None, convolution="winograd"):
    """Optimise (coarse to fine when ``multiscale`` > 1) and save.

    ``content_rgb`` is the content at the output size (None for textures);
    ``finish`` maps the optimised RGB image to the one returned and saved
    (colour preservation). Each level gets ``iters`` evaluations and starts
    from the previous level's result, upsampled.
    """
    finish = finish or (lambda rgb: rgb)
    iters = _positive_int(iters, "iters")
    levels = _positive_int(multiscale, "multiscale")
    shapes = level_shapes(shape, levels)
    stride = vgg.receptive_stride(config.deepest_layer)
    if min(shapes[0]) < stride and levels > 1:
        raise UserError("%d levels need an output of at least %d pixels on "
                        "its shorter side (the coarsest level must reach %s)"
                        % (levels, stride * 2 ** (levels - 1),
                           config.deepest_layer))
    _check_size(shape, config)
    _check_memory(shape)
    styles = [_rgb(s) for s in _as_list(style)]
    for rgb in styles:
        _check_size(images.fit_size(rgb.shape, max(shapes[0])), config)
    adversarial_run = config.statistic == "disc"
    if adversarial_run:
        if len(styles) != 1:
            raise UserError("the discriminator loss takes one style image")
        if levels > 1 or resume:
            raise UserError("--multiscale and --resume work with the L-BFGS-B "
                            "statistics, not with --stat disc")
        disc_options = disc_options or adversarial.DiscOptions()
        options = dict(options, disc=dataclasses.asdict(disc_options))
    options = dict(options, multiscale=levels)
    checkpoint_path = checkpoint.path_for(output) if output else None
    fingerprint = checkpoint.fingerprint(
        dict(options, config=dataclasses.asdict(config), weights=weights),
        styles + ([content_rgb] if content_rgb is not None else []))
    state = checkpoint.load(resume, fingerprint) if resume else None
    seed = state["seed"] if state else _new_seed(seed)
    metadata = {"lasagne_style:version": __version__,
                "lasagne_style:seed": seed,
                "lasagne_style:options": json.dumps(dict(options, seed=seed),
                                                    sort_keys=True)}

    def content_at(level_shape):
        if content_rgb is None:
            return None
        return images.preprocess(images.resize(content_rgb, level_shape))

    def save(x):
        if output:
            images.save_image(output, finish(images.deprocess(
                images.resize_preprocessed(x, shape))), metadata)

    printer = optimize.ProgressPrinter() if progress is True else (
        progress if callable(progress) else None)
    if adversarial_run:
        result = adversarial.run(
            load_weights(weights), config, disc_options,
            _start_image(init, shape, content_at(shape), seed),
            _style_inputs(styles, shape)[0],
            content_at(shape) if config.uses_content else None, iters,
            printer, seed)
        result.image = finish(images.deprocess(result.x))
        save(result.x)
        # no fixed target to re-score against: report the last step's loss
        result.saved_loss, result.saved_terms = result.loss, result.terms
        result.seed, result.config = seed, config
        return result

    objective = objective_for(config, weights, convolution,
                              keep_buffers_for(shape, convolution))

    def set_targets(level_shape):
        objective.set_targets(
            (1, 3) + level_shape,
            content_at(level_shape) if config.uses_content else None,
            objective.style_target(_style_inputs(styles, level_shape),
                                   style_blend))

    first, done, x = 0, 0, None
    history, seconds = [], 0.0
    if state:
        first, done, x = state["level"], state["evaluations"], state["x"]
        history, seconds = state["history"], state["seconds"]
        if done >= iters and first == levels - 1:
            raise UserError("checkpoint %s already has %d evaluations: give a "
                            "larger --iters to continue" % (resume, done))
    for level in range(first, levels):
        level_shape = shapes[level]
        if x is None:
            x0 = _start_image(init, level_shape, content_at(level_shape), seed)
        else:
            x0 = images.resize_preprocessed(x, level_shape)
        if levels > 1 and printer is not None and hasattr(printer, "stream"):
            printer.stream.write("level %d/%d: %dx%d\n" % (
                level + 1, levels, level_shape[1], level_shape[0]))
        set_targets(level_shape)

        def whole_run(result, level=level, done=done, history=history,
                      seconds=seconds):
            # this level's evaluations appended to the earlier ones
            size = max(shapes[level])
            entries = history + [dict(e, eval=e["eval"] + len(history),
                                      time=e["time"] + seconds, size=size)
                                 for e in result.history]
            return entries, seconds + result.seconds, done + result.evaluations

        def keep(result, level=level):
            save(result.x)
            entries, total_seconds, evaluations = whole_run(result)
            checkpoint.save(checkpoint_path, result.x, level, evaluations,
                            entries, total_seconds, seed, fingerprint)

        result = optimize.minimize(
            objective, x0, max(iters - done, 1), progress=printer,
            on_improvement=keep if output else None, save_every=save_every)
        history, seconds, evaluations = whole_run(result)
        x = result.x
        if result.stopped in ("interrupted", "nonfinite"):
            if output:
                checkpoint.save(checkpoint_path, x, level, evaluations,
                                history, seconds, seed, fingerprint)
                result.checkpoint = checkpoint_path
            break
        done = 0
    else:
        if output:
            checkpoint.remove(checkpoint_path)
    result.history, result.seconds = history, seconds
    if x.shape[2:] != shape:  # stopped at a coarse level
        x = result.x = images.resize_preprocessed(x, shape)
        set_targets(shape)
    optimised = images.deprocess(x)
    result.image = finish(optimised)
    result.seed, result.config = seed, config
    save(x)
    # what was saved is 8-bit: report its own losses too
    result.saved_loss, result.saved_terms, _ = objective(
        images.preprocess(optimised))
    return result


def stylize(content, style, size=512, iters=300, preset="default",
            content_weight=None, style_weight=None, tv_weight=None,
            init=None, seed=None, weights=None, style_blend=None,
            output=None, save_every=0, progress=True, disc=None,
            preserve_colors=None, multiscale=1, resume=None,
            convolution="winograd", **config_changes):
    """Render the content image in the style of ``style`` (Gatys et al.).

    Parameters
    ----------
    content : path or RGB uint8 array
        Resized so that its longer side is ``size``.
    style : path or array, or a list of them
        Resized to the same longer side. Several styles are mixed by
        averaging their Gram matrices with the weights ``style_blend``.
    iters : int
        Number of loss-and-gradient evaluations.
    preset : {'default', 'recipe'}
        Weight set; ``content_weight`` etc. override single weights.
    init : {'noise', 'content'} or path, optional
        Start image; the preset's choice when None.
    seed : int, optional
        Seed of the noise init; a random one (reported) when None.
    output : path, optional
        PNG written atomically at the end and every ``save_every``
        evaluations when the image improved.
    progress : bool or callable
        Print progress lines, or call ``progress(n, total, loss, terms,
        seconds_per_eval)``.
    disc : disc.DiscOptions, optional
        Settings of the discriminator loss (``statistic='disc'``).
    preserve_colors : {None, 'luminance', 'histogram'}
        Keep the content's colours (see :mod:`lasagne_style.colors`).
    multiscale : int
        Levels of the coarse-to-fine schedule (Gatys et al. 2017): 1 is a
        single run at ``size``; with L levels the first run is at ``size /
        2**(L-1)`` and each next one, at twice the size, starts from the
        previous result upsampled. Every level gets ``iters`` evaluations.
    resume : path, optional
        A checkpoint (``OUTPUT.ckpt.npz``, written when a run with an
        ``output`` is interrupted or stops on a non-finite loss, and at every
        ``save_every``) to continue from; the other arguments must be those
        of the run that wrote it, ``iters`` may grow.
    convolution : {'winograd', 'corrmm'}
        CPU convolution algorithm (see :mod:`lasagne_style.vgg`); the results
        agree to float32 rounding.

    Returns
    -------
    optimize.Result
        With ``image`` (RGB uint8), ``loss``, ``terms``, ``history``,
        ``seed``, and ``saved_loss``/``saved_terms`` of the 8-bit image.
    """
    config = make_config(preset, content_weight=content_weight,
                         style_weight=style_weight, tv_weight=tv_weight,
                         **_disc_defaults(config_changes))
    size = _positive_int(size, "size")
    rgb = _rgb(content)
    shape = images.fit_size(rgb.shape, size)
    content_rgb = images.resize(rgb, shape)
    finish = None
    if preserve_colors is not None:
        if preserve_colors not in colors.MODES:
            raise UserError("unknown colour mode %r (choose from %s)"
                            % (preserve_colors, ", ".join(colors.MODES)))
        style = [_rgb(s) for s in _as_list(style)]
        if preserve_colors == "histogram":
            style = [colors.match_histogram(s, content_rgb) for s in style]
        else:
            style = [colors.luminance(s, like=content_rgb) for s in style]
            original_rgb, content_rgb = content_rgb, colors.luminance(
                content_rgb)
            finish = lambda y: colors.recombine(y, original_rgb)  # noqa: E731
    init = DEFAULT_INIT[preset] if init is None else init
    options = dict(mode="transfer", size=size, iters=iters, preset=preset,
                   content_weight=config.content_weight,
                   style_weight=config.style_weight,
                   tv_weight=config.tv_weight, init=str(init),
                   style_blend=style_blend, preserve_colors=preserve_colors)
    return _run(config, shape, content_rgb, style, style_blend, init, iters,
                seed, weights, output, save_every, progress, options, disc,
                finish, multiscale, resume, convolution)


def synthesize(style, size=256, width=None, height=None, iters=300,
               preset="default", style_weight=None, tv_weight=None, init="noise",
               seed=None, weights=None, style_blend=None, output=None,
               save_every=0, progress=True, disc=None, multiscale=1,
               resume=None, convolution="winograd", **config_changes):
    """Texture synthesis: match the style statistics only, from noise.

    The output keeps the (first) style image's aspect ratio with its longer
    side ``size``, unless ``width`` and ``height`` are given. Other
    parameters as in :func:`stylize`.
    """
    config = make_config(preset, content_weight=0.0, style_weight=style_weight,
                         tv_weight=tv_weight, **_disc_defaults(config_changes))
    styles = [_rgb(s) for s in _as_list(style)]
    if width is not None or height is not None:
        if width is None or height is None:
            raise UserError("give both width and height, or neither")
        shape = (_positive_int(height, "height"), _positive_int(width, "width"))
    else:
        shape = images.fit_size(styles[0].shape, _positive_int(size, "size"))
    options = dict(mode="texture", size=size, width=width, height=height,
                   iters=iters, preset=preset, style_weight=config.style_weight,
                   tv_weight=config.tv_weight, init=str(init),
                   style_blend=style_blend)
    return _run(config, shape, None, styles, style_blend, init, iters, seed,
                weights, output, save_every, progress, options, disc,
                multiscale=multiscale, resume=resume, convolution=convolution)


def score(image, style, content=None, preset="default", content_weight=None,
          style_weight=None, tv_weight=None, weights=None, style_blend=None,
          **config_changes):
    """Loss terms of ``image`` exactly as the optimiser defines them.

    The image is scored at its own size; the style is resized to its scale
    and the content (if given) to its exact size. Without a content image
    the content term is 0 (a texture's score).

    Returns
    -------
    dict
        ``content``, ``style``, ``tv`` (weighted) and ``total``.
    """
    if config_changes.get("statistic") == "disc":
        raise UserError("the discriminator loss has no fixed target to score "
                        "against: score with gram, mean, meancov or sliced")
    if content is None:
        content_weight = 0.0
    config = make_config(preset, content_weight=content_weight,
                         style_weight=style_weight, tv_weight=tv_weight,
                         **config_changes)
    rgb = _rgb(image)
    shape = rgb.shape[:2]
    _check_size(shape, config)
    objective = objective_for(config, weights)
    content_x = None
    if config.uses_content:
        content_x = images.preprocess(images.resize(_rgb(content), shape))
    style_xs = _style_inputs(style, shape)
    objective.set_targets((1, 3) + shape, content_x,
                          objective.style_target(style_xs, style_blend))
    total, terms, _ = objective(images.preprocess(rgb))
    return dict(terms, total=total)
