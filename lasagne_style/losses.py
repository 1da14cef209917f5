"""The content and total-variation loss terms, as Theano expressions (the
style term depends on the statistic: see :mod:`lasagne_style.statistics`).

Notation (per layer): features ``F`` of the generated image reshaped to
N channels x M positions, ``P`` those of the content image.

* content   ``L_c = 1/2 sum (F - P)^2``
* variation ``L_tv = sum ((x[i+1,j]-x[i,j])^2 + (x[i,j+1]-x[i,j])^2)^1.25``
  over i < H-1, j < W-1; for a tileable texture (``wrap=True``) over all
  i, j with the indices taken mod H and W, so the differences across the
  wrap-around seam are smoothed like any other.

These are the recipe's definitions (``normalize=False``). The content and
variation sums grow with the number of pixels while the recipe's style term,
``1/(4 N^2 M^2) sum (G - A)^2``, does not. With ``normalize=True`` they are
divided by the number of summed elements (``N M`` for content, the pixel
count for variation), so that one set of weights balances the terms the same
way at every image size.
"""
import theano.tensor as T


def as_matrix(features):
    """(1, N, H, W) feature maps -> (N, M) matrix, M = H W."""
    return features.reshape((features.shape[1], -1))


def num_positions(features):
    return T.cast(features.shape[2] * features.shape[3], "float32")


def content_loss(features, target, normalize=False):
    """``1/2 sum (F - P)^2`` (divided by ``N M`` when ``normalize``)."""
    loss = 0.5 * T.sqr(features - target).sum()
    if normalize:
        loss /= T.cast(features.size, "float32")
    return loss


def total_variation(x, normalize=False, power=1.25, wrap=False):
    """``sum (dx^2 + dy^2)^power`` over the image ``x`` (1, 3, H, W)
    (divided by the pixel count when ``normalize``); with ``wrap`` the
    differences are cyclic, ``dx[i, j] = x[i, (j+1) mod W] - x[i, j]``."""
    if wrap:
        dy = T.roll(x, -1, axis=2) - x
        dx = T.roll(x, -1, axis=3) - x
    else:
        corner = x[:, :, :-1, :-1]
        dy = x[:, :, 1:, :-1] - corner
        dx = x[:, :, :-1, 1:] - corner
    loss = ((T.sqr(dx) + T.sqr(dy)) ** power).sum()
    if normalize:
        loss /= T.cast(x.shape[2] * x.shape[3], "float32")
    return loss
