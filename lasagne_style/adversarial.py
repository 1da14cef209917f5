"""Discriminator style loss: per-pixel adversarial matching of feature
distributions (the homework's "hardcore" option).

At each style layer every spatial position is one sample: an N-dimensional
feature vector. A small discriminator ``D`` (1x1 convolutions, so it sees one
position at a time) learns to tell positions of the style image ("real")
from positions of the current image X ("fake"); X is then updated to fool
it. When no discriminator of the family can separate the two samples, the
feature distributions agree on everything that family can see:

* ``logreg``    ``D(f) = sigmoid(w^T f + b)``. A linear logit can only
  separate distributions whose means differ, so X is pushed to match the
  *mean*.
* ``quadratic`` logit ``w^T f + sum_k a_k (u_k^T f)^2 + b`` (rank-``r``
  quadratic form): it also sees second moments, so X must match mean and
  covariance (along the ``r`` learnt directions at any one time).
* ``mlp``       two hidden 1x1 layers with ReLU: a non-linear boundary.

Each layer's features are standardized with the style image's per-channel
mean and standard deviation before entering ``D`` (a fixed affine change of
input that leaves each family unchanged but puts all layers on one scale).

The generator (X) objective is either the non-saturating *swapped labels*
loss ``-log D(fake)`` or the *domain confusion* loss of Tzeng et al. (2015),
the cross-entropy against the uniform target 1/2. X is updated with Adam and
projected onto the pixel bounds after each step. The D step and the X step
are each compiled once.
"""
import time

import numpy as np

from . import threads, vgg
from .config import DISC_KINDS as KINDS
from .config import AdversarialOptions
from .config import DISC_LOSSES as LOSSES  # noqa: F401  (part of this API)
from .config import choice
from .images import pixel_bounds
from .losses import content_loss, total_variation
from .optimize import Optimiser, Result

import lasagne  # noqa: E402
import theano  # noqa: E402
import theano.tensor as T  # noqa: E402
from lasagne.layers import ConcatLayer, Conv2DLayer, InputLayer  # noqa: E402


def build_discriminator(kind, channels, rank=16, hidden=64):
    """A per-position discriminator of 1x1 convolutions, returning logits.

    Returns
    -------
    (InputLayer, Layer)
        Input of shape (1, channels, H, W); output (1, 1, H, W) logits
        (``D = sigmoid(logit)``).
    """
    identity = lasagne.nonlinearities.identity

    def conv(incoming, n, **kwargs):  # a 1x1 convolution: one position
        return Conv2DLayer(incoming, n, 1, flip_filters=False, **kwargs)

    l_in = InputLayer((1, channels, None, None))
    if kind == "logreg":
        out = conv(l_in, 1, nonlinearity=identity)
    elif kind == "quadratic":
        projections = conv(l_in, rank, b=None, nonlinearity=T.sqr,
                           W=lasagne.init.Normal(1.0 / np.sqrt(channels)))
        out = conv(ConcatLayer([l_in, projections]), 1, nonlinearity=identity)
    else:
        choice("discriminator", kind, KINDS)
        hidden_layer = conv(l_in, hidden)
        hidden_layer = conv(hidden_layer, hidden)
        out = conv(hidden_layer, 1, nonlinearity=identity)
    return l_in, out


def discriminator_loss(real_logits, fake_logits):
    """Binary cross-entropy of D: ``-log D(real) - log(1 - D(fake))``,
    averaged over positions (softplus form, stable for large logits)."""
    return (T.nnet.softplus(-real_logits).mean()
            + T.nnet.softplus(fake_logits).mean())


def generator_loss(fake_logits, kind="swap"):
    """X's loss: ``-log D(fake)`` (swapped labels) or the cross-entropy
    against 1/2 (domain confusion)."""
    if kind == "swap":
        return T.nnet.softplus(-fake_logits).mean()
    return 0.5 * (T.nnet.softplus(-fake_logits).mean()
                  + T.nnet.softplus(fake_logits).mean())


