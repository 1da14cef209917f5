"""The copy score: how much of the exemplar's spatial arrangement a texture
reproduces.

Texture synthesis (Gatys et al. 2015) should keep an exemplar's local
statistics and discard where things are. A result that reproduces the
exemplar's layout (sky on top, a shore below, only shifted) is a copy, not a
texture, whatever its loss. This module measures that with numpy alone (no
Theano; Pillow resizes the exemplar, as for the run itself).

Definition
----------
Let ``a`` be the result's grey image (ITU-R 601 luma), h x w, and ``e`` the
exemplar's, He x We with He >= h and We >= w, in float64. Both are first
blurred by a Gaussian of standard deviation ``sigma`` pixels (default
:data:`SMOOTHING` times the result's longer side; each image reflected at
its own borders), so that the score looks at the *arrangement*: where the
sky, the tree and the shore are, not the exact position of every stroke.
The score then compares *edges*, the forward differences of the blurred
grey values: the result's ``A = (a[i+1, j] - a[i, j], a[i, j+1] - a[i, j])``
over i < h-1, j < w-1 (two channels of (h-1) x (w-1) values), and the
exemplar's differences ``E`` taken cyclically (the exemplar is treated as
periodic, He x We). For every offset ``s = (u, v)`` of the He x We grid,
``E_s`` is the (h-1) x (w-1) window of ``E`` whose top-left corner is at
``s`` (indices mod He, We), and ``r(s)`` is the Pearson correlation of ``A``
and ``E_s`` over all their values, each channel centred on its own mean::

    r(s) = sum_k sum_p A0_k[p] (E_s,k[p] - mean(E_s,k))
           / ( ||A0|| * sqrt(sum_k ||E_s,k - mean(E_s,k)||^2) )

with ``A0_k = A_k - mean(A_k)``. The **copy score** is ``max_s r(s)``: 1 if
the result is a window of the exemplar (``copy_score(x, x) == 1``, and so for
any circular shift of ``x`` without blur), about 0 if nothing lines up. The
numerator is a cross-correlation of ``A0`` (zero-padded to He x We) with
``E``, and the window sums of ``E_s`` and ``E_s**2`` are cross-correlations
with a box, so ``r`` costs a few FFTs of size He x We. A window without
variation (below 1e-12 of the exemplar's mean square) counts as ``r = 0``.

Why blurred edges (measured on the tuning images, docs/textures.md): the
grey values' largest correlation (``gradient=False``, ``sigma=0``, the
issue's first definition) is high for any two smooth images that share a
few strong low frequencies (0.42-0.72 on average for phase-randomised
versions of the results of a smooth painting, 0.82 for a plain copy), so it
hardly separates copies from textures; unblurred edges miss copies that are
smeared or slightly warped (a visible copy at 128 px scored below its chance
level). Edges at 1/32 of the image size separate them better (visible
copies 0.15-0.65 above chance, texture-looking results -0.09 to +0.06).

A run is compared with its exemplar at the scales it was made from (see
:func:`measure`): the exemplar resized to the result's size, and, when the
run's ``style_scale`` is larger than 1, also the exemplar at the run's
scale, searched for its best-matching window (the same ``sigma`` in pixels:
at the run's scale a pixel of the exemplar is a pixel of the result).

Reference level
---------------
The maximum over many shifts of a correlation between *unrelated* images
is not 0: it grows as the images get smoother and the number of independent
shifts smaller. :func:`chance_level` measures it for each result: the same
score for versions of the result whose Fourier phases are replaced by random
ones (same amplitude spectrum, hence the same autocorrelation and
smoothness; no arrangement), averaged over :data:`DRAWS` draws. That is the
score of an unrelated texture with the result's spectrum. A result is
reported as a copy when its score exceeds that level by more than
:data:`COPY_MARGIN` (the threshold is justified by measurement in
docs/textures.md).
"""
import dataclasses

import numpy as np

#: A result whose copy score exceeds its chance level by more than this is
#: reported as a copy (docs/textures.md: chosen on the tuning images, where
#: the visible copies were 0.15-0.50 above chance and the results that
#: looked like textures at most 0.10).
COPY_MARGIN = 0.1

#: The blur of both images, as a fraction of the result's longer side.
SMOOTHING = 1.0 / 32

#: Phase-randomised draws averaged by :func:`chance_level`.
DRAWS = 8

_LUMA = np.array([0.299, 0.587, 0.114])


