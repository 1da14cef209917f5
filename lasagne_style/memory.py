"""How much memory a run needs, checked before any large array exists.

Peak memory model of one run, fitted to ``make bench``'s peak RSS: a fixed
part (Python, Theano, weights) plus activations and their gradients per
pixel, with a larger per-pixel figure when ``keep_buffers`` keeps every
intermediate allocated (which still fits 1024 px on a 24 GB machine). Both
per-pixel figures were measured with 10 L-BFGS-B pairs; the optimiser's
extra pairs (at most :data:`HISTORY_BYTES`) are added. The peaks the model
is fitted to: docs/performance.md, "Memory model".
"""
from .errors import UserError

FIXED_BYTES = 0.45e9
BYTES_PER_PIXEL = 3.5e3
KEPT_BUFFERS_BYTES_PER_PIXEL = 6e3


#: L-BFGS-B's memory, in (step, gradient change) pairs, each 2 * 8 bytes
#: per image value: 30, not scipy's default 10 (Lua Torch's and PyTorch's
#: L-BFGS keep 100), because on a Gram texture from noise more pairs
#: reached a lower loss in the same evaluations. The price: the
#: optimiser's own work grows with the pairs. scipy's took about a third of
#: an evaluation at 256 and 512 px with 30, where 10 pairs reached lower
#: losses in 60-90 s runs; ours (lbfgsb.py) takes about a fifth, 0.22 s
#: against scipy's 0.40 at 512 px. At equal wall time on three 512 px
#: transfers of the default length, 30 and 10 pairs ended within 0.35 %,
#: 30 lower on two (measurements: docs/performance.md, "Third round", "Our
#: L-BFGS-B" and "Start-up and the optimiser's passes").
HISTORY = 30
#: Pairs beyond scipy's 10 get at most this much memory (large images keep
#: fewer pairs: 10 at 1024x1024, whose peak stays what it was).
HISTORY_BYTES = 0.5e9


def history_pairs(values):
    """L-BFGS-B pairs kept for an image of ``values`` numbers: HISTORY, or
    fewer (not under 10) where they would take more than HISTORY_BYTES."""
    return max(10, min(HISTORY, int(HISTORY_BYTES // (16 * values))))


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


#: Peak bytes per pixel of reading an image file (:func:`lasagne_style.
#: images.load_image` or ``load_mask``, whichever needs more: Pillow's
#: decoded copy and the numpy conversions), by the Pillow mode of the
#: file. Measured as the growth of peak RSS at 3000x3000 (Pillow 13,
#: numpy 1.23): L 11, 1 11, I;16 9, I 13, RGB 24 (a colour mask's luma;
#: an image 14), CMYK 24, RGBA 22, LA 22, P 21, F 21; with about 20% added
#: for an EXIF rotation's second copy and the allocator. Other modes count
#: as :data:`DECODE_BYTES_OTHER`. The 16-bit path used float64 copies:
#: 20.5 bytes a pixel, 2.95 GB for 12000x12000.
DECODE_BYTES_PER_PIXEL = {
    "1": 14, "L": 14, "I;16": 12, "I;16B": 12, "I;16L": 12, "I": 16,
    "P": 26, "RGB": 28, "RGBX": 28, "CMYK": 28, "YCbCr": 28, "LAB": 28,
    "HSV": 28, "RGBA": 28, "RGBa": 28, "LA": 28, "La": 28, "PA": 28,
    "F": 26}
DECODE_BYTES_OTHER = 32


def decode_bytes(size, mode):
    """Estimated peak memory in bytes of reading an image of ``size``
    (width, height) and Pillow ``mode``: known from its header, before a
    pixel is decoded."""
    width, height = size
    return (DECODE_BYTES_PER_PIXEL.get(mode, DECODE_BYTES_OTHER)
            * float(width) * float(height))


def check_decode(size, mode, what):
    """UserError if decoding an image file of ``size`` (width, height) and
    Pillow ``mode``, which its header declares, would not fit in the
    memory available.

    Why before decoding: a PNG of a few hundred KB can declare 12000x12000
    16-bit pixels (2.9 GB to decode); Pillow's own guard only refuses
    files of over 179 million pixels, whatever the memory. ``what`` names
    the file ('style image s.png').
    """
    need, have = decode_bytes(size, mode), available()
    if have is not None and need > have:
        raise UserError("%s declares %dx%d pixels (%s): reading it needs "
                        "about %.1f GB of memory but only %.1f GB are "
                        "available: use a smaller image"
                        % (what, size[0], size[1], mode, need / 1e9,
                           have / 1e9))


def keep_buffers_for(shape, convolution):
    """Whether a run at ``shape`` keeps its buffers between evaluations:
    with Winograd (where it pays: CorrMM gained nothing) and only while that
    needs at most half the available memory."""
    have = available()
    return (convolution == "winograd" and have is not None
            and estimated(shape, keep_buffers=True) <= 0.5 * have)
