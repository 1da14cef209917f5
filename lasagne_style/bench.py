"""Benchmark: seconds per loss-and-gradient evaluation against PyTorch.

``python -m lasagne_style.bench [--sizes 256 512 1024] [--repeats 3]``
(``make bench``). Every tool runs as a whole command in its own process,
``python -m lasagne_style.bench --child TOOL SIZE N --pairs P``: it loads
the same two images, builds the same objective (default preset: content
``conv4_2``, style ``conv1_1`` .. ``conv5_1``, total variation) and runs
scipy's bounded L-BFGS-B keeping P pairs (see ``--protocols`` below) from
the same noise image for N evaluations. The parent times each command from
outside, for N1 and for N2 evaluations, and takes

    seconds per evaluation = (time(N2) - time(N1)) / (N2 - N1),

so start-up and compilation cancel; N1 is at least P + 2, so that the
difference is taken where L-BFGS-B uses all its pairs. The tools are
``ours`` (the default convolution, :mod:`lasagne_style.ops.winograd`),
``corrmm`` (Theano's own CPU convolution, the accuracy reference) and
``torch`` (the same objective in PyTorch on the CPU; optional, never a
dependency of the package). They run
in turn, A B C A B C ..., and the ratios ours / torch are taken pair by
pair. ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are removed from the
children's environment only; the PyTorch child takes back the idle-thread
variables the package sets at import (:mod:`lasagne_style.threads`) before
it loads numpy and PyTorch, which so run with their own defaults. Printed
per size: median and range of seconds per evaluation and of the ratios,
each child's peak RSS, and the relative difference of the first
evaluation's loss (same image for all tools). Then
start-up: ``lasagne-style transfer --size 64 --iters 1`` as a whole command,
cold (each time in an empty Theano cache) and warm (in that cache once
filled, and in the user's own, whose size the warm start depends on), against
the PyTorch child doing one 64 px evaluation. Timings are printed, never
asserted.

``--protocols``: ``objective`` runs every tool with scipy's default 10
L-BFGS-B pairs (the objective alone); ``cli`` runs each with the L-BFGS-B
its users get (ours, :mod:`lasagne_style.lbfgsb`, keeping up to 30 pairs;
the PyTorch reference scipy's with 10). Instead of all that,
``--optimiser`` prints, in this process, the seconds per evaluation spent
in our objective and in each L-BFGS-B; ``--pairs-time SIZE EVALS
PAIRS...`` the loss that transfers and textures keeping each number of
pairs reach in the time the first number takes for EVALS evaluations, and
``--lbfgsb-time SIZE EVALS`` the same for scipy's L-BFGS-B and ours;
``--torch-time SIZE EVALS`` the best loss our command reaches in the time
PyTorch's takes for EVALS evaluations (``cli`` protocol, whole commands);
``--multiscale SIZE LEVELS ITERS`` a coarse-to-fine run against a
single-scale run given the same time.
"""
import argparse
import contextlib
import json
import os
import platform
import resource
import statistics as stats
import subprocess
import sys
import tempfile
import time

from . import threads

TOOLS = ("ours", "corrmm", "torch")
#: The protocols: how many L-BFGS-B pairs each tool keeps (:func:`_pairs`).
PROTOCOL_TEXT = {
    "objective": "every tool runs scipy's L-BFGS-B with its default 10 pairs "
                 "(the objective alone)",
    "cli": "each tool runs the L-BFGS-B its users get (ours: lasagne_style."
           "lbfgsb keeping up to 30 pairs, memory.history_pairs; PyTorch's "
           "reference: scipy's with its default 10)"}