def grey(image):
    """An image as float64 grey values: (H, W) as given, (H, W, 3) RGB by
    ITU-R 601 luma (any range: the score is invariant to affine changes)."""
    image = np.asarray(image, np.float64)
    if image.ndim == 3 and image.shape[2] == 3:
        return image @ _LUMA
    if image.ndim != 2:
        raise ValueError("expected a grey (H, W) or RGB (H, W, 3) image, "
                         "got shape %s" % (image.shape,))
    return image


def default_sigma(shape):
    """The blur of a result of ``shape`` (H, W): :data:`SMOOTHING` times
    its longer side, in pixels."""
    return SMOOTHING * max(shape[:2])


def smooth(g, sigma):
    """``g`` (H, W) blurred by a sampled Gaussian of standard deviation
    ``sigma`` pixels, cut at 4 ``sigma`` and normalised to sum 1, the image
    reflected at its borders (``numpy.pad``'s ``symmetric``); ``g`` itself
    for ``sigma`` 0."""
    if sigma <= 0:
        return g
    r = int(4 * sigma + 0.5)
    padded = np.pad(g, r, mode="symmetric")
    taps = np.exp(-0.5 * (np.arange(-r, r + 1) / float(sigma)) ** 2)
    taps /= taps.sum()

    def kernel(n):  # the taps placed cyclically around index 0
        k = np.zeros(n)
        k[np.arange(-r, r + 1) % n] += taps
        return k
    gain = (np.fft.fft(kernel(padded.shape[0]))[:, None]
            * np.fft.rfft(kernel(padded.shape[1]))[None, :])
    out = np.fft.irfft2(np.fft.rfft2(padded) * gain, s=padded.shape)
    return out[r:r + g.shape[0], r:r + g.shape[1]]


def edges(g, cyclic=False):
    """Forward differences of a grey image ``g`` (H, W) as two channels
    (rows, columns): (2, H-1, W-1), or with ``cyclic`` (2, H, W) with the
    indices taken mod H, W."""
    if cyclic:
        return np.stack([np.roll(g, -1, 0) - g, np.roll(g, -1, 1) - g])
    corner = g[:-1, :-1]
    return np.stack([g[1:, :-1] - corner, g[:-1, 1:] - corner])


def _channels(image, exemplar, sigma, gradient):
    a, e = grey(image), grey(exemplar)
    if a.shape[0] > e.shape[0] or a.shape[1] > e.shape[1]:
        raise ValueError("the exemplar (%dx%d) must be at least as large as "
                         "the image (%dx%d)" % (e.shape[1], e.shape[0],
                                                a.shape[1], a.shape[0]))
    a, e = smooth(a, sigma), smooth(e, sigma)
    if gradient:
        if min(a.shape) < 2:
            raise ValueError("an image of %dx%d has no edges to compare"
                             % (a.shape[1], a.shape[0]))
        return edges(a), edges(e, cyclic=True)
    return a[None], e[None]


def correlation_map(image, exemplar, sigma=0.0, gradient=True):
    """``r(s)`` of the module docstring for every offset ``s``.

    Parameters
    ----------
    image : array (h, w) or (h, w, 3)
        The result.
    exemplar : array (He, We) or (He, We, 3)
        With He >= h and We >= w; taken as periodic.
    sigma : float
        Blur of both images in pixels (0: none).
    gradient : bool
        Compare edges (the copy score) or, if False, grey values.

    Returns
    -------
    ndarray (He, We), float64
        ``r[u, v]``: the correlation of the result with the exemplar's
        window whose top-left corner is at row u, column v.
    """
    a, e = _channels(image, exemplar, sigma, gradient)
    big = e.shape[1:]
    h, w = a.shape[1:]
    a0 = a - a.mean(axis=(1, 2), keepdims=True)
    norm = np.sqrt(np.sum(a0 * a0))
    if norm == 0:
        return np.zeros(big)
    e = e - e.mean(axis=(1, 2), keepdims=True)  # for the precision only
    box = np.zeros(big)
    box[:h, :w] = 1.0
    fbox = np.conj(np.fft.rfft2(box))

    def correlate(conj_kernel, x):
        # sum_p kernel[p] x[(p + s) mod big], for every s
        return np.fft.irfft2(conj_kernel * np.fft.rfft2(x), s=big)

    numerator = np.zeros(big)
    variance = np.zeros(big)
    for ak, ek in zip(a0, e):
        padded = np.zeros(big)
        padded[:h, :w] = ak
        numerator += correlate(np.conj(np.fft.rfft2(padded)), ek)
        sums = correlate(fbox, ek)
        variance += correlate(fbox, ek * ek) - sums * sums / (h * w)
    floor = 1e-12 * max(float(np.mean(e * e)), 1e-300) * h * w
    out = np.zeros(big)
    ok = variance > floor
    out[ok] = numerator[ok] / (norm * np.sqrt(variance[ok]))
    return np.clip(out, -1.0, 1.0)


