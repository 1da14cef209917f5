"""Bounded L-BFGS (L-BFGS-B) in numpy: the method of scipy's
:func:`scipy.optimize.fmin_l_bfgs_b`, step for step, with its pairs stored so
that every product with them is one BLAS call.

The method (Byrd, Lu, Nocedal and Zhu, SIAM J. Sci. Comput. 16, 1995; the
subspace step of Morales and Nocedal, ACM TOMS 38, 2011, as in L-BFGS-B 3.0,
which scipy runs) keeps ``m`` pairs s_i = x_{i+1} - x_i, y_i = g_{i+1} - g_i
and the compact form of the BFGS matrix

    B = theta I - W M W',   W = [Y, theta S],
    M^{-1} = [[-D, L'], [L, theta S'S]],

D = diag(s_i'y_i), L the strictly lower part of S'Y, theta = y'y / s'y of
the newest pair. Each iteration

1. finds the generalized Cauchy point x^c: the first minimiser of the
   quadratic model along the projected steepest-descent path, passing the
   path's breakpoints (where a variable meets its bound) in order;
2. minimises the model over the variables still free at x^c (Z), by the
   Sherman-Morrison-Woodbury form of the reduced inverse,

       d = -(1/theta) r - (1/theta^2) W_Z K^{-1} W_Z' r,
       K = M^{-1} - W_Z'W_Z / theta,

   r the model's reduced gradient at x^c, and projects x^c + d onto the
   box (backing off to the box's edge when the projection is not a descent
   direction);
3. searches along x + a (z - x), a <= the largest feasible step, with the
   More-Thuente line search (ftol 1e-3, gtol 0.9, xtol 0.1) that scipy's
   Fortran runs: MINPACK-2's ``dcsrch``, called here from scipy itself;
4. adds the pair unless s'y <= eps * (-g's), and restarts from theta I when
   a factorisation fails or the line search does.

Why our own: scipy's Fortran stores S and Y as n x m columns and walks
them a value at a time; at 512 px with 30 pairs it took 0.43 s per
evaluation, a third of a run's time (docs/performance.md, "Third round").
Here they are m x n rows, and each iteration reads them a few times with
matrix-vector products: with 30 pairs 0.21 s against scipy's 0.40 per
evaluation at 512 px, 0.045 against 0.087 at 256 px; with 10 pairs only a
little faster (0.52 against 0.59 s at 1024 px), as the passes over the n
values that both make then dominate; those are made in place. The new
pair's Gram rows take four matrix-vector products (OpenBLAS's product
with the two vectors stacked was slower: 27 against 15 ms a matrix at 512
px), and the Cauchy search's next breakpoints come from a sampled
threshold (:func:`_smallest`), not a partition of all n values: with 30
pairs at 512 px, 0.187 -> 0.145 s per evaluation on a 2-core AVX2 machine
(docs/performance.md, "Our L-BFGS-B", "Start-up and the optimiser's
passes" and "The optimiser's products and another machine"). The subspace
step takes W'Z'h from the Cauchy search's p instead of a fifth pass over S
and Y (docs/performance.md, "Blocks and threads"). The iterates are scipy's
up to rounding: tests/test_lbfgsb.py compares them on bounded test
problems.
numpy's BLAS runs on one thread inside :func:`fmin` (threadpoolctl): its
threaded products and small LAPACK solves gave other bits on two threads.
"""
import dataclasses

import numpy as np
from scipy.optimize import _minpack2
from threadpoolctl import threadpool_limits

#: scipy's L-BFGS-B's line-search tolerances and machine precision
FTOL, GTOL, XTOL = 1e-3, 0.9, 0.1
EPS = np.finfo(np.float64).eps
#: scipy's largest step when no bound limits it
BIG_STEP = 1e10


def _dot(a, b):
    """a'b for vectors (BLAS on one thread inside :func:`fmin`)."""
    return float(np.dot(a, b))