def accuracy(real_logits, fake_logits):
    return 0.5 * (T.gt(real_logits, 0).mean() + T.lt(fake_logits, 0).mean())


class AdversarialMatcher:
    """One discriminator per feature map, and their compiled training step.

    Parameters
    ----------
    fake_maps : list of Theano (1, N_l, H, W) expressions
        Features of what is being optimised; they may depend on shared
        variables only (e.g. the image being optimised).
    real_maps : list of (1, N_l, H', W') arrays
        Features of the target samples (the style image). Where a map has
        more positions than the fake one (a style enlarged by its style
        scale), each D update sees a fresh random sample of as many real
        positions as there are fake ones: D works position by position
        (1x1 convolutions), so a sample is an unbiased minibatch of the
        real side, and a D update costs what it costs at scale 1 (a style
        at 3.25x had cost 10x more, most of it in D's hidden layers).
    options : lasagne_style.config.AdversarialOptions
    seed : int
        Seed of the discriminators' initial weights and of the samples.
    """

    def __init__(self, fake_maps, real_maps, options, seed=0):
        lasagne.random.set_rng(np.random.RandomState(seed))
        self.options = options
        self.layers, self.fake_logits = [], []
        self._real, self._sampler = [], np.random.RandomState(seed)
        d_loss, accuracies, fake_inputs, fake_standardized = 0, [], [], []
        real_inputs = []
        for fake, real in zip(fake_maps, real_maps):
            channels = real.shape[1]
            flat = real.reshape(channels, -1)
            mean = flat.mean(axis=1).reshape(1, -1, 1, 1).astype(np.float32)
            std = (flat.std(axis=1).reshape(1, -1, 1, 1) + 1e-3).astype(
                np.float32)
            _, l_out = build_discriminator(options.kind, channels,
                                           options.rank, options.hidden)
            self.layers.append(l_out)
            self._real.append(((real - mean) / std).astype(np.float32))
            real_inputs.append(T.tensor4("real"))
            real_logit = lasagne.layers.get_output(l_out, real_inputs[-1])
            fake_input = T.tensor4("fake")
            fake_logit = lasagne.layers.get_output(l_out, fake_input)
            d_loss += discriminator_loss(real_logit, fake_logit)
            accuracies.append(accuracy(real_logit, fake_logit))
            fake_inputs.append(fake_input)
            fake_standardized.append((fake - mean) / std)
            self.fake_logits.append(lasagne.layers.get_output(
                l_out, fake_standardized[-1]))
        if options.d_decay:
            # keeps D's logits moderate when it could separate the samples
            # perfectly (deep layers: more channels than positions)
            d_loss += options.d_decay * lasagne.regularization.\
                regularize_network_params(self.layers,
                                          lasagne.regularization.l2)
        params = lasagne.layers.get_all_params(self.layers, trainable=True)
        self._fake_features = theano.function([], fake_standardized)
        self._d_step = theano.function(
            fake_inputs + real_inputs, [d_loss] + accuracies,
            updates=lasagne.updates.adam(d_loss, params, options.d_lr))

    def generator_loss(self, weights=None):
        """Weighted sum over layers of the fake side's adversarial loss
        (a Theano expression)."""
        weights = weights or [1.0] * len(self.fake_logits)
        return sum(w * generator_loss(z, self.options.loss)
                   for w, z in zip(weights, self.fake_logits))

    def train(self, steps):
        """``steps`` Adam updates of every D on the current fakes.

        Returns
        -------
        (float, list of float)
            The last D loss and each D's accuracy before that update.
        """
        fake = self._fake_features()
        for _ in range(steps):
            out = self._d_step(*(fake + [self._real_sample(real, f.shape)
                                         for real, f in zip(self._real,
                                                            fake)]))
        return float(out[0]), [float(a) for a in out[1:]]

    def _real_sample(self, real, fake_shape):
        """``real`` whole, or a random sample of as many positions as the
        fake map has, as a (1, C, 1, M) strip."""
        positions = fake_shape[2] * fake_shape[3]
        flat = real.reshape(real.shape[1], -1)
        if flat.shape[1] <= positions:
            return real
        chosen = self._sampler.choice(flat.shape[1], positions, replace=False)
        return flat[:, np.sort(chosen)][None, :, None, :]