def copy_score(image, exemplar, sigma=None, gradient=True):
    """The largest correlation of ``image`` with a window of ``exemplar``
    over all shifts (module docstring); ``sigma`` None: the default blur
    (:func:`default_sigma` of the image), other arguments as in
    :func:`correlation_map`. For the score at the output's scale give the
    exemplar resized to the image's size."""
    if sigma is None:
        sigma = default_sigma(np.shape(image))
    return float(correlation_map(image, exemplar, sigma, gradient).max())


def phase_randomised(image, rng):
    """``image``'s grey values with the same Fourier amplitudes and the
    phases of white noise drawn from ``rng`` (a ``numpy.random``
    generator): the same spectrum, no arrangement. Its mean is the
    image's."""
    a = grey(image)
    spectrum = np.abs(np.fft.rfft2(a - a.mean()))
    noise = np.fft.rfft2(rng.standard_normal(a.shape))
    phases = noise / np.maximum(np.abs(noise), 1e-300)
    return np.fft.irfft2(spectrum * phases, s=a.shape) + a.mean()


def chance_level(image, exemplar, sigma=None, gradient=True, draws=DRAWS,
                 seed=0):
    """The copy score of an unrelated image with ``image``'s spectrum: the
    mean of :func:`copy_score` of ``draws`` phase-randomised versions of
    ``image`` against ``exemplar`` (reproducible: fixed ``seed``)."""
    if sigma is None:
        sigma = default_sigma(np.shape(image))
    rng = np.random.RandomState(seed)
    return float(np.mean([copy_score(phase_randomised(image, rng), exemplar,
                                     sigma, gradient)
                          for _ in range(draws)]))


@dataclasses.dataclass(frozen=True)
class CopyScore:
    """A result's copy score against its exemplar.

    ``score``: the largest correlation over the comparisons of
    :func:`measure`; ``chance``: the same for the result's phase-randomised
    versions (:func:`chance_level`).
    """
    score: float
    chance: float

    @property
    def excess(self):
        """``score - chance``: how far above chance the layout matches."""
        return self.score - self.chance

    @property
    def copies(self):
        """True if the result reproduces the exemplar's layout: its score
        is more than :data:`COPY_MARGIN` above its chance level."""
        return self.excess > COPY_MARGIN

    def as_dict(self):
        """JSON-ready: score, chance, excess and whether it copies."""
        return dict(score=self.score, chance=self.chance,
                    excess=self.excess, copies=self.copies)


def exemplars_at(exemplar, shape, style_scale=1.0):
    """The exemplar (RGB uint8) as a run of output ``shape`` (H, W) and
    ``style_scale`` saw it: resized to ``shape`` exactly, and, if the run
    used a larger scale, also with its longer side ``style_scale`` times the
    output's (when it then covers the output)."""
    from . import images

    out = [images.resize(exemplar, tuple(shape))]
    if style_scale > 1:
        big = images.fit_size(exemplar.shape, style_scale * max(shape))
        if big[0] >= shape[0] and big[1] >= shape[1] and big != tuple(shape):
            out.append(images.resize(exemplar, big))
    return out


def measure(image, exemplar, style_scale=1.0, gradient=True, draws=DRAWS,
            seed=0):
    """The :class:`CopyScore` of a texture ``image`` (RGB uint8) made from
    ``exemplar`` (RGB uint8, any size) with ``style_scale``: the largest
    score over :func:`exemplars_at`, and its chance level, computed with the
    same exemplars and ``draws`` phase-randomised versions of ``image``."""
    targets = exemplars_at(exemplar, image.shape[:2], style_scale)
    sigma = default_sigma(image.shape)
    score = max(copy_score(image, e, sigma, gradient) for e in targets)
    rng = np.random.RandomState(seed)
    chances = []
    for _ in range(draws):
        fake = phase_randomised(image, rng)
        chances.append(max(copy_score(fake, e, sigma, gradient)
                           for e in targets))
    return CopyScore(score=score, chance=float(np.mean(chances)))