class _Restart(Exception):
    """A factorisation failed: drop the pairs and start again from theta I."""


@dataclasses.dataclass
class Pairs:
    """The L-BFGS memory: up to ``m`` (s, y) pairs in rows of ``S`` and
    ``Y`` (a ring; ``order`` lists the rows, oldest first), their Gram
    matrices by row (``SY[i, j] = s_i'y_j``, ``SS``, ``YY``) and theta."""
    S: np.ndarray
    Y: np.ndarray
    SY: np.ndarray
    SS: np.ndarray
    YY: np.ndarray
    order: list = dataclasses.field(default_factory=list)
    theta: float = 1.0

    @classmethod
    def empty(cls, m, n):
        return cls(np.empty((m, n)), np.empty((m, n)), *np.zeros((3, m, m)))

    @property
    def col(self):
        return len(self.order)

    def clear(self):
        self.order, self.theta = [], 1.0

    def add(self, s, y, sy, ss):
        """Add a pair, dropping the oldest when full; ``sy`` and ``ss`` are
        s'y and s's as the line search computed them (as scipy does)."""
        m = self.S.shape[0]
        row = (self.order[0] if len(self.order) == m
               else next(i for i in range(m) if i not in self.order))
        if len(self.order) == m:
            self.order.pop(0)
        old = np.array(self.order, int)
        if old.size:
            # two matrix-vector products with each of S and Y: 15 ms at
            # 512 px with 30 pairs, against 27 ms for one product with the
            # two vectors stacked (OpenBLAS's gemm with two columns)
            used = int(old.max()) + 1
            s_y, s_s = (self.S[:used] @ y)[old], (self.S[:used] @ s)[old]
            y_y, y_s = (self.Y[:used] @ y)[old], (self.Y[:used] @ s)[old]
            self.SY[old, row], self.SY[row, old] = s_y, y_s
            self.SS[old, row] = self.SS[row, old] = s_s
            self.YY[old, row] = self.YY[row, old] = y_y
        self.S[row], self.Y[row] = s, y
        self.SY[row, row], self.SS[row, row] = sy, ss
        self.YY[row, row] = _dot(y, y)
        self.theta = self.YY[row, row] / sy
        self.order.append(row)

    def grams(self):
        """S'Y, S'S and Y'Y in ring order (col x col each)."""
        ix = np.ix_(self.order, self.order)
        return self.SY[ix], self.SS[ix], self.YY[ix]

    def middle(self):
        """The middle matrix M (2 col x 2 col, ring order); _Restart if
        theta S'S + L D^-1 L' is not positive definite."""
        sy, ss, _ = self.grams()
        d = np.diag(sy)
        lower = np.tril(sy, -1)
        t = self.theta * ss + (lower / d) @ lower.T
        try:
            t_inv = np.linalg.inv(np.linalg.cholesky(t))
        except np.linalg.LinAlgError:
            raise _Restart()
        t_inv = t_inv.T @ t_inv
        # block inverse of [[-D, L'], [L, theta S'S]] through T's Schur form
        ld = lower / d                      # L D^-1
        m22 = t_inv
        m21 = t_inv @ ld                    # M22 L D^-1
        m11 = -np.diag(1 / d) + ld.T @ m21  # -D^-1 + D^-1 L' M22 L D^-1
        return np.block([[m11, m21.T], [m21, m22]])

    def _rows(self):
        """The ring order, and how many leading rows are in use (rows are
        filled from 0, so rows[:used] are all pairs)."""
        ix = np.array(self.order, int)
        return ix, int(ix.max()) + 1

    def products(self, v):
        """W'v = [Y v; theta S v] in ring order (W = [Y, theta S])."""
        ix, used = self._rows()
        return np.concatenate([(self.Y[:used] @ v)[ix],
                               self.theta * (self.S[:used] @ v)[ix]])

    def combine(self, a):
        """W a = Y'a[:col] + theta S'a[col:] (a in ring order): an n-vector.
        """
        ix, used = self._rows()
        ay, a_s = np.zeros(used), np.zeros(used)
        ay[ix], a_s[ix] = a[:len(ix)], self.theta * a[len(ix):]
        return self.Y[:used].T @ ay + self.S[:used].T @ a_s

    def columns(self, index):
        """Y and S at the variables ``index``: two col x len(index) arrays
        (ring order)."""
        ix = np.array(self.order, int)[:, None]
        return self.Y[ix, index], self.S[ix, index]

    def rows(self, index):
        """The rows of W at the variables ``index`` (len(index) x 2 col)."""
        y, s = self.columns(index)
        return np.concatenate([y.T, self.theta * s.T], axis=1)