def image_step(x, loss, lr, bounds=None, outputs=()):
    """Compile one Adam step on the shared variable ``x`` minimising
    ``loss``, projected onto ``bounds`` = (low, high) arrays if given. The
    function returns ``[loss] + outputs``, evaluated before the step."""
    updates = lasagne.updates.adam(loss, [x], lr)
    if bounds is not None:
        updates[x] = T.clip(updates[x], *bounds)
    return theano.function([], [loss] + list(outputs), updates=updates)


def alternate(matcher, x_step, iterations, options, progress=None,
              describe=None, history=None):
    """The adversarial loop: ``d_steps`` D updates every ``d_every``
    iterations, then one X step. Appends one dict per iteration to
    ``history`` (kept on interruption) and returns it; ``describe`` turns
    the X step's extra outputs into entries of that dict."""
    history = [] if history is None else history
    accuracies, start = [], time.perf_counter()
    for n in range(1, iterations + 1):
        if (n - 1) % options.d_every == 0:
            _, accuracies = matcher.train(options.d_steps)
        values = x_step()
        entry = dict(eval=n, loss=float(values[0]), accuracy=accuracies,
                     time=time.perf_counter() - start)
        if describe is not None:
            entry.update(describe(*values[1:]))
        history.append(entry)
        if progress is not None:
            progress(n, iterations, entry["loss"], entry, entry["time"] / n)
    return history


def gaussian_toy(kind, d_steps, iterations=400, chunk=10, seed=0):
    """The adversarial loop on Gaussian toy "features": 2000 samples of a
    4-dimensional Gaussian (known mean and covariance) as the real side, a
    free 4 x 2000 array started from standard normal noise as the fake side,
    Adam (rate 0.02) on both.

    Returns
    -------
    trace : (iterations // chunk + 1, 4) array
        At the start and after every ``chunk`` image steps: the step, the
        relative error of the fake samples' mean and of their covariance,
        and D's accuracy (NaN at the start).
    X : (4, 2000) array
        The fake samples at the end.
    mean, cov : arrays
        The real distribution's parameters.
    """
    if iterations % chunk or iterations < chunk:
        raise ValueError("iterations must be a positive multiple of chunk")
    rng = np.random.RandomState(seed)
    mean = np.array([2.0, -1.0, 0.5, 1.5])
    A = rng.randn(4, 4)
    cov = A @ A.T / 4 + 0.3 * np.eye(4)
    real = mean[:, None] + np.linalg.cholesky(cov) @ rng.randn(4, 2000)
    x = theano.shared(rng.randn(1, 4, 1, 2000).astype(np.float32))
    options = AdversarialOptions(kind=kind, d_lr=0.02, rank=8,
                                 d_steps=d_steps)
    matcher = AdversarialMatcher(
        [x], [real.reshape(1, 4, 1, -1).astype(np.float32)], options, seed=1)
    step = image_step(x, matcher.generator_loss(), 0.02)

    def errors(accuracy):
        X = x.get_value().reshape(4, -1).astype(np.float64)
        return (np.linalg.norm(X.mean(axis=1) - mean) / np.linalg.norm(mean),
                np.linalg.norm(np.cov(X) - cov) / np.linalg.norm(cov),
                accuracy), X

    trace = [(0,) + errors(np.nan)[0]]
    for n in range(chunk, iterations + 1, chunk):
        history = alternate(matcher, step, chunk, options)
        row, X = errors(history[-1]["accuracy"][0])
        trace.append((n,) + row)
    return np.array(trace), X, mean, cov


