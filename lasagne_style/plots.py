"""Figures written by the command line (loss curves) via matplotlib."""
import numpy as np

from .files import check_figure_output, write_atomically


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def loss_curves(history, path, title=""):
    """Plot each weighted loss term and the total per evaluation (log scale)
    and save it atomically to ``path``, in the format its extension names
    (PNG, PDF, SVG, ...: :func:`~lasagne_style.files.check_figure_output`).
    The levels of a coarse-to-fine run (``size`` in the history) are marked
    by vertical lines."""
    fmt = check_figure_output(path)
    plt = pyplot()
    steps = np.array([h["eval"] for h in history])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for term in ("content", "style", "tv"):
        values = np.array([h.get(term, 0.0) for h in history], float)
        if values.max(initial=0) > 0:  # a term that is off is not drawn
            ax.semilogy(steps, np.where(values > 0, values, np.nan), lw=1.5,
                        label=term)
    ax.semilogy(steps, [h["loss"] for h in history], "k--", lw=1,
                label="total")
    sizes = [h.get("size") for h in history]
    for i in range(1, len(history)):
        if sizes[i] != sizes[i - 1]:
            ax.axvline(steps[i] - 0.5, color="grey", ls=":")
            ax.text(steps[i], ax.get_ylim()[1], " %d px" % sizes[i],
                    va="top", fontsize=8, color="grey")
    ax.set_xlabel("evaluation")
    ax.set_ylabel("loss (weighted)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        write_atomically(path, lambda f: fig.savefig(f, format=fmt, dpi=100))
    finally:
        plt.close(fig)
    return path
