"""Re-randomization (permutation) test and bootstrap of the treatment effect.

Permutation: the arm labels of the analysed men are re-randomized (complete
randomization with the observed arm sizes; the trial's own blocking, if any, is
not reproduced) and the statistic is recomputed. The statistic is the arm
coefficient of the OLS regression of the 12-month change on arm and baseline
BMD (``statistic="ancova"``, default) or on arm alone
(``statistic="mean_difference"``). Two-sided p-value with the +1 correction,
``(1 + #{|T*| >= |T|}) / (B + 1)``. The CI inverts the same test for a
constant shift delta (outcomes ``y - delta * anastrozole``), using the same
permutations; because the statistic is linear in delta for every
permutation, this is exact up to the bisection tolerance.

Bootstrap: men are resampled with replacement within each arm (stratified);
the statistic is the difference in mean 12-month change; CIs by
:func:`scipy.stats.bootstrap` (percentile or BCa). The p-value is the
smallest alpha at which the CI excludes 0: for the percentile interval
``2 * min(1 + #{T* <= 0}, 1 + #{T* >= 0}) / (B + 1)``; for BCa, the same
inversion through the BCa quantile map with scipy's ``z0`` and acceleration.
Both intervals are somewhat anti-conservative in small trials: with about 32
analysed men per arm they cover roughly 93.5-94.5% at a nominal 95% (the
bootstrap uses the plug-in variance and normal-theory quantiles); at 60 per
arm coverage is nominal (tests/test_analysis_null.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from vtrial.analysis.data import to_wide
from vtrial.analysis.missing import check_arguments, single_outcome
from vtrial.analysis.result import AnalysisResult, nan_result
from vtrial.errors import InputError

__all__ = [
    "ALLOWED_MISSING",
    "bca_p_value",
    "bootstrap",
    "bootstrap_percentile",
    "permutation",
    "permutation_test",
]

ALLOWED_MISSING: tuple[str, ...] = ("complete_case", "bocf", "locf")
_STATISTICS = ("ancova", "mean_difference")


def _analysis_set(data: pd.DataFrame, missing: str, scale: str):
    wide = to_wide(data)
    y = single_outcome(wide, missing, scale)
    keep = ~np.isnan(y)
    return y[keep], wide["treat"].to_numpy()[keep], wide["bmd0"].to_numpy()[keep]


def permutation_test(
    y: np.ndarray,
    treat: np.ndarray,
    adjust: np.ndarray | None,
    *,
    n_permutations: int = 9999,
    alpha: float = 0.05,
    rng: int | np.random.Generator | None = None,
) -> dict:
    """Re-randomization test and test-inversion CI for an OLS arm coefficient.

    Parameters
    ----------
    y : numpy.ndarray
        Outcome per man (12-month change).
    treat : numpy.ndarray
        1.0 for anastrozole, 0.0 for placebo.
    adjust : numpy.ndarray or None, shape (n, k)
        Covariates adjusted for (an intercept is always included).
    n_permutations : int
        Number B of random re-randomizations.
    alpha : float
        Two-sided level.
    rng : int, Generator or None
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    dict
        ``estimate, p_value, ci_low, ci_high, null_sd`` (SD of the statistic
        over re-randomizations).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[rng.normal(0, 1, 10), rng.normal(2, 1, 10)]
    >>> t = np.r_[np.zeros(10), np.ones(10)]
    >>> r = permutation_test(y, t, None, n_permutations=999, rng=1)
    >>> r["p_value"] < 0.01
    True
    """
    n = len(y)
    base = np.ones((n, 1)) if adjust is None else np.column_stack([np.ones(n), adjust])
    # Residual-maker of the adjustment model: by Frisch-Waugh-Lovell the arm
    # coefficient for labels t is t'My / t'Mt.
    q, _ = np.linalg.qr(base)
    resid = lambda v: v - q @ (q.T @ v)  # noqa: E731
    my, mt = resid(y), resid(treat)
    observed = float(treat @ my / (treat @ mt))
    gen = np.random.default_rng(rng)
    perms = gen.permuted(np.tile(treat, (n_permutations, 1)), axis=1)
    mperm = perms - (perms @ q) @ q.T
    denom = np.einsum("ij,ij->i", perms, mperm)
    e = perms @ my / denom
    c = perms @ mt / denom
    tol = 1e-12 * max(1.0, abs(observed))

    def p_of(delta: float) -> float:
        count = np.count_nonzero(np.abs(e - delta * c) >= np.abs(observed - delta) - tol)
        return float((1 + count) / (n_permutations + 1))

    null_sd = float(np.std(e, ddof=1))
    span = null_sd if null_sd > 0 else 1.0

    def bound(direction: float) -> float:
        step = span
        inner = observed
        outer = observed + direction * step
        for _ in range(60):
            if p_of(outer) <= alpha:
                break
            inner, step = outer, 2 * step
            outer = observed + direction * step
        else:
            return direction * np.inf
        for _ in range(200):
            mid = (inner + outer) / 2
            if p_of(mid) > alpha:
                inner = mid
            else:
                outer = mid
            if abs(outer - inner) <= 1e-12 * max(1.0, abs(mid)):
                break
        return inner

    return {
        "estimate": observed,
        "p_value": p_of(0.0),
        "ci_low": float(bound(-1.0)),
        "ci_high": float(bound(1.0)),
        "null_sd": null_sd,
    }


def permutation(
    data: pd.DataFrame,
    *,
    missing: str = "complete_case",
    alpha: float = 0.05,
    scale: str = "pct",
    rng: int | np.random.Generator | None = None,
    n_permutations: int = 9999,
    statistic: str = "ancova",
) -> AnalysisResult:
    """Re-randomization test of the ANCOVA (or mean-difference) treatment effect.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial (the trial-data contract in docs/architecture.md).
    missing : str
        ``complete_case``, ``bocf`` or ``locf``.
    alpha : float
        Two-sided significance level.
    scale : str
        ``"pct"`` (percentage points) or ``"absolute"`` (g/cm2).
    rng : int, Generator or None
        Passed to :func:`numpy.random.default_rng`; draws the permutations.
    n_permutations : int
        Number of re-randomizations B; the smallest p-value is 1/(B+1).
    statistic : {"ancova", "mean_difference"}
        Arm coefficient adjusted for baseline BMD, or the plain difference.

    Returns
    -------
    AnalysisResult
        Estimate = observed statistic; CI by test inversion; ``se`` and
        ``df`` NaN.

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> r = permutation(example_trial(), n_permutations=999, rng=1)
    >>> r.p_value < 0.05
    True
    """
    check_arguments("permutation", missing, alpha, scale, ALLOWED_MISSING)
    if statistic not in _STATISTICS:
        raise InputError(
            f"permutation option statistic={statistic!r} is not allowed (allowed: {', '.join(_STATISTICS)})"
        )
    if not isinstance(n_permutations, (int, np.integer)) or n_permutations < 1:
        raise InputError(f"n_permutations {n_permutations!r} is not allowed (allowed: an integer >= 1)")
    y, treat, bmd0 = _analysis_set(data, missing, scale)
    n_a, n_p = int(treat.sum()), int(len(treat) - treat.sum())
    if min(n_a, n_p) < 2:
        return nan_result("permutation", missing, "fewer than 2 analysable men in an arm", n_p, n_a)
    adjust = bmd0[:, None] if statistic == "ancova" else None
    r = permutation_test(y, treat, adjust, n_permutations=n_permutations, alpha=alpha, rng=rng)
    nan = float("nan")
    bounded = np.isfinite(r["ci_low"]) and np.isfinite(r["ci_high"])
    note = "" if bounded else f"CI unbounded: n_permutations must be at least {1 / alpha - 1:g}"
    return AnalysisResult(
        "permutation",
        missing,
        r["estimate"],
        nan,
        r["ci_low"],
        r["ci_high"],
        r["p_value"],
        nan,
        n_p,
        n_a,
        note,
    )


def bca_p_value(boot: np.ndarray, estimate: float, a_hat: float, null_value: float = 0.0) -> float:
    """Two-sided p-value by inverting the BCa interval at ``null_value``.

    Parameters
    ----------
    boot : numpy.ndarray
        Bootstrap distribution of the statistic.
    estimate : float
        Statistic on the original data.
    a_hat : float
        Jackknife acceleration.
    null_value : float
        Value tested (0: no difference).

    Returns
    -------
    float
        The alpha at which one BCa endpoint equals ``null_value``.

    Examples
    --------
    >>> boot = np.random.default_rng(0).normal(1.0, 0.5, 9999)
    >>> 0.03 < bca_p_value(boot, 1.0, 0.0) < 0.06  # about 2 * P(Z > 2) = 0.046
    True
    """
    b = len(boot)
    # scipy's "mean" percentile-of-score, kept inside (0, 1) so the inversion is finite.
    z0 = special.ndtri((np.count_nonzero(boot < estimate) + np.count_nonzero(boot <= estimate)) / (2 * b))
    g0 = (np.count_nonzero(boot < null_value) + np.count_nonzero(boot <= null_value)) / (2 * b)
    g0 = min(max(g0, 0.5 / b), 1 - 0.5 / b)
    u = special.ndtri(g0) - z0
    w = u / (1 + a_hat * u) - z0
    return float(min(1.0, 2 * min(special.ndtr(w), special.ndtr(-w))))


def _acceleration(a: np.ndarray, p: np.ndarray) -> float:
    # scipy's multi-sample jackknife acceleration, in closed form for a mean
    # difference: leaving man i out moves the statistic by +-(x_i - mean)/(n - 1).
    ua, up = a - a.mean(), -(p - p.mean())
    num = np.sum(ua**3) / len(a) ** 3 + np.sum(up**3) / len(p) ** 3
    den = np.sum(ua**2) / len(a) ** 2 + np.sum(up**2) / len(p) ** 2
    return float(num / (6 * den**1.5))


def bootstrap(
    data: pd.DataFrame,
    *,
    missing: str = "complete_case",
    alpha: float = 0.05,
    scale: str = "pct",
    rng: int | np.random.Generator | None = None,
    n_resamples: int = 9999,
    ci_method: str = "bca",
) -> AnalysisResult:
    """Stratified bootstrap of the difference in mean 12-month change.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial (the trial-data contract in docs/architecture.md).
    missing : str
        ``complete_case``, ``bocf`` or ``locf``.
    alpha : float
        Two-sided significance level.
    scale : str
        ``"pct"`` (percentage points) or ``"absolute"`` (g/cm2).
    rng : int, Generator or None
        Passed to :func:`numpy.random.default_rng`; drives the resampling.
    n_resamples : int
        Bootstrap resamples B.
    ci_method : {"bca", "percentile"}
        Interval type (method name in the result: ``bootstrap`` for BCa,
        ``bootstrap_percentile`` for percentile).

    Returns
    -------
    AnalysisResult
        Estimate = observed mean difference; ``se`` = bootstrap SD; ``df`` NaN.

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> r = bootstrap(example_trial(), n_resamples=999, rng=1)
    >>> r.ci_low < r.estimate < r.ci_high
    True
    """
    name = "bootstrap" if ci_method == "bca" else "bootstrap_percentile"
    check_arguments(name, missing, alpha, scale, ALLOWED_MISSING)
    if ci_method not in ("bca", "percentile"):
        raise InputError(
            f"bootstrap option ci_method={ci_method!r} is not allowed (allowed: bca, percentile)"
        )
    if not isinstance(n_resamples, (int, np.integer)) or n_resamples < 2:
        raise InputError(f"n_resamples {n_resamples!r} is not allowed (allowed: an integer >= 2)")
    y, treat, _ = _analysis_set(data, missing, scale)
    a, p = y[treat == 1.0], y[treat == 0.0]
    if min(len(a), len(p)) < 2:
        return nan_result(name, missing, "fewer than 2 analysable men in an arm", len(p), len(a))
    estimate = float(a.mean() - p.mean())

    def diff(x, z, axis=-1):
        return np.mean(x, axis=axis) - np.mean(z, axis=axis)

    from scipy import stats  # lazily: 0.9 s to import, not needed by the power engine

    res = stats.bootstrap(
        (a, p),
        diff,
        n_resamples=n_resamples,
        confidence_level=1 - alpha,
        method="BCa" if ci_method == "bca" else "percentile",
        vectorized=True,
        rng=np.random.default_rng(rng),
    )
    boot = res.bootstrap_distribution
    if ci_method == "bca":
        p_value = bca_p_value(boot, estimate, _acceleration(a, p))
    else:
        below = 1 + np.count_nonzero(boot <= 0.0)
        above = 1 + np.count_nonzero(boot >= 0.0)
        p_value = min(1.0, 2 * min(below, above) / (n_resamples + 1))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    note = "" if np.isfinite(lo) and np.isfinite(hi) else "bootstrap distribution is degenerate"
    return AnalysisResult(
        name,
        missing,
        estimate,
        float(res.standard_error),
        lo,
        hi,
        float(p_value),
        float("nan"),
        len(p),
        len(a),
        note,
    )


def bootstrap_percentile(
    data: pd.DataFrame,
    *,
    missing: str = "complete_case",
    alpha: float = 0.05,
    scale: str = "pct",
    rng: int | np.random.Generator | None = None,
    n_resamples: int = 9999,
) -> AnalysisResult:
    """Stratified bootstrap with the percentile CI (see :func:`bootstrap`).

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> bootstrap_percentile(example_trial(), n_resamples=999, rng=1).method
    'bootstrap_percentile'
    """
    return bootstrap(
        data,
        missing=missing,
        alpha=alpha,
        scale=scale,
        rng=rng,
        n_resamples=n_resamples,
        ci_method="percentile",
    )
