"""Bounded L-BFGS-B, best-image tracking, and a tiny end-to-end run."""
import numpy as np
import pytest
from PIL import Image

from conftest import sample
from lasagne_style import api, images, optimize


class Quadratic:
    """||x - target||^2 with a target far outside the pixel range."""

    def __init__(self, target, fail_at=None, fail_with=None):
        self.target, self.calls = target, 0
        self.fail_at, self.fail_with = fail_at, fail_with

    def __call__(self, x):
        self.calls += 1
        if self.calls == self.fail_at:
            if self.fail_with == "nan":
                return float("nan"), {}, np.zeros_like(x)
            raise KeyboardInterrupt
        diff = x.astype(np.float64) - self.target
        loss = float(np.sum(diff ** 2))
        return loss, {"content": loss, "style": 0.0, "tv": 0.0}, \
            (2 * diff).astype(np.float32)


def test_bounds_are_respected(rng):
    shape = (1, 3, 6, 5)
    target = rng.uniform(-1000, 1000, shape)
    result = optimize.minimize(Quadratic(target), np.zeros(shape, np.float32),
                               50)
    low, high = images.pixel_bounds(shape)
    assert np.all(result.x >= low - 1e-4) and np.all(result.x <= high + 1e-4)
    # the bounded optimum is the target clipped into the box
    np.testing.assert_allclose(result.x, np.clip(target, low, high), atol=1e-2)
    assert result.stopped == "converged"


def test_a_failed_line_search_is_not_called_converged(rng):
    # a gradient pointing uphill: every step along -grad raises the loss,
    # so L-BFGS-B's line search fails long before the budget
    def uphill(x):
        loss = float(np.sum(x.astype(np.float64) ** 2))
        return loss, {"content": loss, "style": 0.0, "tv": 0.0}, -2 * x

    shape = (1, 3, 4, 4)
    start = rng.uniform(-50, 50, shape).astype(np.float32)
    result = optimize.minimize(uphill, start, 200)
    assert result.evaluations < 200
    assert result.stopped == "optimiser"
    assert "ABNORMAL" in result.message
    # the best image is still the start, the lowest loss it saw
    np.testing.assert_array_equal(result.x, start)


def test_budget_counts_evaluations(rng):
    shape = (1, 3, 4, 4)
    objective = Quadratic(rng.uniform(-50, 50, shape) ** 3)
    result = optimize.minimize(objective, np.zeros(shape, np.float32), 7)
    assert objective.calls == result.evaluations == 7


@pytest.mark.parametrize("failure,stopped", [("interrupt", "interrupted"),
                                             ("nan", "nonfinite")])
def test_failures_keep_the_best_image(rng, failure, stopped):
    shape = (1, 3, 5, 5)
    target = rng.uniform(-100, 100, shape)
    objective = Quadratic(target, fail_at=6, fail_with=failure)
    start = np.zeros(shape, np.float32)
    result = optimize.minimize(objective, start, 100)
    assert result.stopped == stopped and result.evaluations == 5
    best = min(result.history, key=lambda h: h["loss"])
    assert result.loss == best["loss"]
    assert np.sum((result.x - target) ** 2) == pytest.approx(best["loss"],
                                                             rel=1e-4)
    assert result.loss < np.sum(target ** 2)


def test_tiny_texture_run_lowers_the_loss_and_writes_a_png(tmp_path):
    out = str(tmp_path / "texture.png")
    saves = []
    result = api.synthesize(sample("cork.png"), size=48, iters=12, seed=3,
                            output=out, progress=lambda *a: saves.append(a))
    first = result.history[0]["loss"]
    assert result.loss < 0.5 * first
    assert len(saves) == 12
    with Image.open(out) as im:
        assert im.size == (48, 48) and im.mode == "RGB"
        assert im.text["lasagne_style:seed"] == "3"
        saved = np.asarray(im)
    np.testing.assert_array_equal(saved, result.image)
    # score() of the saved file reproduces the optimiser's own figures
    terms = api.score(out, sample("cork.png"))
    assert terms["total"] == pytest.approx(result.saved_loss, rel=1e-5)
    assert result.saved_loss == pytest.approx(result.loss, rel=0.05)
    assert not [p for p in tmp_path.iterdir() if p.name != "texture.png"]


def test_same_seed_same_image():
    a = api.synthesize(sample("cork.png"), size=32, iters=5, seed=7,
                       progress=False)
    b = api.synthesize(sample("cork.png"), size=32, iters=5, seed=7,
                       progress=False)
    np.testing.assert_array_equal(a.image, b.image)


def test_transfer_keeps_aspect_and_moves_towards_style(tmp_path):
    result = api.stylize(sample("grace_hopper.jpg"), sample("night_cafe.jpg"),
                         size=48, iters=10, seed=0, progress=False)
    assert result.image.shape == (48, 41, 3)  # 600x512 photo
    assert result.history[-1]["style"] < result.history[0]["style"]


def test_last_quarter_fall_uses_the_best_loss_so_far():
    # best so far: 10 8 8 5 4 4 3 3; a quarter of 8 is 2: from best[5] = 4
    losses = [10, 8, 9, 5, 4, 7, 3, 3.5]
    assert optimize.last_quarter_fall(losses) == pytest.approx((4 - 3) / 3)


class Quartic:
    """sum w (x - t)^4 + 1e-6: L-BFGS-B's relative progress slows down for
    a hundred evaluations and more, as on style losses."""

    def __init__(self, rng, shape):
        self.t = rng.uniform(-50, 50, shape)
        self.w = 10 ** rng.uniform(-3, 3, shape)

    def __call__(self, x):
        d = (x.astype(np.float64) - self.t) / 100.0
        loss = float(np.sum(self.w * d ** 4)) + 1e-6
        return loss, {"content": loss, "style": 0.0, "tv": 0.0}, \
            (4 * self.w * d ** 3 / 100.0).astype(np.float32)


@pytest.mark.parametrize("tol", [1e-2, 3e-3, 1e-3])
def test_tol_stops_at_the_first_evaluation_that_meets_the_rule(tol):
    shape = (1, 3, 8, 8)
    start = np.full(shape, 100, np.float32)
    full = optimize.minimize(Quartic(np.random.default_rng(0), shape), start,
                             600)
    early = optimize.minimize(Quartic(np.random.default_rng(0), shape), start,
                              600, tol=tol)
    losses = np.array([h["loss"] for h in full.history])
    best = np.minimum.accumulate(losses)
    # the rule recomputed here: first n >= 100 whose best loss fell by less
    # than tol (relative to best[n-1]) since evaluation n - n // 4
    n = next(n for n in range(optimize.MIN_EVALUATIONS_FOR_TOL,
                              len(best) + 1)
             if best[n - n // 4 - 1] - best[n - 1] < tol * best[n - 1])
    assert early.stopped == "converged" and "less than" in early.message
    assert early.evaluations == n < full.evaluations
    np.testing.assert_array_equal([h["loss"] for h in early.history],
                                  losses[:n])
    assert early.loss == best[n - 1]


def test_large_images_keep_fewer_pairs():
    # 0.5 GB for the pairs beyond 10, 16 bytes per value and pair
    assert optimize.history_pairs(3 * 160 * 160) == optimize.HISTORY == 30
    assert optimize.history_pairs(3 * 768 * 768) == int(
        0.5e9 / (16 * 3 * 768 * 768)) == 17
    assert optimize.history_pairs(3 * 1024 * 1024) == 10
    assert optimize.history_pairs(3 * 4096 * 4096) == 10
