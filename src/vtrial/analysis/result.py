"""The one result type every analysis method returns.

A result row is the analysis-result contract of docs/architecture.md: the power engine,
the pipeline and ``vtrial analyze`` all read these same fields. The power
engine's vectorised analyses return the same fields for a whole block of
replicate trials at once as :class:`Replicates` (arrays instead of floats).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd
from scipy import special

__all__ = ["AnalysisResult", "RESULT_COLUMNS", "Replicates", "nan_result", "results_to_frame", "t_quantile"]


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


# --------------------------------------------------------------------------- many replicates


class Replicates:
    """One method's results for every replicate of a block (arrays of shape ``(reps,)``).

    Attributes mirror :class:`vtrial.analysis.result.AnalysisResult`: estimate
    and se (percentage points or g/cm2), p_value, df, n_placebo,
    n_anastrozole. A replicate whose fit failed has NaN estimate. For t-based
    methods the CI is ``estimate -/+ t_{df, 1 - alpha/2} se``, computed on
    demand (:attr:`ci_low`, :attr:`ci_high`); coverage is then decided by the
    equivalent test of the true value (:meth:`covers`), which avoids a t
    quantile per replicate when only the power table is needed.

    ``p_value`` may be given as None for a t-based method (``estimate / se``
    on ``df`` degrees of freedom): it is then computed on first use, and
    :meth:`significant` decides significance by comparing ``|t|`` with the
    critical value of each distinct df instead (power needs only that).

    Examples
    --------
    >>> r = Replicates(np.array([2.0, 0.5, np.nan]), np.ones(3), None, np.full(3, 10.0),
    ...                np.full(3, 6), np.full(3, 6), 0.05)
    >>> r.significant(0.05).tolist(), bool(r.p_value[0] < 0.05 < r.p_value[1])
    ([False, False, False], False)
    >>> r.significant(0.1).tolist(), [round(float(p), 4) for p in r.p_value[:2]]
    ([True, False, False], [0.0734, 0.6279])
    """

    def __init__(self, estimate, se, p_value, df, n_placebo, n_anastrozole, alpha, lo=None, hi=None):
        self.estimate = estimate
        self.se = se
        self._p = p_value
        self.df = df
        self.n_placebo = n_placebo
        self.n_anastrozole = n_anastrozole
        self.alpha = alpha
        self.lo = lo
        self.hi = hi
        self._crit = None  # t_{df, 1 - alpha/2} per replicate, once computed for integer df

    @property
    def p_value(self) -> np.ndarray:
        """Two-sided p-value per replicate (NaN where the fit failed)."""
        if self._p is None:
            with np.errstate(invalid="ignore", divide="ignore"):
                self._p = 2.0 * special.stdtr(self.df, -np.abs(self.estimate / self.se))
        return self._p

    def significant(self, alpha: float) -> np.ndarray:
        """Boolean per replicate: ``p_value < alpha`` (False where the fit failed).

        Without stored p-values and with integer df (Student, ANCOVA), as
        ``|t| > t_{df, 1 - alpha/2}`` with one quantile per distinct df: the
        same decision up to the last bit of the two functions (a replicate
        would have to lie within about 1e-15 of the critical value), at a
        fraction of the cost of a p-value per replicate.
        """
        if self._p is None:
            crit = self.critical() if alpha == self.alpha else None
            if crit is None and _integer_df(self.df):
                crit = t_quantile(self.df, 1.0 - alpha / 2.0)
            if crit is not None:
                with np.errstate(invalid="ignore", divide="ignore"):
                    return np.abs(self.estimate / self.se) > crit
        with np.errstate(invalid="ignore"):
            return self.p_value < alpha

    def critical(self) -> np.ndarray | None:
        """``t_{df, 1 - alpha/2}`` per replicate when every finite df is an integer, else None (kept)."""
        if self._crit is None and _integer_df(self.df):
            with np.errstate(invalid="ignore"):
                self._crit = t_quantile(self.df, 1.0 - self.alpha / 2.0)
        return self._crit

    def slice(self, start: int, reps: int) -> Replicates:
        """Replicates ``start`` to ``start + reps`` (views; p-values and limits if computed)."""
        sl = slice(start, start + reps)
        lo, hi = (None, None) if self.lo is None else (self.lo[sl], self.hi[sl])
        p = None if self._p is None else self._p[sl]
        out = Replicates(self.estimate[sl], self.se[sl], p, self.df[sl], self.n_placebo[sl],
                         self.n_anastrozole[sl], self.alpha, lo, hi)  # fmt: skip
        out._crit = None if self._crit is None else self._crit[sl]
        return out

    def _ci(self) -> None:
        if self.lo is None:
            crit = self.critical()
            if crit is None:
                with np.errstate(invalid="ignore"):
                    crit = t_quantile(self.df, 1.0 - self.alpha / 2.0)
            self.lo = self.estimate - crit * self.se
            self.hi = self.estimate + crit * self.se

    @property
    def ci_low(self) -> np.ndarray:
        """Lower confidence limit per replicate."""
        self._ci()
        return self.lo

    @property
    def ci_high(self) -> np.ndarray:
        """Upper confidence limit per replicate."""
        self._ci()
        return self.hi

    def covers(self, value: float) -> np.ndarray:
        """Boolean per replicate: the CI contains ``value`` (False where the fit failed)."""
        if self.lo is not None:
            return (self.lo <= value) & (value <= self.hi)
        if _integer_df(self.df):
            # few distinct integer df: one t quantile each
            self._ci()
            return (self.lo <= value) & (value <= self.hi)
        with np.errstate(invalid="ignore"):
            t = np.abs(self.estimate - value) / self.se
            return 2.0 * special.stdtr(self.df, -t) >= self.alpha


def _integer_df(df: np.ndarray) -> bool:
    """Whether every finite df is an integer (and at least one is finite)."""
    lo, hi = np.nanmin(df, initial=np.inf), np.nanmax(df, initial=-np.inf)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        finite = df[np.isfinite(df)]
        return bool(finite.size) and bool(np.all(finite == np.round(finite)))
    if lo == hi:
        return lo == round(lo)
    return bool(np.all((df == np.round(df)) | np.isnan(df)))


def t_quantile(df: np.ndarray, q: float) -> np.ndarray:
    """``stdtrit(df, q)``, computed once per integer in the range of df when df are few integers.

    Examples
    --------
    >>> df = np.r_[np.full(100, 40.0), 42.0, np.nan]
    >>> bool(np.array_equal(t_quantile(df, 0.975), special.stdtrit(df, 0.975), equal_nan=True))
    True
    """
    if df.size > 64:
        lo, hi = np.nanmin(df, initial=np.inf), np.nanmax(df, initial=-np.inf)
        if np.isfinite(lo) and np.isfinite(hi) and (hi - lo + 1) * 8 < df.size and _integer_df(df):
            table = special.stdtrit(np.arange(lo, hi + 1.0), q)
            nan = np.isnan(df)
            if not nan.any():
                return table[(df - lo).astype(np.intp)]
            out = table[np.where(nan, 0.0, df - lo).astype(np.intp)]
            out[nan] = np.nan
            return out
    return special.stdtrit(df, q)