PROTOCOLS = tuple(PROTOCOL_TEXT)
#: Tools that ``--tools`` accepts besides: ``unfused`` is ours with the
#: unfused F(2x2, 3x3) ops (``winograd.FUSED = 0``), the default before
#: 2026-11-27.
MORE_TOOLS = ("unfused",)
#: Environment variables removed from the children's environment.
UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: (largest size, (N1, N2)): the long run's extra evaluations take some 10 s
#: or more of ours, so that the start-up's run-to-run spread (about 0.5 s)
#: moves seconds per evaluation by a few percent at most; with fewer
#: evaluations at 256 px the runs spread widely (measurements:
#: docs/performance.md).
DEFAULT_EVALS = ((256, (2, 42)), (512, (2, 14)), (float("inf"), (1, 4)))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _inputs(size):
    """Preprocessed content and style images (1, 3, size, size), the start
    image (uniform noise in ±100, float32) and the pixel bounds."""
    import numpy as np

    from . import images
    shape = (size, size)
    content, style = (
        images.preprocess(images.resize(images.load_image(
            os.path.join(ROOT, "samples", name)), shape))
        for name in ("grace_hopper.jpg", "night_cafe.jpg"))
    x0 = np.random.RandomState(0).uniform(-100, 100, content.shape).astype(
        np.float32)
    return content, style, x0, images.pixel_bounds(content.shape)


class _Deadline(Exception):
    """The run's time is up (``_lbfgs``'s ``until``)."""


def _lbfgs(loss_and_grad, x0, bounds, evals, pairs=10, lbfgsb="scipy",
           until=None):
    """L-BFGS-B (``lbfgsb``: scipy's, or ``ours``,
    :mod:`lasagne_style.lbfgsb`) keeping ``pairs`` (step, gradient change)
    pairs, with ``bounds`` from ``x0`` for ``evals`` evaluations of
    ``loss_and_grad`` (float32 array -> loss, float32 gradient), or until
    the clock (``time.time()``) passes ``until``: the losses of the
    evaluations done by then, and the (start, end) times of each call of
    ``loss_and_grad`` (between two calls: the optimiser's own work and the
    float64 conversions)."""
    import numpy as np
    import scipy.optimize
    losses, calls = [], []

    def f(flat):
        start = time.perf_counter()
        loss, grad = loss_and_grad(flat.reshape(x0.shape).astype(np.float32))
        if until is not None and time.time() > until:
            raise _Deadline  # this evaluation ended too late: not counted
        calls.append((start, time.perf_counter()))
        losses.append(float(loss))
        return float(loss), np.asarray(grad, np.float64).ravel()

    low, high = (np.ravel(b).astype(np.float64) for b in bounds)
    start = np.clip(x0.ravel().astype(np.float64), low, high)
    settings = dict(maxfun=evals, maxiter=10 * evals, factr=0.0, pgtol=0.0,
                    m=pairs)
    try:
        if lbfgsb == "ours":
            from . import lbfgsb as ours
            ours.fmin(f, start, low, high, **settings)
        else:
            scipy.optimize.fmin_l_bfgs_b(
                f, start, bounds=np.stack([low, high], axis=1), **settings)
    except _Deadline:
        pass
    return losses, calls


def _preset():
    try:
        from .config import preset
    except ImportError:  # before the configuration had a module of its own
        from .objective import preset
    return preset("default")


def _weights():
    try:
        from . import vgg_weights as weights
    except ImportError:
        from . import weights
    return weights.load()


def _ours(size, convolution):
    """Our objective (Theano), buffers kept between evaluations where
    memory allows, as a run would: (loss_and_grad, x0, bounds)."""
    from .objective import Objective
    try:
        from .memory import keep_buffers_for
    except ImportError:
        from .api import keep_buffers_for
    content, style, x0, bounds = _inputs(size)
    keep = keep_buffers_for(content.shape[2:], convolution)
    objective = Objective(_weights(), _preset(), convolution=convolution,
                          keep_buffers=keep)
    objective.set_targets(content.shape, content,
                          objective.style_target([style]))

    def loss_and_grad(x):
        out = objective(x)
        return out[0], out[-1]
    return loss_and_grad, x0, bounds


