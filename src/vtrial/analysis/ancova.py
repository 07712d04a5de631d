"""ANCOVA of the 12-month change adjusted for baseline BMD (statsmodels OLS)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vtrial.analysis.missing import (
    STRATEGIES,
    FitError,
    check_arguments,
    estimate_with_strategy,
    parse_covariates,
)
from vtrial.analysis.result import AnalysisResult
from vtrial.errors import InputError

__all__ = ["ALLOWED_MISSING", "ancova", "ancova_design"]

ALLOWED_MISSING: tuple[str, ...] = STRATEGIES


def ancova_design(wide: pd.DataFrame, covariates: Sequence[str] = ()) -> np.ndarray:
    """Design matrix ``[1, treat, bmd0, covariates...]`` of the ANCOVA.

    Parameters
    ----------
    wide : pandas.DataFrame
        Per-man table (``treat`` is 1 for anastrozole; ``bmd0`` in g/cm2).
    covariates : sequence of str
        Extra baseline columns.

    Returns
    -------
    numpy.ndarray, shape (n_men, 3 + len(covariates))

    Examples
    --------
    >>> import pandas as pd
    >>> w = pd.DataFrame({"treat": [0.0, 1.0], "bmd0": [1.1, 1.2]})
    >>> ancova_design(w).tolist()
    [[1.0, 0.0, 1.1], [1.0, 1.0, 1.2]]
    """
    columns = [np.ones(len(wide)), wide["treat"].to_numpy(float), wide["bmd0"].to_numpy(float)]
    columns += [wide[c].to_numpy(float) for c in covariates]
    return np.column_stack(columns)


def _make_fit(covariates: tuple[str, ...], robust: str | None):
    def fit(y: np.ndarray, wide: pd.DataFrame) -> tuple[float, float, float]:
        x = ancova_design(wide, covariates)
        if len(y) <= x.shape[1]:
            raise FitError(f"{len(y)} men for {x.shape[1]} ANCOVA coefficients")
        if np.linalg.matrix_rank(x) < x.shape[1]:
            raise FitError("ANCOVA design is singular (a covariate is constant or collinear)")
        import statsmodels.api as sm  # lazily: 2 s to import, not needed by the power engine

        model = sm.OLS(y, x)
        res = model.fit(cov_type=robust, use_t=True) if robust else model.fit()
        se = float(res.bse[1])
        if not np.isfinite(se) or se <= 0:
            raise FitError("ANCOVA residual variance is zero")
        return float(res.params[1]), se, float(res.df_resid)

    return fit


def ancova(
    data: pd.DataFrame,
    *,
    missing: str = "complete_case",
    alpha: float = 0.05,
    scale: str = "pct",
    rng: int | np.random.Generator | None = None,
    covariates: str | Sequence[str] | None = (),
    robust: str | None = None,
    n_imputations: int = 20,
    delta: float = 0.0,
    delta_arm: str = "anastrozole",
) -> AnalysisResult:
    """ANCOVA: 12-month change ~ arm + baseline BMD (+ baseline covariates).

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
        ``"pct"`` (% change; estimate in percentage points) or ``"absolute"``
        (g/cm2).
    rng : int, Generator or None
        Used only by the multiple-imputation strategies.
    covariates : str or sequence of str
        Extra baseline (month-0) covariates from the data, e.g.
        ``("age_years", "testosterone_ng_dl")`` or ``"age_years,bmi_kg_m2"``.
        Men missing one are left out. Baseline BMD (g/cm2) is always included.
    robust : {None, "HC3"}
        ``"HC3"`` for the HC3 heteroskedasticity-consistent SE; inference then
        uses the t distribution with the residual df (as R's
        ``lmtest::coeftest(fit, vcov = sandwich::vcovHC(fit, "HC3"))``).
    n_imputations, delta, delta_arm
        Multiple-imputation options (see :mod:`vtrial.analysis.missing`); the
        covariates also enter the imputation model.

    Returns
    -------
    AnalysisResult
        The arm coefficient (anastrozole minus placebo, adjusted), its SE,
        t CI and p-value with df = n - 3 - len(covariates).

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> r = ancova(example_trial(), covariates=["age_years"])
    >>> r.df
    28.0
    """
    check_arguments("ancova", missing, alpha, scale, ALLOWED_MISSING)
    covs = parse_covariates(covariates)
    if robust is not None and str(robust).upper() != "HC3":
        raise InputError(f"ancova option robust={robust!r} is not allowed (allowed: None, 'HC3')")
    robust_type = None if robust is None else "HC3"
    return estimate_with_strategy(
        data,
        method="ancova",
        missing=missing,
        alpha=alpha,
        scale=scale,
        rng=rng,
        fit=_make_fit(covs, robust_type),
        covariates=covs,
        n_imputations=n_imputations,
        delta=delta,
        delta_arm=delta_arm,
    )
