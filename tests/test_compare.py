"""The statistics comparison: its cross-evaluation and the per-seed runs in
worker processes."""
import numpy as np

from conftest import sample
from lasagne_style import compare


def test_summary_divides_by_the_measuring_statistics_own_result():
    # one row; distances[optimised][measured]
    distances = {"gram": {"gram": 2.0, "mean": 6.0},
                 "mean": {"gram": 8.0, "mean": 3.0}}
    rows = [dict(results={s: dict(distances=d) for s, d in distances.items()})]
    stats, ratio = compare.summary(rows + rows)  # pooled rows: same mean
    assert stats == ["gram", "mean"]
    np.testing.assert_allclose(ratio, [[1.0, 2.0], [4.0, 1.0]])


def test_seeds_in_worker_processes_give_the_same_rows():
    args = ([sample("cork.png")],)
    kwargs = dict(stats=("gram", "mean"), size=32, iters=3)
    parallel = compare.run_seeds((0, 1), *args, processes=2, **kwargs)
    serial = compare.run_seeds((0, 1), *args, **kwargs)
    assert [r["seed"] for r in parallel] == [r["seed"] for r in serial] == [
        0, 1]
    for a, b in zip(parallel, serial):
        for stat in kwargs["stats"]:
            np.testing.assert_allclose(
                list(a["results"][stat]["distances"].values()),
                list(b["results"][stat]["distances"].values()), rtol=1e-4)
            assert len(a["results"][stat]["history"]) == 3
    # different seeds, different noise starts, different textures
    assert not np.array_equal(parallel[0]["results"]["gram"]["image"],
                              parallel[1]["results"]["gram"]["image"])