def _torch(size):
    """The same objective in PyTorch (CPU, all cores): (loss_and_grad, x0,
    bounds)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from .vgg import LAYERS
    config = _preset()
    torch.set_num_threads(os.cpu_count() or 1)
    weights = [(torch.from_numpy(W), torch.from_numpy(b))
               for W, b in _weights()]
    wanted = set(config.style_layers + config.content_layers)
    deepest = max(wanted, key=LAYERS.index)
    layer_weights = dict(zip(config.style_layers, config.layer_weights))

    def features(img):
        out, k, h = {}, 0, img
        for name in LAYERS[:LAYERS.index(deepest) + 1]:
            if name.startswith("conv"):
                h = F.relu(F.conv2d(h, *weights[k], padding=1))
                k += 1
                if name in wanted:
                    out[name] = h
            else:
                h = F.avg_pool2d(h, 2)
        return out

    def gram(f):
        m = f.reshape(f.shape[1], -1)
        return m @ m.T

    content, style, x0, bounds = _inputs(size)
    with torch.no_grad():
        targets_c = features(torch.from_numpy(content))
        style_features = features(torch.from_numpy(style))
        targets_s = {n: gram(style_features[n]) for n in config.style_layers}

    def loss_and_grad(xa):
        xt = torch.from_numpy(np.ascontiguousarray(xa)).requires_grad_(True)
        feats = features(xt)
        c = sum(0.5 * ((feats[n] - targets_c[n]) ** 2).sum() / feats[n].numel()
                for n in config.content_layers)
        s = 0
        for n in config.style_layers:
            f = feats[n]
            N, M = f.shape[1], f.shape[2] * f.shape[3]
            s = s + layer_weights[n] * 0.25 * (
                ((gram(f) - targets_s[n]) / (N * M)) ** 2).sum()
        dy = xt[:, :, 1:, :-1] - xt[:, :, :-1, :-1]
        dx = xt[:, :, :-1, 1:] - xt[:, :, :-1, :-1]
        tv = ((dx ** 2 + dy ** 2) ** 1.25).sum() / (xt.shape[2] * xt.shape[3])
        total = (config.content_weight * c + config.style_weight * s
                 + config.tv_weight * tv)
        total.backward()
        return float(total.detach()), xt.grad.numpy()
    return loss_and_grad, x0, bounds


def _objective(tool, size):
    """``tool``'s objective at ``size``: (loss_and_grad, x0, bounds)."""
    if tool == "torch":
        # the reference runs with PyTorch's own thread defaults, not ours
        threads.unset_env_defaults()
        return _torch(size)
    from . import compat
    compat.apply()
    if tool == "unfused":
        from .ops import winograd
        winograd.FUSED = 0
    return _ours(size, "corrmm" if tool == "corrmm" else "winograd")


def _child(tool, size, evals, pairs, lbfgsb, until=None):
    losses = _lbfgs(*_objective(tool, size), evals, pairs, lbfgsb, until)[0]
    # None where no evaluation ended by ``until``
    first, last, best = ((losses[0], losses[-1], min(losses)) if losses
                         else (None, None, None))
    print(json.dumps(dict(
        tool=tool, size=size, evals=len(losses), first_loss=first,
        last_loss=last, best_loss=best,
        peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.)))


def _env(**extra):
    """The children's environment: ours without :data:`UNSET` and without
    the thread variables this process set itself (each child decides)."""
    env = {k: v for k, v in os.environ.items()
           if k not in UNSET and k not in threads.set_here}
    env.update(extra)
    return env


def _timed(args, env):
    """Wall seconds of the whole command, and the JSON of its last line
    (None if it printed none)."""
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env,
                          cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(args),
                                                proc.stderr[-3000:]))
    lines = proc.stdout.strip().splitlines()
    try:
        return wall, json.loads(lines[-1]) if lines else None
    except ValueError:
        return wall, None


def _pairs(tool, size, protocol):
    """L-BFGS-B pairs ``tool`` keeps at ``size`` under ``protocol``: scipy's
    default 10 for every tool (``objective``: the objective alone), or as
    users run each tool (``cli``: ours keeps
    :func:`lasagne_style.memory.history_pairs`, PyTorch's reference scipy's
    default)."""
    if protocol == "cli" and tool != "torch":
        from .memory import history_pairs
        return history_pairs(3 * size * size)
    return 10


