"""Side-by-side comparison of style statistics, and their cross-evaluation.

Rows: one texture per style image, then one stylization per (content, style)
pair; columns: the inputs, then one result per statistic. For every result,
the table gives its style distance to the target under *every* statistic
(the unweighted style term, ``sum_l E_l``), which shows what each statistic
constrains and what it leaves free.
"""
import concurrent.futures
import csv
import io
import multiprocessing
import os
import time

import numpy as np

from . import api, files, images, plots
from .statistics import STATISTICS


def style_distances(image, style, stats, preset="default", style_scale=None):
    """Unweighted style term of ``image`` under each statistic in ``stats``,
    the style at ``style_scale`` (None: a texture's default scale,
    :func:`lasagne_style.api.score`)."""
    return {s: api.score(image, style, preset=preset, style_weight=1.0,
                         tv_weight=0.0, statistic=s,
                         style_scale=style_scale)["style"] for s in stats}


def _rows(styles, contents, seed, textures):
    rows = [dict(kind="texture", style=s, content=None, seed=seed)
            for s in (styles if textures else ())]
    rows += [dict(kind="transfer", style=s, content=c, seed=seed)
             for c, s in zip(contents, styles)]
    for row in rows:
        row["results"] = {}
    return rows


def _cell(row, stat, stats, size, iters, preset, init, multiscale, tol):
    """One run of the comparison: ``row``'s texture or transfer optimised
    for ``stat``, and its distances under every statistic in ``stats``."""
    start = time.perf_counter()
    common = dict(size=size, iters=iters, seed=row["seed"], preset=preset,
                  statistic=stat, progress=False, multiscale=multiscale,
                  tol=tol)
    if row["kind"] == "texture":
        # the texture command's default scale (docs/textures.md): at small
        # sizes the style is enlarged so that the texture cannot copy it
        result = api.synthesize(row["style"], **common)
        scale, copy = None, result.copy and result.copy.as_dict()
    else:
        result = api.stylize(row["content"], row["style"], init=init,
                             **common)
        scale, copy = 1.0, None
    return dict(image=result.image, seconds=time.perf_counter() - start,
                history=result.history, stopped=result.stopped, copy=copy,
                distances=style_distances(result.image, row["style"], stats,
                                          preset, scale))


def run(styles, contents=(), stats=tuple(STATISTICS), size=256, iters=200,
        seed=0, preset="default", progress=None, textures=True, init=None,
        multiscale=1, tol=0.0):
    """Compute every cell of the comparison (texture rows only if
    ``textures``). Transfers start from ``init`` (the preset's choice when
    None: the photo for ``default``, where the seed changes nothing).
    ``iters``, ``multiscale`` and ``tol`` are those of
    :func:`lasagne_style.api.stylize`.

    Returns
    -------
    list of dict
        One per row: ``kind`` ('texture' or 'transfer'), ``style``,
        ``content`` (or None), ``seed``, and ``results``: statistic ->
        dict with ``image``, ``seconds``, ``history`` (the run's
        evaluations), ``stopped`` (why its last level ended), ``copy`` (a
        texture's :meth:`~lasagne_style.copying.CopyScore.as_dict`, None for
        a transfer) and ``distances`` (statistic -> float; a texture's
        style at the texture's default scale, a transfer's at scale 1).
    """
    rows = _rows(styles, contents, seed, textures)
    for row in rows:
        for stat in stats:
            cell = _cell(row, stat, stats, size, iters, preset, init,
                         multiscale, tol)
            row["results"][stat] = cell
            if progress:
                progress("%s %s, %s: %.0f s" % (row["kind"], short_name(
                    row["content"] or row["style"]), stat, cell["seconds"]))
    return rows


