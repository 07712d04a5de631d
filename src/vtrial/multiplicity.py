"""Multiplicity adjustments for trials with several comparisons or endpoints.

A trial with k treatment arms and a common control (or with m endpoints)
makes several tests at once. This module turns the per-comparison p-values or
t statistics of many replicate trials into adjusted p-values, family-wise
summaries and endpoint-level decisions. Every function works on arrays of
shape ``(reps, k)`` (one row per replicate trial, one column per comparison);
loops run over the k comparisons, never over replicates.

Methods (config key ``analysis.multiplicity``):

``none``, ``bonferroni``, ``holm``, ``hochberg``
    :func:`adjust`, identical to R's ``p.adjust`` (also for missing values).
``fixed_sequence``
    :func:`adjust` with ``order``: hypotheses are tested at full alpha in the
    stated order, stopping at the first that is not rejected.
``dunnett``
    :func:`dunnett_adjusted_p` and :func:`dunnett_critical_value`: single-step
    many-to-one comparisons with a common control, using the exact
    multivariate t distribution of the k statistics (``mvtnorm::qmvt``,
    ``multcomp::glht(..., mcp(arm = "Dunnett"))``).

The formulas, their R counterparts and the numerical accuracy are in
``docs/multiplicity.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
from scipy import special

from vtrial.errors import InputError

#: Methods of :func:`adjust` (p-value based).
ADJUST_METHODS = ("none", "bonferroni", "holm", "hochberg", "fixed_sequence")
#: Allowed values of ``analysis.multiplicity``.
MULTIPLICITY_METHODS = (*ADJUST_METHODS, "dunnett")
#: Allowed values of ``analysis.comparisons``.
COMPARISONS = ("vs_control", "all_pairs")
#: Allowed values of ``analysis.endpoint_rule``.
ENDPOINT_RULES = ("primary", "all", "any")

# Quadrature settings of the Dunnett distribution (accuracy in docs/multiplicity.md).
# Inner integral over the common factor W ~ N(0, 1): composite 16-point
# Gauss-Legendre on panels of width 1 over [-12, 12] (the normal mass outside
# is 2e-33; halving the panels changes nothing above 2e-15).
_Z_MAX = 12.0
_Z_PANEL = 1.0
_Z_ORDER = 16
# The normal-case tail is tabulated on [0, 10] (beyond 10 it is below 2e-22 per
# comparison) and interpolated by a quintic spline of its logarithm.
_X_MAX = 10.0
_X_STEP = 0.01
_SPLINE_DEGREE = 5
# Outer integral over S = sqrt(chi2_df / df): Gauss-Legendre in x = c * S on the
# central interval of S holding all but 2e-15 of its mass.
_S_ORDER = 64
_S_TAIL = 1e-15
# Critical values: regula falsi (Illinois) to this bracket width; it needs about 8 steps.
_ROOT_XTOL = 1e-12
_ROOT_ITER = 100


# ---------------------------------------------------------------------------
# p-value adjustments
# ---------------------------------------------------------------------------


def adjust(p, method: str, *, order: Sequence[int] | None = None) -> np.ndarray:
    """Adjusted p-values of k comparisons in each replicate.

    Parameters
    ----------
    p : array_like, shape (reps, k) or (k,)
        Unadjusted p-values; NaN marks a comparison that could not be tested.
    method : {'none', 'bonferroni', 'holm', 'hochberg', 'fixed_sequence'}
        ``bonferroni``: min(1, k p). ``holm``: step-down, the i-th smallest
        p-value times (k - i + 1), running maximum, capped at 1.
        ``hochberg``: step-up, the same products with a running minimum from
        the largest p-value down. As in R's ``p.adjust``, missing p-values
        stay missing and k is the number of non-missing p-values in the row
        (pass 1 instead of NaN to count a failed analysis as a hypothesis).
        ``fixed_sequence``: the adjusted p-value of the j-th hypothesis in
        ``order`` is the largest raw p-value among the first j, so at any
        alpha the rejections are exactly those of testing each hypothesis at
        full alpha in the stated order and stopping at the first p > alpha
        (every later hypothesis then fails too). A missing p-value makes it
        and every later one in the order missing.
    order : sequence of int, optional
        ``fixed_sequence`` only: the column indices (0-based) in testing
        order, a permutation of ``range(k)``.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape as ``p``; reject at level alpha where
        ``adjusted <= alpha``.

    Examples
    --------
    >>> p = [[0.01, 0.04, 0.03], [0.20, 0.001, 0.5]]
    >>> adjust(p, "holm").round(4).tolist()
    [[0.03, 0.06, 0.06], [0.4, 0.003, 0.5]]
    >>> adjust(p, "hochberg").round(4).tolist()
    [[0.03, 0.04, 0.04], [0.4, 0.003, 0.5]]
    >>> adjust(p, "fixed_sequence", order=[1, 0, 2]).tolist()
    [[0.04, 0.04, 0.04], [0.2, 0.001, 0.5]]
    """
    arr = np.asarray(p, dtype=float)
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
        raise InputError(f"p-values: shape {arr.shape} is not (reps, k) or (k,) with k >= 1")
    if np.any((arr < 0) | (arr > 1)):
        raise InputError("p-values: values outside [0, 1]")
    rows = np.atleast_2d(arr)
    k = rows.shape[1]
    if method not in ADJUST_METHODS:
        raise InputError(f"multiplicity method '{method}' is not one of {', '.join(ADJUST_METHODS)}")
    if method != "fixed_sequence" and order is not None:
        raise InputError(f"multiplicity order: given for method '{method}' (only fixed_sequence uses it)")
    if method == "none":
        out = rows.copy()
    elif method == "bonferroni":
        out = np.minimum(1.0, np.sum(~np.isnan(rows), axis=1, keepdims=True) * rows)
    elif method == "fixed_sequence":
        idx = _check_order(order, k)
        out = np.empty_like(rows)
        out[:, idx] = np.maximum.accumulate(rows[:, idx], axis=1)
    else:
        out = _step_adjust(rows, method)
    return out.reshape(arr.shape)


def _step_adjust(rows: np.ndarray, method: str) -> np.ndarray:
    """Holm (step-down) or Hochberg (step-up) on the rows of a (reps, k) array."""
    # As in R, the number of hypotheses m is the number of non-missing p-values.
    m = np.sum(~np.isnan(rows), axis=1, keepdims=True)
    j = np.arange(rows.shape[1])
    if method == "holm":
        # argsort puts NaN last, so the running maximum never reaches a valid entry.
        idx = np.argsort(rows, axis=1, kind="stable")
        adj = np.maximum.accumulate((m - j) * np.take_along_axis(rows, idx, axis=1), axis=1)
    else:
        # Descending order (NaN still last): the j-th largest is multiplied by j + 1.
        idx = np.argsort(-rows, axis=1, kind="stable")
        adj = np.minimum.accumulate((j + 1) * np.take_along_axis(rows, idx, axis=1), axis=1)
    out = np.empty_like(rows)
    np.put_along_axis(out, idx, np.minimum(1.0, adj), axis=1)
    return out


def _check_order(order, k: int) -> np.ndarray:
    """Validate a fixed-sequence order: a permutation of range(k)."""
    if order is None:
        raise InputError("multiplicity order: fixed_sequence needs the testing order (column indices)")
    idx = np.asarray(order)
    if (
        idx.ndim != 1
        or idx.size != k
        or not np.issubdtype(idx.dtype, np.integer)
        or sorted(idx.tolist()) != list(range(k))
    ):
        raise InputError(f"multiplicity order: {list(np.ravel(order))} is not a permutation of 0..{k - 1}")
    return idx


# ---------------------------------------------------------------------------
# Dunnett many-to-one
# ---------------------------------------------------------------------------


def dunnett_lambdas(allocation) -> np.ndarray:
    """Correlation factors of k treatment-versus-control statistics.

    Parameters
    ----------
    allocation : array_like, shape (k + 1,)
        Sizes (or allocation ratios) ``(n0, n1, ..., nk)``, control first.

    Returns
    -------
    numpy.ndarray
        ``lambda_i = sqrt(n_i / (n_i + n_0))``, i = 1..k; the statistics have
        correlation ``lambda_i * lambda_j``.

    Examples
    --------
    >>> dunnett_lambdas([2, 1, 1]).round(6).tolist()
    [0.57735, 0.57735]
    """
    n = np.asarray(allocation, dtype=float)
    if n.ndim != 1 or n.size < 2 or not np.all(np.isfinite(n)) or np.any(n <= 0):
        raise InputError(f"allocation: {np.ravel(n).tolist()} is not (n0, n1, ..., nk), all > 0, k >= 1")
    return np.sqrt(n[1:] / (n[1:] + n[0]))


def _resolve_lambdas(allocation, lambdas) -> np.ndarray:
    if (allocation is None) == (lambdas is None):
        raise InputError("dunnett: give exactly one of allocation and lambdas")
    if allocation is not None:
        return dunnett_lambdas(allocation)
    lam = np.asarray(lambdas, dtype=float)
    if lam.ndim != 1 or lam.size < 1 or np.any(~(lam >= 0) | ~(lam < 1)):
        raise InputError(f"lambdas: {np.ravel(lam).tolist()} must be a 1-D list of values in [0, 1)")
    return lam


def _check_df(df) -> np.ndarray:
    d = np.asarray(df, dtype=float)
    if np.any(d <= 0):
        raise InputError(f"df: values must be > 0 (np.inf for the normal case), got min {np.nanmin(d)}")
    return d


@lru_cache(maxsize=2)
def _legendre(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1] (kept: the root search mixes many times)."""
    return np.polynomial.legendre.leggauss(order)


