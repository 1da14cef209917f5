"""The benchmark's protocols and its timed L-BFGS-B loop (timings are
printed by the benchmark, never asserted here)."""
import numpy as np
import pytest
import scipy.optimize

from lasagne_style import bench, memory, optimize


def test_the_objective_protocol_keeps_scipys_default_pairs_for_every_tool():
    for tool in ("ours", "corrmm", "torch"):
        for size in (256, 512, 1024):
            assert bench._pairs(tool, size, "objective") == 10


def test_the_cli_protocol_keeps_the_pairs_each_tool_runs_with():
    # ours: 30 pairs while the 20 beyond scipy's 10 fit 0.5 GB (two float64
    # vectors per pair: 16 bytes per image value), never under 10
    for size in (256, 512, 768, 1024):
        values = 3 * size * size
        expected = max(10, min(30, int(0.5e9 // (16 * values))))
        assert bench._pairs("ours", size, "cli") == expected
        assert bench._pairs("torch", size, "cli") == 10
    assert [bench._pairs("ours", s, "cli") for s in (256, 512, 1024)] == [
        30, 30, 10]


@pytest.mark.parametrize("lbfgsb", ["scipy", "ours"])
def test_the_timed_loop_finds_the_minimum_of_a_bounded_quadratic(lbfgsb):
    # f(x) = |x - c|^2 within [low, high]: the minimum is at clip(c)
    rng = np.random.RandomState(0)
    c = rng.uniform(-2, 2, (1, 3, 4, 5)).astype(np.float32)
    low, high = -np.ones_like(c), np.ones_like(c)
    dtypes = []

    def loss_and_grad(x):
        dtypes.append(x.dtype)
        return float(np.sum((x - c) ** 2)), 2 * (x - c)
    for pairs in (3, 10):
        losses, calls = bench._lbfgs(
            loss_and_grad, np.zeros_like(c), (low, high), 50, pairs, lbfgsb)
        expected = np.sum((np.clip(c, -1, 1) - c) ** 2)
        assert abs(min(losses) - expected) < 1e-5 * max(1.0, expected)
        # one (start, end) per evaluation, in order, never overlapping
        assert len(calls) == len(losses)
        times = np.ravel(calls)
        assert np.all(np.diff(times) >= 0)
    assert set(dtypes) == {np.dtype(np.float32)}


def test_the_timed_loop_keeps_the_pairs_it_is_given(monkeypatch):
    kept = []
    lbfgs = scipy.optimize.fmin_l_bfgs_b

    def recording(*args, **kwargs):
        kept.append(kwargs["m"])
        return lbfgs(*args, **kwargs)
    monkeypatch.setattr(scipy.optimize, "fmin_l_bfgs_b", recording)
    x0 = np.ones((1, 1, 2, 2), np.float32)
    bench._lbfgs(lambda x: (float(np.sum(x ** 2)), 2 * x), x0,
                 (-x0, x0), 3, pairs=17)
    assert kept == [17]


def test_a_childs_command_line_carries_its_pairs_and_optimiser(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "_child", lambda *a: calls.append(a))
    bench.main(bench._child_args("torch", 96, 4, 23)[3:])
    bench.main(bench._child_args("ours", 96, 4, 30, "ours")[3:])
    assert calls == [("torch", 96, 4, 23, "scipy"),
                     ("ours", 96, 4, 30, "ours")]


def test_the_cli_protocol_runs_our_lbfgsb_for_ours_only():
    assert bench._lbfgsb("ours", "cli") == "ours"
    assert bench._lbfgsb("torch", "cli") == "scipy"
    assert {bench._lbfgsb(t, "objective") for t in ("ours", "torch")} == {
        "scipy"}


def test_history_pairs_are_set_in_both_modules_and_restored():
    before = optimize.history_pairs, memory.history_pairs
    with bench._history_pairs(7, memory, optimize):
        assert optimize.history_pairs(10 ** 6) == 7
        assert memory.history_pairs(10 ** 6) == 7
        # the memory model counts the pairs beyond scipy's 10 it was fitted
        # with: 7 pairs need less than that
        assert memory.extra_history_bytes(1000) == (7 - 10) * 16 * 1000
    assert (optimize.history_pairs, memory.history_pairs) == before


def test_the_best_loss_by_a_time_counts_only_evaluations_done_by_then():
    history = [dict(loss=5.0, time=1.0), dict(loss=3.0, time=2.0),
               dict(loss=4.0, time=3.0), dict(loss=1.0, time=4.5)]
    assert bench._best_by(history, 3.0) == (3.0, 3)
    assert bench._best_by(history, 4.5) == (1.0, 4)
    loss, count = bench._best_by(history, 0.5)  # before the first one
    assert np.isnan(loss) and count == 0
