"""The run schedule: coarse-to-fine levels, checkpoints and saving around one
optimiser, which it calls once per level through the small
:class:`lasagne_style.optimize.Optimiser` interface (L-BFGS-B or the
adversarial loop).

Each level gets ``iters`` evaluations, or its own entry of ``iters`` (a
tuple, one per level: coarse evaluations are cheap, so a coarse level can
afford many more), fewer if it meets ``tol`` (see
:func:`lasagne_style.optimize.minimize`) and starts from the previous level's
result, upsampled at float precision; the style follows the output's size at
every level (its longer side ``style_scale`` times the output's), and so do
the masks of a masked transfer. With an output path the best image is saved
every ``save_every`` evaluations (with a checkpoint), at an interruption or a
non-finite loss (with a checkpoint for ``--resume``), and at the end (the
checkpoint is then deleted). A failed intermediate save does not stop the
run: it is reported and optimisation goes on.
"""
import dataclasses
import json
import os
import sys

import numpy as np

from . import checkpoint, images, optimize
from .config import LossConfig
from .errors import UserError
from .version import __version__


@dataclasses.dataclass
class Run:
    """What to optimise, at which sizes, and where results go (built and
    validated by :mod:`lasagne_style.api`)."""
    config: LossConfig
    shape: tuple                #: final output (H, W)
    styles: list                #: RGB uint8 arrays, as given
    content: object = None      #: RGB uint8 at the final size (None: texture)
    init: object = "noise"      #: 'noise', 'content' or an RGB uint8 array
    iters: object = 300         #: evaluations per level (at most): an int,
    #:                             or a tuple of ints, one per level
    tol: float = 0.0            #: convergence rule per level (0: off)
    levels: int = 1
    seed: int = 0
    blend: tuple = None         #: one weight per style, summing to 1
    output: str = None
    save_every: int = 0
    resume: str = None          #: checkpoint to continue from
    finish: object = None       #: RGB -> RGB for what is returned and saved
    weights: str = None         #: VGG weights file (None: the default)
    style_scale: float = 1.0    #: style's longer side / output's longer side
    masks: list = None          #: one (H, W) float mask in 0..1 per style
    style_masks: list = None    #: None, or one per style (None: whole style)
    options: dict = dataclasses.field(default_factory=dict)  #: as recorded

    def iters_at(self, level):
        """The evaluation budget of ``level`` (0: coarsest)."""
        return self.iters[level] if isinstance(self.iters, tuple) \
            else self.iters

    @property
    def shapes(self):
        return level_shapes(self.shape, self.levels)

    @property
    def fingerprint(self):
        """What a checkpoint must have been made with to be resumed: the
        options and the input pixels. Input file names are left out (the
        pixels are in): a batch names them relative to its manifest or
        absolute, and the run is the same."""
        names = ("init", "masks", "style_masks", "weights")
        return checkpoint.fingerprint(
            dict({k: v for k, v in self.options.items() if k not in names},
                 config=dataclasses.asdict(self.config),
                 weights=self.weights and os.path.realpath(self.weights)),
            self.styles + ([self.content] if self.content is not None
                           else [])
            + [m for m in (self.masks or []) + (self.style_masks or [])
               if m is not None]
            + ([self.init] if isinstance(self.init, np.ndarray) else []))

    def content_at(self, shape):
        """The content preprocessed at ``shape`` (H, W), or None."""
        if self.content is None:
            return None
        return images.preprocess(images.resize(self.content, shape))

    def style_shapes(self, shape):
        """(H, W) of each style image for an output of ``shape``: its longer
        side ``style_scale`` times the output's."""
        return [images.fit_size(rgb.shape, self.style_scale * max(shape))
                for rgb in self.styles]

    def styles_at(self, shape):
        """The style images preprocessed at the scale of an output of
        ``shape`` (H, W) (see :meth:`style_shapes`)."""
        return [images.preprocess(images.resize(rgb, size))
                for rgb, size in zip(self.styles, self.style_shapes(shape))]

    def masks_at(self, shape):
        """The output's masks resized to ``shape`` (H, W), or None."""
        if self.masks is None:
            return None
        return [images.resize_mask(m, shape) for m in self.masks]

    def style_masks_at(self, shape):
        """Each style's own mask at its size for an output of ``shape``."""
        if self.style_masks is None:
            return None
        return [None if m is None else images.resize_mask(m, size)
                for m, size in zip(self.style_masks,
                                   self.style_shapes(shape))]

    def set_targets(self, optimiser, shape):
        masks = ({} if self.masks is None else dict(
            masks=self.masks_at(shape),
            style_masks=self.style_masks_at(shape)))
        optimiser.set_targets((1, 3) + shape, self.content_at(shape),
                              self.styles_at(shape), self.blend, **masks)

    def start_image(self, shape, seed):
        """The preprocessed start image at ``shape`` (H, W)."""
        if isinstance(self.init, np.ndarray):
            return images.preprocess(images.resize(self.init, shape))
        if self.init == "content":
            return self.content_at(shape)
        rng = np.random.RandomState(seed)
        return rng.uniform(-128, 128, (1, 3) + shape).astype(np.float32)