def _lbfgsb(tool, protocol):
    """Whose L-BFGS-B ``tool`` runs under ``protocol``: ours where users of
    ours get it (``cli``), else scipy's."""
    return "ours" if protocol == "cli" and tool != "torch" else "scipy"


def _child_args(tool, size, evals, pairs=10, lbfgsb="scipy", until=None):
    return [sys.executable, "-m", "lasagne_style.bench", "--child", tool,
            str(size), str(evals), "--pairs", str(pairs), "--lbfgsb",
            lbfgsb] + ([] if until is None else ["--until", repr(until)])


def _have_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _spread(values, fmt="%.3g"):
    return "%s (%s-%s)" % (fmt % stats.median(values), fmt % min(values),
                           fmt % max(values))


def _per_size(size, tools, n1, n2, repeats, protocol):
    """Per tool: seconds per evaluation of each repeat, peak MB, the first
    loss; run in turn A B C A B C ..."""
    per_eval = {t: [] for t in tools}
    peak, loss = {}, {}
    for _ in range(repeats):
        for tool in tools:
            settings = _pairs(tool, size, protocol), _lbfgsb(tool, protocol)
            w1, r1 = _timed(_child_args(tool, size, n1, *settings), _env())
            w2, r2 = _timed(_child_args(tool, size, n2, *settings), _env())
            per_eval[tool].append((w2 - w1) / (r2["evals"] - r1["evals"]))
            peak[tool] = max(peak.get(tool, 0), r2["peak_mb"])
            loss[tool] = r2["first_loss"]
    return per_eval, peak, loss


def _transfer_command(size, iters, out):
    cli = os.path.join(os.path.dirname(sys.executable), "lasagne-style")
    head = [cli] if os.path.exists(cli) else [sys.executable, "-m",
                                              "lasagne_style.cli"]
    samples = os.path.join(ROOT, "samples")
    return head + ["transfer", os.path.join(samples, "grace_hopper.jpg"),
                   os.path.join(samples, "night_cafe.jpg"), "-o", out,
                   "--size", str(size), "--iters", str(iters), "--seed", "0",
                   "-q"]


def _cache_entries(compiledir):
    """Compiled modules in a Theano cache: Theano read every one's key at
    the first compilation of a process (compat fix 17 reads only those of
    the objective's modules), so a warm start grew with them."""
    try:
        return sum(os.path.isfile(os.path.join(compiledir, d, "key.pkl"))
                   for d in os.listdir(compiledir))
    except OSError:
        return 0


def _start_up(repeats, torch_reference):
    """Whole-command seconds of a 64 px transfer with one evaluation: cold
    ``repeats`` times, each in a fresh Theano cache; warm ``repeats`` times
    in the last of them, which then holds this command's modules only, and
    ``repeats`` times in the user's own Theano cache; PyTorch's child with
    one 64 px evaluation ``repeats`` times. Returns the seconds and the
    caches' entry counts."""
    import shutil

    import theano
    with tempfile.TemporaryDirectory() as tmp:
        out, fresh = os.path.join(tmp, "out.png"), os.path.join(tmp, "c")
        fresh_env = _env(THEANO_FLAGS=",".join(filter(None, [
            os.environ.get("THEANO_FLAGS"), "compiledir=" + fresh])))
        command = _transfer_command(64, 1, out)
        times = {"cold": [], "warm": [], "warm_user": [], "torch": []}
        for _ in range(repeats):
            shutil.rmtree(fresh, ignore_errors=True)
            times["cold"].append(_timed(command, fresh_env)[0])
        _timed(command, _env())  # fills the user's cache
        for _ in range(repeats):
            times["warm"].append(_timed(command, fresh_env)[0])
            times["warm_user"].append(_timed(command, _env())[0])
            if torch_reference:
                times["torch"].append(_timed(_child_args("torch", 64, 1),
                                             _env())[0])
        entries = (_cache_entries(fresh),
                   _cache_entries(theano.config.compiledir))
    return times, entries