def _z_rule() -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[g(W)], W ~ N(0, 1) (composite Gauss-Legendre)."""
    xi, wi = _legendre(_Z_ORDER)
    half = _Z_PANEL / 2
    mids = np.arange(-_Z_MAX + half, _Z_MAX, _Z_PANEL)
    z = (mids[:, None] + half * xi).ravel()
    w = np.tile(half * wi, mids.size) * (np.exp(-(z**2) / 2.0) / np.sqrt(2 * np.pi))  # normal density
    return z, w


def _normal_cdf_tail(x: np.ndarray, lam: np.ndarray, two_sided: bool) -> tuple[np.ndarray, np.ndarray]:
    """F(x) = P(all Z_i <= x) (or |Z_i| <= x) and its complement Q(x) for known variance.

    One-factor structure: Z_i = lam_i W + sqrt(1 - lam_i^2) E_i with W, E_i
    independent N(0, 1), so given W = z the events are independent. Both F and
    Q are integrated separately so that each keeps full relative precision
    where it is small.
    """
    z, w = _z_rule()
    sig = np.sqrt(1.0 - lam**2)
    xs = np.asarray(x, dtype=float)[:, None]
    log_inside = np.zeros((xs.shape[0], z.size))
    with np.errstate(divide="ignore"):
        for li, si in zip(lam, sig, strict=True):
            if two_sided:
                outside = special.ndtr((-xs - li * z) / si) + special.ndtr((-xs + li * z) / si)
                log_inside += np.log1p(-np.minimum(outside, 1.0))
            else:
                log_inside += special.log_ndtr((xs - li * z) / si)
    return np.exp(log_inside) @ w, -np.expm1(log_inside) @ w


class _NormalTail:
    """Known-variance tail of max Z (two-sided: max |Z|) as a spline in x.

    ``upper(x)`` = P(max > x) for x >= 0; one-sided also ``lower(y)`` =
    P(all Z_i <= -y) for y >= 0. Both are 0 beyond ``_X_MAX``.
    """

    def __init__(self, lam: np.ndarray, two_sided: bool):
        self.lam, self.two_sided = lam, two_sided
        grid = np.linspace(0.0, _X_MAX, int(round(_X_MAX / _X_STEP)) + 1)
        from scipy import interpolate  # lazily: only Dunnett's tail needs splines

        f_pos, q_pos = _normal_cdf_tail(grid, lam, two_sided)
        self._log_upper = interpolate.make_interp_spline(grid, np.log(q_pos), k=_SPLINE_DEGREE)
        if not two_sided:
            f_neg, _ = _normal_cdf_tail(-grid, lam, two_sided)
            self._log_lower = interpolate.make_interp_spline(grid, np.log(f_neg), k=_SPLINE_DEGREE)

    def _eval(self, y: np.ndarray, spline) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        inside = y <= _X_MAX
        out = np.zeros_like(y)
        out[inside] = np.exp(spline(y[inside]))
        return out

    def upper(self, x: np.ndarray) -> np.ndarray:
        return self._eval(x, self._log_upper)

    def lower(self, y: np.ndarray) -> np.ndarray:
        return self._eval(y, self._log_lower)


def _mix_over_s(c: np.ndarray, df: np.ndarray, tail) -> np.ndarray:
    """E[tail(c S)] for c >= 0, S = sqrt(chi2_df / df), by Gauss-Legendre in x = c S.

    ``c`` and ``df`` are arrays of one shape (one df per value; ``np.inf``
    for known variance). Integrating over x rather than S puts the nodes where
    ``tail`` changes, which keeps the heavy tail of small df accurate for
    large c.
    """
    c, df = np.broadcast_arrays(np.asarray(c, dtype=float), np.asarray(df, dtype=float))
    out = np.zeros(c.shape)
    normal = np.isinf(df)
    out[normal] = tail(c[normal])
    out[~normal & (c == 0)] = tail(np.zeros(1))[0]
    # Chi quantiles of S: S^2 df / 2 is Gamma(df / 2).
    half = np.where(normal, 1.0, df) / 2
    s_lo = np.sqrt(special.gammaincinv(half, _S_TAIL) / half)
    s_hi = np.sqrt(special.gammainccinv(half, _S_TAIL) / half)
    live = ~normal & (c > 0) & (c * s_lo < _X_MAX)
    cl, d = c[live][:, None], df[live][:, None]
    a = cl * s_lo[live][:, None]
    b = np.minimum(cl * s_hi[live][:, None], _X_MAX)
    xi, wi = _legendre(_S_ORDER)
    x = a + (b - a) * (xi + 1) / 2
    s = x / cl
    log_density = (
        np.log(2.0) + d / 2 * np.log(d / 2) - special.gammaln(d / 2) + (d - 1) * np.log(s) - d * s**2 / 2
    )
    out[live] = np.sum((b - a) / 2 * wi * np.exp(log_density) / cl * tail(x), axis=1)
    return out


class DunnettDistribution:
    """Null law of Dunnett's many-to-one statistics for one allocation and any df.

    Under the global null (T_1..T_k) is multivariate t with correlations
    ``lambda_i * lambda_j``. The known-variance tail of max_i |T_i|
    (one-sided: max_i T_i) is tabulated once when the object is made (about
    40 ms); tail probabilities and critical values for arrays of df then cost
    one 64-node mix over the law of the variance estimate per value (see
    ``docs/multiplicity.md``; absolute error below 1e-9).

    Parameters
    ----------
    allocation : array_like, optional
        ``(n0, n1, ..., nk)``, control first (sizes or ratios).
    two_sided : bool
        Two-sided (|T|) or one-sided upper (T) comparisons.
    lambdas : array_like, optional
        Instead of ``allocation``: ``lambda_i = sqrt(n_i / (n_i + n_0))``.

    Examples
    --------
    >>> law = DunnettDistribution([1, 1, 1])
    >>> law.critical_values(0.05, [20, 60, np.inf]).round(4).tolist()  # R mvtnorm::qmvt: the same
    [2.3787, 2.2653, 2.2121]
    >>> law.sf([2.3787, 0.0], [20, 20]).round(4).tolist()
    [0.05, 1.0]
    """

    def __init__(self, allocation=None, two_sided: bool = True, *, lambdas=None):
        self.lam = _resolve_lambdas(allocation, lambdas)
        self.two_sided = two_sided
        self._normal = _NormalTail(self.lam, two_sided)

    def sf(self, t, df) -> np.ndarray:
        """P(max_i T_i > t) (two-sided: P(max_i |T_i| > |t|)); t and df broadcast, df > 0 or ``np.inf``."""
        t, df = np.broadcast_arrays(np.asarray(t, dtype=float), _check_df(df))
        if self.two_sided:
            return _mix_over_s(np.abs(t), df, self._normal.upper)
        q = np.empty(t.shape)
        pos = t >= 0
        q[pos] = _mix_over_s(t[pos], df[pos], self._normal.upper)
        q[~pos] = 1.0 - _mix_over_s(-t[~pos], df[~pos], self._normal.lower)
        return q

    def critical_values(self, alpha: float, df) -> np.ndarray:
        """Critical values c(df) with :meth:`sf` ``(c, df) = alpha``, one per df (same shape).

        All df are solved together by the Illinois variant of regula falsi
        on ``log sf - log alpha`` (superlinear and always bracketed), from the
        bracket of the single-comparison and Bonferroni quantiles, to 1e-12.
        """
        if not 0 < alpha < 0.5:
            raise InputError(f"alpha: {alpha} is not in (0, 0.5)")
        d = _check_df(df)
        flat = d.ravel()
        tails = 2 if self.two_sided else 1

        def gap(c, v):
            return np.log(self.sf(c, v)) - np.log(alpha)

        # t upper quantiles: scipy.stats.t.isf evaluates -stdtrit (scipy.stats itself costs 0.5 s to import)
        x0 = -special.stdtrit(flat, alpha / tails) - 0.1
        x1 = -special.stdtrit(flat, alpha / (tails * self.lam.size)) + 0.1
        f0, f1 = gap(x0, flat), gap(x1, flat)
        out = x1.copy()
        todo = np.arange(flat.size)
        for _ in range(_ROOT_ITER):
            x = x1 - f1 * (x1 - x0) / (f1 - f0)
            fx = gap(x, flat[todo])
            cross = fx * f1 < 0
            # The old point stays: halving its value keeps the method superlinear.
            x0, f0 = np.where(cross, x1, x0), np.where(cross, f1, f0 / 2)
            x1, f1 = x, fx
            out[todo] = x
            going = (np.abs(x1 - x0) > _ROOT_XTOL) & (fx != 0)
            todo, x0, f0, x1, f1 = todo[going], x0[going], f0[going], x1[going], f1[going]
            if not todo.size:
                break
        return out.reshape(d.shape)


def dunnett_critical_value(
    alpha: float, allocation=None, df: float = np.inf, two_sided: bool = True, *, lambdas=None
) -> float:
    """Critical value of Dunnett's single-step many-to-one test.

    The value c with P(max_i |T_i| > c) = alpha (one-sided: P(max_i T_i > c)
    = alpha) under the global null, where (T_1..T_k) is multivariate t with
    ``df`` degrees of freedom and correlations ``lambda_i * lambda_j``.
    Computed by deterministic quadrature (no Monte Carlo) and regula falsi;
    absolute error below 1e-9 (see ``docs/multiplicity.md``). For many df at
    once use :meth:`DunnettDistribution.critical_values`.

    Parameters
    ----------
    alpha : float
        Family-wise error rate, in (0, 0.5).
    allocation : array_like, optional
        ``(n0, n1, ..., nk)``, control first (sizes or ratios).
    df : float
        Error degrees of freedom (pooled over all arms: N - k - 1);
        ``np.inf`` for known variance.
    two_sided : bool
        Two-sided (|T|) or one-sided upper (T) comparisons.
    lambdas : array_like, optional
        Instead of ``allocation``: ``lambda_i = sqrt(n_i / (n_i + n_0))``.

    Returns
    -------
    float
        Critical value on the t scale.

    Examples
    --------
    >>> round(dunnett_critical_value(0.05, [1, 1, 1], np.inf), 4)
    2.2121
    >>> round(dunnett_critical_value(0.05, [1, 1], 20), 6)  # k = 1: the t quantile
    2.085963
    """
    if not 0 < alpha < 0.5:
        raise InputError(f"alpha: {alpha} is not in (0, 0.5)")
    law = DunnettDistribution(allocation, two_sided, lambdas=lambdas)
    return float(law.critical_values(alpha, float(_check_df(df)))[()])


def dunnett_adjusted_p(t, allocation=None, df=np.inf, two_sided: bool = True, *, lambdas=None) -> np.ndarray:
    """Single-step Dunnett adjusted p-values of many-to-one t statistics.

    For comparison i of a replicate the adjusted p-value is P(max_j |T_j| >=
    |t_i|) (one-sided: P(max_j T_j >= t_i)) under the global null, so
    ``adjusted <= alpha`` exactly when ``|t_i|`` exceeds
    :func:`dunnett_critical_value`. The known-variance tail is tabulated once
    per call (:class:`DunnettDistribution`) and mixed over the law of the
    variance estimate of each statistic's df; absolute error below 1e-9.

    Parameters
    ----------
    t : array_like, shape (reps, k) or (k,)
        t statistics of treatment i versus control (pooled variance); NaN
        gives NaN.
    allocation : array_like, optional
        ``(n0, n1, ..., nk)``, control first, used for every replicate.
    df : float or array_like of shape (reps,)
        Error degrees of freedom of each replicate (varies with dropout);
        ``np.inf`` for known variance.
    two_sided : bool
        Two-sided or one-sided upper comparisons.
    lambdas : array_like, optional
        Instead of ``allocation``.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape as ``t``.

    Examples
    --------
    >>> c = dunnett_critical_value(0.05, [1, 1, 1], 20)
    >>> dunnett_adjusted_p([[c, 0.0], [-c, 4.0]], [1, 1, 1], df=20).round(6).tolist()
    [[0.05, 1.0], [0.05, 0.001352]]
    """
    lam = _resolve_lambdas(allocation, lambdas)
    tt = np.asarray(t, dtype=float)
    rows = np.atleast_2d(tt)
    if rows.ndim != 2 or rows.shape[1] != lam.size:
        raise InputError(f"t statistics: shape {tt.shape} does not match {lam.size} comparisons")
    d = _check_df(df)
    dfs = np.broadcast_to(d, rows.shape[:1]) if d.ndim == 0 else d
    if dfs.shape != rows.shape[:1]:
        raise InputError(
            f"df: shape {d.shape} is neither scalar nor one value per replicate {rows.shape[:1]}"
        )
    out = np.full(rows.shape, np.nan)
    valid = ~np.isnan(rows) & ~np.isnan(dfs)[:, None]
    law = DunnettDistribution(two_sided=two_sided, lambdas=lam)
    out[valid] = law.sf(rows[valid], np.broadcast_to(dfs[:, None], rows.shape)[valid])
    return np.clip(out, 0.0, 1.0).reshape(tt.shape)


# ---------------------------------------------------------------------------
# Family-wise summaries and endpoints
# ---------------------------------------------------------------------------


def familywise(significant) -> dict:
    """Share of replicates with at least one / every comparison significant.

    Parameters
    ----------
    significant : array_like of bool, shape (reps, k)
        Decision per replicate and comparison (e.g. ``adjusted <= alpha``).

    Returns
    -------
    dict
        ``reps``; ``any`` and ``any_se`` (P(at least one significant): the
        family-wise error rate under the global null, disjunctive power
        otherwise); ``all`` and ``all_se`` (P(every comparison significant));
        ``each`` and ``each_se`` (arrays of length k, per comparison). SEs
        are binomial Monte Carlo SEs sqrt(p (1 - p) / reps).

    Examples
    --------
    >>> out = familywise([[True, False], [True, True], [False, False], [False, False]])
    >>> out["any"], out["all"], round(out["any_se"], 4), out["each"].tolist()
    (0.5, 0.25, 0.25, [0.5, 0.25])
    """
    sig = np.asarray(significant)
    if sig.ndim != 2 or sig.dtype != bool or sig.shape[0] == 0:
        raise InputError(
            f"significant: expected a non-empty (reps, k) boolean array, got {sig.dtype} {sig.shape}"
        )
    reps = sig.shape[0]

    def se(p):
        return np.sqrt(p * (1 - p) / reps)

    p_any, p_all, each = float(sig.any(axis=1).mean()), float(sig.all(axis=1).mean()), sig.mean(axis=0)
    return {
        "reps": reps,
        "any": p_any,
        "any_se": float(se(p_any)),
        "all": p_all,
        "all_se": float(se(p_all)),
        "each": each,
        "each_se": se(each),
    }


def endpoint_rule(
    p_by_endpoint, rule: str, *, alpha: float, method: str = "holm", order: Sequence[int] | None = None
) -> np.ndarray:
    """Trial success from the p-values of m endpoints.

    Parameters
    ----------
    p_by_endpoint : array_like, shape (reps, m)
        Two-sided p-values, primary endpoint in column 0; NaN counts as not
        significant (and, for ``any``, still as one of the m hypotheses).
    rule : {'primary', 'all', 'any'}
        ``primary``: the primary endpoint alone. ``all`` (co-primary): every
        endpoint significant at ``alpha``; an intersection-union test, so no
        adjustment is needed. ``any``: at least one endpoint significant after
        adjusting across endpoints with ``method``.
    alpha : float
        Significance level.
    method : str
        Adjustment for ``any`` (see :func:`adjust`); ignored otherwise.
    order : sequence of int, optional
        Testing order when ``method='fixed_sequence'``.

    Returns
    -------
    numpy.ndarray of bool, shape (reps,)

    Examples
    --------
    >>> p = [[0.01, 0.30], [0.03, 0.02], [0.20, 0.02]]
    >>> [endpoint_rule(p, r, alpha=0.05).tolist() for r in ENDPOINT_RULES]
    [[True, True, False], [False, True, False], [True, True, True]]
    """
    p = np.asarray(p_by_endpoint, dtype=float)
    if p.ndim != 2 or p.shape[1] == 0:
        raise InputError(f"p_by_endpoint: shape {p.shape} is not (reps, m) with m >= 1")
    if rule == "primary":
        return p[:, 0] <= alpha
    if rule == "all":
        return np.all(p <= alpha, axis=1)
    if rule == "any":
        # A failed endpoint analysis is a test that did not reject: it still counts
        # towards the number of hypotheses (R's p.adjust would drop it).
        return np.any(adjust(np.where(np.isnan(p), 1.0, p), method, order=order) <= alpha, axis=1)
    raise InputError(f"endpoint rule '{rule}' is not one of {', '.join(ENDPOINT_RULES)}")


def bivariate_normal_cdf(h, k, rho) -> np.ndarray:
    """P(X <= h, Y <= k) for standard bivariate normal (X, Y) with correlation rho.

    Closed form through Owen's T function (Owen 1956), accurate to rounding:
    ``1/2 Phi(h) + 1/2 Phi(k) - T(h, a_h) - T(k, a_k) - beta / 2`` with
    ``a_h = (k - rho h) / (h sqrt(1 - rho^2))`` (symmetrically ``a_k``) and
    ``beta = 1`` when h k < 0 or (h k = 0 and h + k < 0), else 0.

    Parameters
    ----------
    h, k : array_like
        Upper limits (broadcast together with ``rho``).
    rho : array_like
        Correlation in (-1, 1).

    Examples
    --------
    >>> round(float(bivariate_normal_cdf(0.0, 0.0, 0.5)), 12)  # 1/4 + asin(rho) / (2 pi)
    0.333333333333
    >>> from scipy import stats
    >>> bool(abs(float(bivariate_normal_cdf(1.0, -0.5, 0.0)) - stats.norm.cdf(1.0) * stats.norm.cdf(-0.5)) < 1e-15)
    True
    """
    h, k, rho = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (h, k, rho)))
    if np.any(~(np.abs(rho) < 1)):
        raise InputError("rho: correlation must be in (-1, 1)")
    r = np.sqrt(1 - rho**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        # a = +-inf when the first argument is 0: T(0, +-inf) = +-1/4.
        a_h = np.where(h == 0, np.sign(k) * np.inf, (k - rho * h) / (h * r))
        a_k = np.where(k == 0, np.sign(h) * np.inf, (h - rho * k) / (k * r))
        t_h = np.where(np.isnan(a_h), 0.0, special.owens_t(h, np.nan_to_num(a_h, nan=0.0)))
        t_k = np.where(np.isnan(a_k), 0.0, special.owens_t(k, np.nan_to_num(a_k, nan=0.0)))
    beta = (h * k < 0) | ((h * k == 0) & (h + k < 0))
    out = 0.5 * special.ndtr(h) + 0.5 * special.ndtr(k) - t_h - t_k - 0.5 * beta
    both_zero = (h == 0) & (k == 0)
    out = np.where(both_zero, 0.25 + np.arcsin(rho) / (2 * np.pi), out)
    return np.clip(out, 0.0, 1.0)


def coprimary_power(ncp, rho, alpha: float, *, two_sided: bool = True) -> float:
    """Power of two co-primary endpoints (both must be significant), z-test reference.

    The two test statistics are bivariate normal with means ``ncp`` (the
    standardized effects ``delta_j / (sigma_j sqrt(1/n_1 + 1/n_0))``), unit
    variances and correlation ``rho`` (the within-subject correlation of the
    endpoints when both are compared on the same subjects). Two-sided: P(|Z_1|
    > c, |Z_2| > c), c = z_{1-alpha/2}, a sum of four orthant probabilities;
    one-sided: P(Z_1 > c, Z_2 > c), c = z_{1-alpha}. Exact for known variances,
    the large-sample limit of t tests without dropout.

    Parameters
    ----------
    ncp : array_like of 2 floats
        Noncentrality (mean) of each endpoint's statistic.
    rho : float
        Correlation of the two statistics, in (-1, 1).
    alpha : float
        Per-endpoint significance level (no adjustment: intersection-union).
    two_sided : bool
        Two-sided tests (either direction counts) or one-sided upper tests.

    Examples
    --------
    >>> from scipy import stats
    >>> single = stats.norm.sf(stats.norm.isf(0.025) - 2.8) + stats.norm.cdf(-stats.norm.isf(0.025) - 2.8)
    >>> bool(abs(coprimary_power([2.8, 2.8], 0.0, 0.05) - single**2) < 1e-15)
    True
    >>> round(coprimary_power([2.8, 2.8], 0.5, 0.05), 4)  # positive correlation helps
    0.6865
    """
    d1, d2 = (float(v) for v in np.asarray(ncp, dtype=float).ravel()[:2])
    if not 0 < alpha < 1:
        raise InputError(f"alpha: {alpha} is not in (0, 1)")
    if not two_sided:
        c = -special.ndtri(alpha)
        return float(bivariate_normal_cdf(d1 - c, d2 - c, rho))
    c = -special.ndtri(alpha / 2)
    # P(s1 Z1 > c, s2 Z2 > c) for the four sign patterns; s1 Z1 has mean s1 d1.
    return float(
        sum(bivariate_normal_cdf(s1 * d1 - c, s2 * d2 - c, s1 * s2 * rho) for s1 in (1, -1) for s2 in (1, -1))
    )


# ---------------------------------------------------------------------------
# Config validation
# ---------------------------------------------------------------------------


def validate_analysis(analysis: Mapping, *, comparisons: Sequence[str] | None = None) -> dict:
    """Check the multiplicity keys of the ``analysis`` config section.

    Keys (defaults in brackets): ``multiplicity`` [none], ``comparisons``
    [vs_control], ``multiplicity_order`` [null; required by fixed_sequence:
    a list of comparison labels, or of 0-based indices when ``comparisons``
    is not given], ``endpoint_rule`` [primary].

    Parameters
    ----------
    analysis : mapping
        The ``analysis`` section.
    comparisons : sequence of str, optional
        Labels of the comparisons the design makes, in column order.

    Returns
    -------
    dict
        ``multiplicity``, ``comparisons``, ``endpoint_rule`` and ``order``
        (tuple of column indices, or None).

    Raises
    ------
    InputError
        One line naming the key, the value and what is allowed.

    Examples
    --------
    >>> validate_analysis({"multiplicity": "fixed_sequence", "multiplicity_order": ["high", "low"]},
    ...                   comparisons=["low", "high"])["order"]
    (1, 0)
    """
    method = analysis.get("multiplicity", "none")
    kind = analysis.get("comparisons", "vs_control")
    rule = analysis.get("endpoint_rule", "primary")
    raw_order = analysis.get("multiplicity_order")
    if method not in MULTIPLICITY_METHODS:
        raise InputError(
            f"config key 'analysis.multiplicity': value '{method}' is not one of {', '.join(MULTIPLICITY_METHODS)}"
        )
    if kind not in COMPARISONS:
        raise InputError(
            f"config key 'analysis.comparisons': value '{kind}' is not one of {', '.join(COMPARISONS)}"
        )
    if method == "dunnett" and kind != "vs_control":
        raise InputError(
            "config key 'analysis.multiplicity': value 'dunnett' needs analysis.comparisons: vs_control "
            f"(got '{kind}'; use holm, hochberg or bonferroni for all_pairs)"
        )
    if rule not in ENDPOINT_RULES:
        raise InputError(
            f"config key 'analysis.endpoint_rule': value '{rule}' is not one of {', '.join(ENDPOINT_RULES)}"
        )
    order = None
    if method == "fixed_sequence":
        labels = list(comparisons) if comparisons is not None else None
        allowed = labels if labels is not None else "0-based comparison indices"
        bad = InputError(
            f"config key 'analysis.multiplicity_order': value {raw_order!r} must list every comparison "
            f"exactly once ({allowed}) for fixed_sequence"
        )
        if not isinstance(raw_order, list | tuple) or not raw_order:
            raise bad
        if labels is not None:
            if sorted(map(str, raw_order)) != sorted(labels):
                raise bad
            order = tuple(labels.index(str(x)) for x in raw_order)
        else:
            if not all(isinstance(x, int) and not isinstance(x, bool) for x in raw_order):
                raise bad
            if sorted(raw_order) != list(range(len(raw_order))):
                raise bad
            order = tuple(raw_order)
    elif raw_order is not None:
        raise InputError(
            f"config key 'analysis.multiplicity_order': value {raw_order!r} is only used with "
            f"analysis.multiplicity: fixed_sequence (got '{method}')"
        )
    return {"multiplicity": method, "comparisons": kind, "endpoint_rule": rule, "order": order}