#: Thread counts set to 1 in :func:`run_seeds`' worker processes.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def run_seeds(seeds, styles, contents=(), stats=tuple(STATISTICS),
              processes=1, textures=True, size=256, iters=200,
              preset="default", init=None, multiscale=1, tol=0.0):
    """:func:`run` once per seed; the rows of all seeds in one list, seed
    by seed.

    With ``processes`` > 1 the runs go to that many worker processes with
    one BLAS and OpenMP thread each: at 128-160 px an evaluation is not much
    faster on two threads than on one, so two single-threaded processes do
    nearly twice the work. Each run is one task, textures (the long ones)
    first, so that a process that finishes early takes the next one (one
    process per seed left a core idle for minutes). Measurements:
    docs/performance.md, "Comparison runs".
    """
    rows = [row for seed in seeds
            for row in _rows(styles, contents, seed, textures)]
    settings = (stats, size, iters, preset, init, multiscale, tol)
    cells = [(row, stat) for row in rows for stat in stats]
    if processes <= 1:
        for row, stat in cells:
            row["results"][stat] = _cell(row, stat, *settings)
        return rows
    cells.sort(key=lambda cell: cell[0]["kind"] != "texture")  # stable
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))  # inherited
    try:
        with concurrent.futures.ProcessPoolExecutor(
                processes, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            futures = [pool.submit(_cell, row, stat, *settings)
                       for row, stat in cells]
            for (row, stat), future in zip(cells, futures):
                row["results"][stat] = future.result()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return rows


def short_name(path):
    """A file name without its folder and extension (table labels)."""
    return os.path.splitext(os.path.basename(str(path)))[0]


def table(rows):
    """CSV text: one line per (row, optimised statistic), one column per
    evaluating statistic, plus the run's evaluations, time and why it
    stopped."""
    stats = list(rows[0]["results"])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["kind", "content", "style", "optimised"]
                    + ["dist_" + s for s in stats]
                    + ["evaluations", "seconds", "stopped"])
    for row in rows:
        for stat, cell in row["results"].items():
            writer.writerow([row["kind"], short_name(row["content"] or ""),
                             short_name(row["style"]), stat]
                            + ["%.6g" % cell["distances"][s] for s in stats]
                            + [len(cell["history"]),
                               "%.1f" % cell["seconds"], cell["stopped"]])
    return out.getvalue()


def figure(rows, path, cell_inches=2.2):
    """Save the comparison grid (via matplotlib) atomically to ``path``, in
    the format its extension names (PNG, PDF, SVG, ...:
    :func:`~lasagne_style.files.check_figure_output`)."""
    fmt = files.check_figure_output(path)
    plt = plots.pyplot()
    stats = list(rows[0]["results"])
    n_inputs = 2 if any(r["content"] for r in rows) else 1
    fig, axes = plt.subplots(len(rows), n_inputs + len(stats), squeeze=False,
                             figsize=(cell_inches * (n_inputs + len(stats)),
                                      cell_inches * len(rows)))
    for r, row in enumerate(rows):
        inputs = [("style", row["style"])]
        if n_inputs == 2:
            inputs.insert(0, ("content", row["content"]))
        for c, (label, path_or_none) in enumerate(inputs):
            ax = axes[r, c]
            if path_or_none is not None:
                ax.imshow(images.load_image(path_or_none))
                ax.set_title("%s: %s" % (label, short_name(path_or_none)),
                             fontsize=8)
        for c, stat in enumerate(stats, start=n_inputs):
            cell = row["results"][stat]
            axes[r, c].imshow(cell["image"])
            axes[r, c].set_title("%s %s" % (row["kind"], stat), fontsize=9)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_frame_on(False)
    fig.tight_layout()
    try:
        files.write_atomically(path, lambda f: fig.savefig(
            f, format=fmt, dpi=100))
    finally:
        plt.close(fig)
    return path


def summary(rows):
    """Geometric mean over rows of each (optimised, evaluated) distance,
    relative to the distance of the result optimised for the evaluating
    statistic (rows of several seeds may be pooled). Geometric: the ratios
    spread over orders of magnitude, and an arithmetic mean would be the
    largest row's."""
    stats = list(rows[0]["results"])
    logs = np.zeros((len(stats), len(stats)))
    for row in rows:
        for i, opt in enumerate(stats):
            for j, ev in enumerate(stats):
                own = row["results"][ev]["distances"][ev]
                logs[i, j] += np.log(max(row["results"][opt]["distances"][ev],
                                         1e-30) / max(own, 1e-30))
    return stats, np.exp(logs / len(rows))
