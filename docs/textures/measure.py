"""Measure how textures made with the defaults copy their exemplar, before
and after the texture default of docs/textures.md, on images that were not
used to choose that default.

Usage (from the repository root, with the project's environment)::

    .venv/bin/python docs/textures/measure.py run   [--work DIR] [--iters N]
    .venv/bin/python docs/textures/measure.py score [--work DIR]
    .venv/bin/python docs/textures/measure.py figure [--work DIR]

``run`` synthesises every (exemplar, size, arm) texture into DIR (default
``out/textures``; existing results are kept, so an interrupted run goes on
where it stopped), one at a time on one thread. ``score`` computes the copy
scores and Gram distances of the saved textures and writes
``docs/textures/results.csv`` and ``results.json``; ``figure`` writes the
small before/after grid ``docs/textures/grid.png``.

Arms: ``before`` is the texture command's former default (the exemplar
resized to the output's size: ``style_scale=1``); ``after`` is the new
default, ``style_scale = config.texture_style_scale(...)`` (the exemplar
at least as large as every style layer needs to have as many positions as
channels), passed explicitly so that this script measures the same thing
whatever the package's defaults become.

Everything uses public tools: the images are in ``../shared/images``
(sources and licences in its SOURCES.md), the network weights are the
package's default ones.
"""
import argparse
import csv
import json
import os
import sys
import time

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one thread: the machine is shared

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from lasagne_style import api, config, copying, images  # noqa: E402

IMAGES = os.path.join(ROOT, "..", "shared", "images")
#: The evaluation set: (kind, path under IMAGES). None of these was used to
#: choose the default (that was done on styles/kde_autumn_abstract.jpg and
#: photos/cincinnati_roebling_bridge.jpg, see docs/textures.md).
EXEMPLARS = [
    ("painting", "styles/vangogh_night_cafe_1888.png"),
    ("painting", "styles/vangogh_pere_tanguy_1887.png"),
    ("scene", "photos/picos_de_europa.jpg"),
    ("scene", "photos/sheep_pasture.jpg"),
    ("texture", "textures/burnt_bark.jpg"),
    ("texture", "textures/water_splash.jpg"),
]
SIZES = (64, 128, 256)
ARMS = ("before", "after")
SEED = 0


def _name(path):
    return os.path.splitext(os.path.basename(path))[0]


def style_scale(arm, rgb, size):
    """The style scale each arm uses for ``rgb`` at ``size``."""
    if arm == "before":
        return 1.0
    shape = images.fit_size(rgb.shape, size)
    return config.texture_style_scale(config.STYLE_LAYERS, [rgb.shape],
                                      shape)


def _out(work, path, size, arm):
    return os.path.join(os.path.abspath(work),
                        "%s_%d_%s.png" % (_name(path), size, arm))


def run(work, iters):
    os.makedirs(work, exist_ok=True)
    timing = os.path.join(work, "runs.json")
    done = json.load(open(timing)) if os.path.exists(timing) else {}
    for size in SIZES:
        for kind, path in EXEMPLARS:
            rgb = images.load_image(os.path.join(IMAGES, path))
            for arm in ARMS:
                out = _out(work, path, size, arm)
                if os.path.exists(out) and out in done:
                    continue
                scale = style_scale(arm, rgb, size)
                start = time.time()
                result = api.synthesize(rgb, size=size, iters=iters,
                                        seed=SEED, style_scale=scale,
                                        progress=False)
                images.save_image(out, result.image)
                done[out] = dict(seconds=round(time.time() - start, 1),
                                 evaluations=result.evaluations,
                                 stopped=result.stopped, iters=iters,
                                 style_scale=scale,
                                 loss=result.saved_loss)
                with open(timing, "w") as f:
                    json.dump(done, f, indent=1)
                print("%s %d %s: scale %.2f, %.1f s" % (
                    _name(path), size, arm, scale, done[out]["seconds"]),
                    flush=True)


def _gram(image, rgb, scale):
    return api.score(image, rgb, style_weight=1.0, tv_weight=0.0,
                     statistic="gram", style_scale=scale)["style"]


