"""Multiplicity and endpoint decisions of multi-arm, two-endpoint designs, for blocks of replicates.

Turns the per-comparison :class:`vtrial.analysis.result.Replicates` of one
block (one list per endpoint, from :mod:`vtrial.design_stats`) into decisions
``(reps, k)`` after adjustment across comparisons (``analysis.multiplicity``)
and endpoints (``analysis.endpoint_rule``), with the p-value adjustments and
the exact Dunnett distribution of :mod:`vtrial.multiplicity`. The rules are
in ``docs/design_power.md``; :mod:`vtrial.design_power` reduces the decisions
to the power table.
"""

from __future__ import annotations

import numpy as np

from vtrial import multiplicity
from vtrial.analysis.result import Replicates

__all__ = ["DunnettCritical", "adjusted_p", "decide", "dunnett_allocation", "significant"]


def dunnett_allocation(design) -> list[float]:
    """Planned sizes (or allocation weights), control first, then each comparison's treated arm."""
    sizes = getattr(design, "sizes", ()) or tuple(a.allocation for a in design.arms)
    return [float(sizes[design.control])] + [float(sizes[t]) for t, _ in design.comparisons]


class DunnettCritical:
    """Two-sided single-step Dunnett decisions ``|t_i| > c(df)`` for one allocation and level.

    ``c(df)`` is the exact multivariate-t critical value
    (:meth:`vtrial.multiplicity.DunnettDistribution.critical_values`),
    computed for every distinct df a block needs that is not yet known, all
    in one vectorised root search, and kept in the object (one per run; no
    global state). The known-variance tail is tabulated once, on first use
    (about 40 ms); each further df then costs about 0.15 ms, so a power
    curve needs no interpolation between df. The critical values and
    :func:`adjusted_p` use the same tail and quadrature, so the decisions
    are those of the adjusted p-values (``<= alpha``).

    Parameters
    ----------
    allocation : sequence of float
        ``(n0, n1, ..., nk)``, control first.
    alpha : float
        Family-wise level.

    Examples
    --------
    >>> crit = DunnettCritical([1, 1, 1], 0.05)
    >>> round(crit.value(20.0), 4)  # R mvtnorm::qmvt gives the same (tests/test_multiplicity.py)
    2.3787
    >>> crit.significant(np.array([[2.4, 0.1], [2.3, np.nan]]), np.array([20.0, 20.0])).tolist()
    [[True, False], [False, False]]
    """

    def __init__(self, allocation, alpha: float):
        self.allocation, self.alpha = list(allocation), float(alpha)
        self.values: dict[float, float] = {}
        self._law = None

    def critical(self, df) -> np.ndarray:
        """``c(df)`` for an array of df (> 0), same shape."""
        df = np.asarray(df, dtype=float)
        vals, inv = np.unique(df, return_inverse=True)
        missing = [v for v in vals.tolist() if v not in self.values]
        if missing:
            if self._law is None:
                self._law = multiplicity.DunnettDistribution(self.allocation)
            found = self._law.critical_values(self.alpha, np.array(missing))
            self.values.update(zip(missing, found.tolist(), strict=True))
        return np.array([self.values[v] for v in vals.tolist()])[inv.reshape(df.shape)]

    def value(self, df: float) -> float:
        """``c(df)`` for one df."""
        return float(self.critical(np.array([df]))[0])

    def significant(self, t: np.ndarray, df: np.ndarray) -> np.ndarray:
        """Boolean ``(reps, k)``: ``|t| > c(df)``; False where t or df is NaN. df: ``(reps,)``."""
        ok = np.isfinite(df) & (df >= 1)
        out = np.zeros(t.shape, dtype=bool)
        if ok.any():
            with np.errstate(invalid="ignore"):
                out[ok] = np.abs(t[ok]) > self.critical(df[ok])[:, None]
        return out


def _dunnett_df(results: list[Replicates]) -> tuple[np.ndarray, np.ndarray]:
    """t statistics ``(reps, k)`` and the Dunnett df per replicate (smallest comparison df, rounded down)."""
    t = np.column_stack([r.estimate / r.se for r in results])
    df = np.column_stack([r.df for r in results])
    low = np.where(np.isfinite(t) & np.isfinite(df), df, np.inf).min(axis=1)
    return t, np.where(np.isfinite(low) & (low >= 1), np.floor(low), np.nan)