def _report_size(size, tools, args, protocol):
    """Run and print one size's seconds per evaluation, ratios and first
    losses under ``protocol``."""
    n1, n2 = args.evals or next(
        evals for largest, evals in DEFAULT_EVALS if size <= largest)
    # both runs past the first pairs + 2 evaluations, so that the difference
    # is taken where L-BFGS-B uses all its pairs (its cost grows with them)
    shift = max(0, max(_pairs(t, size, protocol) for t in tools) + 2 - n1)
    n1, n2 = n1 + shift, n2 + shift
    per_eval, peak, loss = _per_size(size, tools, n1, n2, args.repeats,
                                     protocol)
    for tool in tools:
        print("%4d px  %-6s  %2d pairs  %s s/eval (N1/N2 %d/%d)  peak RSS "
              "%.0f MB" % (size, tool, _pairs(tool, size, protocol),
                           _spread(per_eval[tool]), n1, n2, peak[tool]),
              flush=True)
    if "torch" in tools:
        for tool in tools:
            if tool != "torch":
                ratios = [a / b for a, b in zip(per_eval[tool],
                                                per_eval["torch"])]
                print("%4d px  ratio %s / torch  %s" % (
                    size, tool, _spread(ratios, "%.2f")))
    reference = loss.get("corrmm", loss.get("torch"))
    print("%4d px  first loss %s" % (size, ", ".join(
        "%s %.7g" % (t, v) + ("" if reference is None else
                              " (rel. diff %.1e)" % (
                                  abs(v - reference) / abs(reference)))
        for t, v in loss.items())), flush=True)


def _optimiser_share(sizes, evals=None):
    """Print, per size, the seconds per evaluation spent in our objective
    and in each L-BFGS-B itself (scipy's and ours, with the float64
    conversions), keeping 10 pairs and the pairs a run keeps: medians over
    the ``evals`` evaluations (default 20) that follow the first
    ``pairs + 2``, when the pairs are all in use; one process, after a
    first short run that compiles. The last losses differ: on this float32
    objective rounding makes the two part after a few dozen evaluations
    (tests/test_lbfgsb.py shows the same steps on float64 problems)."""
    count = (evals or (0, 20))[1]
    print("seconds per evaluation once L-BFGS-B's pairs are all in use, "
          "medians: objective / L-BFGS-B and conversions (share)")
    for size in sizes:
        run = _objective("ours", size)
        _lbfgs(*run, 2)  # compiles, allocates
        for pairs in sorted({10, _pairs("ours", size, "cli")}):
            for lbfgsb in ("scipy", "ours"):
                losses, calls = _lbfgs(*run, pairs + 2 + count, pairs,
                                       lbfgsb)
                calls = calls[pairs + 2:]
                objective = stats.median(end - start for start, end in calls)
                between = stats.median(
                    b[0] - a[1] for a, b in zip(calls, calls[1:]))
                print("%4d px  %2d pairs  %-5s  objective %.3f  optimiser "
                      "%.3f (%.0f %%)  last loss %.7g" % (
                          size, pairs, lbfgsb, objective, between,
                          100 * between / (objective + between), losses[-1]),
                      flush=True)


#: Runs of ``--pairs-time``: (command, content or None, style). Transfers as
#: users run them (a portrait with a painting, a still life with a
#: painting, a bridge with a photographed texture; the default start, the
#: content) and textures from noise (a painting, two photographed textures).
PAIRS_TIME_RUNS = (("transfer", "grace_hopper.jpg", "night_cafe.jpg"),
                   ("transfer", "coffee_cup.jpg", "pere_tanguy.jpg"),
                   ("transfer", "roebling_bridge.jpg", "brick_wall.png"),
                   ("texture", None, "night_cafe.jpg"),
                   ("texture", None, "brick_wall.png"),
                   ("texture", None, "cork.png"))


def _runs(only):
    """:data:`PAIRS_TIME_RUNS` of the kind ``only`` (None: all)."""
    return [run for run in PAIRS_TIME_RUNS if only in (None, run[0])]


