"""Figures: loss curves and pictures at their native resolution
(matplotlib). Used by the command line and the notebook."""
import numpy as np

from .files import check_figure_output, write_atomically

#: Height in pixels of the caption strip above each picture.
CAPTION_PIXELS = 18


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def draw_loss_curves(ax, history, title="",
                     terms=("content", "style", "tv")):
    """Draw each weighted loss term of ``history`` and the total per
    evaluation on ``ax`` (log scale; a term that is off is not drawn). The
    levels of a coarse-to-fine run (``size`` in the history) are marked by
    vertical lines."""
    steps = np.array([h["eval"] for h in history])
    for term in terms:
        values = np.array([h.get(term, 0.0) for h in history], float)
        if values.max(initial=0) > 0:
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


def loss_curves(history, path, title=""):
    """:func:`draw_loss_curves` saved atomically to ``path``, in the format
    its extension names (PNG, PDF, SVG, ...:
    :func:`~lasagne_style.files.check_figure_output`)."""
    fmt = check_figure_output(path)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    draw_loss_curves(ax, history, title)
    fig.tight_layout()
    try:
        write_atomically(path, lambda f: fig.savefig(f, format=fmt, dpi=100))
    finally:
        plt.close(fig)
    return path


def picture_grid(rows, captions=None, dpi=100, gap=4):
    """A figure showing RGB uint8 pictures at their native resolution: one
    image pixel is one figure pixel when saved at ``dpi``.

    Parameters
    ----------
    rows : list of lists of (H, W, 3) arrays
        One list per row; rows may differ in length and pictures in size
        (each column is as wide as its widest picture).
    captions : list of lists of str, optional
        A caption above each picture.
    """
    plt = pyplot()
    columns = max(len(row) for row in rows)
    widths = [max(row[c].shape[1] for row in rows if c < len(row))
              for c in range(columns)]
    heights = [max(p.shape[0] for p in row) + CAPTION_PIXELS for row in rows]
    width = sum(widths) + gap * (columns + 1)
    height = sum(heights) + gap * (len(rows) + 1)
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    top = gap
    for r, row in enumerate(rows):
        left = gap
        for c, picture in enumerate(row):
            h, w = picture.shape[:2]
            y = top + CAPTION_PIXELS
            ax = fig.add_axes([left / width, 1 - (y + h) / height,
                               w / width, h / height])
            ax.imshow(picture, interpolation="nearest", aspect="auto")
            ax.set_axis_off()
            if captions is not None and c < len(captions[r]):
                fig.text((left + w / 2) / width,
                         1 - (y - 3) / height, captions[r][c], ha="center",
                         va="bottom", fontsize=8)
            left += widths[c] + gap
        top += heights[r] + gap
    return fig
