"""Image I/O and the recipe's pre/post-processing.

The network sees images as the Caffe VGG did: BGR channel order, 0..255,
minus the per-channel mean ``MEAN_BGR``, in (1, 3, H, W) layout.
"""
import contextlib
import os

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin

from . import files, memory
from .errors import UserError

MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


def load_image(path, what="image"):
    """Read an image file as an RGB uint8 array of shape (H, W, 3).

    EXIF orientation is honoured, the first frame of an animation is used,
    transparency is composited on white, and grayscale, palette, CMYK,
    16-bit, 32-bit integer and floating-point images are converted to 8-bit
    RGB: 16-bit ones by their declared depth (0..65535), 32-bit integer
    ones by the smallest of 8 or 16 bits that holds their values (others
    are refused: there is no common meaning for white there), float ones
    as 0..1 if they all lie in it, else as 0..255 (other ranges and NaN or
    infinite values are refused). A file whose declared size would not fit
    in memory once decoded is refused before it is decoded
    (:func:`lasagne_style.memory.check_decode`). ``what`` names the file
    in messages ('style image 2').
    """
    return load_image_and_text(path, what)[0]


def load_image_and_text(path, what="image"):
    """:func:`load_image` and the file's PNG text chunks (a dict), from one
    read of the file (which may be a pipe)."""
    with _opened(path, what) as (im, text):
        return _to_rgb(im), text


def _path(path, what):
    """``path`` as a str, or UserError if there is no image file there;
    messages quote a short prefix of it (:func:`.files.shown`): an image's
    bytes passed instead of its path must not fill the terminal."""
    path = os.fsdecode(path)
    if not os.path.exists(path):  # False for a NUL byte or a huge name
        hint = (": pass the file's path, not its contents"
                if files.looks_like_data(path) else "")
        raise UserError("%s not found: %s%s" % (what, files.shown(path),
                                                hint))
    if os.path.isdir(path):
        raise UserError("%s is a directory, not an image"
                        % files.shown(path))
    return path


@contextlib.contextmanager
def _opened(path, what="image"):
    """The first frame of the image file ``path``, upright (EXIF) and
    decoded, and its PNG text chunks; UserError for what cannot be read.

    The size the file declares is checked against the memory that decoding
    it takes before any pixel is decoded: a file of a few hundred KB can
    declare 12000x12000 16-bit pixels, gigabytes once decoded.
    """
    path = _path(path, what)
    name = files.shown(path)
    try:
        with Image.open(path) as im:
            # before anything that decodes (PNG text chunks may follow the
            # pixels, so reading them decodes the image)
            memory.check_decode(im.size, im.mode, "%s %s" % (what, name))
            text = dict(getattr(im, "text", {}))
            im.seek(0)
            im = _upright(im)
            im.load()
            yield im, text
    except Image.DecompressionBombError:
        raise UserError("%s is too large to decode safely (Pillow's "
                        "decompression-bomb guard)" % name)
    except (OSError, SyntaxError, ValueError) as e:
        raise UserError("cannot read %s %s (%s)" % (what, name, e))


def _upright(im):
    """``im`` turned as its EXIF orientation says, in place where Pillow
    can (9.4 and later): a copy would double the memory of a large
    image."""
    try:
        ImageOps.exif_transpose(im, in_place=True)
        return im
    except TypeError:  # Pillow < 9.4: no in_place
        return ImageOps.exif_transpose(im)


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


def _from_16_bits(a):
    """0..65535 integers as 0..255 uint8, rounded (no .5 ties exist:
    ``a * 255 / 65535`` is ``a / 257``), without a float64 copy of a
    possibly large image."""
    wide = a.astype(np.uint32)
    wide *= 255
    wide += 32767
    wide //= 65535
    return wide.astype(np.uint8)


