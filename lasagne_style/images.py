"""Image I/O and the recipe's pre/post-processing.

The network sees images as the Caffe VGG did: BGR channel order, 0..255,
minus the per-channel mean ``MEAN_BGR``, in (1, 3, H, W) layout.
"""
import os
import tempfile

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin

from .errors import UserError

MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


def load_image(path):
    """Read an image file as an RGB uint8 array of shape (H, W, 3).

    EXIF orientation is honoured, the first frame of an animation is used,
    transparency is composited on white, and grayscale, palette, CMYK and
    16-bit images are converted to 8-bit RGB.
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


def _to_rgb(im):
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


def save_image(path, rgb, metadata=None):
    """Write an RGB uint8 array as PNG (or any format Pillow infers from the
    extension) atomically, with ``metadata`` as PNG text chunks."""
    im = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    ext = os.path.splitext(path)[1].lower() or ".png"
    kwargs = {}
    if ext == ".png" and metadata:
        info = PngImagePlugin.PngInfo()
        for key, value in metadata.items():
            info.add_text(key, str(value))
        kwargs["pnginfo"] = info
    fmt = Image.registered_extensions().get(ext, "PNG")
    write_atomically(path, lambda f: im.save(f, format=fmt, **kwargs))


def check_output_dir(path):
    """The directory ``path`` would be written to; UserError unless it
    exists and is writable (checked before long runs, not after)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError("output directory does not exist: %s" % directory)
    if not os.access(directory, os.W_OK):
        raise UserError("output directory is not writable: %s" % directory)
    return directory


def write_atomically(path, write):
    """Call ``write(file)`` on a temporary file in the directory of ``path``
    and rename it over ``path`` only once it is complete, so a crash never
    leaves a half-written file."""
    directory = check_output_dir(path)
    suffix = os.path.splitext(path)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    except OSError as e:
        raise UserError("cannot write to %s (%s)" % (directory, e.strerror))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
