"""Colour preservation for style transfer (Gatys et al. 2017, "Controlling
Perceptual Factors in Neural Style Transfer").

* ``histogram``: before the transfer, the style image's colours get the
  content image's mean and covariance in RGB,
  ``x' = C_c^{1/2} C_s^{-1/2} (x - mu_s) + mu_c`` (symmetric matrix square
  roots), so the style brings its strokes and textures but not its palette.
* ``luminance``: the transfer runs on luminance only (Y of YIQ, replicated to
  three channels; the style's luminance first gets the content's mean and
  standard deviation) and the result's Y is recombined with the content
  image's chrominance (I, Q).
"""
import numpy as np

MODES = ("luminance", "histogram")

_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.595716, -0.274453, -0.321263],
                        [0.211456, -0.522591, 0.311135]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def rgb_to_yiq(rgb):
    """(H, W, 3) RGB in 0..255 -> float YIQ."""
    return np.asarray(rgb, np.float64) @ _RGB_TO_YIQ.T


def yiq_to_rgb(yiq):
    """Float YIQ -> RGB uint8 (rounded, clipped)."""
    return np.clip(np.round(yiq @ _YIQ_TO_RGB.T), 0, 255).astype(np.uint8)


def _sqrtm(C, inverse=False):
    w, V = np.linalg.eigh(C)
    w = np.maximum(w, 1e-6)
    return (V * (w ** (-0.5 if inverse else 0.5))) @ V.T


def match_histogram(source, reference):
    """``source``'s colours with ``reference``'s RGB mean and covariance."""
    x = source.reshape(-1, 3).astype(np.float64)
    y = reference.reshape(-1, 3).astype(np.float64)
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    A = _sqrtm(np.cov(y, rowvar=False)) @ _sqrtm(np.cov(x, rowvar=False),
                                                 inverse=True)
    out = (x - mu_x) @ A.T + mu_y
    return np.clip(np.round(out), 0, 255).astype(np.uint8).reshape(
        source.shape)


def luminance(rgb, like=None):
    """Y of ``rgb`` as a 3-channel gray image; with ``like``, Y's mean and
    standard deviation are first matched to those of ``like``'s Y."""
    y = rgb_to_yiq(rgb)[:, :, 0]
    if like is not None:
        ref = rgb_to_yiq(like)[:, :, 0]
        y = (y - y.mean()) / max(y.std(), 1e-6) * ref.std() + ref.mean()
    gray = np.clip(np.round(y), 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def recombine(luminance_rgb, content_rgb):
    """The Y of ``luminance_rgb`` with the I and Q of ``content_rgb``."""
    yiq = rgb_to_yiq(content_rgb)
    yiq[:, :, 0] = rgb_to_yiq(luminance_rgb)[:, :, 0]
    return yiq_to_rgb(yiq)