class AdversarialOptimiser(Optimiser):
    """Texture synthesis or style transfer with the discriminator loss, as
    an :class:`lasagne_style.optimize.Optimiser` (not resumable: no
    coarse-to-fine levels, no checkpoints).

    The image objective is ``sum_l w_l L_adv,l + (content_weight /
    style_weight) L_c + options.tv_weight L_tv``: the preset's ratio of
    content to style carries over, with the adversarial losses in the place
    of the style term. Adam moves every pixel on its own, so the variation
    term must be far stronger than with L-BFGS-B (the preset's ratio left the
    textures full of pixel noise; 2e-5 with normalized terms removed most).

    Parameters
    ----------
    params : list of (W, b)
    config : lasagne_style.config.LossConfig
    options : lasagne_style.config.AdversarialOptions
    seed : int
        Seed of the discriminators' initial weights.
    """
    resumable = False

    def __init__(self, params, config, options, seed=0):
        threads.blas_on_one_thread()  # the same bytes on any thread count
        self.params, self.config = params, config
        self.options, self.seed = options, seed
        self.style_layers = list(config.style_layers)
        self.content_layers = list(config.content_layers
                                   if config.uses_content else ())
        self.features_of = vgg.feature_function(
            params, self.style_layers + self.content_layers)
        self.targets, self.last = None, (np.inf, {})

    def set_targets(self, shape, content_x, style_xs, blend):
        if len(style_xs) != 1:
            raise ValueError("the adversarial loss takes one style image")
        self.targets = (style_xs[0], content_x)

    def evaluate(self, x):
        # no fixed target to score against: the last step's loss
        return self.last

    def run(self, x0, budget, progress=None, on_improvement=None,
            save_every=0):
        """``budget`` rounds of the adversarial loop from ``x0``.

        Returns
        -------
        optimize.Result
            ``x`` is the last image (an adversarial loss is not a quantity
            that decreases monotonically, so "best" has no meaning here);
            ``history`` entries carry each D's accuracy.
        """
        config, options = self.config, self.options
        style_x, content_x = self.targets
        n_style = len(self.style_layers)
        low, high = pixel_bounds(x0.shape)
        x = theano.shared(np.clip(x0, low, high).astype(np.float32),
                          name="x")
        net = vgg.build(self.params, config.deepest_layer)
        fake = lasagne.layers.get_output(
            [net[n] for n in self.style_layers + self.content_layers], x)
        matcher = AdversarialMatcher(fake[:n_style],
                                     self.features_of(style_x)[:n_style],
                                     options, self.seed)
        adversarial = matcher.generator_loss(list(config.layer_weights))
        scale = 1.0 / max(config.style_weight, 1e-30)
        content = T.constant(np.float32(0))
        if self.content_layers:
            targets = self.features_of(content_x)[n_style:]
            content = sum(content_loss(f, T.constant(t), config.normalize)
                          for f, t in zip(fake[n_style:], targets))
        tv = total_variation(x, config.normalize)
        loss = (adversarial
                + np.float32(config.content_weight * scale) * content
                + np.float32(options.tv_weight) * tv)
        x_step = image_step(x, loss, options.x_lr,
                            (low.astype(np.float32), high.astype(np.float32)),
                            outputs=[adversarial, content, tv])

        def describe(adversarial_value, content_value, tv_value):
            return dict(style=float(adversarial_value),
                        content=float(content_value) * config.content_weight
                        * scale,
                        tv=float(tv_value) * options.tv_weight)

        result = Result()
        start = time.perf_counter()
        try:
            alternate(matcher, x_step, budget, options,
                      _with_accuracy(progress), describe, result.history)
            result.stopped = "budget"
        except KeyboardInterrupt:
            result.stopped = "interrupted"
        result.seconds = time.perf_counter() - start
        result.x = x.get_value()
        if result.history:
            last = result.history[-1]
            result.loss = last["loss"]
            result.terms = {k: last[k] for k in ("content", "style", "tv")}
        self.last = (result.loss, result.terms)
        return result


def _with_accuracy(progress):
    """``progress`` with each D's accuracy as the line's detail."""
    if progress is None:
        return None

    def report(n, total, loss, entry, seconds_per_eval):
        detail = "D acc " + " ".join("%.2f" % a for a in entry["accuracy"])
        progress(n, total, loss, dict(entry, detail=detail), seconds_per_eval)
    return report