def _stop_after(seconds):
    """A progress callback that ends a run (keeping its best image) once
    its evaluations took ``seconds``."""
    def progress(n, total, loss, terms, seconds_per_eval):
        if n * seconds_per_eval >= seconds:
            raise KeyboardInterrupt  # minimize keeps the best image
    return progress


def _best_by(history, seconds):
    """The lowest loss of ``history`` evaluated within ``seconds``, and the
    number of evaluations by then."""
    done = [h["loss"] for h in history if h["time"] <= seconds]
    return (min(done) if done else float("nan")), len(done)


def _pairs_time(size, evals, pairs, runs=PAIRS_TIME_RUNS):
    """Loss at equal wall time of runs keeping each number of ``pairs``
    (:func:`_equal_time`)."""
    from . import memory, optimize
    _equal_time(size, evals, runs, [
        ("%d pairs" % n, lambda n=n: _history_pairs(n, memory, optimize))
        for n in pairs])


def _lbfgsb_time(size, evals, runs=PAIRS_TIME_RUNS):
    """Loss at equal wall time and at equal evaluations of runs with
    scipy's L-BFGS-B and with ours (:func:`_equal_time`)."""
    _equal_time(size, evals, runs, [("scipy", _scipy_lbfgsb),
                                    ("ours", contextlib.nullcontext)])


def _equal_time(size, evals, runs, variants):
    """Each of ``runs`` at ``size`` with the default preset and seed 0, in
    each of ``variants`` (label, context manager factory): the first for
    ``evals`` evaluations, each other for the time those took. Prints the
    best loss by a third, two thirds and all of that time, and after
    ``evals`` evaluations."""
    from . import api
    print("%d px, default preset, seed 0: %s for %d evaluations, then each "
          "other variant for the same time T; best loss (evaluations) by "
          "T/3, 2T/3 and T; best loss after %d evaluations" % (
              size, variants[0][0], evals, evals))
    for command, content, style in runs:
        paths = [os.path.join(ROOT, "samples", name)
                 for name in (content, style) if name]
        run = api.stylize if content else api.synthesize
        run(*paths, size=size, seed=0, iters=1, progress=False)  # compiles
        budget = None
        for label, variant in variants:
            with variant():
                result = run(*paths, size=size, seed=0,
                             iters=evals if budget is None else 100000,
                             progress=False if budget is None
                             else _stop_after(budget))
            budget = budget or result.history[-1]["time"]
            losses = [h["loss"] for h in result.history[:evals]]
            print("  %-8s %-20s %-16s %-8s  %s  | %.5g" % (
                command, content or "", style, label, "  ".join(
                    "%.5g (%d)" % _best_by(result.history, budget * k / 3)
                    for k in (1, 2, 3)), min(losses)), flush=True)


@contextlib.contextmanager
def _scipy_lbfgsb():
    """Within the block, runs use scipy's L-BFGS-B instead of ours."""
    import numpy as np
    import scipy.optimize

    from . import lbfgsb
    ours = lbfgsb.fmin

    def scipys(func, x0, lower, upper, **settings):
        return scipy.optimize.fmin_l_bfgs_b(
            func, x0, bounds=np.stack([lower, upper], axis=1), **settings)
    lbfgsb.fmin = scipys
    try:
        yield
    finally:
        lbfgsb.fmin = ours


@contextlib.contextmanager
def _history_pairs(n, *modules):
    """Within the block, ``history_pairs`` gives ``n`` in each of
    ``modules`` (the optimiser's and the memory model's)."""
    kept = [module.history_pairs for module in modules]
    for module in modules:
        module.history_pairs = lambda values: n
    try:
        yield
    finally:
        for module, original in zip(modules, kept):
            module.history_pairs = original


#: Evaluations our run may make in ``--torch-time``: its deadline ends it.
UNLIMITED = 10 ** 6


