"""The benchmark's protocols and its timed L-BFGS-B loop (timings are
printed by the benchmark, never asserted here)."""
import json

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
    bench.main(bench._child_args("ours", 96, 4, 30, "ours", 1e9 + 0.25)[3:])
    assert calls == [("torch", 96, 4, 23, "scipy", None),
                     ("ours", 96, 4, 30, "ours", None),
                     ("ours", 96, 4, 30, "ours", 1e9 + 0.25)]


@pytest.mark.parametrize("lbfgsb", ["scipy", "ours"])
def test_the_timed_loop_counts_only_evaluations_that_end_by_its_deadline(
        lbfgsb, monkeypatch):
    # a clock that each evaluation moves on by one second
    clock = [1000.0]
    monkeypatch.setattr(bench.time, "time", lambda: clock[0])

    def loss_and_grad(x):  # Rosenbrock's function: dozens of evaluations
        clock[0] += 1.0
        v = x.ravel().astype(np.float64)
        r, d = 1 - v[:-1], v[1:] - v[:-1] ** 2
        g = np.zeros_like(v)
        g[:-1] = -2 * r - 400 * v[:-1] * d
        g[1:] += 200 * d
        return float(np.sum(r ** 2 + 100 * d ** 2)), g.reshape(x.shape)
    x0 = np.zeros((1, 3, 2, 2), np.float32)
    bounds = (np.full_like(x0, -2), np.full_like(x0, 2))
    losses, calls = bench._lbfgs(loss_and_grad, x0, bounds, 50, 5, lbfgsb,
                                 until=1005.5)
    assert len(losses) == len(calls) == 5  # ended at 1001 .. 1005
    assert clock[0] == 1006.0  # the sixth ran, ended late, was dropped
    unbounded = bench._lbfgs(loss_and_grad, x0, bounds, 50, 5, lbfgsb)[0]
    assert unbounded[:5] == losses  # the same run up to the deadline
    clock[0] = 1000.0  # an evaluation that ends at the deadline counts
    assert len(bench._lbfgs(loss_and_grad, x0, bounds, 50, 5, lbfgsb,
                            until=1005.0)[0]) == 5
    clock[0] = 2000.0
    assert bench._lbfgs(loss_and_grad, x0, bounds, 50, 5, lbfgsb,
                        until=1999.0) == ([], [])


def test_a_child_prints_its_first_last_and_best_loss_or_none(
        monkeypatch, capsys):
    x0 = np.zeros((1, 1, 2, 2), np.float32)
    c = np.array([0.5, -0.25, 0.75, 0.1], np.float32).reshape(x0.shape)
    monkeypatch.setattr(bench, "_objective", lambda tool, size: (
        lambda x: (float(np.sum((x - c) ** 2)), 2 * (x - c)), x0,
        (-np.ones_like(x0), np.ones_like(x0))))
    bench._child("ours", 2, 20, 5, "ours")
    printed = json.loads(capsys.readouterr().out)
    losses = bench._lbfgs(*bench._objective("ours", 2), 20, 5, "ours")[0]
    assert printed["evals"] == len(losses) > 1
    assert (printed["first_loss"], printed["last_loss"],
            printed["best_loss"]) == (losses[0], losses[-1], min(losses))
    bench._child("ours", 2, 20, 5, "ours", until=0.0)  # long past
    printed = json.loads(capsys.readouterr().out)
    assert printed["evals"] == 0
    assert printed["first_loss"] is printed["best_loss"] is None


def test_equal_wall_time_gives_ours_the_time_pytorchs_command_took(
        monkeypatch, capsys):
    launched = []
    ours_best = iter([80.0, 120.0, None])

    def child(args, env):
        def value(flag):
            return args[args.index(flag) + 1] if flag in args else None
        tool = value("--child")
        launched.append((tool, int(args[args.index("--child") + 3]),
                         int(value("--pairs")), value("--lbfgsb"),
                         value("--until")))
        if tool == "torch":
            return 100.0, dict(evals=51, best_loss=200.0)
        best = next(ours_best)
        return 100.5, dict(evals=0 if best is None else 140, best_loss=best)
    monkeypatch.setattr(bench, "_timed", child)
    start = bench.time.time()
    bench._torch_time(512, 50, 3)
    # PyTorch: its evaluations, scipy's L-BFGS-B with 10 pairs; ours: ours
    # with 30, until its command has run as long as PyTorch's did
    assert [run[:4] for run in launched] == [
        ("torch", 50, 10, "scipy"),
        ("ours", bench.UNLIMITED, 30, "ours")] * 3
    assert all(run[4] is None for run in launched[::2])
    for run in launched[1::2]:
        assert start + 100.0 <= float(run[4]) <= bench.time.time() + 100.0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].split()[-1] == "-"  # the run with no evaluation
    assert lines[-1].endswith(
        ": 0.50 (0.40-0.60); in 1 of 3 runs no evaluation of ours ended "
        "in that time")


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
