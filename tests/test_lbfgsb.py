"""Our L-BFGS-B takes scipy's steps: the same points evaluated, to rounding,
on bounded test problems; the Cauchy path's chunked update against the
step-by-step recurrences; the same bits on one BLAS thread or two."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import scipy.optimize

from conftest import ROOT
from lasagne_style import lbfgsb


def quartic(seed, n):
    """A convex quadratic plus a quartic term, in a box that cuts through
    its minimum."""
    rng = np.random.RandomState(seed)
    a = rng.randn(n, n)
    h = a @ a.T / n + 0.1 * np.eye(n)
    b = 3 * rng.randn(n)

    def f(x):
        return (0.5 * x @ h @ x - b @ x + 0.025 * np.sum(x ** 4),
                h @ x - b + 0.1 * x ** 3)
    return f, rng.uniform(-2, 2, n), -rng.rand(n), rng.rand(n)


def rosenbrock(seed, n):
    """The chained Rosenbrock function, its valley cut by upper bounds."""
    rng = np.random.RandomState(seed)

    def f(x):
        r = x[1:] - x[:-1] ** 2
        g = np.zeros_like(x)
        g[1:] += 200 * r
        g[:-1] += -400 * x[:-1] * r - 2 * (1 - x[:-1])
        return np.sum(100 * r ** 2 + (1 - x[:-1]) ** 2), g
    return (f, rng.uniform(-1.2, 1.2, n), np.full(n, -1.5),
            0.8 + 0.4 * rng.rand(n))


def far_targets(seed, n):
    """Separable, most targets outside the box: thousands of breakpoints
    passed in one Cauchy search (the chunked path)."""
    rng = np.random.RandomState(seed)
    c = rng.uniform(-3, 3, n)
    w = rng.uniform(0.5, 2, n)

    def f(x):
        r = x - c
        return np.sum(w * r ** 2 + 0.01 * r ** 4), 2 * w * r + 0.04 * r ** 3
    return f, rng.uniform(-1, 1, n), -np.ones(n), np.ones(n)


def both(problem, **settings):
    """(scipy's, ours): the points each evaluated and its (x, f, info)."""
    f, x0, low, high = problem
    out = []
    for run in (
            lambda g: scipy.optimize.fmin_l_bfgs_b(
                g, x0, bounds=np.stack([low, high], 1), **settings),
            lambda g: lbfgsb.fmin(g, x0, low, high, **settings)):
        points = []

        def recorded(x):
            points.append(x.copy())
            return f(x)
        out.append((points, run(recorded)))
    return out


@pytest.mark.parametrize("problem, pairs, exact", [
    (quartic(0, 50), 5, None), (quartic(1, 200), 10, None),
    (rosenbrock(2, 100), 5, None), (far_targets(3, 5000), 10, None),
    # rounding grows along Rosenbrock's valley: compare the first 40 points
    (rosenbrock(0, 30), 10, 40)])
def test_the_same_points_as_scipys(problem, pairs, exact):
    (theirs, (x1, f1, info1)), (ours, (x2, f2, info2)) = both(
        problem, m=pairs, factr=10, pgtol=1e-10, maxfun=200)
    if exact is None:
        assert len(ours) == len(theirs)
        assert info2["task"] == info1["task"]
        assert info2["nit"] == info1["nit"]
    for a, b in list(zip(theirs, ours))[:exact]:
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-8)
    assert abs(f2 - f1) <= 1e-12 * max(1.0, abs(f1))


@pytest.mark.parametrize("limit", [dict(maxfun=7), dict(maxiter=4)])
def test_the_same_limits_as_scipys(limit):
    (theirs, (_, _, info1)), (ours, (_, _, info2)) = both(
        rosenbrock(1, 20), **limit)
    assert (info2["task"], info2["funcalls"], info2["nit"]) == (
        info1["task"], info1["funcalls"], info1["nit"])
    assert len(ours) == len(theirs)


def test_fixed_variables_stay_where_they_are():
    f, x0, low, high = quartic(4, 20)
    low[3] = high[3] = 0.25
    low[7] = high[7] = low[7]
    (_, (x1, _, _)), (_, (x2, _, info)) = both(
        (f, np.clip(x0, low, high), low, high), m=5)
    assert x2[3] == 0.25 and x2[7] == low[7]
    np.testing.assert_allclose(x2, x1, rtol=0, atol=1e-10)
    assert info["warnflag"] == 0


