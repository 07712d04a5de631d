"""Tipping-point analysis: delta-adjusted multiple imputation over shifts in both arms.

A tipping-point analysis asks how far the unobserved 12-month changes of the
men who dropped out would have to differ from what MAR imputation predicts
before the conclusion of a trial changes. The missing changes are imputed once
under MAR (:func:`vtrial.analysis.missing.impute_changes`); for every pair
``(delta_anastrozole, delta_placebo)`` of shifts (percentage points) the
imputed values of each arm are shifted, every completed data set is analysed
and the results are pooled by Rubin's rules
(:func:`vtrial.analysis.missing.rubin_pool_many`). Shifting one arm only
reproduces the ``delta_mnar`` strategy of the analysis methods exactly (same
draws).

:func:`tipping_grid` does this for one trial, :func:`tipping_design` for many
simulated trials of a planned design (the share of trials whose conclusion
holds), and :func:`tipping_points` reads off the first shift that loses it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vtrial.analysis.missing import impute_changes, rubin_pool_many
from vtrial.errors import InputError
from vtrial.trial import ARMS

PLACEBO, ANASTROZOLE = ARMS

#: Methods a tipping-point grid can use (closed-form fits, vectorised below).
TIPPING_METHODS = ("student_t", "welch_t", "ancova")


def _fit_many(method: str, y: np.ndarray, wide: pd.DataFrame, covariates: Sequence[str] = ()):
    """Estimate, SE and df of ``method`` for every outcome vector in ``y`` (..., n), at once.

    The t-tests and ANCOVA as in :mod:`vtrial.analysis` (a test compares them).
    Returns three arrays of shape ``y.shape[:-1]``.
    """
    a = wide["arm"].to_numpy() == ANASTROZOLE
    n_a, n_p = float(a.sum()), float((~a).sum())
    if method in ("student_t", "welch_t"):
        ya, yp = y[..., a], y[..., ~a]
        ma, mp = ya.mean(axis=-1), yp.mean(axis=-1)
        va, vp = ya.var(axis=-1, ddof=1), yp.var(axis=-1, ddof=1)
        if method == "student_t":
            pooled = ((n_a - 1) * va + (n_p - 1) * vp) / (n_a + n_p - 2)
            se = np.sqrt(pooled * (1 / n_a + 1 / n_p))
            df = np.full_like(se, n_a + n_p - 2)
        else:
            qa, qp = va / n_a, vp / n_p
            se = np.sqrt(qa + qp)
            df = (qa + qp) ** 2 / (qa**2 / (n_a - 1) + qp**2 / (n_p - 1))
        return ma - mp, se, df
    if method == "ancova":
        cols = [np.ones(len(a)), a.astype(float), wide["bmd0"].to_numpy(float)]
        cols += [wide[c].to_numpy(float) for c in covariates]
        x = np.column_stack(cols)
        shape = y.shape[:-1]
        yy = y.reshape(-1, y.shape[-1]).T  # n x K
        xtx_inv = np.linalg.inv(x.T @ x)
        beta = xtx_inv @ (x.T @ yy)
        resid = yy - x @ beta
        dof = x.shape[0] - x.shape[1]
        sigma2 = (resid**2).sum(axis=0) / dof
        se = np.sqrt(sigma2 * xtx_inv[1, 1])
        return beta[1].reshape(shape), se.reshape(shape), np.full(shape, float(dof))
    raise InputError(
        f"tipping point: method {method!r} is not supported (allowed: {', '.join(TIPPING_METHODS)})"
    )


def tipping_grid(
    wide: pd.DataFrame,
    deltas: Sequence[float],
    *,
    method: str = "ancova",
    alpha: float = 0.05,
    n_imputations: int = 20,
    covariates: Sequence[str] = (),
    direction: float | None = None,
    rng=None,
) -> pd.DataFrame:
    """Delta-adjusted multiple imputation of one trial over a grid of shifts in both arms.

    Parameters
    ----------
    wide : pandas.DataFrame
        One row per man: ``arm, bmd0, bmd6, bmd12`` (g/cm2, NaN when not
        measured) and the covariates (:func:`vtrial.analysis.data.to_wide`).
    deltas : sequence of float
        Shifts (percentage points of 12-month change) tried in each arm; the
        grid is every pair.
    method : str
        One of :data:`TIPPING_METHODS`.
    alpha : float
        Two-sided significance level.
    n_imputations : int
        Completed data sets (M).
    covariates : sequence of str
        Extra ANCOVA covariates (also used by the imputation model).
    direction : float, optional
        Sign of the effect that counts as the conclusion; default the sign of
        the unshifted estimate.
    rng : numpy.random.Generator, SeedSequence, int or None
        Randomness of the imputation.

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``delta_anastrozole, delta_placebo, estimate, se,
        ci_low, ci_high, p_value, df, holds`` (``holds``: significant at
        ``alpha`` in ``direction``).

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> from vtrial.analysis.data import to_wide
    >>> wide = to_wide(example_trial())
    >>> wide.loc[wide.index[:4], "bmd12"] = np.nan  # four dropouts
    >>> g = tipping_grid(wide, [0.0, 5.0], n_imputations=5, rng=1)
    >>> g[["delta_anastrozole", "delta_placebo"]].values.tolist()
    [[0.0, 0.0], [0.0, 5.0], [5.0, 0.0], [5.0, 5.0]]
    """
    from scipy import stats

    pairs, q, s, d, direction = _pooled_grid(wide, deltas, method, n_imputations, covariates, direction, rng)
    crit = stats.t.ppf(1.0 - alpha / 2.0, d)
    p = 2.0 * stats.t.sf(np.abs(q / s), d)
    holds = (p < alpha) & (np.sign(q) == direction)
    rows = zip(pairs[:, 0], pairs[:, 1], q, s, q - crit * s, q + crit * s, p, d, holds, strict=True)
    return pd.DataFrame(
        rows,
        columns=["delta_anastrozole", "delta_placebo", "estimate", "se", "ci_low", "ci_high",
                 "p_value", "df", "holds"],
    )  # fmt: skip


def _pooled_grid(wide, deltas, method, n_imputations, covariates, direction, rng):
    """Pairs (C x 2), pooled estimate, SE and df (each C) and the direction, as :func:`tipping_grid`."""
    completed, included = impute_changes(
        wide, scale="pct", covariates=covariates, n_imputations=n_imputations, rng=rng
    )
    sub = wide.loc[included].reset_index(drop=True)
    b0 = sub["bmd0"].to_numpy(float)
    y12 = 100.0 * (sub["bmd12"].to_numpy(float) - b0) / b0
    imputed = np.isnan(y12)
    is_a = sub["arm"].to_numpy() == ANASTROZOLE
    if direction is None:
        est0, *_ = _fit_many(method, completed, sub, covariates)
        direction = float(np.sign(est0.mean()))
    pairs = np.array([(da, dp) for da in deltas for dp in deltas], dtype=float)  # C x 2
    shift = np.where(imputed, np.where(is_a, pairs[:, :1], pairs[:, 1:]), 0.0)  # C x n
    est, se, df = _fit_many(method, completed[None, :, :] + shift[:, None, :], sub, covariates)
    if imputed.any():
        q, t, d = rubin_pool_many(est, se**2, df.mean(axis=-1))
        s = np.sqrt(t)
    else:
        q, s, d = est[:, 0], se[:, 0], df[:, 0]
    return pairs, q, s, d, direction


def _wide_from_arrays(arrays, replicate: int, covariates: Sequence[str]) -> pd.DataFrame:
    """Per-man table (``arm, bmd0, bmd6, bmd12`` and covariates) of one simulated replicate."""
    bmd = arrays.bmd_g_cm2[replicate]
    wide = pd.DataFrame({
        "arm": np.where(arrays.anastrozole[replicate], ANASTROZOLE, PLACEBO),
        "bmd0": bmd[:, 0], "bmd6": bmd[:, 1], "bmd12": bmd[:, 2],
    })  # fmt: skip
    for c in covariates:
        # age and BMI are per man; hormones per man and visit (baseline taken)
        value = getattr(arrays, c)[replicate]
        wide[c] = value if value.ndim == 1 else value[:, 0]
    return wide


def tipping_design(cfg: dict, deltas: Sequence[float], *, method: str, reps: int, rng) -> pd.DataFrame:
    """Tipping-point grid of a planned design: share of simulated trials still significant.

    Simulates ``reps`` trials of ``cfg`` (its grid ignored), runs
    :func:`tipping_grid` on each (``analysis.imputations`` and
    ``analysis.covariates`` of ``cfg``) and reports, per pair of shifts, the
    proportion of trials whose conclusion holds (significant at
    ``analysis.alpha`` in the direction of the assumed difference) as
    ``power``, with its Monte Carlo SE, and the mean estimate. A trial whose
    arm is too small to impute is left out (``reps`` counts the analysed ones).

    Parameters
    ----------
    cfg : dict
        Validated configuration of the planned design.
    deltas : sequence of float
        Shifts (percentage points) tried in each arm.
    method : str
        One of :data:`TIPPING_METHODS`.
    reps : int
        Simulated trials.
    rng : numpy.random.Generator
        Randomness of the trials and of their imputations.

    Returns
    -------
    pandas.DataFrame
        ``delta_anastrozole, delta_placebo, power, mean_estimate, reps, power_se``.
    """
    from scipy import special

    from vtrial.trial import simulate_arrays

    a = cfg["analysis"]
    arrays = simulate_arrays(cfg, reps, rng=rng, covariates=bool(a["covariates"]))
    gen = np.random.default_rng(rng)
    direction = float(np.sign(cfg["effects"]["difference_pct"])) or -1.0
    # The imputations draw from one generator trial after trial (so stay in a
    # loop); the tests of all trials are done at once afterwards.
    q, s, d = [], [], []
    pairs = None
    for r in range(reps):
        wide = _wide_from_arrays(arrays, r, a["covariates"])
        try:
            pairs, qr, sr, dr, _ = _pooled_grid(
                wide, deltas, method, a["imputations"], a["covariates"], direction, gen
            )
        except Exception:  # an arm too small to impute: this trial cannot be analysed
            continue
        q.append(qr)
        s.append(sr)
        d.append(dr)
    if not q:
        raise InputError("tipping point: no simulated trial of the planned design could be imputed")
    q, s, d = np.stack(q), np.stack(s), np.stack(d)  # trials x pairs
    p = 2.0 * special.stdtr(d, -np.abs(q / s))  # the two-sided t p-value of tipping_grid
    allt = pd.DataFrame({
        "delta_anastrozole": np.tile(pairs[:, 0], len(q)),
        "delta_placebo": np.tile(pairs[:, 1], len(q)),
        "estimate": q.ravel(),
        "holds": ((p < a["alpha"]) & (np.sign(q) == direction)).ravel(),
    })  # fmt: skip
    out = allt.groupby(["delta_anastrozole", "delta_placebo"], as_index=False).agg(
        power=("holds", "mean"), mean_estimate=("estimate", "mean")
    )
    out["reps"] = len(q)
    out["power_se"] = np.sqrt(out["power"] * (1 - out["power"]) / out["reps"])
    return out


def tipping_points(grid: pd.DataFrame, column: str, threshold: float = 0.5) -> pd.DataFrame:
    """Per arm and direction, the first shift (from 0 outward) where the conclusion is lost.

    The other arm's shift stays at 0. The conclusion holds while
    ``grid[column] > threshold`` (``holds`` of one trial, or ``power`` of a
    design). Returns ``arm, direction, tipping_delta`` (NaN if it never tips
    within the grid).

    Examples
    --------
    >>> g = pd.DataFrame({"delta_anastrozole": [0, 2, 4, 0, 0], "delta_placebo": [0, 0, 0, 2, 4],
    ...                   "holds": [1, 1, 0, 1, 1]})
    >>> tipping_points(g, "holds").query("direction == 'positive'")["tipping_delta"].tolist()
    [4.0, nan]
    """
    rows = []
    for arm, other in ((ANASTROZOLE, PLACEBO), (PLACEBO, ANASTROZOLE)):
        line = grid[grid[f"delta_{other}"] == 0].sort_values(f"delta_{arm}")
        for direction, part in (("positive", line[line[f"delta_{arm}"] >= 0]),
                                ("negative", line[line[f"delta_{arm}"] <= 0].iloc[::-1])):  # fmt: skip
            lost = part.loc[~(part[column].astype(float) > threshold).to_numpy(), f"delta_{arm}"]
            rows.append((arm, direction, float(lost.iloc[0]) if len(lost) else float("nan")))
    return pd.DataFrame(rows, columns=["arm", "direction", "tipping_delta"])
