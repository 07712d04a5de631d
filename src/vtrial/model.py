"""The outcome model's parameters and exact moments (direct mode).

One home for the quantities both the trial generator (:mod:`vtrial.trial`)
and the fast samplers (:mod:`vtrial.samplers`) and analytic power
(:mod:`vtrial.power`) need:

* :func:`implied_effects`: per-arm mean and residual SD of the true 12-month
  % change (direct or estradiol-mediated mode);
* :func:`moments`: the exact joint normal law of (measured baseline BMD,
  observed 12-month % change, observed 6-month % change) given arm in direct
  mode (see :mod:`vtrial.trial` for the model), from which the samplers draw;
* :func:`dropout_scales`: the arm means and SDs that standardize the bone
  loss driving MAR and MNAR dropout;
* :func:`moments_shift`: the constant subtracted from baseline BMD before sums.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vtrial import cohort as cohort_mod
from vtrial.errors import InputError


@dataclass(frozen=True)
class Effects:
    """Per-arm parameters of the true 12-month % change, index 0 placebo, 1 anastrozole.

    Attributes
    ----------
    mean_pct : ndarray (2,)
        Mean observed (and true) 12-month % change per arm.
    sd_true_pct : ndarray (2,)
        SD of the true % change not explained by estradiol (direct mode: all of it).
    difference_pct : float
        Implied anastrozole minus placebo mean difference (percentage points).
    estradiol_slope : float
        % BMD change per pg/mL of estradiol change (0 in direct mode).
    """

    mean_pct: np.ndarray
    sd_true_pct: np.ndarray
    difference_pct: float
    estradiol_slope: float


@lru_cache(maxsize=64)
def _estradiol_change_moments(cohort_key: str, hormones_key: str) -> tuple[float, float]:
    """Mean and SD of a man's true month-12 estradiol change (pg/mL) on anastrozole.

    From 400,000 enrolled men with a fixed seed, so the value is a deterministic
    function of the config; its Monte Carlo error is below 0.01 pg/mL.
    """
    c = json.loads(cohort_key)
    h = json.loads(hormones_key)
    rng = np.random.default_rng(20091201)
    men = cohort_mod.draw_cohort(c, 1, 400_000, rng=rng)
    d = _estradiol_change(men.log_estradiol[0], h, rng)
    return float(d.mean()), float(d.std())


def _estradiol_response(shape, hormones_cfg: dict, rng) -> np.ndarray:
    """Multiplicative estradiol response (mean 1) per man on anastrozole."""
    s = hormones_cfg["estradiol_response_log_sd"]
    return np.exp(rng.standard_normal(shape) * s - s * s / 2)


def _estradiol_change(log_e2: np.ndarray, hormones_cfg: dict, rng, response=None) -> np.ndarray:
    if response is None:
        response = _estradiol_response(log_e2.shape, hormones_cfg, rng)
    ratio12 = hormones_cfg["estradiol_ratio"][2]
    return np.exp(log_e2) * (ratio12 * response - 1.0)


def implied_effects(cfg: dict) -> Effects:
    """Per-arm means and residual SDs of the true % change implied by ``cfg``.

    Direct mode reads ``effects.placebo_pct_change`` and ``effects.difference_pct``.
    Estradiol-mediated mode ignores ``difference_pct`` and implies it:
    ``slope * E[dE2 | anastrozole] + direct_pct``, where ``dE2`` is a man's true
    estradiol change at month 12 (pg/mL; zero on placebo); the residual SD in the
    anastrozole arm is reduced by ``slope^2 * Var(dE2)`` so that both arms keep
    the observed SD ``sd_pct_change``.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> e = implied_effects(load_config())
    >>> float(e.difference_pct)
    -2.46
    """
    eff = cfg["effects"]
    cv = cfg["measurement"]["bmd_cv_pct"]
    var_true = eff["sd_pct_change"] ** 2 - 2 * cv**2
    placebo = eff["placebo_pct_change"]
    if eff["mode"] == "direct":
        diff = eff["difference_pct"]
        return Effects(np.array([placebo, placebo + diff]), np.sqrt([var_true, var_true]), float(diff), 0.0)
    slope = eff["estradiol_slope_pct_per_pg_ml"]
    mean_de2, sd_de2 = _estradiol_change_moments(
        json.dumps(cfg["cohort"], sort_keys=True), json.dumps(cfg["hormones"], sort_keys=True)
    )
    diff = slope * mean_de2 + eff["direct_pct"]
    resid_var = var_true - (slope * sd_de2) ** 2
    if resid_var <= 0:
        raise InputError(
            f"config key 'effects.estradiol_slope_pct_per_pg_ml': value {slope} makes estradiol "
            f"alone vary the % change by SD {abs(slope) * sd_de2:.2f}, more than "
            f"effects.sd_pct_change allows; lower the slope or raise the SD"
        )
    return Effects(
        np.array([placebo, placebo + eff["direct_pct"]]),  # + slope * dE2 per man
        np.sqrt([var_true, resid_var]),
        float(diff),
        float(slope),
    )


@dataclass(frozen=True)
class Moments:
    """Exact joint normal law of (measured baseline BMD, Y12, Y6) given arm (direct mode).

    Attributes
    ----------
    bmd_mean : float
        Mean measured baseline BMD (g/cm2), both arms.
    mean_pct : ndarray (2,)
        Mean 12-month % change, placebo and anastrozole.
    month6_fraction : float
        Mean 6-month change as a fraction of the 12-month mean.
    cov : ndarray (3, 3)
        Covariance of (B0 [g/cm2], Y12 [%], Y6 [%]) within an arm.
    """

    bmd_mean: float
    mean_pct: np.ndarray
    month6_fraction: float
    cov: np.ndarray

    @property
    def chol2(self) -> np.ndarray:
        """Cholesky factor of the (B0, Y12) covariance."""
        return np.linalg.cholesky(self.cov[:2, :2])

    @property
    def y6_given(self) -> tuple[np.ndarray, float]:
        """Regression of Y6 on (B0 - mean, Y12 - mean) and its residual SD."""
        s = self.cov
        coef = np.linalg.solve(s[:2, :2], s[:2, 2])
        resid = s[2, 2] - s[2, :2] @ coef
        return coef, float(np.sqrt(max(resid, 0.0)))


def moments(cfg: dict) -> Moments:
    """Joint normal moments of (B0, Y12, Y6) implied by a direct-mode config.

    Follows the model of :mod:`vtrial.trial`: with ``s_b`` the SD of true
    baseline BMD, ``m_b`` its mean, ``s_D^2 = sd^2 - 2 cv^2``, ``f`` the month-6
    fraction and ``rho`` the baseline correlation,
    ``Var(B0) = s_b^2 + (m_b cv / 100)^2``, ``Var(Y12) = sd^2``,
    ``Var(Y6) = f^2 s_D^2 + 2 cv^2``, ``Cov(Y6, Y12) = f s_D^2 + cv^2``,
    ``Cov(B0, Y12) = rho s_D s_b - m_b cv^2 / 100`` and
    ``Cov(B0, Y6) = f rho s_D s_b - m_b cv^2 / 100``.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> round(float(moments(load_config()).cov[1, 1]), 6)
    9.0
    """
    eff = implied_effects(cfg)
    cov = np.array(_cov_rows(cfg, float(eff.sd_true_pct[0])))
    return Moments(
        float(cfg["cohort"]["bmd_mean_g_cm2"]),
        np.array(eff.mean_pct, dtype=float),
        float(cfg["effects"]["month6_fraction"]),
        cov,
    )


def _cov_rows(cfg: dict, sd_d):
    """Rows of the (B0, Y12, Y6) covariance for the SD ``sd_d`` of the true % change (see :func:`moments`)."""
    e = cfg["effects"]
    c = cfg["cohort"]
    cv = cfg["measurement"]["bmd_cv_pct"]
    mb, sb = c["bmd_mean_g_cm2"], c["bmd_sd_g_cm2"]
    rho, f = e["baseline_corr"], e["month6_fraction"]
    e0 = mb * cv**2 / 100
    return [
        [sb**2 + (mb * cv / 100) ** 2, rho * sd_d * sb - e0, f * rho * sd_d * sb - e0],
        [rho * sd_d * sb - e0, sd_d**2 + 2 * cv**2, f * sd_d**2 + cv**2],
        [f * rho * sd_d * sb - e0, f * sd_d**2 + cv**2, f**2 * sd_d**2 + 2 * cv**2],
    ]


def cov_for_sd(cfg: dict, sd) -> np.ndarray:
    """Covariance of (B0, Y12, Y6) within an arm for each SD of the observed 12-month % change.

    As :func:`moments` with ``effects.sd_pct_change`` replaced by each value of
    ``sd`` (percentage points; each above ``sqrt(2) * bmd_cv_pct``), direct mode.

    Returns
    -------
    ndarray (3, 3, len(sd))

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config()
    >>> bool(np.allclose(cov_for_sd(cfg, np.array([3.0]))[..., 0], moments(cfg).cov))
    True
    """
    sd = np.asarray(sd, dtype=float)
    cv = cfg["measurement"]["bmd_cv_pct"]
    rows = _cov_rows(cfg, np.sqrt(sd**2 - 2 * cv**2))
    return np.array([np.broadcast_arrays(*row) for row in rows])


def dropout_scales(cfg: dict) -> tuple[np.ndarray, float, np.ndarray, float]:
    """Arm means and SDs of the observed % changes that drive MNAR and MAR dropout.

    Returns
    -------
    mean12 : ndarray (2,)
        Mean observed 12-month % change, placebo and anastrozole
        (``placebo_pct_change`` and that plus the implied difference).
    sd12 : float
        Its SD, ``effects.sd_pct_change``.
    mean6 : ndarray (2,)
        Mean observed 6-month % change, ``month6_fraction * mean12``.
    sd6 : float
        Its SD, ``sqrt(f^2 (sd^2 - 2 cv^2) + 2 cv^2)`` (the ``Y6`` variance of
        :func:`moments`).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> m12, sd12, m6, sd6 = dropout_scales(load_config())
    >>> float(sd12), bool(sd6 < sd12)
    (3.0, True)
    """
    eff = implied_effects(cfg)
    cv = cfg["measurement"]["bmd_cv_pct"]
    sd12 = cfg["effects"]["sd_pct_change"]
    f6 = cfg["effects"]["month6_fraction"]
    mean12 = np.array([eff.mean_pct[0], eff.mean_pct[0] + eff.difference_pct])
    var_true = sd12**2 - 2 * cv**2
    sd6 = np.sqrt(f6**2 * var_true + 2 * cv**2)
    return mean12, sd12, f6 * mean12, sd6


def moments_shift(cfg: dict) -> float:
    """Population mean baseline BMD (g/cm2), subtracted before summing for precision."""
    return float(cfg["cohort"]["bmd_mean_g_cm2"])
