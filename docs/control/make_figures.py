"""Regenerate docs/control/: a tileable texture tiled 2x2 beside a plain one,
one photo at three style scales, and a two-region transfer with its masks
(README, "Control: tileable textures, style scale, masks").

Run from the repository root: ``.venv/bin/python docs/control/make_figures.py``
(about 10 minutes on 2 idle cores, three times that on a busy machine). A
figure that exists is kept (delete it to redo it). Prints, and writes to
``results.json``, the seam statistic of both textures: the mean absolute
difference across the wrap (last column vs first, last row vs first) over
that between neighbouring interior columns and rows.
"""
import json
import os
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lasagne_style  # noqa: E402,F401  (configures Theano first)
from lasagne_style import api, images  # noqa: E402

OUT = os.path.dirname(os.path.abspath(__file__))
TEXTURE = "samples/brick_wall.png"
PHOTO, STYLE = "samples/grace_hopper.jpg", "samples/night_cafe.jpg"
SECOND_STYLE = "samples/pere_tanguy.jpg"
TEXTURE_SIZE, SIZE = 160, 160


def seam_ratio(rgb):
    """Wrap-around over interior neighbour differences (1: no seam)."""
    x = rgb.astype(np.float64)
    across = np.concatenate([np.abs(x[:, -1] - x[:, 0]).ravel(),
                             np.abs(x[-1] - x[0]).ravel()]).mean()
    inside = np.concatenate([np.abs(np.diff(x, axis=1)).ravel(),
                             np.abs(np.diff(x, axis=0)).ravel()]).mean()
    return across / inside


def _panels(path, panels, columns, width):
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width, width * rows
                                                     / columns * 1.12))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, (title, image) in zip(np.ravel(axes), panels):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="none")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def tileable(results):
    panels = []
    for tile in (True, False):
        start = time.perf_counter()
        result = api.synthesize(TEXTURE, size=TEXTURE_SIZE, iters=150,
                                seed=0, progress=False, tileable=tile)
        ratio = seam_ratio(result.image)
        name = "tileable" if tile else "plain"
        results["seam_" + name] = round(ratio, 3)
        results["seconds_" + name] = round(time.perf_counter() - start)
        print("%s texture: seam ratio %.3f" % (name, ratio), flush=True)
        panels.append(("%s, tiled 2x2 (seam ratio %.2f)" % (
            "--tileable" if tile else "plain", ratio),
            np.tile(result.image, (2, 2, 1))))
    _panels(os.path.join(OUT, "tileable.png"), panels, 2, 9)


def style_scales(results):
    panels = [("photo", images.resize(images.load_image(PHOTO),
                                      images.fit_size((600, 512), SIZE)))]
    for scale in (0.5, 1.0, 2.0):
        start = time.perf_counter()
        result = api.stylize(PHOTO, STYLE, size=SIZE, iters=60, seed=0,
                             progress=False, style_scale=scale)
        results["seconds_scale_%g" % scale] = round(
            time.perf_counter() - start)
        panels.append(("--style-scale %g" % scale, result.image))
        print("style scale %g done" % scale, flush=True)
    _panels(os.path.join(OUT, "style_scale.png"), panels, 4, 10)


def masks(results):
    h, w = images.fit_size((600, 512), SIZE)
    # left region, fading into the right one over 24 pixels
    ramp = np.clip((np.arange(w) - (w / 2.0 - 12)) / 24.0, 0, 1)
    right = np.tile(ramp, (h, 1))
    left = 1 - right
    start = time.perf_counter()
    result = api.stylize(PHOTO, [STYLE, SECOND_STYLE], size=SIZE, iters=80,
                         seed=0, progress=False, masks=[left, right])
    results["seconds_masks"] = round(time.perf_counter() - start)
    panels = [("mask 1 (night_cafe)", np.round(255 * left)),
              ("mask 2 (pere_tanguy)", np.round(255 * right)),
              ("style 1", images.load_image(STYLE)),
              ("style 2", images.load_image(SECOND_STYLE)),
              ("photo", images.resize(images.load_image(PHOTO), (h, w))),
              ("--masks: two regions", result.image)]
    _panels(os.path.join(OUT, "masks.png"), panels, 3, 9)


def main():
    path = os.path.join(OUT, "results.json")
    results = {}
    if os.path.exists(path):
        with open(path) as f:
            results = json.load(f)
    for name, make in (("tileable", tileable), ("style_scale", style_scales),
                       ("masks", masks)):
        if os.path.exists(os.path.join(OUT, name + ".png")):
            continue
        make(results)
        with open(path, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    print(results)


if __name__ == "__main__":
    main()
