"""Change from baseline, missing-data strategies and multiple imputation.

Strategies (the ``missing`` argument of every method):

``complete_case``
    Men with BMD at months 0 and 12. For ``mmrm`` this means "no imputation":
    the model uses every observed post-baseline visit (months 6 and 12) of men
    with a baseline BMD, which is valid under MAR.
``bocf``
    Baseline observation carried forward: a man with a baseline BMD but none
    at month 12 counts as no change (0).
``locf``
    Last observation carried forward: the month-6 change if measured, else no
    change (0).
``multiple_imputation``
    Normal linear regression imputation by arm (Rubin 1987, sec. 5.3, with
    proper Bayesian draws of the regression parameters), sequential over the
    monotone visit pattern: the month-6 change is imputed from baseline BMD
    (and the analysis covariates), then the month-12 change from baseline BMD,
    the month-6 change and the covariates. The analysis is repeated on each of
    M completed data sets and pooled by Rubin's rules with the Barnard-Rubin
    (1999) degrees of freedom, exactly as R ``mice::pool`` does (including its
    floor of 1e-4 on the fraction of missing information lambda).
``delta_mnar``
    As ``multiple_imputation``, then ``delta`` percentage points are added to
    every imputed 12-month % change in one arm (``delta_arm``): the building
    block of a tipping-point analysis. With ``scale="absolute"`` the shift for
    a man is ``delta / 100 * bmd0`` g/cm2, the same shift expressed in g/cm2.

Men without a baseline BMD are never analysed (their change is undefined).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vtrial.analysis.data import ARMS, layout_of, to_wide
from vtrial.analysis.result import AnalysisResult, nan_result
from vtrial.errors import InputError

__all__ = [
    "SCALES",
    "STRATEGIES",
    "FitError",
    "Pooled",
    "change",
    "check_arguments",
    "estimate_with_strategy",
    "impute_changes",
    "parse_covariates",
    "rubin_pool",
    "single_outcome",
    "t_inference",
]

STRATEGIES: tuple[str, ...] = (
    "complete_case",
    "bocf",
    "locf",
    "multiple_imputation",
    "delta_mnar",
)
SCALES: tuple[str, ...] = ("pct", "absolute")
MI_STRATEGIES = ("multiple_imputation", "delta_mnar")


class FitError(Exception):
    """A method cannot be fitted on otherwise valid data; the message is the note."""


def check_arguments(method: str, missing: str, alpha: float, scale: str, allowed: Sequence[str]) -> None:
    """Raise InputError for an unknown or disallowed strategy, alpha or scale.

    Parameters
    ----------
    method : str
        Method name, for the message.
    missing : str
        Requested missing-data strategy.
    alpha : float
        Two-sided significance level, strictly between 0 and 1.
    scale : str
        ``"pct"`` (percentage points) or ``"absolute"`` (g/cm2).
    allowed : sequence of str
        Strategies this method supports.

    Examples
    --------
    >>> check_arguments("welch_t", "locf", 0.05, "pct", STRATEGIES)
    """
    if missing not in STRATEGIES:
        raise InputError(f"missing strategy {missing!r} is unknown (allowed: {', '.join(STRATEGIES)})")
    if missing not in allowed:
        raise InputError(
            f"method {method!r} cannot be combined with missing strategy {missing!r} "
            f"(allowed for {method}: {', '.join(allowed)})"
        )
    if not isinstance(alpha, (int, float)) or not 0 < float(alpha) < 1:
        raise InputError(f"alpha {alpha!r} is not allowed (allowed: a number between 0 and 1)")
    if scale not in SCALES:
        raise InputError(f"scale {scale!r} is not allowed (allowed: {', '.join(SCALES)})")


def parse_covariates(covariates: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalise a covariate option: a comma-separated string or a sequence.

    Examples
    --------
    >>> parse_covariates("age_years, testosterone_ng_dl")
    ('age_years', 'testosterone_ng_dl')
    """
    if covariates is None:
        return ()
    if isinstance(covariates, str):
        return tuple(c.strip() for c in covariates.split(",") if c.strip())
    return tuple(str(c) for c in covariates)


