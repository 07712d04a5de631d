"""Two-sample t-tests on the 12-month change in PA spine BMD.

Both tests are written out from their textbook formulas (not by calling
scipy) so that the scipy comparison in the tests is an independent check.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vtrial.analysis.missing import STRATEGIES, FitError, check_arguments, estimate_with_strategy
from vtrial.analysis.result import AnalysisResult

__all__ = ["ALLOWED_MISSING", "student_t", "welch_t"]

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
        Long-format trial (DESIGN.md contract).
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
        Long-format trial (DESIGN.md contract).
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