def _torch_time(size, evals, repeats):
    """Loss at equal wall time against PyTorch, whole commands under the
    ``cli`` protocol: per repeat, the PyTorch child for ``evals``
    evaluations (scipy's L-BFGS-B stops at the end of the iteration that
    reaches them), then ours stopped when its command has run as long,
    counting the evaluations that end by then (the time ours gets includes
    PyTorch's exit after its last evaluation, and our exit is not counted:
    a small bias in our favour). Prints each run's evaluations and best
    loss (the image a run keeps) and the median ratio of the best
    losses."""
    def child_command(tool, evals, until=None):
        return _child_args(tool, size, evals, _pairs(tool, size, "cli"),
                           _lbfgsb(tool, "cli"), until)

    def show(tool, wall, run):
        print("  %-5s %6.1f s  %4d evaluations  best loss %s" % (
            tool, wall, run["evals"], "-" if run["best_loss"] is None
            else "%.6g" % run["best_loss"]), flush=True)
    print("%d px, loss at equal wall time; %s; PyTorch for %d evaluations, "
          "then ours for as long, in turn, %d times" % (
              size, PROTOCOL_TEXT["cli"], evals, repeats))
    ratios, empty = [], 0
    for _ in range(repeats):
        torch_wall, torch_run = _timed(child_command("torch", evals),
                                       _env())
        show("torch", torch_wall, torch_run)
        until = time.time() + torch_wall
        ours_wall, ours_run = _timed(
            child_command("ours", UNLIMITED, until), _env())
        show("ours", ours_wall, ours_run)
        if ours_run["evals"]:
            ratios.append(ours_run["best_loss"] / torch_run["best_loss"])
        else:
            empty += 1
    print("best loss ours / PyTorch at equal wall time: %s%s" % (
        _spread(ratios, "%.2f") if ratios else "-",
        "; in %d of %d runs no evaluation of ours ended in that time" % (
            empty, repeats) if empty else ""))


