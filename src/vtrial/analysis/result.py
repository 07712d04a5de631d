"""The one result type every analysis method returns.

A result row is the contract of DESIGN.md ("Analysis result"): the power engine,
the pipeline and ``vtrial analyze`` all read these same fields.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import pandas as pd

__all__ = ["AnalysisResult", "RESULT_COLUMNS", "nan_result", "results_to_frame"]


@dataclass(frozen=True)
class AnalysisResult:
    """Treatment effect of one analysis of one trial.

    Attributes
    ----------
    method : str
        Registry name of the analysis method, e.g. ``"ancova"``.
    missing : str
        Missing-data strategy, e.g. ``"complete_case"``.
    estimate : float
        Anastrozole minus placebo in mean 12-month change of PA spine BMD:
        percentage points for ``scale="pct"``, g/cm2 for ``scale="absolute"``.
        For ``mann_whitney`` it is the Hodges-Lehmann shift.
    se : float
        Standard error of ``estimate`` (same unit); NaN where the method has none.
    ci_low, ci_high : float
        Two-sided ``1 - alpha`` confidence interval (same unit).
    p_value : float
        Two-sided p-value for no difference.
    df : float
        Degrees of freedom of the reference t distribution; NaN where the
        method does not use one (rank, permutation and bootstrap methods).
    n_placebo, n_anastrozole : int
        Men analysed in each arm (for multiple imputation: men whose 12-month
        value was observed or imputed).
    note : str
        Empty when the fit succeeded; otherwise why the numbers are NaN.

    Examples
    --------
    >>> r = AnalysisResult("welch_t", "complete_case", -2.4, 0.7, -3.8, -1.0,
    ...                    0.001, 60.2, 36, 33)
    >>> r.estimate
    -2.4
    """

    method: str
    missing: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float
    n_placebo: int
    n_anastrozole: int
    note: str = ""

    @property
    def ok(self) -> bool:
        """True when the estimate is a finite number."""
        return math.isfinite(self.estimate)


RESULT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(AnalysisResult))


def nan_result(
    method: str, missing: str, note: str, n_placebo: int = 0, n_anastrozole: int = 0
) -> AnalysisResult:
    """Result of a method that could not be fitted, with the reason in ``note``.

    Parameters
    ----------
    method, missing : str
        Method and missing-data strategy names.
    note : str
        Why no estimate could be computed.
    n_placebo, n_anastrozole : int
        Men available in each arm.

    Returns
    -------
    AnalysisResult
        All numeric fields NaN.

    Examples
    --------
    >>> nan_result("mmrm", "complete_case", "no month-6 BMD").note
    'no month-6 BMD'
    """
    nan = float("nan")
    return AnalysisResult(
        method, missing, nan, nan, nan, nan, nan, nan, int(n_placebo), int(n_anastrozole), note
    )


def results_to_frame(results: list[AnalysisResult]) -> pd.DataFrame:
    """Stack results into the contract's table, one row per result.

    Parameters
    ----------
    results : list of AnalysisResult

    Returns
    -------
    pandas.DataFrame
        Columns ``method, missing, estimate, se, ci_low, ci_high, p_value, df,
        n_placebo, n_anastrozole, note`` in that order.

    Examples
    --------
    >>> r = nan_result("ancova", "complete_case", "too few men")
    >>> list(results_to_frame([r]).columns)[:3]
    ['method', 'missing', 'estimate']
    """
    frame = pd.DataFrame([asdict(r) for r in results], columns=list(RESULT_COLUMNS))
    return frame.astype(
        {
            "estimate": float,
            "se": float,
            "ci_low": float,
            "ci_high": float,
            "p_value": float,
            "df": float,
            "n_placebo": int,
            "n_anastrozole": int,
        }
    )