@dataclasses.dataclass
class CauchyPoint:
    """The generalized Cauchy point ``x`` = x_k + t d on the variables still
    ``free`` there (the others at the bound they met), d = -g zeroed where a
    variable is fixed or met its bound; c = W'(x - x_k) and p = W'd, as the
    search along the path left them."""
    x: np.ndarray
    c: np.ndarray
    free: np.ndarray
    p: np.ndarray
    t: float


def projected_gradient_norm(x, g, lower, upper):
    """Infinity norm of the projected gradient (scipy's stopping measure)."""
    # x is in the box, so |P(g)_i| = min(|g_i|, the room on g's side)
    if not x.size:
        return 0.0
    room = np.where(g < 0, upper, lower)
    room -= x
    np.abs(room, out=room)
    return float(np.minimum(np.abs(g), room, out=room).max())


def cauchy_point(x, g, lower, upper, pairs, middle):
    """The generalized Cauchy point (:class:`CauchyPoint`) from ``x``."""
    col = pairs.col
    # at a bound with the gradient pushing out, or l = u: fixed
    fixed = (x <= lower) & (g >= 0)
    fixed |= (x >= upper) & (g <= 0)
    fixed |= lower == upper
    free = ~fixed
    d = -g
    d[fixed] = 0.0
    moving = d != 0
    xcp = x.copy()
    c = np.zeros(2 * col)
    if not moving.any():
        return CauchyPoint(xcp, c, free, c.copy(), 0.0)
    # where each moving variable meets its bound (scipy's (x - l) / g or
    # (u - x) / d to the bit); none where d = 0
    breaks = _steps_to_bounds(x, d, lower, upper)
    breaks[~moving] = np.inf
    f1 = -_dot(d, d)
    p = pairs.products(d) if col else np.zeros(0)
    f2 = -pairs.theta * f1
    f2_org = f2
    if col:
        f2 -= p @ (middle @ p)
    path = _Path(f1, f2, f2_org, p, c)
    tsum = t_prev = 0.0
    # a moving variable without a finite breakpoint (an overflowing ratio,
    # a NaN gradient) never meets its bound: scipy's unbounded case
    left = int(np.isfinite(breaks).sum())
    bounded = left == int(moving.sum())
    # the model's minimum before the first breakpoint: nothing to sort
    # (follow() would stop there too, by the same comparison)
    first = float(np.fmin.reduce(breaks))
    for chunk in _in_order(breaks, left if not path.dtm < first else 0):
        while chunk.size:
            times = breaks[chunk]
            db = d[chunk]
            zb = np.where(db > 0, upper[chunk], lower[chunk]) - x[chunk]
            wb = pairs.rows(chunk) if col else np.zeros((chunk.size, 0))
            done, stopped = path.follow(np.diff(times, prepend=t_prev), db,
                                        zb, wb, middle, pairs.theta)
            if done:
                index = chunk[:done]
                xcp[index] = np.where(db[:done] > 0, upper[index],
                                      lower[index])
                d[index] = 0.0
                free[index] = False
                breaks[index] = np.inf
                left -= done
                tsum += times[done - 1] - t_prev
                t_prev = times[done - 1]
                if left == 0 and bounded and moving.all():
                    # every variable met a bound
                    return CauchyPoint(xcp, path.c, free, path.p, tsum)
            if stopped:
                break
            chunk = chunk[done:]
        else:
            continue
        break
    dtm = max(path.dtm if left or not bounded else 0.0, 0.0)
    tsum += dtm
    xcp += tsum * d
    return CauchyPoint(xcp, path.c + dtm * path.p, free, path.p, tsum)