def _multiscale(size, levels, iters):
    """Coarse-to-fine (``levels`` levels, ``iters`` evaluations each) against
    a single-scale run stopped after the same time; both from the same noise
    start, losses of the saved 8-bit images at the final size."""
    from . import api
    content = os.path.join(ROOT, "samples", "grace_hopper.jpg")
    style = os.path.join(ROOT, "samples", "night_cafe.jpg")
    common = dict(size=size, seed=0, init="noise", convolution="winograd")
    api.stylize(content, style, iters=1, progress=False, **common)  # compile
    coarse = api.stylize(content, style, iters=iters, multiscale=levels,
                         progress=False, **common)

    single = api.stylize(content, style, iters=100000, progress=_stop_after(
        coarse.seconds), **common)
    sizes = sorted({h["size"] for h in coarse.history})
    print("%d px transfer from noise, default preset:" % size)
    print("  coarse to fine, levels %s, %d evaluations each: %.0f s, "
          "loss %.5g" % ("/".join(map(str, sizes)), iters, coarse.seconds,
                         coarse.saved_loss))
    print("  single scale, %d evaluations in %.0f s: loss %.5g  (ratio "
          "coarse-to-fine / single %.2f)" % (
              single.evaluations, single.seconds, single.saved_loss,
              coarse.saved_loss / single.saved_loss))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[256, 512, 1024])
    parser.add_argument("--tools", nargs="+", choices=TOOLS + MORE_TOOLS,
                        default=list(TOOLS))
    parser.add_argument("--evals", type=int, nargs=2, metavar=("N1", "N2"),
                        help="evaluations of the short and the long run "
                        "(default: %s, %d %d above)" % ((", ".join(
                            "%d %d up to %d px" % (n1, n2, size)
                            for size, (n1, n2) in DEFAULT_EVALS[:-1]),)
                            + DEFAULT_EVALS[-1][1]))
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each tool per size, in turn")
    parser.add_argument("--no-start", action="store_true",
                        help="skip the start-up measurement")
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS,
                        default=list(PROTOCOLS),
                        help="L-BFGS-B pairs: 10 for every tool (objective), "
                        "or each tool's own (cli; see _pairs)")
    parser.add_argument("--optimiser", action="store_true",
                        help="only scipy's own time per evaluation against "
                        "the objective's, at --sizes, in this process")
    parser.add_argument("--pairs-time", nargs="+", type=int,
                        metavar=("SIZE EVALS", "PAIRS"),
                        help="only the loss at equal wall time of runs "
                        "keeping each number of L-BFGS-B PAIRS, the first "
                        "for EVALS evaluations")
    parser.add_argument("--lbfgsb-time", nargs=2, type=int,
                        metavar=("SIZE", "EVALS"),
                        help="only the loss at equal wall time of runs with "
                        "scipy's L-BFGS-B (for EVALS evaluations) and ours")
    parser.add_argument("--torch-time", nargs=2, type=int,
                        metavar=("SIZE", "EVALS"),
                        help="only the loss at equal wall time of PyTorch "
                        "(for EVALS evaluations) and ours, whole commands "
                        "under the cli protocol, --repeats runs")
    parser.add_argument("--only", choices=("transfer", "texture"),
                        help="--pairs-time, --lbfgsb-time: only transfers "
                        "or textures")
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "SIZE", "N"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--pairs", type=int, default=10,
                        help=argparse.SUPPRESS)
    parser.add_argument("--lbfgsb", choices=("scipy", "ours"),
                        default="scipy", help=argparse.SUPPRESS)
    parser.add_argument("--until", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--multiscale", nargs=3, type=int,
                        metavar=("SIZE", "LEVELS", "ITERS"),
                        help="only the coarse-to-fine comparison")
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child[0], int(args.child[1]), int(args.child[2]),
                      args.pairs, args.lbfgsb, args.until)
    if args.optimiser:
        return _optimiser_share(args.sizes, args.evals)
    if args.multiscale:
        return _multiscale(*args.multiscale)
    if args.pairs_time:
        if len(args.pairs_time) < 3:
            parser.error("--pairs-time needs SIZE EVALS and pairs")
        return _pairs_time(*args.pairs_time[:2], args.pairs_time[2:],
                           _runs(args.only))
    if args.lbfgsb_time:
        return _lbfgsb_time(*args.lbfgsb_time, _runs(args.only))
    if args.torch_time:
        if not _have_torch():
            parser.error("--torch-time needs PyTorch (the bench extra)")
        return _torch_time(*args.torch_time, args.repeats)

    tools = [t for t in args.tools if t != "torch" or _have_torch()]
    if "torch" in args.tools and "torch" not in tools:
        print("no PyTorch: benchmarking without the reference")
    print("lasagne_style benchmark, %s: %s, %d CPUs, Python %s; each tool a "
          "whole command in its own process (%s unset there)" % (
              time.strftime("%Y-%m-%d", time.gmtime()),
              platform.processor() or platform.machine(), os.cpu_count(),
              platform.python_version(), ", ".join(UNSET)))
    print("seconds per evaluation = (time of N2 evaluations - time of N1) / "
          "(N2 - N1); median (min-max) of %d runs" % args.repeats)
    for protocol in args.protocols:
        print("protocol %s: %s" % (protocol, PROTOCOL_TEXT[protocol]))
        for size in args.sizes:
            _report_size(size, tools, args, protocol)
    if not args.no_start:
        times, entries = _start_up(args.repeats, "torch" in tools)
        print("start-up, `lasagne-style transfer --size 64 --iters 1`: cold "
              "cache %s s; warm, in the cache the cold run filled (%d "
              "modules), %s s; warm, in the user's Theano cache (%d modules), "
              "%s s" % (_spread(times["cold"]), entries[0],
                        _spread(times["warm"]),
                        entries[1], _spread(times["warm_user"])))
        if times["torch"]:
            print("start-up, PyTorch child, one 64 px evaluation: %s s; "
                  "ratio warm ours / torch %s, in the user's cache %s" % (
                      _spread(times["torch"]),
                      *[_spread([a / b for a, b in zip(times[k],
                                                       times["torch"])],
                                "%.2f") for k in ("warm", "warm_user")]))


if __name__ == "__main__":
    main()
