"""Image optimisation with bounded L-BFGS-B (:mod:`lasagne_style.lbfgsb`,
scipy's method with its pairs stored as rows) over the flattened pixels, the
:class:`Optimiser` interface the run schedule calls (this L-BFGS-B path and
:class:`lasagne_style.adversarial.AdversarialOptimiser` implement it), the
:class:`Result` of a run, and progress reporting.

Unlike the recipe, the pixels are box-bounded to the range that maps to
0..255, so the image that is saved is the one that was optimised (unbounded,
pixels leave the range and clipping them at save time changes the loss).

The best image seen (lowest loss) is kept at every evaluation, so an
interruption, a non-finite loss or the end of the budget never loses it.
"""
import contextlib
import dataclasses
import sys
import threading
import time

import numpy as np

from . import lbfgsb
from .images import pixel_bounds
from .memory import HISTORY, HISTORY_BYTES, history_pairs  # noqa: F401


class NonFiniteLoss(Exception):
    """The loss or its gradient became NaN or infinite."""


class _Stop(Exception):
    pass


#: The convergence rule (``tol``) applies from this many evaluations on.
MIN_EVALUATIONS_FOR_TOL = 100


def last_quarter_fall(losses):
    """Fall of the best loss over the last quarter of ``losses`` (one per
    evaluation), relative to the best at the end: 0.01 means the best loss
    fell by 1 % of its final value over the last quarter of the evaluations.
    The convergence rule of :func:`minimize` (``tol``) and the notebook's
    measure of how far runs have flattened."""
    best = np.minimum.accumulate(np.asarray(losses, np.float64))
    n = len(best)
    return (best[n - n // 4 - 1] - best[-1]) / abs(best[-1])


@dataclasses.dataclass
class Result:
    """Outcome of an optimisation, and of a whole run.

    Attributes
    ----------
    x : ndarray (1, 3, H, W)
        The best image seen (lowest total loss; the last image for the
        adversarial loss, which does not decrease monotonically).
    loss : float
        Its total loss; ``terms`` holds its weighted terms.
    history : list of dict
        One entry per evaluation: ``eval``, ``loss``, the terms, ``time``.
    stopped : str
        ``'budget'``, ``'converged'`` (the ``tol`` rule or L-BFGS-B's own
        convergence tests), ``'optimiser'`` (L-BFGS-B gave up without
        converging, e.g. a line search that found no lower point; see
        ``message``), ``'interrupted'`` or ``'nonfinite'``.
    message : str
        The optimiser's own words on why it stopped.
    seconds : float
        Time spent optimising.
    checkpoint : str or None
        Path of the checkpoint the run wrote, if any.
    image : ndarray (H, W, 3) uint8 or None
        The final RGB image (a whole run's result only).
    saved_loss, saved_terms
        The loss of ``image`` as saved in 8 bits.
    seed : int or None
    config : LossConfig or None
    """
    x: object = None
    loss: float = np.inf
    terms: dict = dataclasses.field(default_factory=dict)
    history: list = dataclasses.field(default_factory=list)
    stopped: str = None
    message: str = ""
    seconds: float = 0.0
    checkpoint: str = None
    image: object = None
    saved_loss: float = None
    saved_terms: dict = None
    seed: int = None
    config: object = None

    @property
    def evaluations(self):
        return len(self.history)


class Optimiser:
    """What the run schedule (:mod:`.schedule`) needs of an optimiser.

    ``resumable`` optimisers support coarse-to-fine levels and checkpoints.
    """
    resumable = True

    def set_targets(self, shape, content_x, style_xs, blend):
        """Targets for images of ``shape`` (1, 3, H, W): the content image
        (preprocessed, that shape, or None) and the style images
        (preprocessed, at the output's scale) mixed with ``blend``."""
        raise NotImplementedError

    def run(self, x0, budget, progress=None, on_improvement=None,
            save_every=0):
        """Optimise from ``x0`` for ``budget`` evaluations -> Result."""
        raise NotImplementedError

    def evaluate(self, x):
        """(total, terms) of image ``x`` against the current targets."""
        raise NotImplementedError


class LBFGSOptimiser(Optimiser):
    """Bounded L-BFGS-B (:func:`minimize`) on a compiled
    :class:`lasagne_style.objective.Objective`."""

    def __init__(self, objective, tol=0.0):
        self.objective = objective
        self.tol = tol  #: convergence rule of :func:`minimize`

    def set_targets(self, shape, content_x, style_xs, blend, masks=None,
                    style_masks=None):
        """As :meth:`Optimiser.set_targets`; with a masked objective also
        the output's ``masks`` (regions, H, W) and the styles' own
        ``style_masks`` (each None or (H_s, W_s)), all in 0..1."""
        self.objective.set_targets(
            shape, content_x if self.objective.content_layers else None,
            self.objective.style_target(style_xs, blend, style_masks), masks)

    def run(self, x0, budget, progress=None, on_improvement=None,
            save_every=0):
        return minimize(self.objective, x0, budget, progress, on_improvement,
                        save_every, self.tol)

    def evaluate(self, x):
        total, terms, _ = self.objective(x)
        return total, terms


def minimize(objective, x0, max_evals, progress=None, on_improvement=None,
             save_every=0, tol=0.0):
    """Minimise ``objective`` from ``x0`` with bounded L-BFGS-B.

    Parameters
    ----------
    objective : callable
        ``objective(x) -> (total, terms, grad)``, e.g. an
        :class:`lasagne_style.objective.Objective`.
    x0 : ndarray (1, 3, H, W)
        Start image, preprocessed; clipped into the pixel bounds.
    max_evals : int
        Budget of loss-and-gradient evaluations.
    progress : callable, optional
        ``progress(evaluation, max_evals, loss, terms, seconds_per_eval)``.
    on_improvement : callable, optional
        ``on_improvement(result)`` every ``save_every`` evaluations when the
        best image changed since the last call (for intermediate saves).
    tol : float
        Stop as converged once the best loss fell by less than ``tol``
        (relative, :func:`last_quarter_fall`) over the last quarter of the
        evaluations, checked from :data:`MIN_EVALUATIONS_FOR_TOL` on. 0:
        use the whole budget. A relative rule on a window that grows with
        the run: a fixed window would stop slow-but-steady runs (Gram
        textures from noise fall for thousands of evaluations) too early.
    """
    shape = x0.shape
    low, high = pixel_bounds(shape)
    x0 = np.clip(np.asarray(x0, np.float64), low, high)
    result = Result()
    state = {"saved_best": None}
    start = time.perf_counter()

    def evaluate(flat):
        if result.evaluations >= max_evals:
            # scipy may overshoot maxfun in a line search
            raise _Stop("budget")
        x = flat.reshape(shape).astype(np.float32)
        total, terms, grad = objective(x)
        if not (np.isfinite(total) and np.all(np.isfinite(grad))):
            raise NonFiniteLoss("loss or gradient became non-finite at "
                                "evaluation %d" % (result.evaluations + 1))
        elapsed = time.perf_counter() - start
        result.history.append(dict(eval=result.evaluations + 1, loss=total,
                                   time=elapsed, **terms))
        if total < result.loss:
            result.x, result.loss, result.terms = x, total, terms
        n = result.evaluations
        if progress is not None:
            progress(n, max_evals, total, terms, elapsed / n)
        if (on_improvement is not None and save_every and n % save_every == 0
                and state["saved_best"] is not result.x):
            state["saved_best"] = result.x
            on_improvement(result)
        if tol and n >= MIN_EVALUATIONS_FOR_TOL and last_quarter_fall(
                [h["loss"] for h in result.history]) < tol:
            raise _Stop("converged")
        return total, grad.astype(np.float64).ravel()

    try:
        _, _, info = lbfgsb.fmin(
            evaluate, x0.ravel(), low.ravel(), high.ravel(),
            m=history_pairs(x0.size), factr=10.0, pgtol=0.0,
            maxfun=max_evals, maxiter=max_evals)
        result.message = info.get("task", b"")
        if isinstance(result.message, bytes):
            result.message = result.message.decode()
        if result.evaluations >= max_evals:
            result.stopped = "budget"
        elif result.message.startswith("CONVERGENCE"):
            result.stopped = "converged"
        else:  # e.g. a line search that found no lower point
            result.stopped = "optimiser"
    except _Stop as stop:
        result.stopped = str(stop)
        if result.stopped == "converged":
            result.message = ("the best loss fell by less than %g over the "
                              "last quarter of the evaluations" % tol)
    except NonFiniteLoss as e:
        result.stopped, result.message = "nonfinite", str(e)
    except KeyboardInterrupt:
        result.stopped, result.message = "interrupted", "interrupted"
    result.seconds = time.perf_counter() - start
    if result.x is None:  # stopped before the first evaluation finished
        result.x = x0.astype(np.float32)
    return result


class Progress:
    """Progress reporting: one call per evaluation, one per level."""

    def __call__(self, n, total_evals, loss, terms, seconds_per_eval):
        pass

    def level(self, index, count, shape):
        """Level ``index`` (0-based) of ``count`` starts at ``shape`` (H, W).
        """

    def stage(self, text):
        """A context manager around slow work before the first evaluation
        (building and compiling the network), described by ``text``."""
        return contextlib.nullcontext()


class CallbackProgress(Progress):
    """A user's ``progress(n, total, loss, terms, seconds_per_eval)``."""

    def __init__(self, callback):
        self.callback = callback

    def __call__(self, n, total_evals, loss, terms, seconds_per_eval):
        self.callback(n, total_evals, loss, terms, seconds_per_eval)


class ProgressPrinter(Progress):
    """Progress lines: iteration, each loss term, seconds per evaluation,
    ETA, and the optimiser's ``terms['detail']`` if any. Rewrites one line on
    a terminal; plain lines every ``every`` evaluations otherwise."""

    def __init__(self, stream=None, every=10):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every

    def __call__(self, n, total_evals, loss, terms, seconds_per_eval):
        last = n == total_evals
        if not (self.tty or last or n == 1 or n % self.every == 0):
            return
        eta = seconds_per_eval * (total_evals - n)
        line = "eval %*d/%d  loss %.4g (content %.3g, style %.3g, tv %.3g)" % (
            len(str(total_evals)), n, total_evals, loss, terms["content"],
            terms["style"], terms["tv"])
        if terms.get("detail"):
            line += "  " + terms["detail"]
        line += "  %.2f s/eval  ETA %s" % (seconds_per_eval, duration(eta))
        if self.tty:
            self.stream.write("\r\033[K" + line + ("\n" if last else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    @contextlib.contextmanager
    def stage(self, text):
        """Say ``text`` and, when the work is done, how long it took; on a
        terminal the seconds count up meanwhile (a first run is silent for
        many seconds otherwise)."""
        start = time.perf_counter()
        done = threading.Event()

        def tick():
            while not done.wait(1.0):
                self.stream.write("\r\033[K%s... %d s" % (
                    text, time.perf_counter() - start))
                self.stream.flush()

        self.stream.write(text + "...")
        self.stream.write("" if self.tty else "\n")
        self.stream.flush()
        ticker = threading.Thread(target=tick, daemon=True)
        if self.tty:
            ticker.start()
        try:
            yield
        finally:
            done.set()
            if self.tty:
                ticker.join()
                self.stream.write("\r\033[K%s: " % text)
            self.stream.write("ready in %.1f s\n"
                              % (time.perf_counter() - start))
            self.stream.flush()

    def level(self, index, count, shape):
        if count > 1:
            self.stream.write("level %d/%d: %dx%d\n" % (
                index + 1, count, shape[1], shape[0]))


def duration(seconds):
    """``seconds`` as 45s, 3m05s or 2h10m."""
    seconds = int(round(seconds))
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm%02ds" % divmod(seconds, 60)
    return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