def change(wide: pd.DataFrame, month: int, scale: str) -> np.ndarray:
    """Change in BMD from baseline to ``month`` per man.

    Parameters
    ----------
    wide : pandas.DataFrame
        Per-man table from :func:`vtrial.analysis.data.to_wide`.
    month : int
        6 or 12.
    scale : str
        ``"pct"``: ``100 * (bmd_month - bmd0) / bmd0`` (percent);
        ``"absolute"``: ``bmd_month - bmd0`` (g/cm2).

    Returns
    -------
    numpy.ndarray
        NaN where either BMD is missing.

    Examples
    --------
    >>> import pandas as pd
    >>> w = pd.DataFrame({"bmd0": [1.0], "bmd12": [1.02]})
    >>> round(float(change(w, 12, "pct")[0]), 6)
    2.0
    """
    b0 = wide["bmd0"].to_numpy(dtype=float)
    bt = wide[f"bmd{month}"].to_numpy(dtype=float)
    if scale == "pct":
        # Same operation order as the R reference scripts so ties stay bitwise ties.
        return 100.0 * (bt - b0) / b0
    return bt - b0


def single_outcome(wide: pd.DataFrame, missing: str, scale: str) -> np.ndarray:
    """Change at the endpoint (month 12 by default) per man under a single-value strategy.

    The endpoint and the scans come from the layout of ``wide``
    (:func:`vtrial.analysis.data.layout_of`). ``locf`` carries forward the
    last observed scan before the endpoint, whatever gaps precede it.

    Parameters
    ----------
    wide : pandas.DataFrame
        Per-man table.
    missing : str
        ``complete_case``, ``bocf`` or ``locf``.
    scale : str
        ``"pct"`` or ``"absolute"``.

    Returns
    -------
    numpy.ndarray
        Change per man (percent or g/cm2); NaN for men not analysed.

    Examples
    --------
    >>> import pandas as pd
    >>> w = pd.DataFrame({"bmd0": [1.0, 1.0], "bmd6": [1.01, 1.01],
    ...                   "bmd12": [1.02, float("nan")]})
    >>> single_outcome(w, "locf", "pct").round(6).tolist()
    [2.0, 1.0]
    """
    layout = layout_of(wide)
    end = layout.endpoint
    y12 = change(wide, end, scale)
    if missing == "complete_case":
        return y12
    has_base = wide["bmd0"].notna().to_numpy()
    filled = np.where(np.isnan(y12) & has_base, 0.0, y12)
    if missing == "bocf":
        return filled
    if missing == "locf":
        # Earliest scan first, so that a later observed scan overwrites it.
        for month in (m for m in layout.post_baseline if m < end):
            y = change(wide, month, scale)
            filled = np.where(np.isnan(y12) & ~np.isnan(y), y, filled)
        return filled
    raise ValueError(f"not a single-value strategy: {missing}")


