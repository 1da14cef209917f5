"""Style statistics: what the style loss matches of a layer's features.

At one layer, the features form an N x M matrix F (N channels, M positions);
each column is one sample of an N-dimensional feature vector. A statistic
describes the distribution of these samples by a few arrays ("components")
that do not depend on M, so images of different sizes can be compared:

=========== ================================================ ==============
name        components                                       matches
=========== ================================================ ==============
``gram``    ``G/M = F F^T / M`` (second moments)             E[f f^T]
``mean``    ``mu = F 1 / M``                                 E[f]
``meancov`` ``mu`` and ``C = (F - mu)(F - mu)^T / M``        E[f], Cov[f]
``sliced``  sorted rows of ``R F`` (quantile functions),    the marginals
            R a fixed random rotation (sliced 1-D optimal    along N
            transport)                                       directions
=========== ================================================ ==============

The per-layer loss is the components' mean *relative* squared error, scaled
to the units of the recipe's Gram loss::

    E_l = s_l * 1/K sum_k ||c_k - t_k||^2 / ||t_k||^2,
    s_l = ||A/M||^2 / (4 N^2)  (the recipe's Gram loss of an all-zero image)

For ``gram`` this is exactly the recipe's ``1/(4 N^2 M^2) sum (G - A)^2``.
Relative errors keep the mean and covariance terms of ``meancov`` from
swamping each other (their magnitudes differ by orders of magnitude between
layers, and they even have different units), and ``s_l`` keeps the recipe's
balance between layers and the presets' style weights meaningful for every
statistic.

**Spatial masks** (``--masks``, Gatys et al. 2017, *Controlling Perceptual
Factors in Neural Style Transfer*, guided Gram matrices). A mask ``m_r``
(one per style r, values in 0..1, at the output's size) is downsampled to
each layer by the network's own 2x2 average pooling, and the statistics
become weighted averages over positions, normalized by the mask's area
``W_r = sum_p m_r[p]``::

    G_r = F diag(m_r) F^T / W_r              (gram)
    mu_r = F m_r / W_r                        (mean)
    C_r = (F - mu_r) diag(m_r) (F - mu_r)^T / W_r   (meancov, with mu_r)

Each is compared with style r's unweighted statistic (or, with a style
mask, with the style's own weighted one), and the region's term is weighted
by its area fraction ``a_r = W_r / M``:
``E_l = sum_r a_r s_lr 1/K sum_k ||c_rk - t_rk||^2 / ||t_rk||^2``.
Since ``dG_r/dF[:, p]`` carries ``m_r[p] / W_r``, the area fraction makes
every position's pull ``1/M`` whatever its region's size: a small region
weighs like a large one per position, and the content/style balance of
the presets holds in each region. A single all-white mask gives exactly
the unmasked loss. ``sliced`` (sorted projections) has no such weighted
form and is refused with masks.
"""
import numpy as np
import theano.tensor as T

from .config import LAYER_CHANNELS, choice, receptive_stride
from .ops.gram import gram_matrix

#: Number of quantiles the ``sliced`` statistic keeps per direction.
QUANTILES = 256


def gram(F, M):
    """Per-position Gram matrix ``F F^T / M`` (the product by
    :func:`lasagne_style.ops.gram.gram_matrix`: half the work of
    ``T.dot(F, F.T)``, and its gradient one product instead of two)."""
    return gram_matrix(F) / M


def _mean(F, M):
    return F.sum(axis=1) / M


def _covariance(F, M):
    centred = F - _mean(F, M)[:, None]
    return gram_matrix(centred) / M


def rotation(n, seed):
    """A fixed random orthogonal n x n matrix (QR of a Gaussian matrix)."""
    q, r = np.linalg.qr(np.random.RandomState(seed).randn(n, n))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def resample_quantiles(rows, count):
    """Quantile functions sampled at ``count`` levels ``(k + 1/2) / count``,
    from rows of sorted values sampled at ``(i + 1/2) / m`` (linear
    interpolation, numpy)."""
    m = rows.shape[1]
    source = (np.arange(m) + 0.5) / m
    levels = (np.arange(count) + 0.5) / count
    return np.stack([np.interp(levels, source, row) for row in rows]).astype(
        np.float32)


def weighted_gram(F, m, W):
    """``F diag(m) F^T / W``: the Gram matrix of the positions weighted by
    the mask ``m`` (M,), normalized by its area ``W = sum(m)``."""
    return T.dot(F * m[None, :], F.T) / W


