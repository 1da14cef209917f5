"""The benchmark's protocols and its timed L-BFGS-B loop (timings are
printed by the benchmark, never asserted here)."""
import numpy as np

from lasagne_style import bench


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


def test_the_timed_loop_finds_the_minimum_of_a_bounded_quadratic():
    # f(x) = |x - c|^2 within [low, high]: the minimum is at clip(c)
    rng = np.random.RandomState(0)
    c = rng.uniform(-2, 2, (1, 3, 4, 5)).astype(np.float32)
    low, high = -np.ones_like(c), np.ones_like(c)
    calls = []

    def loss_and_grad(x):
        calls.append(x.dtype)
        return float(np.sum((x - c) ** 2)), 2 * (x - c)
    for pairs in (3, 10):
        losses, inside, whole = bench._lbfgs(
            loss_and_grad, np.zeros_like(c), (low, high), 50, pairs)
        expected = np.sum((np.clip(c, -1, 1) - c) ** 2)
        assert abs(min(losses) - expected) < 1e-5 * max(1.0, expected)
        assert 0 < inside <= whole
    assert set(calls) == {np.dtype(np.float32)}