class _NormalRegressionPosterior:
    """Posterior of a normal linear regression under the usual flat prior."""

    def __init__(self, x_obs: np.ndarray, y_obs: np.ndarray) -> None:
        n, k = x_obs.shape
        self.dof = n - k
        if self.dof < 1:
            raise FitError(f"imputation model has {n} observed men for {k} parameters")
        q, self.r = np.linalg.qr(x_obs)
        diag = np.abs(np.diag(self.r))
        if diag.min() <= 1e-10 * max(diag.max(), 1.0):
            raise FitError("imputation model is singular (a predictor is constant within an arm)")
        from scipy import linalg  # lazily, as scipy.stats below: slow to import

        self.beta_hat = linalg.solve_triangular(self.r, q.T @ y_obs)
        resid = y_obs - x_obs @ self.beta_hat
        self.rss = resid @ resid
        self.k = k
        # draw() solves with R once per imputation: call the LAPACK routine that
        # linalg.solve_triangular uses (same arguments, so the same bits) without
        # its per-call validation, which dominated the cost of a draw.
        (self._trtrs,) = linalg.get_lapack_funcs(("trtrs",), (self.r, self.beta_hat))

    def _solve_r(self, b: np.ndarray) -> np.ndarray:
        # R x = b as scipy.linalg.solve_triangular(R, b) does it (R is checked non-singular)
        if self.r.flags.f_contiguous:
            x, info = self._trtrs(self.r, b, lower=False, trans=0, unitdiag=False)
        else:  # trtrs expects Fortran order: solve the transposed system, as scipy does
            x, info = self._trtrs(self.r.T, b, lower=True, trans=1, unitdiag=False)
        if info != 0:
            raise FitError("imputation model is singular (a predictor is constant within an arm)")
        return x

    def draw(self, x_mis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # Rubin (1987) p.167: sigma^2 ~ SSR / chi2(n - k), beta ~ N(beta_hat,
        # sigma^2 (X'X)^-1), so imputations carry the uncertainty of the
        # regression parameters ("proper" MI).
        sigma = np.sqrt(self.rss / rng.chisquare(self.dof))
        beta = self.beta_hat + sigma * self._solve_r(rng.standard_normal(self.k))
        return x_mis @ beta + sigma * rng.standard_normal(x_mis.shape[0])


def impute_changes(
    wide: pd.DataFrame,
    *,
    scale: str = "pct",
    covariates: Sequence[str] = (),
    n_imputations: int = 20,
    delta: float = 0.0,
    delta_arm: str = "anastrozole",
    rng: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Multiply impute the 12-month change by arm (normal regression, proper draws).

    Parameters
    ----------
    wide : pandas.DataFrame
        Per-man table with ``arm, bmd0, bmd6, bmd12`` and the covariates.
    scale : str
        ``"pct"`` (impute % change) or ``"absolute"`` (g/cm2 change).
    covariates : sequence of str
        Extra baseline predictors of the imputation model (those of the
        analysis model, so that imputation and analysis are congenial).
    n_imputations : int
        Number M of completed data sets.
    delta : float
        Shift in percentage points added to imputed 12-month % changes in
        ``delta_arm`` (``delta / 100 * bmd0`` g/cm2 for ``scale="absolute"``;
        in the outcome's own unit for a generic outcome).
    delta_arm : str
        ``"anastrozole"`` or ``"placebo"``.
    rng : int, Generator or None
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    completed : numpy.ndarray, shape (M, n_included)
        Observed or imputed 12-month change of each included man.
    included : numpy.ndarray of bool, shape (n_men,)
        Men with baseline BMD and covariates (the rows of ``completed``).

    Raises
    ------
    FitError
        An arm has too few observed men to fit the imputation model.

    Notes
    -----
    Within each arm: the month-6 change of men missing both post-baseline
    values is drawn from its regression on ``[1, bmd0, covariates]`` among men
    with month 6 observed; then the missing month-12 changes are drawn from
    the regression of the month-12 change on ``[1, bmd0, covariates, month-6
    change]`` among men with both observed. When an arm has too few men with
    both visits for that model, the month-6 change is left out of it. This is
    valid under MAR for monotone dropout.

    With another schedule (the layout of ``wide``) "month 12" is the endpoint
    and "month 6" the scan just before it; earlier scans are not used (a
    man's gap there does not matter). With no scan between baseline and the
    endpoint the endpoint is imputed from ``[1, bmd0, covariates]``.

    Examples
    --------
    >>> import pandas as pd, numpy as np
    >>> w = pd.DataFrame({"arm": ["placebo"] * 5, "bmd0": [1.0, 1.1, 1.2, 1.05, 1.15],
    ...     "bmd6": [1.0, 1.1, 1.21, 1.06, np.nan],
    ...     "bmd12": [1.01, 1.12, 1.2, np.nan, np.nan]})
    >>> completed, included = impute_changes(w, n_imputations=3, rng=1)
    >>> completed.shape
    (3, 5)
    """
    if not isinstance(n_imputations, (int, np.integer)) or n_imputations < 2:
        raise InputError(f"n_imputations {n_imputations!r} is not allowed (allowed: an integer >= 2)")
    if delta_arm not in ARMS:
        raise InputError(f"delta_arm {delta_arm!r} is not allowed (allowed: {', '.join(ARMS)})")
    gen = np.random.default_rng(rng)
    covariates = tuple(covariates)
    included = wide["bmd0"].notna().to_numpy()
    for name in covariates:
        included = included & wide[name].notna().to_numpy()
    sub = wide.loc[included]
    layout = layout_of(wide)
    before = [m for m in layout.post_baseline if m < layout.endpoint]
    y12 = change(sub, layout.endpoint, scale)
    y6 = change(sub, before[-1], scale) if before else np.full(len(sub), np.nan)
    base = np.column_stack(
        [np.ones(len(sub)), sub["bmd0"].to_numpy()] + [sub[c].to_numpy() for c in covariates]
    )
    arm = sub["arm"].to_numpy()
    # delta is in percentage points of BMD (converted to g/cm2 per man on the
    # absolute scale); a generic outcome has no % scale: delta is in its unit.
    in_unit = scale == "pct" or layout.outcome == "generic"
    shift = delta if in_unit else delta / 100.0 * sub["bmd0"].to_numpy()
    shift = np.broadcast_to(np.asarray(shift, dtype=float), (len(sub),))
    completed = np.tile(y12, (n_imputations, 1))
    for label in ARMS:
        in_arm = arm == label
        mis12 = in_arm & np.isnan(y12)
        if not mis12.any():
            continue
        both = in_arm & ~np.isnan(y6) & ~np.isnan(y12)
        k = base.shape[1]
        use6 = both.sum() >= k + 3
        need6 = mis12 & np.isnan(y6) if use6 else np.zeros_like(mis12)
        obs6 = in_arm & ~np.isnan(y6)
        obs12 = both if use6 else in_arm & ~np.isnan(y12)
        if obs12.sum() < k + 1 + use6 or (need6.any() and obs6.sum() < k + 1):
            raise FitError(f"too few men with observed BMD in the {label} arm to fit the imputation model")
        model6 = _NormalRegressionPosterior(base[obs6], y6[obs6]) if need6.any() else None
        # Men in obs12 have an observed month 6 when use6, so this fit is fixed.
        x12 = np.column_stack([base, y6]) if use6 else base
        model12 = _NormalRegressionPosterior(x12[obs12], y12[obs12])
        for j in range(n_imputations):
            z6 = y6.copy()
            if model6 is not None:
                z6[need6] = model6.draw(base[need6], gen)
            design = np.column_stack([base, z6]) if use6 else base
            draw = model12.draw(design[mis12], gen)
            if label == delta_arm:
                draw = draw + shift[mis12]
            completed[j, mis12] = draw
    return completed, included


@dataclass(frozen=True)
class Pooled:
    """Rubin's rules summary of M estimates (field names as in R ``mice``).

    Attributes
    ----------
    qbar : float
        Pooled estimate (mean of the M estimates).
    ubar, b, t : float
        Within-, between- and total variance.
    df : float
        Barnard-Rubin degrees of freedom.
    r, fmi : float
        Relative increase in variance and fraction of missing information.
    m : int
        Number of imputations.
    """

    qbar: float
    ubar: float
    b: float
    t: float
    df: float
    r: float
    fmi: float
    m: int


def rubin_pool(q: Sequence[float], u: Sequence[float], dfcom: float = np.inf) -> Pooled:
    """Pool M estimates and their variances by Rubin's rules (Barnard-Rubin df).

    Parameters
    ----------
    q : sequence of float
        Estimates from the M completed data sets.
    u : sequence of float
        Their squared standard errors.
    dfcom : float
        Complete-data degrees of freedom (``inf`` for a normal reference).

    Returns
    -------
    Pooled

    Notes
    -----
    Matches ``mice::pool.scalar(Q, U, n = dfcom + 1, k = 1)`` (mice 3.15,
    rule "rubin1987"), including mice's floor of 1e-4 on
    ``lambda = (1 + 1/M) B / T`` in the Barnard-Rubin formula.

    Examples
    --------
    >>> p = rubin_pool([1.0, 1.2, 0.9], [0.04, 0.05, 0.045], dfcom=40)
    >>> round(p.qbar, 6)
    1.033333
    """
    q = np.asarray(q, dtype=float)
    u = np.asarray(u, dtype=float)
    m = len(q)
    if m < 2:
        raise ValueError("Rubin's rules need at least two imputations")
    qbar, t, df = (float(x) for x in rubin_pool_many(q, u, dfcom))
    ubar = float(u.mean())
    b = float(q.var(ddof=1))
    r = (1.0 + 1.0 / m) * b / ubar
    fmi = (r + 2.0 / (df + 3.0)) / (r + 1.0)
    return Pooled(qbar, ubar, b, t, df, float(r), float(fmi), m)


def rubin_pool_many(q: np.ndarray, u: np.ndarray, dfcom: float | np.ndarray = np.inf):
    """Rubin's rules along the last axis (M imputations) of arrays of estimates.

    The formulas of :func:`rubin_pool` (Barnard-Rubin df with mice's floor of
    1e-4 on lambda), broadcast over any leading axes, for pooling many
    analyses at once (a tipping-point grid).

    Parameters
    ----------
    q, u : numpy.ndarray
        Estimates and their squared standard errors, shape ``(..., M)``.
    dfcom : float or numpy.ndarray
        Complete-data degrees of freedom, broadcastable to ``q.shape[:-1]``
        (``inf`` for a normal reference).

    Returns
    -------
    qbar, t, df : numpy.ndarray
        Pooled estimate, total variance and Barnard-Rubin df, shape ``q.shape[:-1]``.

    Examples
    --------
    >>> qbar, t, df = rubin_pool_many(np.array([[1.0, 1.2, 0.9]]), np.array([[0.04, 0.05, 0.045]]), 40.0)
    >>> round(float(qbar[0]), 6)
    1.033333
    """
    m = q.shape[-1]
    qbar = q.mean(axis=-1)
    t = u.mean(axis=-1) + (1.0 + 1.0 / m) * q.var(axis=-1, ddof=1)
    lam = np.maximum((1.0 + 1.0 / m) * q.var(axis=-1, ddof=1) / t, 1e-4)
    df_old = (m - 1) / lam**2
    dfcom = np.broadcast_to(np.asarray(dfcom, dtype=float), qbar.shape)
    finite = np.where(np.isinf(dfcom), 1.0, dfcom)
    df_obs = (finite + 1.0) / (finite + 3.0) * finite * (1.0 - lam)
    df = np.where(np.isinf(dfcom), df_old, df_old * df_obs / (df_old + df_obs))
    return qbar, t, df


def t_inference(estimate: float, se: float, df: float, alpha: float) -> tuple[float, float, float]:
    """Two-sided t confidence interval and p-value.

    Returns
    -------
    ci_low, ci_high, p_value : float

    Examples
    --------
    >>> [round(v, 4) for v in t_inference(1.0, 0.5, 30, 0.05)]
    [-0.0211, 2.0211, 0.0546]
    """
    from scipy import stats  # lazily: 0.9 s to import, not needed by the power engine

    crit = stats.t.ppf(1.0 - alpha / 2.0, df)
    p = 2.0 * stats.t.sf(abs(estimate / se), df)
    return float(estimate - crit * se), float(estimate + crit * se), float(p)


Fit = Callable[[np.ndarray, pd.DataFrame], tuple[float, float, float]]


def _counts(arm: np.ndarray) -> tuple[int, int]:
    return int((arm == ARMS[0]).sum()), int((arm == ARMS[1]).sum())


def estimate_with_strategy(
    data: pd.DataFrame,
    *,
    method: str,
    missing: str,
    alpha: float,
    scale: str,
    rng: int | np.random.Generator | None,
    fit: Fit,
    covariates: Sequence[str] = (),
    n_imputations: int = 20,
    delta: float = 0.0,
    delta_arm: str = "anastrozole",
) -> AnalysisResult:
    """Run an estimate-and-SE method under any missing-data strategy.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial.
    method, missing : str
        Names recorded in the result.
    alpha : float
        Two-sided significance level.
    scale : str
        ``"pct"`` or ``"absolute"``.
    rng : int, Generator or None
        Randomness for multiple imputation.
    fit : callable
        ``fit(y, wide) -> (estimate, se, df)`` on complete data, where ``y``
        is the 12-month change of the men in ``wide`` (raises
        :class:`FitError` when it cannot be fitted).
    covariates : sequence of str
        Baseline covariates required by ``fit`` (men missing them are dropped).
    n_imputations, delta, delta_arm
        Multiple-imputation options (see :func:`impute_changes`).

    Returns
    -------
    AnalysisResult
        For multiple imputation the complete-data df passed to Rubin's rules is
        the mean of the per-imputation df (constant except for Welch).

    Examples
    --------
    See :func:`vtrial.analysis.ttests.welch_t`.
    """
    wide = to_wide(data, tuple(covariates))
    keep = wide["bmd0"].notna().to_numpy()
    for name in covariates:
        keep = keep & wide[name].notna().to_numpy()
    try:
        if missing in MI_STRATEGIES:
            completed, included = impute_changes(
                wide,
                scale=scale,
                covariates=covariates,
                n_imputations=n_imputations,
                delta=delta if missing == "delta_mnar" else 0.0,
                delta_arm=delta_arm,
                rng=rng,
            )
            sub = wide.loc[included].reset_index(drop=True)
            n_p, n_a = _counts(sub["arm"].to_numpy())
            _check_arm_sizes(n_p, n_a)
            fits = np.array([fit(y, sub) for y in completed])
            if not np.all(np.isfinite(fits)):
                raise FitError("the analysis failed on a completed data set")
            pooled = rubin_pool(fits[:, 0], fits[:, 1] ** 2, dfcom=float(fits[:, 2].mean()))
            se = float(np.sqrt(pooled.t))
            lo, hi, p = t_inference(pooled.qbar, se, pooled.df, alpha)
            return AnalysisResult(method, missing, pooled.qbar, se, lo, hi, p, pooled.df, n_p, n_a)
        y = single_outcome(wide, missing, scale)
        use = keep & ~np.isnan(y)
        sub = wide.loc[use].reset_index(drop=True)
        n_p, n_a = _counts(sub["arm"].to_numpy())
        _check_arm_sizes(n_p, n_a)
        estimate, se, df = fit(y[use], sub)
    except FitError as err:
        n_p, n_a = _counts(wide.loc[keep, "arm"].to_numpy())
        return nan_result(method, missing, str(err), n_p, n_a)
    lo, hi, p = t_inference(estimate, se, df, alpha)
    return AnalysisResult(method, missing, estimate, se, lo, hi, p, df, n_p, n_a)


def _check_arm_sizes(n_placebo: int, n_anastrozole: int, minimum: int = 2) -> None:
    if n_placebo < minimum or n_anastrozole < minimum:
        raise FitError(
            f"fewer than {minimum} analysable men in an arm "
            f"(placebo {n_placebo}, anastrozole {n_anastrozole})"
        )
