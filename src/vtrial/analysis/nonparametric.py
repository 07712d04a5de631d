"""Wilcoxon rank-sum (Mann-Whitney) test with the Hodges-Lehmann shift and CI.

What is matched: R's ``wilcox.test(x, y, conf.int = TRUE, conf.level = 1 -
alpha)`` (two-sided, ``mu = 0``, ``correct = TRUE``, ``digits.rank = Inf``;
R 4.2) with ``x`` the anastrozole and ``y`` the placebo changes, branch for
branch:

* **Exact** branch when ``exact`` is None and both arms have fewer than 50 men
  and there are no ties (or ``exact=True`` and no ties): p-value from the exact
  null distribution of W; CI from the order statistics of the ``n_x n_y``
  pairwise differences at ``qwilcox(alpha/2)``; estimate = their median.
* **Normal approximation** otherwise (ties, or 50 or more men in an arm): tie-
  corrected variance and continuity correction for the p-value; the CI ends
  and the estimate are the roots of the standardised statistic as a function
  of the shift, found, as R does, by Brent's zeroin with ``tol = 1e-4`` (a
  port of R's ``R_zeroin2``), so they agree with R to rounding, not only to
  1e-4. The estimate is then not exactly the median of pairwise differences.

:func:`mann_whitney_vec` is the same test for a whole block of replicate
trials of the power engine at once (the normal-branch root finding runs in
lockstep on all replicates).
"""

from __future__ import annotations

import math
import sys
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import special

from vtrial import samplers
from vtrial.analysis.data import ARMS, to_wide
from vtrial.analysis.missing import check_arguments, single_outcome
from vtrial.analysis.result import AnalysisResult, Replicates, nan_result

__all__ = ["ALLOWED_MISSING", "hodges_lehmann", "mann_whitney", "mann_whitney_vec", "wilcox_counts"]

ALLOWED_MISSING: tuple[str, ...] = ("complete_case", "bocf", "locf")
_EPS = sys.float_info.epsilon
# Values per chunk of the shifted-sample merges (see _shifted_counts).
_CHUNK_VALUES = 1 << 17


def wilcox_counts(m: int, n: int) -> np.ndarray:
    """Exact null frequencies of the Mann-Whitney statistic W (R's ``cwilcox``).

    Parameters
    ----------
    m, n : int
        Sample sizes.

    Returns
    -------
    numpy.ndarray of int, shape (m * n + 1,)
        Number of the ``C(m + n, m)`` rank arrangements giving W = 0..mn.

    Notes
    -----
    Coefficients of the Gaussian binomial ``prod_i (1 - q^(n+i)) / (1 - q^i)``,
    in exact integer arithmetic.

    Examples
    --------
    >>> wilcox_counts(2, 2).tolist()
    [1, 1, 2, 1, 1]
    """
    size = m * n + 1
    # int64 is exact while every coefficient (at most C(m + n, m)) and the
    # transient differences fit; beyond that, Python integers.
    dtype = np.int64 if math.comb(m + n, m) < 2**61 else object
    c = np.zeros(size, dtype=dtype)
    c[0] = 1
    for i in range(1, m + 1):
        k = n + i
        if k < size:
            c[k:] = c[k:] - c[:-k].copy()
        # Divide by (1 - q^i): a running sum within each residue class mod i.
        pad = (-size) % i
        block = np.concatenate([c, np.zeros(pad, dtype=dtype)]).reshape(-1, i)
        c = np.cumsum(block, axis=0).ravel()[:size]
    return c


class _WilcoxDistribution:
    def __init__(self, m: int, n: int) -> None:
        counts = wilcox_counts(m, n)
        total = math.comb(m + n, n)
        self.mn = m * n
        if counts.dtype == object:
            self.prob = np.array([float(c) / total for c in counts])
        else:
            self.prob = counts / float(total)

    def cdf(self, q: float) -> float:
        # R pwilcox(q, m, n): P(W <= q).
        q = math.floor(q + 1e-7)
        if q < 0:
            return 0.0
        if q >= self.mn:
            return 1.0
        return float(self.prob[: q + 1].sum())

    def sf(self, q: float) -> float:
        # R pwilcox(q, m, n, lower.tail = FALSE): P(W > q).
        q = math.floor(q + 1e-7)
        if q < 0:
            return 1.0
        if q >= self.mn:
            return 0.0
        return float(self.prob[q + 1 :].sum())

    def quantile(self, x: float) -> int:
        # R qwilcox with its 10 * DBL_EPSILON fuzz.
        p = 0.0
        q = 0
        if x <= 0.5:
            x = x - 10 * _EPS
            while True:
                p += self.prob[q]
                if p >= x:
                    return q
                q += 1
        x = 1 - x + 10 * _EPS
        while True:
            p += self.prob[q]
            if p > x:
                return self.mn - q
            q += 1


