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
"""
import numpy as np
import theano.tensor as T

from .config import LAYER_CHANNELS, choice

#: Number of quantiles the ``sliced`` statistic keeps per direction.
QUANTILES = 256


def gram(F, M):
    """Per-position Gram matrix ``F F^T / M``."""
    return T.dot(F, F.T) / M


def _mean(F, M):
    return F.sum(axis=1) / M


def _covariance(F, M):
    centred = F - _mean(F, M)[:, None]
    return T.dot(centred, centred.T) / M


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


class Statistic:
    """Describes features by components; see the module docstring."""
    name = None
    component_ndims = ()

    def components(self, F, M, layer):
        """Theano expressions of the components of F (N x M), M float."""
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


class Mean(Statistic):
    name = "mean"
    component_ndims = (1,)

    def components(self, F, M, layer):
        return [_mean(F, M)]


class MeanCov(Statistic):
    name = "meancov"
    component_ndims = (1, 2)

    def components(self, F, M, layer):
        return [_mean(F, M), _covariance(F, M)]


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
