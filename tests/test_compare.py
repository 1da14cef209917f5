"""The statistics comparison: its cross-evaluation and the per-seed runs in
worker processes."""
import os

import numpy as np

from conftest import sample
from lasagne_style import compare, plots


def test_summary_divides_by_the_measuring_statistics_own_result():
    # one row; distances[optimised][measured]
    distances = {"gram": {"gram": 2.0, "mean": 6.0},
                 "mean": {"gram": 8.0, "mean": 3.0}}
    rows = [dict(results={s: dict(distances=d) for s, d in distances.items()})]
    stats, ratio = compare.summary(rows + rows)  # pooled rows: same mean
    assert stats == ["gram", "mean"]
    np.testing.assert_allclose(ratio, [[1.0, 2.0], [4.0, 1.0]])


def test_summary_is_a_geometric_mean_over_rows():
    # ratios 4 and 1/4 of gram measured by mean: geometric mean 1 (the
    # arithmetic mean, 2.125, would be the first row's)
    rows = [dict(results={"gram": dict(distances={"gram": 1.0, "mean": g}),
                          "mean": dict(distances={"gram": 1.0, "mean": 1.0})})
            for g in (4.0, 0.25)]
    stats, ratio = compare.summary(rows)
    assert np.isclose(ratio[stats.index("gram"), stats.index("mean")], 1.0)


def test_seeds_in_worker_processes_give_the_same_rows(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    # a texture row and a transfer row: the pool takes textures first
    args = ([sample("cork.png")], [sample("coffee_cup.jpg")])
    kwargs = dict(stats=("gram", "mean"), size=32, iters=3)
    parallel = compare.run_seeds((0, 1), *args, processes=2, **kwargs)
    # the workers' thread settings do not leak into this process
    assert os.environ["OMP_NUM_THREADS"] == "2"
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    serial = compare.run_seeds((0, 1), *args, **kwargs)
    assert [(r["seed"], r["kind"]) for r in parallel] == [
        (r["seed"], r["kind"]) for r in serial] == [
        (0, "texture"), (0, "transfer"), (1, "texture"), (1, "transfer")]
    for a, b in zip(parallel, serial):
        assert list(a["results"]) == list(kwargs["stats"])
        for stat in kwargs["stats"]:
            np.testing.assert_allclose(
                list(a["results"][stat]["distances"].values()),
                list(b["results"][stat]["distances"].values()), rtol=1e-4)
            assert len(a["results"][stat]["history"]) == 3
    # different seeds, different noise starts, different textures
    assert not np.array_equal(parallel[0]["results"]["gram"]["image"],
                              parallel[2]["results"]["gram"]["image"])


def test_picture_grid_shows_one_image_pixel_per_figure_pixel():
    import io

    from PIL import Image
    rows = [[np.zeros((30, 40, 3), np.uint8), np.full((20, 50, 3), 255,
                                                      np.uint8)],
            [np.full((25, 10, 3), 128, np.uint8)]]
    fig = plots.picture_grid(rows, [["a", "b"], ["c"]], dpi=100, gap=4)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plots.pyplot().close(fig)
    width, height = Image.open(buffer).size
    caption = plots.CAPTION_PIXELS
    assert width == 40 + 50 + 3 * 4
    assert height == (30 + caption) + (25 + caption) + 3 * 4