def _weighted_mean(F, m, W):
    return T.dot(F, m) / W


def _weighted_covariance(F, m, W):
    centred = F - _weighted_mean(F, m, W)[:, None]
    return weighted_gram(centred, m, W)


def mask_at(mask, layer):
    """A mask (H, W) in 0..1 at the size of ``layer``'s maps: 2x2 averages
    (dropping an odd last row or column) once per pooling layer before it,
    as the network's ``average_exc_pad`` pooling does to the features."""
    mask = np.asarray(mask, np.float64)
    for _ in range(int(np.log2(receptive_stride(layer)))):
        h, w = mask.shape[0] // 2, mask.shape[1] // 2
        mask = mask[:2 * h, :2 * w].reshape(h, 2, w, 2).mean(axis=(1, 3))
    return mask.astype(np.float32)


class Statistic:
    """Describes features by components; see the module docstring."""
    name = None
    component_ndims = ()

    def components(self, F, M, layer):
        """Theano expressions of the components of F (N x M), M float."""
        raise NotImplementedError

    def weighted_components(self, F, m, W, layer):
        """The components of the positions of F weighted by the mask ``m``
        (M,) of area ``W`` (statistics in
        :data:`lasagne_style.config.MASKED_STATISTICS`)."""
        raise NotImplementedError

    def to_target(self, components):
        """A style image's (numpy) components -> a size-independent target
        (what is stored and averaged when styles are blended)."""
        return components

    def from_target(self, target, positions):
        """A target -> the components to compare with for an image whose
        layer has ``positions`` positions."""
        return target


class Gram(Statistic):
    name = "gram"
    component_ndims = (2,)

    def components(self, F, M, layer):
        return [gram(F, M)]

    def weighted_components(self, F, m, W, layer):
        return [weighted_gram(F, m, W)]


class Mean(Statistic):
    name = "mean"
    component_ndims = (1,)

    def components(self, F, M, layer):
        return [_mean(F, M)]

    def weighted_components(self, F, m, W, layer):
        return [_weighted_mean(F, m, W)]


class MeanCov(Statistic):
    name = "meancov"
    component_ndims = (1, 2)

    def components(self, F, M, layer):
        return [_mean(F, M), _covariance(F, M)]

    def weighted_components(self, F, m, W, layer):
        return [_weighted_mean(F, m, W), _weighted_covariance(F, m, W)]


class Sliced(Statistic):
    """Sliced 1-D optimal transport (sliced Wasserstein-2 distance).

    The features are projected on N fixed random orthonormal directions and
    each projection's sorted values are compared with the target's quantile
    function at the same levels: for 1-D distributions, the squared distance
    between quantile functions is the squared Wasserstein-2 distance. Unlike
    the Gram matrix it constrains the whole distribution along each
    direction (e.g. sparsity and skew of the ReLU features), not only second
    moments; it is differentiable (sorting permutes the gradient back) and
    every position receives a gradient. Targets are stored as ``QUANTILES``
    quantiles per direction and resampled to the image's number of
    positions.
    """
    name = "sliced"
    component_ndims = (2,)

    def components(self, F, M, layer):
        n = LAYER_CHANNELS[layer]
        seed = sum(map(ord, layer))  # fixed per layer, for a smooth objective
        return [T.sort(T.dot(T.constant(rotation(n, seed)), F), axis=1)]

    def to_target(self, components):
        return [resample_quantiles(components[0], QUANTILES)]

    def from_target(self, target, positions):
        return [resample_quantiles(target[0], positions)]


STATISTICS = {cls.name: cls() for cls in (Gram, Mean, MeanCov, Sliced)}


def get(name):
    """The :class:`Statistic` called ``name`` (UserError if unknown)."""
    return STATISTICS[choice("statistic", name, tuple(STATISTICS))]


def layer_coefficients(targets, target_gram):
    """The weights ``s_l / (K ||t_k||^2)`` of each component's squared error
    (see the module docstring), from numpy targets."""
    n = target_gram.shape[0]
    scale = np.sum(np.square(target_gram, dtype=np.float64)) / (4.0 * n * n)
    return [scale / (len(targets) * max(np.sum(np.square(t, dtype=np.float64)),
                                        1e-30)) for t in targets]
