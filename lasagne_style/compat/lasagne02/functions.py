"""Lasagne 0.2's new plain functions, one section each:
``nonlinearities`` (``elu``, ``selu``/``SELU``, ``softplus``,
``ScaledTanH``, alias ``ScaledTanh``), ``objectives``
(``categorical_accuracy``, ``binary_accuracy``, ``binary_hinge_loss``,
``multiclass_hinge_loss``, ``huber_loss``, ``align_targets``) and
``updates`` (``adamax``, ``amsgrad``)."""
import warnings

import numpy as np
import theano
import theano.tensor as T


# -- nonlinearities -----------------------------------------------------------

def elu(x):
    """Exponential linear unit (Clevert et al., 2015):
    :math:`f(x) = x` for :math:`x > 0`, :math:`e^x - 1` otherwise."""
    # expm1 of min(x, 0): the unused branch must not overflow for large x,
    # or its infinite gradient times 0 would give NaN
    return T.switch(x > 0, x, T.expm1(T.minimum(x, 0)))


class SELU(object):
    """Scaled exponential linear unit (Klambauer et al., 2017):
    :math:`f(x) = \\lambda x` for :math:`x > 0`,
    :math:`\\lambda \\alpha (e^x - 1)` otherwise.

    Parameters
    ----------
    scale : float
        :math:`\\lambda`, the factor of both branches.
    scale_neg : float
        :math:`\\alpha`, the factor of the negative branch.
    """

    def __init__(self, scale=1, scale_neg=1):
        self.scale = scale
        self.scale_neg = scale_neg

    def __call__(self, x):
        negative = self.scale_neg * T.expm1(T.minimum(x, 0))
        return self.scale * T.switch(x > 0, x, negative)


#: SELU with the constants of the paper, which keep activations at zero
#: mean and unit variance.
selu = SELU(scale=1.0507009873554804934193349852946,
            scale_neg=1.6732632423543772848170429916717)


class ScaledTanH(object):
    """Scaled hyperbolic tangent: :math:`f(x) = b \\tanh(a x)`, with
    ``scale_in`` :math:`a` and ``scale_out`` :math:`b` (LeCun et al. 1998
    recommend :math:`a = 2/3`, :math:`b = 1.7159`)."""

    def __init__(self, scale_in=1, scale_out=1):
        self.scale_in = scale_in
        self.scale_out = scale_out

    def __call__(self, x):
        return self.scale_out * T.tanh(self.scale_in * x)


ScaledTanh = ScaledTanH


def softplus(x):
    """Softplus: :math:`f(x) = \\log(1 + e^x)`."""
    return T.nnet.softplus(x)


# -- objectives ---------------------------------------------------------------

def align_targets(predictions, targets):
    """Lasagne 0.2's helper: a ``(N, 1)`` prediction known to be
    broadcastable in its second axis is compared with ``(N,)`` targets as
    ``(N, 1)`` (not broadcast to ``(N, N)``)."""
    if getattr(predictions, "broadcastable", None) == (False, True) and \
            getattr(targets, "ndim", None) == 1:
        targets = T.as_tensor_variable(targets).dimshuffle(0, "x")
    return predictions, targets


def _class_indices(predictions, targets):
    """Integer class targets from one-hot (or class-index) ``targets``."""
    if targets.ndim == predictions.ndim:
        return T.argmax(targets, axis=-1)
    if targets.ndim != predictions.ndim - 1:
        raise TypeError("rank mismatch between targets and predictions")
    return targets


def categorical_accuracy(predictions, targets, top_k=1):
    """1 where the target class is among the ``top_k`` largest predictions,
    else 0 (one value per example).

    ``predictions`` has the classes in its last axis; ``targets`` are class
    indices (one axis fewer) or one-hot (same shape), as for
    ``categorical_crossentropy``. With ``top_k=1``, the prediction is the
    arg max (the first one on ties)."""
    targets = _class_indices(predictions, targets)
    if top_k == 1:
        return T.eq(T.argmax(predictions, axis=-1), targets)
    best = T.argsort(predictions, axis=-1)
    best = best[(slice(None),) * (predictions.ndim - 1) +
                (slice(-top_k, None),)]
    return T.any(T.eq(best, T.shape_padright(targets)), axis=-1)


def binary_accuracy(predictions, targets, threshold=0.5):
    """1 where ``predictions >= threshold`` equals the 0/1 ``targets``."""
    predictions, targets = align_targets(predictions, targets)
    return T.eq(T.ge(predictions, threshold), targets)


def binary_hinge_loss(predictions, targets, delta=1, log_odds=None,
                      binary=True):
    """:math:`\\max(0, \\delta - t p)` with targets :math:`t` in
    {-1, +1} (from {0, 1} when ``binary``) and predictions :math:`p` as
    log-odds; with ``log_odds=False`` the predictions are probabilities,
    turned into log-odds :math:`\\log(p / (1 - p))` first.

    As in Lasagne 0.2, omitting ``log_odds`` means ``True`` (with a
    ``FutureWarning``: Lasagne announced the default would change)."""
    if log_odds is None:
        warnings.warn("binary_hinge_loss: log_odds not given, taken as True "
                      "(Lasagne 0.2's default, which it meant to change)",
                      FutureWarning, stacklevel=2)
        log_odds = True
    if not log_odds:
        predictions = T.log(predictions / (1 - predictions))
    if binary:
        targets = 2 * targets - 1
    predictions, targets = align_targets(predictions, targets)
    return T.maximum(0, delta - predictions * targets)