def level_shapes(shape, levels):
    """Output sizes of a coarse-to-fine schedule of ``levels`` levels: the
    final ``shape`` (H, W) halved ``levels - 1`` times, coarsest first."""
    return [(max(1, int(round(shape[0] / 2.0 ** k))),
             max(1, int(round(shape[1] / 2.0 ** k))))
            for k in reversed(range(levels))]


def _warn(message):
    print("lasagne-style: warning: %s" % message, file=sys.stderr)


class _Saver:
    """Writes the run's image and checkpoints; knows the run's metadata."""

    def __init__(self, run, seed, fingerprint):
        self.run, self.seed, self.fingerprint = run, seed, fingerprint
        self.checkpoint_path = (checkpoint.path_for(run.output)
                                if run.output else None)
        self.metadata = {
            "lasagne_style:version": __version__,
            "lasagne_style:seed": seed,
            "lasagne_style:options": json.dumps(dict(run.options, seed=seed),
                                                sort_keys=True)}

    def final_rgb(self, x):
        rgb = images.deprocess(images.resize_preprocessed(x, self.run.shape))
        return self.run.finish(rgb) if self.run.finish else rgb

    def image(self, x, finished=False):
        """Write ``x``; ``finished``: the run's result, not its best image
        so far (recorded in a PNG, so that a batch does not take an
        interrupted job's image for a finished one)."""
        if self.run.output:
            images.save_image(self.run.output, self.final_rgb(x), dict(
                self.metadata, **{images.FINISHED_KEY: "yes" if finished
                                  else "no"}))

    def checkpoint(self, x, level, evaluations, history, seconds,
                   stopped=None):
        if self.checkpoint_path:
            checkpoint.save(self.checkpoint_path, x, level, evaluations,
                            history, seconds, self.seed, self.fingerprint,
                            stopped)
        return self.checkpoint_path

    def intermediate(self, x, level, evaluations, history, seconds):
        """Image and checkpoint during the run; a failure is reported, not
        fatal (the best image stays in memory)."""
        try:
            self.image(x)
            self.checkpoint(x, level, evaluations, history, seconds)
        except UserError as e:
            _warn("intermediate save failed (%s); optimisation goes on" % e)


@dataclasses.dataclass
class _Position:
    """Where a run stands: the level it is at, the evaluations done at that
    level, the best image so far (None before the first evaluation), and the
    history and optimising time of all levels so far."""
    level: int = 0
    done: int = 0
    x: object = None
    history: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def resumed(cls, state):
        if not state:
            return cls()
        return cls(state["level"], state["evaluations"], state["x"],
                   state["history"], state["seconds"])

    def advance(self, level, result, size):
        """Take in ``result``, the optimiser's run at ``level`` (longer
        side ``size``), appended to the earlier levels'."""
        self.history = self.history + [
            dict(e, eval=e["eval"] + len(self.history),
                 time=e["time"] + self.seconds, size=size)
            for e in result.history]
        self.seconds += result.seconds
        self.level, self.x = level, result.x
        self.done += result.evaluations


def resume_state(run):
    """The checkpoint ``run`` resumes (None if it starts afresh), loaded and
    checked against ``run``: called before any work, so that a wrong
    ``--resume`` costs a second."""
    if not run.resume:
        return None
    state = checkpoint.load(run.resume, run.fingerprint)
    _check_resumable(run, state)
    return state


def execute(run, optimiser, progress=None, state=None):
    """Optimise ``run`` with ``optimiser``, level by level, and save.

    An interruption (KeyboardInterrupt: Ctrl-C, or SIGTERM/SIGHUP through
    :mod:`lasagne_style.signals`) at any moment after the first evaluation
    keeps the best image so far and a checkpoint: while a level optimises,
    while the next one starts (its targets and compilation), and while the
    result is saved (the checkpoint is removed only once the image is
    written).

    Parameters
    ----------
    run : Run
    optimiser : lasagne_style.optimize.Optimiser
    progress : lasagne_style.optimize.Progress, optional
    state : dict, optional
        The checkpoint to resume, from :func:`resume_state` (loaded here
        when not given).

    Returns
    -------
    lasagne_style.optimize.Result
        With ``image`` (RGB uint8, as saved), ``saved_loss`` and
        ``saved_terms`` (the 8-bit image's), ``seed`` and ``config``.
    """
    if state is None:
        state = resume_state(run)
    seed = state["seed"] if state else run.seed
    saver = _Saver(run, seed, run.fingerprint)
    position = _Position.resumed(state)
    finished = bool(state) and _finished(state, run)
    if finished:  # only its image is missing: save it
        result = optimize.Result(x=position.x, stopped=state["stopped"])
        at_final = False
    else:
        result, at_final = _optimise_levels(run, optimiser, saver, progress,
                                            position, seed)
    result.history, result.seconds = position.history, position.seconds
    at_final = at_final and position.x.shape[2:] == run.shape
    result.x = images.resize_preprocessed(position.x, run.shape)
    _save_final(saver, result, position, optimiser)
    if not at_final:  # the image was not optimised at the final size here
        run.set_targets(optimiser, run.shape)
        result.loss, result.terms = optimiser.evaluate(result.x)
    result.image = saver.final_rgb(result.x)
    result.seed, result.config = seed, run.config
    # what was saved is 8-bit: report its own losses too
    result.saved_loss, result.saved_terms = optimiser.evaluate(
        images.preprocess(images.deprocess(result.x)))
    return result