def _noise(shape):
    """The run's start image at seed 0 (uniform noise), as RGB."""
    x = np.random.RandomState(SEED).uniform(-128, 128, (1, 3) + shape)
    return images.deprocess(x.astype(np.float32))


def score(work):
    done = json.load(open(os.path.join(work, "runs.json")))
    rows = []
    for size in SIZES:
        for kind, path in EXEMPLARS:
            rgb = images.load_image(os.path.join(IMAGES, path))
            for arm in ARMS:
                out = _out(work, path, size, arm)
                if out not in done:
                    continue
                info = done[out]
                scale = info["style_scale"]
                image = images.load_image(out)
                noise = _noise(image.shape[:2])
                grad = copying.measure(image, rgb, scale)
                # the first measure: grey values, no blur, the
                # exemplar at the output's size
                at_size = images.resize(rgb, image.shape[:2])
                grey_score = copying.copy_score(image, at_size, sigma=0,
                                                gradient=False)
                grey_chance = copying.chance_level(image, at_size, sigma=0,
                                                   gradient=False)
                row = dict(
                    exemplar=_name(path), kind=kind, size=size, arm=arm,
                    height=image.shape[0], width=image.shape[1],
                    style_scale=round(scale, 3),
                    iters=info["iters"], evaluations=info["evaluations"],
                    seconds=info["seconds"],
                    copy_score=round(grad.score, 4),
                    copy_chance=round(grad.chance, 4),
                    copy_excess=round(grad.excess, 4),
                    copies=grad.copies,
                    grey_score=round(grey_score, 4),
                    grey_chance=round(grey_chance, 4),
                    gram=_gram(image, rgb, 1.0),
                    gram_noise=_gram(noise, rgb, 1.0),
                    gram_run_scale=_gram(image, rgb, scale),
                    gram_noise_run_scale=_gram(noise, rgb, scale))
                row["gram_ratio"] = row["gram"] / row["gram_noise"]
                row["gram_ratio_run_scale"] = (row["gram_run_scale"]
                                               / row["gram_noise_run_scale"])
                rows.append(row)
                print(json.dumps(row), flush=True)
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(dict(date="2026-12-05", seed=SEED, rows=rows), f, indent=1)
    with open(os.path.join(HERE, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("%.4g" % v if isinstance(v, float) else v)
                             for k, v in row.items()})


def figure(work, height=64):
    """One row per exemplar: the exemplar, then before/after at each
    size, each scaled to ``height`` px (small: the grid is a few hundred
    kB)."""
    from PIL import Image

    def cell(rgb):
        im = Image.fromarray(rgb)
        width = max(1, int(round(im.width * height / float(im.height))))
        return im.resize((width, height), Image.LANCZOS)

    rows = []
    for kind, path in EXEMPLARS:
        rgb = images.load_image(os.path.join(IMAGES, path))
        cells = [cell(images.resize(rgb, images.fit_size(rgb.shape, 256)))]
        for size in SIZES:
            for arm in ARMS:
                out = _out(work, path, size, arm)
                if os.path.exists(out):
                    cells.append(cell(images.load_image(out)))
        rows.append(cells)
    gap = 4
    width = max(sum(c.width for c in r) + gap * (len(r) - 1) for r in rows)
    grid = Image.new("RGB", (width, len(rows) * (height + gap) - gap),
                     "white")
    for i, cells in enumerate(rows):
        x = 0
        for c in cells:
            grid.paste(c, (x, i * (height + gap)))
            x += c.width + gap
    grid.save(os.path.join(HERE, "grid.png"), optimize=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("run", "score", "figure"))
    parser.add_argument("--work", default=os.path.join(ROOT, "out",
                                                       "textures"))
    parser.add_argument("--iters", type=int, default=200)
    args = parser.parse_args(argv)
    if args.step == "run":
        run(args.work, args.iters)
    elif args.step == "score":
        score(args.work)
    else:
        figure(args.work)


if __name__ == "__main__":
    main()