def multiclass_hinge_loss(predictions, targets, delta=1):
    """Crammer-Singer hinge loss, one value per example:
    :math:`\\max(0, \\max_{j \\ne t} p_j - p_t + \\delta)`
    (``targets`` as class indices or one-hot)."""
    num_classes = predictions.shape[-1]
    if targets.ndim == predictions.ndim - 1:
        targets = T.extra_ops.to_one_hot(targets, num_classes)
    elif targets.ndim != predictions.ndim:
        raise TypeError("rank mismatch between targets and predictions")
    correct = T.sum(predictions * targets, axis=-1)
    # the largest prediction among the wrong classes
    others = T.switch(T.gt(targets, 0), -np.inf, predictions)
    return T.maximum(0, T.max(others, axis=-1) - correct + delta)


def huber_loss(predictions, targets, delta=1):
    """Huber loss, elementwise: :math:`r^2 / 2` for
    :math:`|r| \\le \\delta`, :math:`\\delta (|r| - \\delta / 2)` beyond,
    with :math:`r` = targets - predictions."""
    predictions, targets = align_targets(predictions, targets)
    r = abs(targets - predictions)
    return T.switch(r <= delta, 0.5 * r ** 2, delta * (r - 0.5 * delta))


# -- updates ------------------------------------------------------------------

def _zeros_like(param):
    value = param.get_value(borrow=True)
    return theano.shared(np.zeros(value.shape, dtype=value.dtype),
                         broadcastable=param.broadcastable)


def adamax(loss_or_grads, params, learning_rate=0.002, beta1=0.9,
           beta2=0.999, epsilon=1e-8):
    """AdaMax (Kingma and Ba, 2015, section 7.1), Adam with the infinity
    norm. At step :math:`t` (from 1), for each parameter and gradient
    :math:`g`:

    .. math::
        m_t = \\beta_1 m_{t-1} + (1 - \\beta_1) g, \\quad
        u_t = \\max(\\beta_2 u_{t-1}, |g|), \\quad
        \\theta_t = \\theta_{t-1} - \\frac{\\eta}{1 - \\beta_1^t}
                    \\frac{m_t}{u_t + \\epsilon}

    with :math:`m_0 = u_0 = 0`. Returns an ``OrderedDict`` of updates, like
    every function of ``lasagne.updates``."""
    from collections import OrderedDict
    from lasagne.updates import get_or_compute_grads
    grads = get_or_compute_grads(loss_or_grads, params)
    step = theano.shared(np.asarray(0, dtype=theano.config.floatX))
    t = step + 1
    rate = learning_rate / (1 - beta1 ** t)
    updates = OrderedDict()
    for param, g in zip(params, grads):
        m, u = _zeros_like(param), _zeros_like(param)
        m_t = beta1 * m + (1 - beta1) * g
        u_t = T.maximum(beta2 * u, abs(g))
        updates[m] = m_t
        updates[u] = u_t
        updates[param] = param - rate * m_t / (u_t + epsilon)
    updates[step] = t
    return updates


def amsgrad(loss_or_grads, params, learning_rate=0.001, beta1=0.9,
            beta2=0.999, epsilon=1e-8):
    """AMSGrad (Reddi et al., 2018): Adam whose second-moment estimate
    never decreases.

    .. math::
        m_t = \\beta_1 m_{t-1} + (1 - \\beta_1) g, \\quad
        v_t = \\beta_2 v_{t-1} + (1 - \\beta_2) g^2, \\quad
        \\hat v_t = \\max(\\hat v_{t-1}, v_t), \\\\
        \\theta_t = \\theta_{t-1} - \\eta \\frac{\\sqrt{1 - \\beta_2^t}}
        {1 - \\beta_1^t} \\frac{m_t}{\\sqrt{\\hat v_t} + \\epsilon}
    """
    from collections import OrderedDict
    from lasagne.updates import get_or_compute_grads
    grads = get_or_compute_grads(loss_or_grads, params)
    step = theano.shared(np.asarray(0, dtype=theano.config.floatX))
    t = step + 1
    rate = learning_rate * T.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    updates = OrderedDict()
    for param, g in zip(params, grads):
        m, v, v_hat = _zeros_like(param), _zeros_like(param), \
            _zeros_like(param)
        m_t = beta1 * m + (1 - beta1) * g
        v_t = beta2 * v + (1 - beta2) * g ** 2
        v_hat_t = T.maximum(v_hat, v_t)
        updates[m] = m_t
        updates[v] = v_t
        updates[v_hat] = v_hat_t
        updates[param] = param - rate * m_t / (T.sqrt(v_hat_t) + epsilon)
    updates[step] = t
    return updates
