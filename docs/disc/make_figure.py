"""Regenerate docs/disc/: textures and stylizations made with each
discriminator type beside the Gram result, and their measured distances.

Run from the repository root: ``.venv/bin/python docs/disc/make_figure.py``
(about 15 minutes on 2 cores).
"""
import csv
import os
import sys
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import lasagne_style  # noqa: E402,F401  (configures Theano first)
from lasagne_style import api, compare, images  # noqa: E402
from lasagne_style.disc import DiscOptions, KINDS  # noqa: E402

OUT = os.path.dirname(os.path.abspath(__file__))
STYLE, PHOTO = "samples/pere_tanguy.jpg", "samples/grace_hopper.jpg"
SIZE = 256


def runs():
    yield "texture", "gram", lambda: api.synthesize(
        STYLE, size=SIZE, iters=120, seed=0, progress=False)
    for kind in KINDS:
        yield "texture", kind, lambda: api.synthesize(
            STYLE, size=SIZE, iters=200, seed=0, progress=False,
            statistic="disc", disc=DiscOptions(kind=kind))
    yield "transfer", "gram", lambda: api.stylize(
        PHOTO, STYLE, size=SIZE, iters=80, seed=0, progress=False)
    for kind in KINDS:
        yield "transfer", kind, lambda: api.stylize(
            PHOTO, STYLE, size=SIZE, iters=100, seed=0, progress=False,
            statistic="disc", disc=DiscOptions(kind=kind))


def main():
    rows = []
    for mode, name, make in runs():
        start = time.perf_counter()
        result = make()
        seconds = time.perf_counter() - start
        path = os.path.join(OUT, "%s_%s.png" % (mode, name))
        images.save_image(path, result.image)
        d = compare.style_distances(result.image, STYLE,
                                    ["gram", "mean", "meancov"])
        accuracy = result.history[-1].get("accuracy", [])
        rows.append(dict(mode=mode, loss=name, gram=d["gram"], mean=d["mean"],
                         meancov=d["meancov"], seconds=seconds,
                         final_d_accuracy=" ".join("%.2f" % a
                                                   for a in accuracy),
                         image=path, history=result.history))
        print(mode, name, "gram %.4g mean %.4g meancov %.4g, %.0f s, D acc %s"
              % (d["gram"], d["mean"], d["meancov"], seconds,
                 rows[-1]["final_d_accuracy"]), flush=True)
    with open(os.path.join(OUT, "results.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["mode", "loss", "dist_gram", "dist_mean",
                         "dist_meancov", "seconds", "final_d_accuracy"])
        for r in rows:
            writer.writerow([r["mode"], r["loss"], "%.5g" % r["gram"],
                             "%.5g" % r["mean"], "%.5g" % r["meancov"],
                             "%.0f" % r["seconds"], r["final_d_accuracy"]])
    fig, axes = plt.subplots(2, 5, figsize=(13, 5.6))
    for r, mode in enumerate(("texture", "transfer")):
        axes[r, 0].imshow(images.load_image(STYLE if mode == "texture"
                                            else PHOTO))
        axes[r, 0].set_title("style" if mode == "texture" else "photo")
        for c, row in enumerate([x for x in rows if x["mode"] == mode], 1):
            axes[r, c].imshow(images.load_image(row["image"]))
            axes[r, c].set_title("%s %s\nGram dist %.3g" % (
                mode, row["loss"], row["gram"]), fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "grid.png"), dpi=80)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3))
    for ax, row in zip(axes, [x for x in rows if x["mode"] == "texture"
                              and x["loss"] != "gram"]):
        acc = [h["accuracy"] for h in row["history"]]
        for layer, series in zip(("conv1_1", "conv2_1", "conv3_1"),
                                 zip(*acc)):
            ax.plot(series, label=layer)
        ax.set_title("D accuracy, texture, %s" % row["loss"])
        ax.set_xlabel("iteration")
        ax.set_ylim(0.4, 1.02)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "accuracy.png"), dpi=80)


if __name__ == "__main__":
    sys.exit(main())