def adjusted_p(results: list[Replicates], method: str, design, order=None) -> np.ndarray:
    """Adjusted p-values ``(reps, k)`` of the comparisons of one endpoint.

    A comparison whose analysis failed has p = 1 (a hypothesis not rejected).
    ``dunnett`` uses the t statistics, the planned allocation
    (:func:`vtrial.multiplicity.dunnett_lambdas`) and per replicate the
    smallest df of its comparisons rounded down to an integer (student_t and
    ancova pool the variance over the arms, so their df are equal integers;
    MMRM's Satterthwaite df differ slightly between contrasts and are not
    integers: the smallest, rounded down, is the conservative choice and keeps
    the multivariate-t tail to one quadrature per distinct integer).

    Examples
    --------
    >>> r = Replicates(np.array([1.0, 3.0]), np.ones(2), np.array([0.04, 0.001]), np.full(2, 20.0),
    ...                np.full(2, 10), np.full(2, 10), 0.05)
    >>> adjusted_p([r, r], "bonferroni", None).tolist()
    [[0.08, 0.08], [0.002, 0.002]]
    """
    p = np.column_stack([r.p_value for r in results])
    if method == "dunnett":
        t, dmin = _dunnett_df(results)
        adj = multiplicity.dunnett_adjusted_p(
            np.where(np.isfinite(dmin)[:, None], t, np.nan),
            dunnett_allocation(design),
            df=np.where(np.isfinite(dmin), dmin, 1.0),
        )
        return np.where(np.isnan(adj), 1.0, adj)
    filled = np.where(np.isnan(p), 1.0, p)
    if method == "fixed_sequence":
        return multiplicity.adjust(filled, method, order=order if order is not None else range(p.shape[1]))
    return multiplicity.adjust(filled, method)


def _order(design, k: int) -> list[int]:
    order = getattr(design, "multiplicity_order", None)
    return list(order) if order is not None else list(range(k))


def significant(results: list[Replicates], method: str, design, alpha: float, order=None, critical=None):
    """Decisions ``(reps, k)`` of the comparisons of one endpoint at family-wise level ``alpha``.

    Adjusted p-value below ``alpha`` (:func:`adjusted_p`); for ``dunnett``
    the same decisions through ``critical`` (a :class:`DunnettCritical` for
    the design's allocation and ``alpha``; made here if not given).
    """
    if method != "dunnett":
        return adjusted_p(results, method, design, order) < alpha
    if critical is None:
        critical = DunnettCritical(dunnett_allocation(design), alpha)
    return critical.significant(*_dunnett_df(results))


def dunnett_critical(cache: dict, design, level: float) -> DunnettCritical:
    """The :class:`DunnettCritical` of ``design``'s planned allocation at ``level``, kept in ``cache``.

    The correlations depend on the allocation ratios only, so a power curve over n,
    a sample-size search and the formula column of a run share one entry.
    """
    alloc = np.array(dunnett_allocation(design), dtype=float)
    key = (tuple(np.round(alloc / alloc[0], 12)), level)
    if key not in cache:
        cache[key] = DunnettCritical(key[0], level)
    return cache[key]


def decide(results: dict[str, list[Replicates]], design, method: str, alpha: float, dunnett=None) -> dict:
    """Decisions per endpoint and comparison, combined over endpoints, and the deciding family.

    Parameters
    ----------
    results : dict
        Endpoint -> one :class:`Replicates` per comparison.
    design : vtrial.design.Design
    method : str
        Multiplicity method.
    alpha : float
    dunnett : dict, optional
        Cache of :class:`DunnettCritical` by level (kept by the caller across blocks).

    Returns
    -------
    dict
        ``significant``: endpoint -> ``(reps, k)`` bool after adjustment;
        ``combined``: ``(label, (reps, k) bool)`` for the combined endpoint
        decision (``all``, ``any``) or None with one endpoint or rule
        ``primary``; ``family``: ``(endpoint label, (reps, k) bool)``, the
        decisions the family-wise rows summarise.
    """
    endpoints = list(results)
    k = len(design.comparisons)
    order = _order(design, k)
    rule = design.endpoint_rule if len(endpoints) > 1 else "primary"
    dunnett = {} if dunnett is None else dunnett

    def critical(level):
        return dunnett_critical(dunnett, design, level)

    if rule == "any" and method == "dunnett":
        # Dunnett within each endpoint at alpha / m: Bonferroni across the m endpoints.
        level = alpha / len(endpoints)
        sig = {
            ep: significant(results[ep], method, design, level, critical=critical(level)) for ep in endpoints
        }
    elif rule == "any":
        joint_order = [i * k + o for i in range(len(endpoints)) for o in order]
        joint = significant([r for ep in endpoints for r in results[ep]], method, design, alpha, joint_order)
        sig = {ep: joint[:, i * k : (i + 1) * k] for i, ep in enumerate(endpoints)}
    else:
        crit = critical(alpha) if method == "dunnett" else None
        sig = {ep: significant(results[ep], method, design, alpha, order, crit) for ep in endpoints}
    if rule == "primary":
        return {"significant": sig, "combined": None, "family": (endpoints[0], sig[endpoints[0]])}
    stack = np.stack([sig[ep] for ep in endpoints])
    combined = stack.all(axis=0) if rule == "all" else stack.any(axis=0)
    return {"significant": sig, "combined": (rule, combined), "family": (rule, combined)}