def _zeroin(f, ax: float, bx: float, fa: float, fb: float, tol: float, maxit: int = 1000) -> float:
    # Brent's root finder exactly as R's R_zeroin2 (src/library/stats/src/zeroin.c),
    # so that the step-function roots land where R's uniroot puts them.
    a, b = ax, bx
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(maxit + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPS * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def _tie_term(values: np.ndarray) -> float:
    _, counts = np.unique(values, return_counts=True)
    counts = counts.astype(float)
    return float(np.sum(counts**3 - counts))


def hodges_lehmann(
    x: np.ndarray,
    y: np.ndarray,
    *,
    alpha: float = 0.05,
    exact: bool | None = None,
    correct: bool = True,
) -> dict:
    """Wilcoxon rank-sum test of x versus y with the Hodges-Lehmann shift, as R.

    Parameters
    ----------
    x, y : numpy.ndarray
        The two samples (NaN removed by the caller); shift is x minus y.
    alpha : float
        Two-sided level; CI has nominal coverage ``1 - alpha``.
    exact : bool or None
        As R: None means exact when both samples are under 50 and untied.
    correct : bool
        Continuity correction in the normal approximation.

    Returns
    -------
    dict
        ``estimate, ci_low, ci_high, p_value, statistic`` (W) and ``exact``.

    Examples
    --------
    >>> r = hodges_lehmann(np.array([1.1, 2.3, 3.0, 4.2]), np.array([0.5, 0.9, 1.7]))
    >>> round(r["estimate"], 6), r["exact"]  # R: wilcox.test(..., conf.int = TRUE) gives 1.6
    (1.6, True)
    """
    from scipy import stats  # lazily: 0.9 s to import, not needed by the power engine

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    nx, ny = float(len(x)), float(len(y))
    r = stats.rankdata(np.concatenate([x, y]))
    statistic = float(np.sum(r[: len(x)]) - nx * (nx + 1) / 2)
    ties = len(np.unique(r)) != len(r)
    if exact is None:
        exact = nx < 50 and ny < 50
    if exact and not ties:
        dist = _WilcoxDistribution(len(x), len(y))
        if statistic > nx * ny / 2:
            p = dist.sf(statistic - 1)
        else:
            p = dist.cdf(statistic)
        p = min(2 * p, 1.0)
        diffs = np.sort(np.subtract.outer(x, y).ravel())
        qu = dist.quantile(alpha / 2)
        if qu == 0:
            qu = 1
        ql = int(nx * ny) - qu
        return {
            "estimate": float(np.median(diffs)),
            "ci_low": float(diffs[qu - 1]),
            "ci_high": float(diffs[ql]),
            "p_value": float(p),
            "statistic": statistic,
            "exact": True,
        }
    big_n = nx + ny
    z = statistic - nx * ny / 2
    sigma = math.sqrt((nx * ny / 12) * ((big_n + 1) - _tie_term(r) / (big_n * (big_n - 1))))
    correction = np.sign(z) * 0.5 if correct else 0.0
    z = (z - correction) / sigma
    p = 2 * min(stats.norm.cdf(z), stats.norm.sf(z))

    def w_of(d: float, use_correction: bool) -> float:
        dr = stats.rankdata(np.concatenate([x - d, y]))
        dz = np.sum(dr[: len(x)]) - nx * (nx + 1) / 2 - nx * ny / 2
        corr = np.sign(dz) * 0.5 if use_correction else 0.0
        s = math.sqrt((nx * ny / 12) * ((big_n + 1) - _tie_term(dr) / (big_n * (big_n - 1))))
        if s == 0:
            raise ZeroDivisionError("all observations are tied")
        return float((dz - corr) / s)

    mumin = float(np.min(x) - np.max(y))
    mumax = float(np.max(x) - np.min(y))
    w_min, w_max = w_of(mumin, correct), w_of(mumax, correct)

    def root(zq: float) -> float:
        f_lower = w_min - zq
        if f_lower <= 0:
            return mumin
        f_upper = w_max - zq
        if f_upper >= 0:
            return mumax
        return _zeroin(lambda d: w_of(d, correct) - zq, mumin, mumax, f_lower, f_upper, 1e-4)

    low = root(stats.norm.isf(alpha / 2))
    high = root(stats.norm.ppf(alpha / 2))
    f_lower, f_upper = w_of(mumin, False), w_of(mumax, False)
    estimate = _zeroin(lambda d: w_of(d, False), mumin, mumax, f_lower, f_upper, 1e-4)
    return {
        "estimate": float(estimate),
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": float(p),
        "statistic": statistic,
        "exact": False,
    }


def mann_whitney(
    data: pd.DataFrame,
    *,
    missing: str = "complete_case",
    alpha: float = 0.05,
    scale: str = "pct",
    rng: int | np.random.Generator | None = None,
    exact: bool | None = None,
    correct: bool = True,
) -> AnalysisResult:
    """Wilcoxon rank-sum test, Hodges-Lehmann shift and CI (as R wilcox.test).

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial (the trial-data contract in docs/architecture.md).
    missing : str
        ``complete_case``, ``bocf`` or ``locf`` (carried-forward zeros create
        ties, which switch to the normal approximation, as in R).
    alpha : float
        Two-sided significance level.
    scale : str
        ``"pct"`` (percentage points) or ``"absolute"`` (g/cm2).
    rng : ignored
        Accepted for a uniform interface; the method is deterministic.
    exact : bool or None
        R's ``exact``; None: exact when both arms have < 50 men and no ties.
    correct : bool
        R's ``correct`` (continuity correction, normal approximation only).

    Returns
    -------
    AnalysisResult
        ``estimate`` is the Hodges-Lehmann shift (anastrozole minus placebo),
        ``se`` and ``df`` are NaN.

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> r = mann_whitney(example_trial())
    >>> r.ci_low < r.estimate < r.ci_high
    True
    """
    check_arguments("mann_whitney", missing, alpha, scale, ALLOWED_MISSING)
    wide = to_wide(data)
    y = single_outcome(wide, missing, scale)
    arm = wide["arm"].to_numpy()
    a = y[(arm == ARMS[1]) & ~np.isnan(y)]
    p = y[(arm == ARMS[0]) & ~np.isnan(y)]
    if min(len(a), len(p)) < 2:
        return nan_result("mann_whitney", missing, "fewer than 2 analysable men in an arm", len(p), len(a))
    try:
        r = hodges_lehmann(a, p, alpha=alpha, exact=exact, correct=correct)
    except ZeroDivisionError:
        return nan_result("mann_whitney", missing, "all 12-month changes are tied", len(p), len(a))
    nan = float("nan")
    return AnalysisResult(
        "mann_whitney",
        missing,
        r["estimate"],
        nan,
        r["ci_low"],
        r["ci_high"],
        r["p_value"],
        nan,
        len(p),
        len(a),
    )


# --------------------------------------------------------------------------- many replicates


def mann_whitney_vec(block, missing: str, scale: str, alpha: float, p_only: bool = False) -> Replicates:
    """Wilcoxon rank-sum test with Hodges-Lehmann shift and CI for every replicate.

    Reproduces R ``wilcox.test(x, y, conf.int = TRUE)`` (x anastrozole, y
    placebo; :func:`hodges_lehmann`) branch for branch, with the replicates as
    arrays:

    * exact branch (both arms under 50 men, no ties): p-value from the exact
      null distribution of W, estimate the median of the ``nx ny`` pairwise
      differences and CI their order statistics at ``qwilcox(alpha / 2)``
      (found by linear-time selection, :func:`numpy.partition`);
    * normal branch (ties, or 50 or more men in an arm): tie-corrected normal
      approximation with continuity correction for the p-value; estimate and
      CI ends are roots of the standardized statistic as a function of the
      shift, found by Brent's zeroin (R's ``R_zeroin2``, ``tol = 1e-4``) run in
      lockstep on all replicates, so they agree with R to rounding.

    W and the tie term at a shift ``d`` come from one stable sort of the
    pooled sample ``(x - d, y)`` per replicate (:func:`_shifted_counts`):
    ``O(N log N)`` per evaluation instead of ``O(nx ny)`` pairs, and equal to
    the pairwise counts to the last bit (they are integers). Once a search's
    bracket holds few pairs ``x_i - y_j``, only those are compared
    (:class:`_ShiftSearch`), with the same result.

    With ``p_only`` only the p-values are computed (estimate and CI are NaN):
    a sample-size or MDE search needs nothing else.
    """
    xs, ys = [], []
    for a, out in ((1, xs), (0, ys)):
        y, w = samplers.outcome_from_bmd(block, a, missing, scale)
        # sorted per replicate, NaN (men not analysed) last; columns of padding only dropped
        v = np.sort(np.where(w, y, np.nan).T, axis=1)
        out.append(v[:, : int(np.count_nonzero(w, axis=0).max(initial=0))])
    res = _mw_sorted(xs[0], ys[0], alpha, p_only)
    nan = np.full(block.reps, np.nan)
    return Replicates(
        res["estimate"], nan, res["p_value"], nan.copy(), res["ny"], res["nx"], alpha,
        res["ci_low"], res["ci_high"],
    )  # fmt: skip


@lru_cache(maxsize=512)
def _wilcox_law(m: int, n: int, alpha: float) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Exact null law of W: ``P(W = q)``, R's ``qwilcox(alpha / 2)``, ``P(W <= q)`` and ``P(W >= q)``.

    The cumulative sums are cached with the law (read-only): a power run
    meets the same few arm sizes in thousands of blocks.
    """
    counts = wilcox_counts(m, n)
    total = math.comb(m + n, n)
    if counts.dtype == object:
        prob = np.array([float(c) / total for c in counts])
    else:
        prob = counts / float(total)
    eps = np.finfo(float).eps
    x = alpha / 2
    acc, q = 0.0, 0
    if x <= 0.5:
        x = x - 10 * eps
        while True:
            acc += prob[q]
            if acc >= x:
                break
            q += 1
    else:  # pragma: no cover - alpha < 1 always gives x <= 0.5
        raise ValueError(alpha)
    cum = np.cumsum(prob)
    # P(W >= q) summed from the upper tail for accuracy, as R does
    tail = np.concatenate([np.cumsum(prob[::-1])[::-1], [0.0]])
    for a in (prob, cum, tail):
        a.flags.writeable = False
    return prob, q, cum, tail


def _shifted_counts(
    pooled: np.ndarray,
    nxm: int,
    rows: np.ndarray,
    nx: np.ndarray,
    ny: np.ndarray,
    d,
    base_ties: np.ndarray,
    work: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``#(x_i - d > y_j)``, ``#(x_i - d == y_j)``, the tie term of ``(x - d, y)`` and ``k`` per row.

    ``pooled`` is ``(x, y)`` per replicate, each sorted with NaN (padding)
    last, x in the first ``nxm`` columns; ``rows`` are the replicates to
    evaluate, ``nx`` and ``ny`` count their values; ``d`` is a scalar or one
    shift per row; ``base_ties`` is ``sum(t^3 - t)`` over groups of equal
    values within x and within y. ``x - d`` stays sorted (rounding is
    monotone), so a stable argsort of ``(x - d, y)`` merges two sorted runs,
    equal values ending up together with the x values first and the padding
    last (x padding first). An x value at merged position ``p`` that is the
    ``i``-th x exceeds exactly ``k_i = p - i`` values of y (returned as ``k``,
    shape ``(len(rows), nxm)``; an x padding value has ``k_i = ny``), so
    ``#(x - d > y)`` is the sum of the ``k_i`` over the real x values. Only
    rows where an x value equals a y value (rare except at the ends of the
    root search and for tied data) need the groups of equal values: a group
    with ``a`` values of x and ``b`` of y has ``a b`` equal pairs and adds
    ``(a + b)^3 - (a + b) - (a^3 - a) - (b^3 - b) = 3 a b (a + b)`` to the tie
    term. All are integer-valued, hence exact: the same values as the
    pairwise comparisons of R's ``rank(c(x - d, y))``, at
    ``O(N log N)`` per row instead of ``O(nx ny)``.

    The rows are merged in chunks of ``_CHUNK_VALUES`` values, in ``work``
    (``(chunk rows, pooled.shape[1])`` floats, allocated if None): a chunk
    then stays in a core's L2 cache (merging thousands of rows at once was
    half as fast), and one buffer serves all the calls of the root searches
    instead of a fresh array per chunk (about 10% faster).
    """
    if work is None:
        work = _merge_buffer(pooled.shape[1])
    step = work.shape[0]
    d = np.broadcast_to(np.asarray(d, dtype=float), (len(rows),))
    gt, n_eq = np.empty(len(rows)), np.zeros(len(rows))
    ties = base_ties.astype(float)
    k = np.empty((len(rows), nxm), dtype=np.int64)
    for i in range(0, len(rows), step):
        part = slice(i, i + step)
        _merge_counts(
            pooled,
            nxm,
            rows[part],
            nx[part],
            ny[part],
            d[part],
            work,
            gt[part],
            n_eq[part],
            ties[part],
            k[part],
        )
    return gt, n_eq, ties, k


def _merge_buffer(width: int) -> np.ndarray:
    return np.empty((max(1, _CHUNK_VALUES // width), width))


def _merge_counts(pooled, nxm, rows, nx, ny, d, work, gt, n_eq, ties, k):
    """:func:`_shifted_counts` on one chunk of rows, into its slices of ``gt``, ``n_eq``, ``ties``, ``k``."""
    m = len(rows)
    width = pooled.shape[1]
    merged = np.take(pooled, rows, axis=0, out=work[:m], mode="clip")  # rows are valid: no bounds check
    merged[:, :nxm] -= d[:, None]
    order = np.argsort(merged, axis=1, kind="stable")
    # flat indices (row * width + merged position) of x_0, x_1, ... per row (x keeps its
    # order in a stable sort; a 2-D nonzero builds row and column arrays and costs 8 times
    # as much); less i, the number k_i of y values below x_i - d
    at = np.flatnonzero(order < nxm).reshape(m, nxm)
    at += nxm - np.arange(nxm)  # flat index of y_(k_i)
    np.subtract(at, (np.arange(m) * width + nxm)[:, None], out=k)
    gt[:] = k.sum(axis=1) - (nxm - nx) * ny
    # x_i - d equals a y value only if it equals y_(k_i), the smallest y not below it
    # (equal values put x first). x padding is NaN and so is y_(k_i) where k_i reaches
    # the y padding; where it passes every y, y_(last) is below it.
    np.minimum(at, (np.arange(m) * width + width - 1)[:, None], out=at)
    hit = np.flatnonzero((np.take(merged, at) == merged[:, :nxm]).any(axis=1))
    if len(hit):
        vh = np.take_along_axis(merged[hit], order[hit], axis=1)
        xh = order[hit] < nxm
        same = vh[:, 1:] == vh[:, :-1]  # NaN padding is never equal
        yh = ~xh & ~np.isnan(vh)
        start = np.ones(vh.shape, dtype=bool)
        start[:, 1:] = ~same
        group = (np.cumsum(start, axis=1) - 1 + (np.arange(len(hit)) * width)[:, None]).ravel()
        a = np.bincount(group, (xh & ~np.isnan(vh)).ravel(), len(hit) * width)
        b = np.bincount(group, yh.ravel(), len(hit) * width)
        n_eq[hit] = (a * b).reshape(len(hit), width).sum(1)
        ties[hit] += (3.0 * a * b * (a + b)).reshape(len(hit), width).sum(1)


def _within_ties(v: np.ndarray) -> np.ndarray:
    """``sum(t^3 - t)`` over groups of ``t`` equal values in each sorted, NaN-padded row."""
    rows, width = v.shape
    if width == 0:
        return np.zeros(rows)
    start = np.ones(v.shape, dtype=bool)
    start[:, 1:] = v[:, 1:] != v[:, :-1]
    group = (np.cumsum(start, axis=1) - 1 + (np.arange(rows) * width)[:, None]).ravel()
    t = np.bincount(group, (~np.isnan(v)).ravel(), rows * width)
    return (t * t * t - t).reshape(rows, width).sum(1)


def _mw_sorted(xs: np.ndarray, ys: np.ndarray, alpha: float, p_only: bool = False) -> dict:
    """Rank-sum test, estimate and CI per row of sorted, NaN-padded samples."""
    reps = xs.shape[0]
    nx = np.count_nonzero(~np.isnan(xs), axis=1).astype(float)
    ny = np.count_nonzero(~np.isnan(ys), axis=1).astype(float)
    out = {k: np.full(reps, np.nan) for k in ("estimate", "p_value", "ci_low", "ci_high")}
    out["nx"], out["ny"] = nx, ny
    big_n = nx + ny
    mn = nx * ny
    base_ties = _within_ties(xs) + _within_ties(ys)
    # C order: the merges gather whole rows (the samples arrive column-major)
    pooled = np.ascontiguousarray(np.concatenate([xs, ys], axis=1))
    work = _merge_buffer(pooled.shape[1])
    nxi, nyi = nx.astype(np.int64), ny.astype(np.int64)

    def w_stat(d: np.ndarray, idx: np.ndarray):
        """(dz, sigma) at shift d for replicates idx, as the ranks of (x - d, y) give."""
        gt, n_eq, ties, _ = _shifted_counts(
            pooled, xs.shape[1], idx, nxi[idx], nyi[idx], d, base_ties[idx], work
        )
        return (*_standardize(gt, n_eq, ties, mn[idx], big_n[idx]), ties)

    ok = (nx >= 2) & (ny >= 2)
    all_idx = np.flatnonzero(ok)
    if not len(all_idx):
        return out
    dz0, sigma0, ties0 = w_stat(0.0, all_idx)
    ties_any = np.zeros(reps, dtype=bool)
    ties_any[all_idx] = ties0 > 0  # any tie within or across the arms
    exact = ok & (nx < 50) & (ny < 50) & ~ties_any
    # --- exact branch
    stat = np.full(reps, np.nan)
    stat[all_idx] = dz0 + mn[all_idx] / 2.0
    if exact.any():
        ex = np.flatnonzero(exact)
        groups = list(_group_pairs(nx[ex], ny[ex]))
        laws = [_wilcox_law(m_, n_, float(alpha)) for (m_, n_), _ in groups]
        # p-values of all arm sizes at once: each row reads its own law from the
        # concatenated cumulative tables (a loop over the hundreds of arm-size
        # pairs of a block costs more than the look-ups)
        mn_ex = np.empty(len(ex), dtype=np.int64)
        at_cum = np.empty(len(ex), dtype=np.int64)
        at_tail = np.empty(len(ex), dtype=np.int64)
        c_at = t_at = 0
        for ((m_, n_), rows), (_, _, cum, tail) in zip(groups, laws, strict=True):
            mn_ex[rows], at_cum[rows], at_tail[rows] = m_ * n_, c_at, t_at
            c_at, t_at = c_at + len(cum), t_at + len(tail)
        cum = np.concatenate([law[2] for law in laws])
        tail = np.concatenate([law[3] for law in laws])
        w = stat[ex]
        q_lo = np.floor(w + 1e-7).astype(np.int64)
        cdf = np.where(q_lo < 0, 0.0, np.where(q_lo >= mn_ex, 1.0, cum[at_cum + np.clip(q_lo, 0, mn_ex)]))
        q_hi = np.floor(w - 1 + 1e-7).astype(np.int64)
        sf = np.where(
            q_hi < 0, 1.0, np.where(q_hi >= mn_ex, 0.0, 1.0 - cum[at_cum + np.clip(q_hi, 0, mn_ex)])
        )
        # P(W > q) from the upper tail for accuracy, as R does
        sf = np.where((q_hi >= 0) & (q_hi < mn_ex), tail[at_tail + np.clip(q_hi + 1, 0, mn_ex)], sf)
        p = np.where(w > mn_ex / 2.0, sf, cdf)
        out["p_value"][ex] = np.minimum(2.0 * p, 1.0)
        for ((m_, n_), rows), (_, qu, _, _) in zip(groups, laws, strict=True) if not p_only else ():
            r = ex[rows]
            mnv = m_ * n_
            # order statistics of the m n pairwise differences by selection
            diffs = (xs[r, :m_, None] - ys[r, None, :n_]).reshape(len(r), mnv)
            k = max(qu, 1)
            mid = (mnv - 1) // 2, mnv // 2
            dd = np.partition(diffs, sorted({k - 1, mnv - k, *mid}), axis=1)
            out["ci_low"][r] = dd[:, k - 1]
            out["ci_high"][r] = dd[:, mnv - k]
            out["estimate"][r] = dd[:, mid[0]] if mid[0] == mid[1] else (dd[:, mid[0]] + dd[:, mid[1]]) / 2.0
    # --- normal branch
    normal = ok & ~exact
    if normal.any():
        nr = np.flatnonzero(normal)
        pos = np.searchsorted(all_idx, nr)
        z = dz0[pos]
        sigma = sigma0[pos]
        fine = sigma > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            zc = (z - np.sign(z) * 0.5) / sigma
            p = 2.0 * np.minimum(special.ndtr(zc), special.ndtr(-zc))
        out["p_value"][nr] = np.where(fine, p, np.nan)
        nr = nr[fine]
        if len(nr) and not p_only:
            last_x = (nx[nr] - 1).astype(np.intp)[:, None]
            last_y = (ny[nr] - 1).astype(np.intp)[:, None]
            mumin = xs[nr, 0] - np.take_along_axis(ys[nr], last_y, 1)[:, 0]
            mumax = np.take_along_axis(xs[nr], last_x, 1)[:, 0] - ys[nr, 0]

            # The three searches (CI ends, estimate) run as one lockstep of 3 n problems;
            # they share the statistic at the bracket ends, where only the transform
            # (continuity correction, quantile) differs.
            keys = ("ci_low", "ci_high", "estimate")
            # special.ndtri is what scipy.stats.norm's ppf / isf evaluate,
            # without importing scipy.stats (about a second at start-up).
            zqs = (-special.ndtri(alpha / 2), special.ndtri(alpha / 2), 0.0)
            corrects = (True, True, False)
            search = _ShiftSearch(
                pooled, xs.shape[1], nxi, nyi, base_ties, mn, big_n, work, nr, zqs, corrects
            )
            fa, fb = search.ends(mumin, mumax)
            a, b = search.lo.copy(), search.hi.copy()
            root = _zeroin_lockstep(
                search.f, np.arange(len(a)), a, b, fa.copy(), fb.copy(), 1e-4, narrow=search.narrow
            )
            # a CI end beyond the bracket of shifts is that end of the bracket, as in R
            c = search.correct
            root = np.where(c & (fa <= 0), search.lo, np.where(c & (fb >= 0), search.hi, root))
            for j, key in enumerate(keys):
                out[key][nr] = root[j * len(nr) : (j + 1) * len(nr)]
    return out


def _standardize(gt, n_eq, ties, mn, big_n):
    """``W - nx ny / 2`` and the tie-corrected SD of W from the counts of :func:`_shifted_counts`."""
    dz = gt + 0.5 * n_eq - mn / 2.0
    sigma = np.sqrt(mn / 12.0 * ((big_n + 1.0) - ties / (big_n * (big_n - 1.0))))
    return dz, sigma


# A root search compares candidate pairs instead of merging once its bracket holds at
# most this many pairs x_i - y_j (64 to 256 were equally fast at 100-150 men per arm;
# a merge of ~300 values costs about as much as comparing ~150 pairs, and wider
# brackets cost more to carry than the merges they save).
_WINDOW_PAIRS = 128


class _ShiftSearch:
    """Standardized rank-sum statistic at the shifts of the lockstep root searches.

    Problem ``p`` seeks the root in ``d`` of ``(dz(d) - c_p sign(dz(d)) / 2)
    / sigma(d) - zq_p`` on replicate ``rows[p]`` (``c_p``: continuity
    correction), one block of problems per ``(zq, correct)`` pair:
    :meth:`ends` gives the values at the first bracket, :meth:`f` evaluates,
    :meth:`narrow` is told the new bracket after each step of
    :func:`_zeroin_lockstep`.

    Brent's iterates lie inside the current bracket ``[L, H]``, whose ends
    were evaluated (:meth:`narrow` follows it), and for ``L <= d <= H`` every ``x_i - d`` lies between
    ``x_i - H`` and ``x_i - L`` (rounding is monotone). With ``K_i(d) = #(y <
    x_i - d)`` from the merges at the ends, the y values ``j < K_i(H)`` are
    below ``x_i - d`` for every such ``d`` and those ``j >= K_i(L)`` never
    are. So once the bracket holds few pairs (``gt(L) - gt(H)``, at most
    ``_WINDOW_PAIRS``), ``gt(d) = gt(H) + #{candidates: y_j < x_i - d}`` over
    the candidate pairs ``K_i(H) <= j < K_i(L)``, instead of a merge. Where
    ``y_j == x_i - L`` for ``j = K_i(L)`` (possible only if the merge at ``L``
    met an equality) that pair is a candidate too, so any equality ``x_i - d
    == y_j`` shows among the candidates; a replicate with one is merged (for
    its groups of tied values). After each step the candidates of the new
    bracket stay: those with ``y_j <= x_i - d`` when ``d`` becomes the lower
    end; otherwise those with ``y_j < x_i - d`` join ``gt(H)``. These are the
    comparisons of the same floats as in the merges, hence the same counts.
    A point outside the bracket (Brent's step leaves it only in corner cases,
    a zero interpolation step turned into ``-tol``) is merged, and so are all
    the later points of its problem.
    """

    def __init__(self, pooled, nxm, nx, ny, base_ties, mn, big_n, work, reps, zqs, corrects):
        self.pooled, self.nxm, self.work = pooled, nxm, work
        self.n_reps = len(reps)
        self.rows = np.tile(reps, len(zqs))
        self.nx, self.ny, self.base_ties = nx[self.rows], ny[self.rows], base_ties[self.rows]
        self.mn, self.big_n = mn[self.rows], big_n[self.rows]
        self.zq = np.repeat(zqs, len(reps))
        self.correct = np.repeat(corrects, len(reps))
        size = len(self.rows)
        self.mode = np.zeros(size, dtype=np.int8)  # 0 merges, 1 candidate pairs, 2 merges only
        self.base = np.zeros(size)  # gt(H) of the candidates' bracket
        self.d = np.zeros(size)  # the point of the last evaluation, gt and n_eq there
        self.gt = np.zeros(size)
        self.n_eq = np.zeros(size)
        self.cand = (np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0))  # problem, x_i, y_j
        self.compared = None  # (y_j < x_i - d, y_j == x_i - d) of the candidates at the last points
        self.merged = None  # problems merged at the last evaluation, and their K

    def _counts(self, d, idx):
        return _shifted_counts(
            self.pooled,
            self.nxm,
            self.rows[idx],
            self.nx[idx],
            self.ny[idx],
            d,
            self.base_ties[idx],
            self.work,
        )

    def _value(self, gt, n_eq, ties, idx):
        dz, s = _standardize(gt, n_eq, ties, self.mn[idx], self.big_n[idx])
        corr = np.where(self.correct[idx], np.sign(dz) * 0.5, 0.0)
        return (dz - corr) / s - self.zq[idx]

    def ends(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values at the first bracket ``[lo, hi]`` (one pair per replicate), one merge per replicate and end."""
        size, times = len(self.rows), len(self.rows) // self.n_reps
        self.lo, self.hi = np.tile(lo, times), np.tile(hi, times)  # the first bracket
        self.bracket = np.array([self.lo, self.hi])  # [L, H] per problem, as Brent narrows it
        self.g = np.empty((2, size))  # gt at L and H
        self.eq_lo = np.empty(size, dtype=bool)  # an equality x_i - L == y_j
        self.k = np.empty((2 * size, self.nxm), dtype=np.int32)  # K at L (rows < size) and at H
        values = []
        for side, d in enumerate((lo, hi)):
            gt, n_eq, ties, k = self._counts(d, np.arange(self.n_reps))
            self.g[side] = np.tile(gt, times)
            self.k[side * size : (side + 1) * size] = np.tile(k, (times, 1))
            if side == 0:
                self.eq_lo[:] = np.tile(n_eq > 0, times)
            values.append(self._value(*(np.tile(v, times) for v in (gt, n_eq, ties)), slice(None)))
        return values[0], values[1]

    def f(self, d: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Values of problems ``idx`` at the points ``d``."""
        mode = self.mode
        outside = (d < self.bracket[0, idx]) | (d > self.bracket[1, idx])
        mode[idx[outside]] = 2
        win = np.flatnonzero(mode[idx] == 1)
        mer = np.flatnonzero(mode[idx] != 1)
        gt = np.empty(len(idx))
        n_eq = np.zeros(len(idx))
        ties = self.base_ties[idx].astype(float)
        if len(mer):
            gt[mer], n_eq[mer], ties[mer], k = self._counts(d[mer], idx[mer])
            self.merged = idx[mer], k
        if len(win):
            size = len(self.rows)
            cp, cx, cy = self.cand
            self.d[idx[win]] = d[win]
            q = cx - self.d[cp]
            lt = cy < q
            eq = cy == q
            gt[win] = self.base[idx[win]] + np.bincount(cp, lt, size)[idx[win]]
            hit = win[np.bincount(cp, eq, size)[idx[win]] > 0] if eq.any() else win[:0]
            if len(hit):  # x_i - d == y_j: the tie groups from a merge
                gt[hit], n_eq[hit], ties[hit], _ = self._counts(d[hit], idx[hit])
            self.compared = lt, eq
        else:  # candidates of finished problems only
            self.cand = (np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0))
        self.gt[idx], self.n_eq[idx] = gt, n_eq
        return self._value(gt, n_eq, ties, idx)

    def narrow(self, idx: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        """Brent's new bracket of problems ``idx``: between ``b`` (just evaluated) and ``c``."""
        size = len(self.rows)
        upper = (c < b).astype(np.intp)  # b becomes the upper end H (1) or the lower end L (0)
        live = self.mode[idx] != 2
        p, side = idx[live], upper[live]
        self.bracket[side, p] = b[live]
        self.g[side, p] = self.gt[p]
        lower = p[side == 0]
        self.eq_lo[lower] = self.n_eq[lower] > 0
        is_upper = np.zeros(size, dtype=bool)
        is_upper[idx] = upper == 1
        if self.merged is not None:
            pm, k = self.merged
            self.merged = None
            self.k[pm + size * is_upper[pm]] = k  # (problems in mode 1 or 2 never read theirs)
        cand = self.cand
        if len(cand[0]):
            cp = cand[0]
            lt, eq = self.compared
            cu = is_upper[cp]
            self.base += np.bincount(cp, lt & cu, size)
            alive = np.zeros(size, dtype=bool)
            alive[idx] = self.mode[idx] == 1
            # b upper end: keep y_j >= x_i - b; lower end: keep y_j <= x_i - b
            keep = alive[cp] & ((cu ^ lt) | eq)
            cand = tuple(v[keep] for v in cand)
        sw = idx[(self.mode[idx] == 0) & (self.g[0, idx] - self.g[1, idx] <= _WINDOW_PAIRS)]
        if len(sw):
            cand = tuple(np.concatenate(v) for v in zip(cand, self._candidates(sw), strict=True))
        self.cand = cand

    def _candidates(self, sw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate pairs of problems ``sw`` from the merges at their bracket ends; they switch to them."""
        nxm, width = self.nxm, self.pooled.shape[1]
        flat = self.pooled.ravel()
        r = self.rows[sw]
        k_lo, k_hi = self.k[sw], self.k[sw + len(self.rows)]
        lens = k_lo - k_hi
        at_l = np.flatnonzero(self.eq_lo[sw])
        if len(at_l):  # pairs with y_j == x_i - L, j = K_i(L)
            kl, rl = k_lo[at_l], r[at_l]
            y_next = flat[(rl * width + nxm)[:, None] + np.minimum(kl, width - nxm - 1)]
            x_l = self.pooled[rl, :nxm] - self.bracket[0, sw[at_l]][:, None]
            lens[at_l] += (kl < self.ny[sw[at_l]][:, None]) & (y_next == x_l)
        per_x = lens.ravel()
        nz = np.flatnonzero(per_x)
        count = per_x[nz]
        row = nz // nxm
        x_at = r[row] * width + (nz - row * nxm)  # flat index of x_i in pooled
        y_at = r[row] * width + nxm + k_hi.ravel()[nz]  # ... and of y_(K_i(H))
        at = np.arange(count.sum()) + np.repeat(y_at - (np.cumsum(count) - count), count)
        self.base[sw] = self.g[1, sw]
        self.mode[sw] = 1
        return np.repeat(sw[row], count), np.repeat(flat[x_at], count), flat[at]


def _group_pairs(nx: np.ndarray, ny: np.ndarray):
    keys = nx.astype(np.int64) * 1_000_003 + ny.astype(np.int64)
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        yield (int(nx[rows[0]]), int(ny[rows[0]])), rows


def _zeroin_lockstep(f, idx, a, b, fa, fb, tol, maxit: int = 1000, narrow=None):
    """R's ``R_zeroin2`` (Brent) on many independent problems at once.

    ``f(points, idx_subset)`` evaluates the functions of the problems
    ``idx_subset`` at ``points``. Every problem follows exactly the steps the
    scalar algorithm would take. ``narrow(idx_subset, b, c)``, if given, is
    told the new bracket ends after each step (``b`` the point just evaluated).
    """
    eps = np.finfo(float).eps
    n = len(idx)
    c, fc = a.copy(), fa.copy()
    result = np.full(n, np.nan)
    done = np.zeros(n, dtype=bool)
    z = fa == 0.0
    result[z], done[z] = a[z], True
    z = ~done & (fb == 0.0)
    result[z], done[z] = b[z], True
    for _ in range(maxit + 1):
        act = np.flatnonzero(~done)
        if not len(act):
            break
        A, B, C = a[act], b[act], c[act]
        FA, FB, FC = fa[act], fb[act], fc[act]
        prev = B - A
        swap = np.abs(FC) < np.abs(FB)
        A, B, C = np.where(swap, B, A), np.where(swap, C, B), np.where(swap, B, C)
        FA, FB, FC = np.where(swap, FB, FA), np.where(swap, FC, FB), np.where(swap, FB, FC)
        tol_act = 2 * eps * np.abs(B) + tol / 2
        new = (C - B) / 2
        fin = (np.abs(new) <= tol_act) | (FB == 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            interp = (np.abs(prev) >= tol_act) & (np.abs(FA) > np.abs(FB))
            cb = C - B
            sec = A == C
            t1s = FB / FA
            ps = cb * t1s
            qs = 1.0 - t1s
            q_ = FA / FC
            t1 = FB / FC
            t2 = FB / FA
            pi = t2 * (cb * q_ * (q_ - t1) - (B - A) * (t1 - 1.0))
            qi = (q_ - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            P = np.where(sec, ps, pi)
            Q = np.where(sec, qs, qi)
            Q = np.where(P > 0, -Q, Q)
            P = np.where(P > 0, P, -P)
            take = interp & (P < (0.75 * cb * Q - np.abs(tol_act * Q) / 2)) & (P < np.abs(prev * Q / 2))
            new = np.where(take, P / Q, new)
        new = np.where(np.abs(new) < tol_act, np.where(new > 0, tol_act, -tol_act), new)
        # finished problems keep B as the root
        fin_idx = act[fin]
        result[fin_idx] = B[fin]
        done[fin_idx] = True
        go = ~fin
        act, A, B, C, FA, FB, FC, new = (v[go] for v in (act, A, B, C, FA, FB, FC, new))
        if not len(act):
            break
        A, FA = B, FB
        B = B + new
        FB = f(B, idx[act])
        same = ((FB > 0) & (FC > 0)) | ((FB < 0) & (FC < 0))
        C = np.where(same, A, C)
        FC = np.where(same, FA, FC)
        if narrow is not None:
            narrow(idx[act], B, C)
        a[act], b[act], c[act] = A, B, C
        fa[act], fb[act], fc[act] = FA, FB, FC
    left = ~done
    result[left] = b[left]
    return result