def _integer_gray(im):
    """A 16- or 32-bit integer gray image as (array, its white: 255 or
    65535). 16-bit modes by their declared depth; 32-bit ones by the
    smallest of 8 or 16 bits that holds their values, others refused: they
    used to be scaled as 16-bit and then wrap modulo 256 (200000 became
    10), and no depth beyond 16 bits has a common meaning for white."""
    a = np.asarray(im)
    if im.mode != "I":  # I;16, I;16B, I;16L: 16 bits declared
        return a, 65535
    low, high = int(a.min()), int(a.max())
    if low < 0 or high > 65535:
        raise ValueError("its 32-bit integer pixel values span %d..%d; "
                         "expected 0..255 or 0..65535: save it with 8 or 16 "
                         "bits per channel" % (low, high))
    return a, (65535 if high > 255 else 255)


def _to_rgb(im):
    if im.mode == "F":
        a = _float_to_uint8(np.asarray(im, dtype=np.float64))
        return np.repeat(a[:, :, None], 3, axis=2)
    if im.mode.startswith("I"):  # I;16, I;16B, I;16L, I
        a, white = _integer_gray(im)
        a = _from_16_bits(a) if white == 65535 else a.astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2)
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("LA", "RGBA", "PA"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


#: A mask value below half an 8-bit step counts as black (a mask that is
#: black everywhere is refused).
EMPTY_MASK = 0.5 / 255

_MASK_KINDS = ("a path, an RGB or RGBA uint8 array (H, W, 3 or 4), or a "
               "2-D array (0/1 or bool, uint8, or floats in 0..1)")


def load_mask(image, what="mask"):
    """A mask read as users mean it: float32 (H, W) in 0..1, 1 the region.

    Parameters
    ----------
    image : str, bytes, os.PathLike or ndarray
        An image file, or an array: RGB or RGBA uint8 (H, W, 3 or 4), or
        2-D (bool, integers, or floats).
    what : str
        How messages name it ('mask 1', 'style mask 2').

    Returns
    -------
    ndarray
        float32 (H, W), C-contiguous, values in 0..1.

    Raises
    ------
    UserError
        One line: an unreadable file, an array of another kind, values
        outside the ranges below, or a mask black (or transparent)
        everywhere.

    Notes
    -----
    In this order, for files and arrays alike:

    1. An image with an alpha channel that is not opaque everywhere (RGBA,
       LA, a palette or gray or RGB PNG with transparency): the alpha is
       the mask. A region painted on a transparent layer is the region,
       whatever its colour; compositing it onto white, as images are,
       made every such mask all-white. Fully opaque alpha says nothing,
       and the colours are read as below.
    2. An image whose samples are all 0 or 1 (any depth, also bool): a
       binary mask, 1 the region. A 0/1 PNG read as gray/255 was a
       1/255-weight mask (nearly black, the opposite of what it meant).
    3. Otherwise its gray level: 8-bit /255, 16-bit /65535, an RGB image
       by ITU-R 601 luma (a gray one, equal channels, exactly), float
       files 0..1 as they are or 0..255 /255 (as :func:`load_image`), float
       arrays 0..1 as they are.
    """
    if isinstance(image, (str, bytes, os.PathLike)):
        with _opened(image, what) as (im, _):
            try:
                mask, transparent = _mask_from_file(im)
            except ValueError as e:
                raise UserError("cannot read %s %s (%s)"
                                % (what, files.shown(image), e))
    else:
        mask, transparent = _mask_from_array(np.asarray(image), what)
    if mask.max() < EMPTY_MASK:
        raise UserError("the %s is empty (%s everywhere)"
                        % (what, "transparent" if transparent else "black"))
    return np.ascontiguousarray(mask, dtype=np.float32)


def _mask_from_uint8(a):
    """A 2-D uint8 array as a mask: 0/1 only -> as it is, else /255."""
    if a.max() <= 1:
        return a.astype(np.float32)
    return a.astype(np.float32) / np.float32(255)


def _mask_from_rgb(a):
    """RGB uint8 (H, W, 3) as a mask: a gray image (equal channels) by its
    channel, others by luma; 0/1 samples as a binary image."""
    if np.array_equal(a[:, :, 0], a[:, :, 1]) and np.array_equal(
            a[:, :, 0], a[:, :, 2]):
        return _mask_from_uint8(a[:, :, 0])
    scale = 1.0 if a.max() <= 1 else 255.0
    luma = a.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    return np.clip(luma / np.float32(scale), 0.0, 1.0)


def _mask_from_rgba(a):
    """RGBA uint8 (H, W, 4) as a mask: its alpha unless that is opaque
    everywhere; returns (mask, whether the alpha was used)."""
    alpha = a[:, :, 3]
    if alpha.min() == 255:
        return _mask_from_rgb(a[:, :, :3]), False
    return _mask_from_uint8(alpha), True


def _mask_from_file(im):
    """(mask, whether it is the alpha) of a decoded Pillow image."""
    mode = im.mode
    if mode in ("LA", "La", "PA", "RGBa") or (
            mode in ("1", "L", "P", "RGB") and "transparency" in im.info):
        im, mode = im.convert("RGBA"), "RGBA"
    if mode == "RGBA":
        return _mask_from_rgba(np.asarray(im))
    if mode == "1":
        return np.asarray(im, dtype=np.float32), False
    if mode == "L":
        return _mask_from_uint8(np.asarray(im)), False
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if np.all(np.isfinite(a)) and a.min() >= 0 and a.max() <= 1:
            return a.astype(np.float32), False
        return _float_to_uint8(a).astype(np.float32) / np.float32(255), False
    if mode.startswith("I"):
        a, white = _integer_gray(im)
        if a.min() >= 0 and a.max() <= 1:
            white = 1
        return a.astype(np.float32) / np.float32(white), False
    return _mask_from_rgb(np.asarray(im.convert("RGB"))), False


def _mask_from_array(a, what):
    """(mask, whether it is the alpha) of an array given to the API."""
    refused = UserError("the %s must be %s, not %s of shape %s"
                        % (what, _MASK_KINDS, a.dtype, a.shape))
    if a.ndim not in (2, 3):
        raise refused
    if not a.size:
        raise UserError("the %s is empty (shape %s)" % (what, a.shape))
    if a.ndim == 3:
        if a.dtype != np.uint8 or a.shape[2] not in (3, 4):
            raise refused
        if a.shape[2] == 4:
            return _mask_from_rgba(a)
        return _mask_from_rgb(a), False
    if a.dtype == np.bool_:
        return a.astype(np.float32), False
    if a.dtype.kind in "ui":
        if a.min() >= 0 and a.max() <= 1:
            return a.astype(np.float32), False
        if a.dtype == np.uint8:
            return _mask_from_uint8(a), False
        raise UserError("the %s holds %s values %d..%d: give 0/1, uint8 "
                        "0..255 or floats in 0..1" % (what, a.dtype,
                                                      a.min(), a.max()))
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise UserError("the %s has NaN or infinite values" % what)
        if a.min() < 0 or a.max() > 1:
            raise UserError("the %s holds float values %.6g..%.6g: floats "
                            "must lie in 0..1" % (what, a.min(), a.max()))
        return a.astype(np.float32), False
    raise refused


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


#: The PNG text key that says whether an output is a run's result ("yes") or
#: the best image of an interrupted run ("no").
FINISHED_KEY = "lasagne_style:finished"


def unfinished_output(path):
    """Whether the image at ``path`` says it is an interrupted run's image
    (a PNG written by this version; other files cannot say, and count as
    finished). Reads the chunks before the pixels only."""
    try:
        with Image.open(path) as im:
            return im.info.get(FINISHED_KEY) == "no"
    except Exception:  # unreadable: not ours to judge here
        return False
