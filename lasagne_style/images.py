"""Image I/O and the recipe's pre/post-processing.

The network sees images as the Caffe VGG did: BGR channel order, 0..255,
minus the per-channel mean ``MEAN_BGR``, in (1, 3, H, W) layout.
"""
import io
import os
import stat
import tempfile

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin

from .errors import UserError

MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


def load_image(path):
    """Read an image file as an RGB uint8 array of shape (H, W, 3).

    EXIF orientation is honoured, the first frame of an animation is used,
    transparency is composited on white, and grayscale, palette, CMYK,
    16-bit and floating-point images are converted to 8-bit RGB (float
    pixels are read as 0..1 if they all lie in it, else as 0..255; other
    ranges and NaN or infinite values are refused).
    """
    if not os.path.exists(path):
        raise UserError("image not found: %s" % path)
    if os.path.isdir(path):
        raise UserError("%s is a directory, not an image" % path)
    try:
        with Image.open(path) as im:
            im.seek(0)
            im = ImageOps.exif_transpose(im)
            im.load()
            return _to_rgb(im)
    except Image.DecompressionBombError:
        raise UserError("%s is too large to decode safely (Pillow's "
                        "decompression-bomb guard)" % path)
    except (OSError, SyntaxError, ValueError) as e:
        raise UserError("cannot read image %s (%s)" % (path, e))


def _float_to_uint8(a):
    """Float pixels as uint8: 0..1 or 0..255 scaled to 0..255."""
    if not np.all(np.isfinite(a)):
        raise ValueError("it has NaN or infinite pixel values")
    low, high = a.min(), a.max()
    if low >= 0 and high <= 1:
        a = a * 255.0
    elif low < 0 or high > 255:
        raise ValueError("its float pixel values span %.6g..%.6g; expected "
                         "0..1 or 0..255" % (low, high))
    return np.round(a).astype(np.uint8)


def _to_rgb(im):
    if im.mode == "F":
        a = _float_to_uint8(np.asarray(im, dtype=np.float64))
        return np.repeat(a[:, :, None], 3, axis=2)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale the full range down to 8 bits
        a = np.asarray(im, dtype=np.float64)
        a = a / (65535.0 if a.max() > 255 else 255.0) * 255.0
        return np.repeat(np.round(a).astype(np.uint8)[:, :, None], 3, axis=2)
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("LA", "RGBA", "PA"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def fit_size(shape, longest):
    """(height, width) scaled so that the longer side is ``longest``."""
    h, w = shape[:2]
    scale = float(longest) / max(h, w)
    return max(1, int(round(h * scale))), max(1, int(round(w * scale)))


def resize(rgb, size):
    """Resize an RGB uint8 array to ``size`` = (height, width), Lanczos."""
    h, w = size
    if rgb.shape[:2] == (h, w):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((w, h), Image.LANCZOS))


def resize_preprocessed(x, size):
    """Resize a preprocessed float image (1, 3, H, W) to ``size`` =
    (height, width), bicubic per channel, without rounding to 8 bits (the
    coarse-to-fine schedule's upsampling). ``x`` itself if it has that size."""
    h, w = size
    if x.shape[2:] == (h, w):
        return x
    channels = [np.asarray(Image.fromarray(np.asarray(c, np.float32), "F")
                           .resize((w, h), Image.BICUBIC)) for c in x[0]]
    low, high = pixel_bounds((1, 3, h, w))
    return np.clip(np.stack(channels)[None], low, high).astype(np.float32)


def preprocess(rgb):
    """RGB uint8 (H, W, 3) -> float32 (1, 3, H, W), BGR minus the mean."""
    bgr = rgb[:, :, ::-1].astype(np.float32) - MEAN_BGR
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])


def deprocess(x):
    """Inverse of :func:`preprocess`, rounded and clipped to uint8 RGB."""
    bgr = np.asarray(x, dtype=np.float64).reshape(3, *x.shape[-2:])
    rgb = bgr.transpose(1, 2, 0)[:, :, ::-1] + MEAN_BGR[::-1]
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def pixel_bounds(shape):
    """Per-element (low, high) arrays of the preprocessed pixels that map to
    0..255, for an image of ``shape`` (1, 3, H, W)."""
    low = np.broadcast_to(-MEAN_BGR[None, :, None, None], shape)
    return low, low + 255.0


#: The formats whose files keep :func:`save_image`'s metadata.
METADATA_FORMATS = ("PNG",)

#: Figure formats :func:`check_figure_output` accepts (if matplotlib's
#: canvas can write them).
FIGURE_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif",
                  "tiff", "webp")

_RGB_WRITABLE = {}  # Pillow format -> whether it can write RGB images