@pytest.mark.parametrize("maxfun", [15000, 5])
def test_a_wrong_gradient_ends_like_scipys(maxfun):
    # the gradient points uphill: every line search fails
    def uphill(x):
        return float(x @ x), -2 * x
    x0 = np.linspace(-0.5, 0.5, 20)
    (theirs, (_, _, info1)), (ours, (x2, _, info2)) = both(
        (uphill, x0, -np.ones(20), np.ones(20)), maxfun=maxfun)
    assert info2["task"] == info1["task"] == "ABNORMAL_TERMINATION_IN_LNSRCH"
    assert info2["funcalls"] == info1["funcalls"] == len(ours)
    assert info2["warnflag"] == info1["warnflag"]
    np.testing.assert_array_equal(x2, x0)  # the start is kept


def test_a_nan_gradient_ends_the_run():
    # a gradient that turns NaN must not stall the Cauchy search (a
    # breakpoint that is never reached)
    def broken(x):
        g = 2 * (x - 3)
        if broken.calls > 2:
            g[::3] = np.nan
        broken.calls += 1
        return float(np.sum((x - 3) ** 2)), g
    broken.calls = 0
    signal.alarm(60)
    try:
        lbfgsb.fmin(broken, np.zeros(30), -np.ones(30), np.ones(30),
                    maxfun=50)
    finally:
        signal.alarm(0)


@pytest.mark.parametrize("low, high", [(-np.inf, 1.0), (0.0, np.nan),
                                       (1.0, 0.0)])
def test_bounds_that_are_not_a_box_are_refused(low, high):
    with pytest.raises(ValueError):
        lbfgsb.fmin(lambda x: (float(x @ x), 2 * x), np.zeros(3),
                    np.full(3, low), np.full(3, high))


def test_a_search_passes_many_chunks_of_breakpoints(monkeypatch):
    # the far targets' first Cauchy search passes more breakpoints than one
    # chunk holds, and the result is still scipy's (above)
    passed = []
    follow = lbfgsb._Path.follow

    def counting(self, dt, *args):
        done, stopped = follow(self, dt, *args)
        passed.append(done)
        return done, stopped
    monkeypatch.setattr(lbfgsb._Path, "follow", counting)
    f, x0, low, high = far_targets(3, 5000)
    lbfgsb.fmin(f, x0, low, high, m=10, maxiter=1)
    assert sum(passed) > 2 * lbfgsb.FOLLOW_CHUNK
    assert max(passed) == lbfgsb.FOLLOW_CHUNK