def _check_resumable(run, state):
    if not state:
        return
    if state["level"] >= run.levels:
        raise UserError("checkpoint %s is at level %d of a %d-level run"
                        % (run.resume, state["level"] + 1, run.levels))
    last = run.levels - 1
    if not _finished(state, run) and state["level"] == last \
            and state["evaluations"] >= run.iters_at(last):
        raise UserError("checkpoint %s already has %d evaluations at the "
                        "last level: give it a larger --iters to continue"
                        % (run.resume, state["evaluations"]))


def _optimise_levels(run, optimiser, saver, progress, position, seed):
    """The levels from ``position`` on; ``position`` follows the run. An
    interruption or a non-finite loss ends the run with a checkpoint.

    Returns
    -------
    (optimize.Result, bool)
        The last level's result, and whether the optimiser's targets are
        those of the level the result was optimised at (False after an
        interruption between levels).
    """
    shapes, result = run.shapes, None
    for level in range(position.level, run.levels):
        if level != position.level:  # a new level starts from scratch
            position.level, position.done = level, 0
        if position.done >= run.iters_at(level) and level < run.levels - 1:
            continue  # a resumed level whose budget was lowered: go on
        shape = shapes[level]
        try:
            x0 = (run.start_image(shape, seed) if position.x is None
                  else images.resize_preprocessed(position.x, shape))
            if progress is not None:
                progress.level(level, run.levels, shape)
            run.set_targets(optimiser, shape)
        except KeyboardInterrupt:
            if position.x is None:  # nothing to keep yet
                raise
            # between levels: resuming starts this level from the last
            # one's image
            result = optimize.Result(x=position.x, stopped="interrupted",
                                     message="interrupted")
            if optimiser.resumable:
                result.checkpoint = _try_checkpoint(saver, position)
            return result, False
        earlier, done_before = position.history, position.done

        def keep(partial, level=level):
            snapshot = _Position(level, done_before, None, earlier,
                                 position.seconds)
            snapshot.advance(level, partial, max(shapes[level]))
            saver.intermediate(snapshot.x, level, snapshot.done,
                               snapshot.history, snapshot.seconds)

        result = optimiser.run(x0, run.iters_at(level) - position.done,
                               progress,
                               keep if optimiser.resumable else None,
                               run.save_every)
        position.advance(level, result, max(shape))
        if result.stopped in ("interrupted", "nonfinite"):
            break
    if result.stopped in ("interrupted", "nonfinite") \
            and optimiser.resumable:
        result.checkpoint = _try_checkpoint(saver, position)
    return result, True


def _finished(state, run):
    """Whether a checkpoint holds a finished run whose image was not saved,
    and resuming it asks for no more evaluations: it stopped by the rule or
    L-BFGS-B, or at a budget that ``run`` does not raise."""
    stopped = state.get("stopped")
    return stopped is not None and (
        stopped != "budget" or state["evaluations"] >= run.iters_at(
            run.levels - 1))


def _try_checkpoint(saver, position, stopped=None):
    try:
        return saver.checkpoint(position.x, position.level, position.done,
                                position.history, position.seconds, stopped)
    except UserError as e:
        _warn("no checkpoint written (%s)" % e)
        return None


def _save_final(saver, result, position, optimiser):
    """Save the result, then remove a finished run's checkpoint. If saving
    fails or is interrupted, keep the result in a checkpoint: the one an
    interrupted run wrote, or one written now for a finished run (at its
    last level, with its evaluations there)."""
    finished = result.stopped not in ("interrupted", "nonfinite")
    try:
        saver.image(result.x, finished)
    except (UserError, KeyboardInterrupt) as e:
        kept = result.checkpoint
        if finished and optimiser.resumable:
            position.level = saver.run.levels - 1
            kept = _try_checkpoint(saver, position, result.stopped)
        if isinstance(e, UserError) and kept:
            raise UserError("%s; the result is kept in %s: resume from it "
                            "once the output can be written" % (e, kept))
        raise
    if finished and saver.checkpoint_path and optimiser.resumable:
        checkpoint.remove(saver.checkpoint_path)