def save_image(path, rgb, metadata=None):
    """Write an RGB uint8 array atomically in the format its extension names.

    Parameters
    ----------
    path : str
        Output file; see :func:`check_image_output` for what is refused.
    rgb : ndarray
        (H, W, 3) uint8.
    metadata : dict, optional
        Stored as PNG text chunks; other formats cannot keep it.

    Returns
    -------
    bool
        False if ``metadata`` was given but the format dropped it (for the
        caller to warn about), else True.
    """
    fmt = check_image_output(path)
    im = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    kwargs = {}
    if fmt == "PNG" and metadata:
        info = PngImagePlugin.PngInfo()
        for key, value in metadata.items():
            info.add_text(key, str(value))
        kwargs["pnginfo"] = info
    write_atomically(path, lambda f: im.save(f, format=fmt, **kwargs))
    return fmt in METADATA_FORMATS or not metadata


def check_output_dir(path):
    """The directory ``path`` would be written to; UserError unless it
    exists and is writable (checked before long runs, not after)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError("output directory does not exist: %s" % directory)
    if not os.access(directory, os.W_OK):
        raise UserError("output directory is not writable: %s" % directory)
    return directory


def _check_output_path(path):
    """UserError unless ``path`` can be an output file (before any work):
    not empty, not a directory, not a pseudo-file system, in a writable
    directory, not a read-only or special file. Returns its extension."""
    if not path:
        raise UserError("the output path is empty")
    real = os.path.realpath(path)
    for system in ("/proc", "/sys", "/dev"):
        if real == system or real.startswith(system + "/"):
            raise UserError("%s is under %s, not a place for output files"
                            % (path, system))
    if os.path.isdir(path):
        raise UserError("%s is a directory, not an output file" % path)
    check_output_dir(path)
    _kept_mode(path)
    return os.path.splitext(path)[1].lower()


def _can_write_rgb(fmt):
    # Pillow registers some writers for one mode only (XBM: 1-bit, SPIDER:
    # float): try a 1-pixel RGB image, once per format
    if fmt not in _RGB_WRITABLE:
        try:
            Image.new("RGB", (1, 1)).save(io.BytesIO(), format=fmt)
            _RGB_WRITABLE[fmt] = True
        except Exception:  # whatever a plugin raises, it cannot write RGB
            _RGB_WRITABLE[fmt] = False
    return _RGB_WRITABLE[fmt]


def check_image_output(path):
    """Check that ``path`` can take an image, before any work is done.

    Raises UserError for an empty path, a directory, a path under /proc,
    /sys or /dev, a missing or unwritable directory, a read-only existing
    file, or an extension that Pillow cannot write RGB images as.

    Returns
    -------
    str
        The Pillow format the extension names ('PNG', 'JPEG', 'TIFF', ...);
        only 'PNG' (:data:`METADATA_FORMATS`) keeps metadata.
    """
    ext = _check_output_path(path)
    if not ext:
        raise UserError("%s has no extension to tell the image format: use "
                        ".png" % path)
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE or not _can_write_rgb(fmt):
        raise UserError("cannot write %s images (%s): use .png, .jpg, .tif "
                        "or .webp" % (ext, path))
    return fmt


def check_figure_output(path):
    """Like :func:`check_image_output` for a matplotlib figure; returns the
    format for ``savefig`` ('png', 'pdf', 'svg', ...: :data:`FIGURE_FORMATS`
    that matplotlib can write)."""
    ext = _check_output_path(path)
    if not ext:
        raise UserError("%s has no extension to tell the figure format: use "
                        ".png" % path)
    from matplotlib.figure import Figure  # only once a figure is asked for
    supported = Figure().canvas.get_supported_filetypes()
    if ext[1:] not in FIGURE_FORMATS or ext[1:] not in supported:
        raise UserError("cannot write %s figures (%s): use .png, .pdf or "
                        ".svg" % (ext, path))
    return ext[1:]


def _umask():
    # os.umask can only be read by setting it, which would race with other
    # threads creating files: Linux shows it in /proc first
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _kept_mode(path):
    """The permissions a normal write of ``path`` would leave: an existing
    file's own, else 0o666 less the umask. UserError for an existing file
    that is read-only (from its mode bits: root may write anything) or not
    a regular file (renaming over /dev/null would replace the device)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0o666 & ~_umask()
    except OSError as e:
        raise UserError("cannot write %s (%s)" % (path, e.strerror))
    if not stat.S_ISREG(st.st_mode):
        raise UserError("%s exists and is not a regular file" % path)
    if not st.st_mode & stat.S_IWUSR:
        raise UserError("%s is read-only" % path)
    # permission bits only: a copied setuid bit would be a gift
    return stat.S_IMODE(st.st_mode) & 0o777


def write_atomically(path, write):
    """Call ``write(file)`` on a temporary file in the directory of ``path``
    and rename it over ``path`` only once it is complete, so a crash never
    leaves a half-written file.

    The file gets the permissions a plain write would give it (see
    :func:`_kept_mode`). An OSError while writing (a full disk, ...) becomes
    a UserError; the temporary file is removed whatever happens.
    """
    directory = check_output_dir(path)
    mode = _kept_mode(path)
    suffix = os.path.splitext(path)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix,
                                   dir=directory)
    except OSError as e:
        raise UserError("cannot write to %s (%s)" % (directory, e.strerror))
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except OSError as e:
            raise UserError("cannot write %s (%s)" % (
                path, e.strerror or e)) from e
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass  # renamed already: an interrupt came after os.replace
        raise