def _breaks(kind, n=100000):
    rng = np.random.RandomState(7)
    breaks = rng.exponential(size=n)
    if kind == "ties and infinities":
        breaks = np.round(breaks, 2)
        breaks[rng.rand(n) < 0.3] = np.inf
    elif kind == "smallest off the sample":
        # every sampled value large: the threshold lets most values pass
        breaks[::n // lbfgsb.SAMPLE] += 10.0
    elif kind == "smallest on the sample":
        # the sampled values the smallest: fewer than k pass the threshold
        breaks[::n // lbfgsb.SAMPLE] *= 1e-6
    return breaks


@pytest.mark.parametrize("kind", ["random", "ties and infinities",
                                  "smallest off the sample",
                                  "smallest on the sample"])
@pytest.mark.parametrize("k", [64, 512])
def test_smallest_breakpoints_are_the_k_smallest(kind, k):
    breaks = _breaks(kind)
    chosen = lbfgsb._smallest(breaks, k)
    assert chosen.size == k == np.unique(chosen).size
    np.testing.assert_array_equal(np.sort(breaks[chosen]),
                                  np.sort(breaks)[:k])


def test_the_chunked_cauchy_path_follows_the_recurrences():
    # the slope f1 and curvature f2 of the model along the path, passing
    # breakpoints one at a time (Byrd et al. 1995, algorithm CP) against
    # _Path.follow passing a whole chunk at once
    rng = np.random.RandomState(5)
    col2, k, theta = 6, 40, 1.7
    a = rng.randn(col2, col2)
    middle = (a + a.T) / 10
    dt = rng.uniform(0.0, 0.02, k)
    db, zb, wb = rng.randn(k), rng.randn(k), rng.randn(k, col2)
    p0, c0 = rng.randn(col2), rng.randn(col2)
    f1_0, f2_0 = -50.0, 200.0
    f1, f2, p, c = f1_0, f2_0, p0.copy(), c0.copy()
    expected = None
    for j in range(k):
        if -f1 / f2 < dt[j]:
            expected = j
            break
        c = c + dt[j] * p
        v = middle @ wb[j]
        f1 += dt[j] * f2 + db[j] ** 2 - theta * db[j] * zb[j] + db[j] * (c @ v)
        f2 += (-theta * db[j] ** 2 + 2 * db[j] * (p @ v)
               - db[j] ** 2 * (wb[j] @ v))
        f2 = max(lbfgsb.EPS * f2_0, f2)
        p = p - db[j] * wb[j]
    assert expected is not None and expected > 5  # passes some, not all
    path = lbfgsb._Path(f1_0, f2_0, f2_0, p0, c0)
    done, stopped = path.follow(dt, db, zb, wb, middle, theta)
    assert (done, stopped) == (expected, True)
    np.testing.assert_allclose([path.f1, path.f2], [f1, f2], rtol=1e-12)
    np.testing.assert_allclose(path.p, p, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(path.c, c, rtol=1e-12, atol=1e-12)


def test_the_cauchy_point_carries_what_the_subspace_step_reads():
    # the subspace step takes W'Z'h, h = -g - theta (x^c - x) on the free
    # variables, as (1 - theta t) p from the Cauchy search instead of a
    # pass over S and Y: against products computed directly here, on a
    # problem where the search passes some breakpoints and stops between
    # two (variables at a bound, fixed ones, free ones all present)
    rng = np.random.RandomState(7)
    n, m = 3000, 5
    lower, upper = -np.ones(n), np.ones(n)
    x = rng.uniform(-1, 1, n)
    x[:100], x[100:200] = -1.0, 1.0
    g = rng.randn(n)
    g[:50] = np.abs(g[:50])  # at the lower bound, pushed out: fixed
    pairs = lbfgsb.Pairs.empty(m, n)
    for _ in range(m):
        s = 0.01 * rng.randn(n)
        y = s * rng.uniform(0.5, 2.0, n) + 0.001 * rng.randn(n)
        pairs.add(s, y, float(s @ y), float(s @ s))
    cauchy = lbfgsb.cauchy_point(x, g, lower, upper, pairs, pairs.middle())
    free = cauchy.free
    passed = ~free & (x > lower) & (x < upper)  # met a bound on the way
    assert passed.sum() > 10 and free.sum() > n // 2 and cauchy.t > 0
    d = np.where(free, -g, 0.0)
    np.testing.assert_allclose(cauchy.x[free], x[free] + cauchy.t * d[free],
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(cauchy.p, pairs.products(d), rtol=1e-9,
                               atol=1e-12)
    h = np.where(free, -g - pairs.theta * (cauchy.x - x), 0.0)
    np.testing.assert_allclose((1 - pairs.theta * cauchy.t) * cauchy.p,
                               pairs.products(h), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cauchy.c, pairs.products(cauchy.x - x),
                               rtol=1e-9, atol=1e-12)


SAME_BITS = """
import hashlib, sys
import numpy as np
sys.path.insert(0, %r)
from test_lbfgsb import far_targets
from lasagne_style import lbfgsb
f, x0, low, high = far_targets(6, 200000)
x = lbfgsb.fmin(f, x0, low, high, m=10, maxfun=25, factr=0, pgtol=0)[0]
print(hashlib.sha256(x.tobytes()).hexdigest())
"""


def test_one_blas_thread_and_two_give_the_same_bits():
    # numpy's threaded BLAS rounds products and solves differently on
    # another number of threads; fmin runs it on one
    def run(threads):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads),
                   OMP_NUM_THREADS=str(threads))
        return subprocess.run(
            [sys.executable, "-c", SAME_BITS % os.path.join(ROOT, "tests")],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True,
            timeout=300).stdout
    assert run(1) == run(2)