#: Breakpoints passed at once (G = W_b M W_b' is this squared)
FOLLOW_CHUNK = 512


def _in_order(breaks, left):
    """Indices of the ``left`` finite ``breaks`` in increasing order, in
    chunks of at most FOLLOW_CHUNK. A growing number is partitioned off at
    a time (64, 512, ...), so that a search that passes few breakpoints,
    the usual case, sorts few. The caller sets the breakpoints it passed to
    infinity before asking for the next chunk."""
    batch = 64
    while left > 0:
        if batch >= left:
            candidates = np.flatnonzero(np.isfinite(breaks))
        else:
            candidates = _smallest(breaks, batch)
        candidates = candidates[np.argsort(breaks[candidates], kind="stable")]
        for start in range(0, candidates.size, FOLLOW_CHUNK):
            yield candidates[start:start + FOLLOW_CHUNK]
        left -= candidates.size
        batch *= 8


#: Values of the breakpoints :func:`_smallest` samples
SAMPLE = 4096


def _smallest(breaks, k):
    """Indices of the ``k`` smallest ``breaks`` (at least k are finite),
    in no order: the k smallest of those at or below a threshold that
    about 2k pass, the sample's 2k/stride-th smallest of every stride-th
    value. One comparison over the n values and a partition of about 2k,
    where a partition of all n took 10 ms at 512 px (twice an iteration,
    as often as not); all n where the sample falls short."""
    stride = max(1, breaks.size // SAMPLE)
    sample = breaks[::stride]
    rank = min(sample.size - 1, 2 * k // stride)
    candidates = np.flatnonzero(
        breaks <= np.partition(sample, rank)[rank])
    if candidates.size < k:
        return np.argpartition(breaks, k - 1)[:k]
    return candidates[np.argpartition(breaks[candidates], k - 1)[:k]]


@dataclasses.dataclass
class _Path:
    """The piecewise quadratic along the projected path, from the current
    breakpoint: its slope ``f1`` and curvature ``f2`` (kept above
    EPS * ``f2_org``), p = W'd and c = W'(x(t) - x)."""
    f1: float
    f2: float
    f2_org: float
    p: np.ndarray
    c: np.ndarray

    @property
    def dtm(self):
        """Step to the model's minimum on the current segment."""
        return -self.f1 / self.f2

    def follow(self, dt, db, zb, wb, middle, theta):
        """Pass the breakpoints at intervals ``dt`` (in order; d_b, the
        distance z_b to the bound met and W's row w_b of each) until the
        model's minimum lies before the next one. Returns (breakpoints
        passed, whether the minimum was found).

        Passing breakpoint j changes the slope by d_j^2 - theta d_j z_j
        + d_j w_j'M c_j and the curvature by -theta d_j^2 + 2 d_j w_j'M p
        - d_j^2 w_j'M w_j, with p and c accumulated over the breakpoints
        before it; all of a chunk at once through G = W_b M W_b'.
        """
        k = len(dt)
        times = np.cumsum(dt)
        if wb.shape[1]:
            v = wb @ middle
            gram = v @ wb.T
            earlier = np.tril(gram, -1)
            vp, vc = v @ self.p, v @ self.c
            pv = vp - earlier @ db
            cv = vc + times * vp - (earlier * (times[:, None] - times)) @ db
            ww = np.diag(gram)
        else:
            pv = cv = ww = np.zeros(k)
        f2 = self.f2 + np.cumsum(-theta * db * db + 2 * db * pv - db * db * ww)
        f2_before = np.concatenate([[self.f2], f2[:-1]])
        f1 = self.f1 + np.cumsum(dt * f2_before + db * db - theta * db * zb
                                 + db * cv)
        f1_before = np.concatenate([[self.f1], f1[:-1]])
        stop = np.flatnonzero(-f1_before / f2_before < dt)
        done = int(stop[0]) if stop.size else k
        floor = EPS * self.f2_org
        clamped = np.flatnonzero(f2[:done] < floor)
        if clamped.size:  # the curvature floor changes what follows
            done = int(clamped[0]) + 1
        if done:
            q = done - 1
            if wb.shape[1]:
                self.c = self.c + times[q] * self.p - wb[:done].T @ (
                    db[:done] * (times[q] - times[:done]))
                self.p = self.p - wb[:done].T @ db[:done]
            self.f1, self.f2 = f1[q], max(floor, f2[q])
        return done, bool(stop.size) and not clamped.size


def subspace_step(x, g, lower, upper, cauchy, pairs, middle):
    """Minimise the model over the free variables from the Cauchy point
    and project onto the box (Morales and Nocedal's step): the new point
    z."""
    xcp, c, free = cauchy.x, cauchy.c, cauchy.free
    theta = pairs.theta
    col = pairs.col
    active = ~free
    # W_Z'W_Z: the full Gram matrices less the active variables' part, or
    # over the free variables where most are active (less cancellation)
    idx = np.flatnonzero(active)
    sy_all, ss, yy_all = pairs.grams()
    if 2 * idx.size <= x.size:
        ya, sa = pairs.columns(idx)
        yy, sy, ss_active = yy_all - ya @ ya.T, sy_all - sa @ ya.T, sa @ sa.T
    else:
        yz, sz = pairs.columns(np.flatnonzero(free))
        yy, sy, ss_active = yz @ yz.T, sz @ yz.T, ss - sz @ sz.T
    a11 = np.diag(np.diag(sy_all)) + yy / theta   # -K11, positive definite
    k21 = np.tril(sy_all, -1) - sy
    try:
        j11 = np.linalg.cholesky(a11)
        a11_inv_k12 = _cho_solve(j11, k21.T)
        schur = theta * ss_active + k21 @ a11_inv_k12
        j22 = np.linalg.cholesky(schur)
    except np.linalg.LinAlgError:
        raise _Restart()
    # the reduced gradient r = Z'(h + W M c), h = -g - theta (x^c - x)
    # (= -Z'(g + B (x^c - x))); W_Z'r through W_Z'W_Z. On the free
    # variables x^c - x = t d and d = -g, so Z'h = (1 - theta t) Z'd and
    # W'Z'h = (1 - theta t) p, which the Cauchy search kept: S and Y are
    # read once here, for d (scipy reads them for W'Z'h too)
    h = xcp - x
    h *= theta
    h += g
    np.negative(h, out=h)
    h[active] = 0.0
    mc = middle @ c
    wzwz = np.block([[yy, theta * sy.T],
                     [theta * sy, theta ** 2 * (ss - ss_active)]])
    v = (1.0 - theta * cauchy.t) * cauchy.p + wzwz @ mc
    v1, v2 = v[:col], v[col:]
    u2 = _cho_solve(j22, v2 + k21 @ _cho_solve(j11, v1))
    u1 = _cho_solve(j11, k21.T @ u2 - v1)
    # d = (r + W_Z K^-1 W_Z'r / theta) / theta on the free variables
    d = pairs.combine(mc + np.concatenate([u1, u2]) / theta)
    d += h
    d /= theta
    d[active] = 0.0
    z = xcp + d
    np.clip(z, lower, upper, out=z)
    hit = free & ((z == lower) | (z == upper))
    if not hit.any() or _dot(z - x, g) <= 0:
        return z
    # the projection is not a descent direction: the largest feasible step
    step = np.full(x.size, np.inf)
    down, up = free & (d < 0), free & (d > 0)
    room_down, room_up = lower - xcp, upper - xcp
    step[down] = np.where(room_down[down] >= 0, 0.0,
                          room_down[down] / d[down])
    step[up] = np.where(room_up[up] <= 0, 0.0, room_up[up] / d[up])
    z = xcp.copy()
    alpha = 1.0
    first = int(np.argmin(step))
    if step[first] < 1.0:
        alpha = step[first]
        z[first] = upper[first] if d[first] > 0 else lower[first]
        d[first] = 0.0
    z[free] += alpha * d[free]
    return z


def _cho_solve(j, b):
    """Solve (J J') x = b for lower-triangular J."""
    return np.linalg.solve(j.T, np.linalg.solve(j, b))


def max_step(x, d, lower, upper):
    """The largest step along ``d`` that stays in the box (at most
    BIG_STEP; 0 if a variable at a bound points out)."""
    if not x.size:
        return BIG_STEP
    # NaN where d = 0 and x is at its upper bound, which fmin skips; a
    # variable at a bound pointing out gives 0
    step = float(np.fmin.reduce(_steps_to_bounds(x, d, lower, upper)))
    return 0.0 if step <= 0 else min(BIG_STEP, step)


def _steps_to_bounds(x, d, lower, upper):
    """(bound ahead - x) / d per variable, in one new array: the step along
    ``d`` to the bound it points at; +inf or NaN where d = 0."""
    steps = np.where(d < 0, lower, upper)
    steps -= x
    with np.errstate(divide="ignore", invalid="ignore"):
        steps /= d
    return steps


class _LineSearchFailed(Exception):
    pass


def fmin(func, x0, lower, upper, m=10, factr=1e7, pgtol=1e-5, maxfun=15000,
         maxiter=15000, maxls=20, callback=None):
    """Minimise ``func`` over the box ``lower <= x <= upper``.

    A drop-in for :func:`scipy.optimize.fmin_l_bfgs_b` where every variable
    has two finite bounds (a box: scipy's other cases, a missing bound, are
    not implemented), given as two arrays: ``func(x) -> (f, g)`` for
    float64 ``x``; returns ``(x, f, info)``, ``info`` with ``task``
    (scipy's words), ``funcalls``, ``nit`` and ``warnflag`` (0 converged, 1
    a limit reached, 2 otherwise). ``callback(x)`` runs after each
    iteration; raising StopIteration there ends the run.

    numpy's BLAS runs on one thread meanwhile (``func`` too): threaded BLAS
    products and LAPACK solves round differently on another number of
    threads, and a run must give the same bits on any.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _fmin(func, x0, lower, upper, m, factr, pgtol, maxfun,
                     maxiter, maxls, callback)


def _fmin(func, x0, lower, upper, m, factr, pgtol, maxfun, maxiter, maxls,
          callback):
    lower = np.asarray(lower, np.float64).ravel()
    upper = np.asarray(upper, np.float64).ravel()
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        raise ValueError("every variable needs two finite bounds")
    if np.any(lower > upper):
        raise ValueError("a lower bound is above its upper bound")
    if m < 1 or maxls < 1:
        raise ValueError("m and maxls must be positive")
    x = np.clip(np.asarray(x0, np.float64).ravel(), lower, upper)
    pairs = Pairs.empty(m, x.size)
    # the line search's state carries over from one search to the next, as
    # in scipy (it matters only after dcsrch reports an input error)
    search = np.zeros(2, np.intc), np.zeros(13)
    tol = factr * EPS
    func = _Evaluations(func)
    f, g = func(x)
    iterations = 0

    def done(task):
        warn = (0 if task.startswith("CONVERGENCE") else
                1 if func.count > maxfun or iterations >= maxiter else 2)
        return x, f, dict(task=task, funcalls=func.count, nit=iterations,
                          warnflag=warn, grad=g)

    if projected_gradient_norm(x, g, lower, upper) <= pgtol:
        return done("CONVERGENCE: NORM_OF_PROJECTED_GRADIENT_<=_PGTOL")
    middle = None
    while True:
        try:
            if pairs.col and middle is None:
                middle = pairs.middle()
            cauchy = cauchy_point(x, g, lower, upper, pairs, middle)
            z = cauchy.x
            if cauchy.free.any() and pairs.col:
                z = subspace_step(x, g, lower, upper, cauchy, pairs, middle)
        except _Restart:
            pairs.clear()
            middle = None
            continue
        d = z - x
        dtd = _dot(d, d)
        stpmx = 1.0 if iterations == 0 else max_step(x, d, lower, upper)
        gd = _dot(g, d)
        try:
            if gd >= 0:
                raise _LineSearchFailed()
            x_new, f_new, g_new, stp, gd_new = _line_search(
                func, x, f, gd, d, z, stpmx, maxls, search)
        except _LineSearchFailed:
            if pairs.col == 0:
                return done("ABNORMAL_TERMINATION_IN_LNSRCH")
            pairs.clear()
            middle = None
            continue
        iterations += 1
        f_old, g_old = f, g
        x, f, g = x_new, f_new, g_new
        if callback is not None:
            try:
                callback(x)
            except StopIteration:
                return done("STOP: CALLBACK REQUESTED HALT")
        if iterations >= maxiter:
            return done("STOP: TOTAL NO. of ITERATIONS REACHED LIMIT")
        if func.count > maxfun:
            return done("STOP: TOTAL NO. of f AND g EVALUATIONS EXCEEDS "
                        "LIMIT")
        if projected_gradient_norm(x, g, lower, upper) <= pgtol:
            return done("CONVERGENCE: NORM_OF_PROJECTED_GRADIENT_<=_PGTOL")
        if f_old - f <= tol * max(abs(f_old), abs(f), 1.0):
            return done("CONVERGENCE: REL_REDUCTION_OF_F_<=_FACTR*EPSMCH")
        y = g - g_old
        if stp == 1.0:
            dr, ddum, s = gd_new - gd, -gd, d
        else:
            dr, ddum, s = (gd_new - gd) * stp, -gd * stp, stp * d
        if dr <= EPS * ddum:
            continue  # skip the update: curvature too small
        pairs.add(s, y, dr, dtd if stp == 1.0 else stp * stp * dtd)
        try:
            middle = pairs.middle()
        except _Restart:
            pairs.clear()
            middle = None


class _Evaluations:
    """``func`` counting its evaluations; a point equal to the last one is
    not evaluated again (as scipy's wrapper does, so the counts agree)."""

    def __init__(self, func):
        self.func, self.count, self.x = func, 0, None

    def __call__(self, x):
        if self.x is None or not np.array_equal(x, self.x):
            f, g = self.func(x)
            self.f, self.g = float(f), np.asarray(g, np.float64).ravel()
            self.x = x.copy()
            self.count += 1
        return self.f, self.g


def _line_search(func, x, f, gd, d, z, stpmx, maxls, state):
    """The More-Thuente search from ``x`` along ``d`` (step 1 reaches
    ``z``): (x, f, g, step, g'd); _LineSearchFailed after ``maxls`` trial
    points without an acceptable one. ``state``: dcsrch's work arrays."""
    stp, task = 1.0, b"START"
    isave, dsave = state
    x_now, f_now, g_now, gd_now = x, f, None, gd
    trials = 0
    while True:
        stp, _, _, task = _minpack2.dcsrch(stp, f_now, gd_now, FTOL, GTOL,
                                           XTOL, task, 0.0, stpmx, isave,
                                           dsave)
        if task[:4] in (b"CONV", b"WARN"):
            return x_now, f_now, g_now, stp, gd_now
        if trials >= maxls:
            raise _LineSearchFailed()
        x_now = z.copy() if stp == 1.0 else stp * d + x
        f_now, g_now = func(x_now)
        trials += 1
        gd_now = _dot(g_now, d)
