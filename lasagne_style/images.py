"""Image I/O and the recipe's pre/post-processing.

The network sees images as the Caffe VGG did: BGR channel order, 0..255,
minus the per-channel mean ``MEAN_BGR``, in (1, 3, H, W) layout.
"""
import os

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin

from . import files
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
    return load_image_and_text(path)[0]


def load_image_and_text(path):
    """:func:`load_image` and the file's PNG text chunks (a dict), from one
    read of the file (which may be a pipe)."""
    if not os.path.exists(path):
        raise UserError("image not found: %s" % path)
    if os.path.isdir(path):
        raise UserError("%s is a directory, not an image" % path)
    try:
        with Image.open(path) as im:
            text = dict(getattr(im, "text", {}))
            im.seek(0)
            im = ImageOps.exif_transpose(im)
            im.load()
            return _to_rgb(im), text
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


def gray(rgb):
    """RGB uint8 (H, W, 3) -> float32 (H, W) in 0..1 (ITU-R 601 luma), e.g.
    a mask: white 1, black 0."""
    luma = np.asarray(rgb, np.float32) @ np.float32([0.299, 0.587, 0.114])
    return np.clip(luma / 255.0, 0.0, 1.0).astype(np.float32)


def resize_mask(mask, size):
    """Resize a float mask (H, W) in 0..1 to ``size`` = (height, width),
    bilinear: its weights are non-negative, so the result stays in 0..1 and
    masks that cover every pixel still do (Lanczos would ring below 0)."""
    h, w = size
    mask = np.asarray(mask, np.float32)
    if mask.shape == (h, w):
        return mask
    out = Image.fromarray(mask, "F").resize((w, h), Image.BILINEAR)
    return np.clip(np.asarray(out), 0.0, 1.0).astype(np.float32)


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

def save_image(path, rgb, metadata=None):
    """Write an RGB uint8 array atomically in the format its extension names.

    Parameters
    ----------
    path : str
        Output file; see :func:`.files.check_image_output` for what is
        refused.
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
    fmt = files.check_image_output(path)
    im = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    kwargs = {}
    if fmt == "PNG" and metadata:
        info = PngImagePlugin.PngInfo()
        for key, value in metadata.items():
            info.add_text(key, str(value))
        kwargs["pnginfo"] = info
    files.write_atomically(path, lambda f: im.save(f, format=fmt, **kwargs))
    return fmt in METADATA_FORMATS or not metadata
