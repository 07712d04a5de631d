"""Two-sample t-tests on the 12-month change in PA spine BMD.

Both tests are written out from their textbook formulas (not by calling
scipy) so that the scipy comparison in the tests is an independent check.

:func:`t_methods` computes Student, Welch and the baseline-adjusted ANCOVA
for a whole block of replicate trials at once from per-arm sufficient
statistics (the power engine's vectorised form of :func:`student_t`,
:func:`welch_t` and :func:`vtrial.analysis.ancova.ancova`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vtrial.analysis.missing import STRATEGIES, FitError, check_arguments, estimate_with_strategy
from vtrial.analysis.result import AnalysisResult, Replicates

__all__ = ["ALLOWED_MISSING", "student_t", "t_methods", "welch_t"]

ALLOWED_MISSING: tuple[str, ...] = STRATEGIES


def _split(y: np.ndarray, wide: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    treat = wide["treat"].to_numpy() == 1.0
    return y[treat], y[~treat]


def _student_fit(y: np.ndarray, wide: pd.DataFrame) -> tuple[float, float, float]:
    a, p = _split(y, wide)
    n_a, n_p = len(a), len(p)
    df = n_a + n_p - 2.0
    pooled = (((a - a.mean()) ** 2).sum() + ((p - p.mean()) ** 2).sum()) / df
    se = np.sqrt(pooled * (1.0 / n_a + 1.0 / n_p))
    if not se > 0:
        raise FitError("zero variance of the 12-month change within both arms")
    return float(a.mean() - p.mean()), float(se), df


def _welch_fit(y: np.ndarray, wide: pd.DataFrame) -> tuple[float, float, float]:
    a, p = _split(y, wide)
    va = a.var(ddof=1) / len(a)
    vp = p.var(ddof=1) / len(p)
    se2 = va + vp
    if not se2 > 0:
        raise FitError("zero variance of the 12-month change within both arms")
    # Welch-Satterthwaite degrees of freedom.
    df = se2**2 / (va**2 / (len(a) - 1) + vp**2 / (len(p) - 1))
    return float(a.mean() - p.mean()), float(np.sqrt(se2)), float(df)


def student_t(
    data: pd.DataFrame,
    *,
    missing: str = "complete_case",
    alpha: float = 0.05,
    scale: str = "pct",
    rng: int | np.random.Generator | None = None,
    n_imputations: int = 20,
    delta: float = 0.0,
    delta_arm: str = "anastrozole",
) -> AnalysisResult:
    """Student's two-sample t-test (pooled variance) on the 12-month change.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial (the trial-data contract in docs/architecture.md).
    missing : str
        Any strategy: ``complete_case``, ``bocf``, ``locf``,
        ``multiple_imputation`` or ``delta_mnar``.
    alpha : float
        Two-sided significance level of the CI and test.
    scale : str
        ``"pct"``: % change, estimate in percentage points; ``"absolute"``:
        change in g/cm2.
    rng : int, Generator or None
        Used only by the multiple-imputation strategies.
    n_imputations : int
        Number of imputations M (MI strategies only).
    delta : float
        MNAR shift in percentage points (``delta_mnar`` only).
    delta_arm : str
        Arm whose imputed values are shifted (``delta_mnar`` only).

    Returns
    -------
    AnalysisResult
        Anastrozole minus placebo mean change, SE, CI, p-value, df = n - 2.

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> round(student_t(example_trial()).df)
    30
    """
    check_arguments("student_t", missing, alpha, scale, ALLOWED_MISSING)
    return estimate_with_strategy(
        data,
        method="student_t",
        missing=missing,
        alpha=alpha,
        scale=scale,
        rng=rng,
        fit=_student_fit,
        n_imputations=n_imputations,
        delta=delta,
        delta_arm=delta_arm,
    )


def welch_t(
    data: pd.DataFrame,
    *,
    missing: str = "complete_case",
    alpha: float = 0.05,
    scale: str = "pct",
    rng: int | np.random.Generator | None = None,
    n_imputations: int = 20,
    delta: float = 0.0,
    delta_arm: str = "anastrozole",
) -> AnalysisResult:
    """Welch's unequal-variance t-test on the 12-month change.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial (the trial-data contract in docs/architecture.md).
    missing : str
        Any strategy: ``complete_case``, ``bocf``, ``locf``,
        ``multiple_imputation`` or ``delta_mnar``.
    alpha : float
        Two-sided significance level.
    scale : str
        ``"pct"`` (percentage points) or ``"absolute"`` (g/cm2).
    rng : int, Generator or None
        Used only by the multiple-imputation strategies.
    n_imputations, delta, delta_arm
        Multiple-imputation options, as in :func:`student_t`.

    Returns
    -------
    AnalysisResult
        df is the Welch-Satterthwaite value (for MI, Rubin's complete-data df
        is the mean of the per-imputation Welch df).

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> welch_t(example_trial()).method
    'welch_t'
    """
    check_arguments("welch_t", missing, alpha, scale, ALLOWED_MISSING)
    return estimate_with_strategy(
        data,
        method="welch_t",
        missing=missing,
        alpha=alpha,
        scale=scale,
        rng=rng,
        fit=_welch_fit,
        n_imputations=n_imputations,
        delta=delta,
        delta_arm=delta_arm,
    )


# --------------------------------------------------------------------------- many replicates


def t_results(est, se, df, n, size, alpha, ok) -> Replicates:
    """Replicates of a t-based method; where ``ok`` is False the fit failed.

    ``n`` and ``size`` are ``(2, reps)`` men analysed and randomized per arm: a
    failed fit reports the men available (NaN estimate, SE and df), as the
    reference implementations do.
    """
    if not np.all(ok):
        n = np.where(ok, n, size)
        est = np.where(ok, est, np.nan)
        se = np.where(ok, se, np.nan)
        df = np.where(ok, df, np.nan)
    # p-values on first use: a power count needs only Replicates.significant
    return Replicates(est, se, None, df, n[0], n[1], alpha)


def t_methods(stats, method: str, alpha: float) -> Replicates:
    """Student, Welch or ANCOVA results for every replicate from per-arm sums.

    Parameters
    ----------
    stats : vtrial.samplers.ArmStats or vtrial.samplers.PooledStats
        Sufficient statistics: ``n`` and ``size`` per arm, the mean
        differences ``dy`` and ``db``, the pooled within-arm sums ``syy_w``,
        ``sbb_w``, ``sby_w`` and (Welch) the per-arm ``syy``.
    method : {"student_t", "welch_t", "ancova"}
    alpha : float
        Two-sided significance level.

    Returns
    -------
    Replicates
        Same formulas as :mod:`vtrial.analysis.ttests` and the OLS ANCOVA
        ``y ~ 1 + arm + bmd0``: the adjusted effect is
        ``(ybar1 - ybar0) - beta (bbar1 - bbar0)`` with ``beta = Sby / Sbb``
        pooled within arms, residual variance ``(Syy - Sby^2 / Sbb) / (N - 3)``
        and variance factor ``1/n0 + 1/n1 + (bbar1 - bbar0)^2 / Sbb``.
    """
    n0, n1 = stats.n
    diff = stats.dy
    ok = (n0 >= 2) & (n1 >= 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "student_t":
            df = n0 + n1 - 2.0
            pooled = stats.syy_w / df
            se = np.sqrt(pooled * (1.0 / n1 + 1.0 / n0))
            return t_results(diff, se, df, stats.n, stats.size, alpha, ok & (se > 0))
        if method == "welch_t":
            va = stats.syy[1] / (n1 - 1.0) / n1
            vp = stats.syy[0] / (n0 - 1.0) / n0
            se2 = va + vp
            df = se2**2 / (va**2 / (n1 - 1.0) + vp**2 / (n0 - 1.0))
            return t_results(diff, np.sqrt(se2), df, stats.n, stats.size, alpha, ok & (se2 > 0))
        if method == "ancova":
            sbb = stats.sbb_w
            sby = stats.sby_w
            syy = stats.syy_w
            beta = sby / sbb
            db = stats.db
            est = diff - beta * db
            df = n0 + n1 - 3.0
            sigma2 = (syy - sby * beta) / df
            se = np.sqrt(sigma2 * (1.0 / n0 + 1.0 / n1 + db * db / sbb))
            ok = (n0 >= 2) & (n1 >= 2) & (df >= 1) & (sbb > 0) & (se > 0)
            return t_results(est, se, df, stats.n, stats.size, alpha, ok)
    raise ValueError(f"not a t method: {method}")
