"""The outcome model's exact moments against the trial generator (4 standard errors)."""

from __future__ import annotations

import numpy as np

from vtrial import model, trial
from vtrial.config import load_config


def test_moments_match_simulate_arrays():
    """Exact (B0, Y12, Y6) moments against a large simulate_arrays sample (4 SE)."""
    cfg = load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0"])
    ta = trial.simulate_arrays(cfg, 1500, rng=2, covariates=False)
    mo = model.moments(cfg)
    for a in (0, 1):
        arm = ta.anastrozole == bool(a)
        x = np.column_stack(
            [ta.bmd_g_cm2[..., 0][arm], ta.pct_change[..., 1][arm], ta.pct_change[..., 0][arm]]
        )
        n = len(x)
        mean = np.array([mo.bmd_mean, mo.mean_pct[a], mo.month6_fraction * mo.mean_pct[a]])
        se_mean = np.sqrt(np.diag(mo.cov) / n)
        assert np.all(np.abs(x.mean(0) - mean) < 4 * se_mean)
        cov = np.cov(x.T)
        # SE of a sample covariance under normality: sqrt((s_ij^2 + s_ii s_jj) / n).
        s = mo.cov
        se_cov = np.sqrt((s**2 + np.outer(np.diag(s), np.diag(s))) / n)
        assert np.all(np.abs(cov - s) < 4 * se_cov), (cov, s)


def test_moments_match_simulate_arrays_with_covariates():
    """The cohort path (covariates=True) gives the same B0 / Y12 law (its BMD is exact normal)."""
    cfg = load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0"])
    ta = trial.simulate_arrays(cfg, 300, rng=4, covariates=True)
    mo = model.moments(cfg)
    x = np.column_stack(
        [
            ta.bmd_g_cm2[..., 0].ravel(),
            (ta.pct_change[..., 1] - np.where(ta.anastrozole, mo.mean_pct[1], mo.mean_pct[0])).ravel(),
        ]
    )
    n = len(x)
    s = mo.cov[:2, :2]
    assert abs(x[:, 0].mean() - mo.bmd_mean) < 4 * np.sqrt(s[0, 0] / n)
    se_cov = np.sqrt((s**2 + np.outer(np.diag(s), np.diag(s))) / n)
    assert np.all(np.abs(np.cov(x.T) - s) < 4 * se_cov)


def test_dropout_scales_match_moments():
    """The standardization of MAR/MNAR dropout is the model SD of Y12 and Y6 (to rounding)."""
    cfg = load_config(overrides=["measurement.bmd_cv_pct=1.5", "effects.month6_fraction=0.4"])
    m12, sd12, m6, sd6 = model.dropout_scales(cfg)
    mo = model.moments(cfg)
    assert np.allclose([sd12**2, sd6**2], [mo.cov[1, 1], mo.cov[2, 2]], rtol=1e-12)
    assert np.allclose(m12, mo.mean_pct, rtol=1e-12)
    assert np.allclose(m6, 0.4 * mo.mean_pct, rtol=1e-12)
