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
``sliced``  quantiles of each row of ``R F``, R a fixed       the marginals
            random rotation (sliced 1-D optimal transport)   along N
                                                             directions
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


def _quantiles(F, M, rotation_matrix, count=QUANTILES):
    """Quantiles of each row of ``R F`` at levels (k + 1/2) / count."""
    projected = T.sort(T.dot(rotation_matrix, F), axis=1)
    levels = (T.arange(count, dtype="float32") + 0.5) / count
    index = T.cast(T.floor(levels * M), "int64")
    return projected[:, index]


class Statistic:
    """Describes features by components; see the module docstring."""
    name = None
    component_ndims = ()

    def components(self, F, M, layer):
        """Theano expressions of the components of F (N x M), M float."""
        raise NotImplementedError


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
    the sorted projections compared quantile by quantile: for 1-D
    distributions, the squared distance between quantile functions is the
    squared Wasserstein-2 distance. Unlike the Gram matrix it constrains the
    whole distribution along each direction (e.g. sparsity and skew of the
    ReLU features), not only second moments; unlike a histogram loss it is
    differentiable everywhere (sorting permutes the gradient back).
    """
    name = "sliced"
    component_ndims = (2,)

    def components(self, F, M, layer):
        n = layer_channels(layer)
        seed = sum(map(ord, layer))  # fixed per layer, for a smooth objective
        return [_quantiles(F, M, T.constant(rotation(n, seed)))]


def layer_channels(layer):
    """Number of channels of a VGG19 conv layer (64, 128, 256, 512)."""
    block = int(layer[4])
    return min(64 * 2 ** (block - 1), 512)


STATISTICS = {cls.name: cls() for cls in (Gram, Mean, MeanCov, Sliced)}


def get(name):
    from .errors import UserError
    if name not in STATISTICS:
        raise UserError("unknown statistic %r (choose from %s, or disc)"
                        % (name, ", ".join(STATISTICS)))
    return STATISTICS[name]


def layer_coefficients(targets, target_gram):
    """The weights ``s_l / (K ||t_k||^2)`` of each component's squared error
    (see the module docstring), from numpy targets."""
    n = target_gram.shape[0]
    scale = np.sum(np.square(target_gram, dtype=np.float64)) / (4.0 * n * n)
    return [scale / (len(targets) * max(np.sum(np.square(t, dtype=np.float64)),
                                        1e-30)) for t in targets]
