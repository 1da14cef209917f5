"""How much memory a run needs, checked before any large array exists.

Peak memory model of one run, fitted to ``make bench``'s peak RSS (objective
up to conv5_1; 0.70/1.30/3.26 GB at 256/512/1024 px with Winograd, 0.62/
1.34/4.12 GB with CorrMM): a fixed part (Python, Theano, weights) plus
activations and their gradients per pixel. With ``keep_buffers`` every
intermediate stays allocated: 1.91 GB at 512 px with the fused Winograd op
(2026-11-27, the one point the per-pixel figure is fitted to; measured
since: 0.97 GB at 256 px against the model's 0.84, 5.35 GB at 1024 px
against 6.7; 5.62 GB at 512 px with the unfused ops it replaced), so 1024 px
keeps its buffers too on a 24 GB machine. Both per-pixel figures were
measured with 10 L-BFGS-B pairs; the optimiser's extra pairs (at most
:data:`lasagne_style.optimize.HISTORY_BYTES`) are added.
"""
from .errors import UserError
from .optimize import history_pairs

FIXED_BYTES = 0.45e9
BYTES_PER_PIXEL = 3.5e3
KEPT_BUFFERS_BYTES_PER_PIXEL = 6e3


def estimated(shape, keep_buffers=False):
    """Estimated peak memory in bytes of a run producing ``shape`` (H, W)."""
    per_pixel = (KEPT_BUFFERS_BYTES_PER_PIXEL if keep_buffers
                 else BYTES_PER_PIXEL)
    pixels = shape[0] * shape[1]
    return (FIXED_BYTES + per_pixel * pixels
            + extra_history_bytes(3 * pixels))


def extra_history_bytes(values):
    """L-BFGS-B's pairs beyond the 10 the per-pixel figures were measured
    with (two float64 vectors each)."""
    return (history_pairs(values) - 10) * 2 * 8 * values


def available():
    """MemAvailable from /proc/meminfo in bytes, or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check(shape, advice="use a smaller --size"):
    """UserError if a run at ``shape`` (H, W) would not fit in memory. Also
    used for a style image larger than the output (``--style-scale``): its
    forward pass needs less than a run of its size, so this errs on the
    safe side."""
    need, have = estimated(shape), available()
    if have is not None and need > have:
        raise UserError("a %dx%d image needs about %.1f GB of memory but only "
                        "%.1f GB are available: %s"
                        % (shape[1], shape[0], need / 1e9, have / 1e9,
                           advice))


def keep_buffers_for(shape, convolution):
    """Whether a run at ``shape`` keeps its buffers between evaluations:
    with Winograd (where it pays: CorrMM gained nothing) and only while that
    needs at most half the available memory."""
    have = available()
    return (convolution == "winograd" and have is not None
            and estimated(shape, keep_buffers=True) <= 0.5 * have)
