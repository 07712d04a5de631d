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
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
from scipy import stats

from vtrial.analysis.data import ARMS, to_wide
from vtrial.analysis.missing import check_arguments, single_outcome
from vtrial.analysis.result import AnalysisResult, nan_result

__all__ = ["ALLOWED_MISSING", "hodges_lehmann", "mann_whitney", "wilcox_counts"]

ALLOWED_MISSING: tuple[str, ...] = ("complete_case", "bocf", "locf")
_EPS = sys.float_info.epsilon


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
        Long-format trial (DESIGN.md contract).
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
