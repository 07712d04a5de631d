"""Multiple imputation and Rubin's rules against R mice; delta-MNAR shifts.

References: fixtures/analysis/r_reference.json (r_reference.R): mice 3.15
``pool.scalar`` on fixed numbers, and ``pool(as.mira(...))`` of R fits to the
completed data sets in mi_completed.csv (written by make_mi_fixture.py with
vtrial's own imputation and seed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_analysis_helpers import FIXTURES, assert_matches, load, r_reference

from vtrial.analysis.ancova import _make_fit, ancova
from vtrial.analysis.data import to_wide
from vtrial.analysis.missing import change, impute_changes, rubin_pool, t_inference
from vtrial.analysis.result import AnalysisResult
from vtrial.analysis.ttests import _student_fit, _welch_fit, student_t, welch_t
from vtrial.errors import InputError

MI_SEED = 20090101  # as make_mi_fixture.py


@pytest.mark.parametrize(
    ("key", "q", "u", "dfcom"),
    [
        ("finite", [1.0, 1.3, 0.8, 1.1], [0.20, 0.25, 0.22, 0.21], 41 - 3),
        ("infinite", [1.0, 1.3, 0.8, 1.1], [0.20, 0.25, 0.22, 0.21], np.inf),
        ("nobetween", [2.0, 2.0, 2.0], [0.5, 0.5, 0.5], 30 - 2),
    ],
)
def test_rubin_pool_matches_mice_pool_scalar(key, q, u, dfcom):
    ref = r_reference()[f"pool_scalar/{key}"]
    pooled = rubin_pool(q, u, dfcom)
    for field in ("qbar", "ubar", "b", "t", "df", "r", "fmi"):
        assert getattr(pooled, field) == pytest.approx(ref[field], rel=1e-12, abs=1e-14), field


def _completed():
    return pd.read_csv(FIXTURES / "mi_completed.csv")


def _pool_from_completed(fit, alpha=0.05):
    fits = []
    for _, d in _completed().groupby("imputation"):
        d = d.reset_index(drop=True).assign(treat=lambda f: f["treat"].astype(float))
        fits.append(fit(d["y"].to_numpy(), d))
    fits = np.array(fits)
    pooled = rubin_pool(fits[:, 0], fits[:, 1] ** 2, dfcom=fits[:, 2].mean())
    se = np.sqrt(pooled.t)
    lo, hi, p = t_inference(pooled.qbar, se, pooled.df, alpha)
    return AnalysisResult("x", "multiple_imputation", pooled.qbar, se, lo, hi, p, pooled.df, 0, 0)


@pytest.mark.parametrize(
    ("key", "fit"),
    [
        ("ancova", _make_fit((), None)),
        ("ancova_age", _make_fit(("age_years",), None)),
        ("student_t", _student_fit),
        ("welch_t", _welch_fit),
    ],
)
def test_pooled_fits_match_mice_pool(key, fit):
    assert_matches(_pool_from_completed(fit), r_reference()[f"mi/{key}"], 1e-9)


def test_committed_completed_data_are_what_impute_changes_draws():
    # Guards the fixture against drift of the imputation code: regenerate with
    # make_mi_fixture.py and r_reference.R if this fails after a deliberate change.
    wide = to_wide(load("trial_small"), ("age_years",))
    completed, included = impute_changes(wide, covariates=("age_years",), n_imputations=5, rng=MI_SEED)
    stored = _completed().pivot(index="imputation", columns="subject_id", values="y")
    ids = wide.loc[included, "subject_id"].to_numpy()
    np.testing.assert_allclose(completed, stored[ids].to_numpy(), rtol=0, atol=1e-13)


def test_ancova_multiple_imputation_end_to_end_matches_mice():
    res = ancova(
        load("trial_small"),
        missing="multiple_imputation",
        n_imputations=5,
        rng=MI_SEED,
        covariates=["age_years"],
    )
    assert_matches(res, r_reference()["mi/ancova_age"], 1e-9)
    assert res.n_placebo + res.n_anastrozole == 39  # one man lacks a baseline BMD


def test_observed_values_are_never_changed_and_missing_ones_are_filled():
    wide = to_wide(load("trial_small"))
    completed, included = impute_changes(wide, n_imputations=4, rng=3)
    y = change(wide.loc[included], 12, "pct")
    observed = ~np.isnan(y)
    assert np.all(completed[:, observed] == y[observed])
    assert np.isfinite(completed).all()
    assert np.all(completed[:, ~observed].std(axis=0) > 0)


def test_imputation_draws_follow_the_posterior_predictive():
    # One arm, men 0..19 complete, man 20 has month 6 but not month 12. Proper
    # Bayesian normal-regression imputation (flat prior) draws y12 from
    # x'b + s * sqrt(1 + x'(X'X)^-1 x) * t(n - k): check its mean and variance.
    rng = np.random.default_rng(5)
    n = 21
    bmd0 = rng.normal(1.15, 0.14, n)
    y6 = rng.normal(0.4, 2.0, n)
    y12 = 2 * y6 + rng.normal(0, 2.0, n)
    wide = pd.DataFrame(
        {
            "arm": "placebo",
            "bmd0": bmd0,
            "bmd6": bmd0 * (1 + y6 / 100),
            "bmd12": np.where(np.arange(n) < 20, bmd0 * (1 + y12 / 100), np.nan),
        }
    )
    m = 10_000
    completed, _ = impute_changes(wide, n_imputations=m, rng=11)
    draws = completed[:, 20]
    pct6 = change(wide, 6, "pct")
    pct12 = change(wide, 12, "pct")
    x = np.column_stack([np.ones(n), bmd0, pct6])
    xo, yo = x[:20], pct12[:20]
    beta, rss = np.linalg.lstsq(xo, yo, rcond=None)[:2]
    dof = 20 - 3
    s2 = rss[0] / dof
    h = x[20] @ np.linalg.inv(xo.T @ xo) @ x[20]
    mean = x[20] @ beta
    var = s2 * (1 + h) * dof / (dof - 2)
    assert abs(draws.mean() - mean) < 4 * np.sqrt(var / m)
    # Sample variance of a t(17) draw: SE ~ var * sqrt(2/m + kurtosis/m).
    kurt = 6 / (dof - 4)
    assert abs(draws.var() / var - 1) < 4 * np.sqrt((2 + kurt) / m)
    # And the distribution shape: a t with dof degrees of freedom after scaling.
    scaled = (draws - mean) / np.sqrt(s2 * (1 + h))
    assert stats.kstest(scaled, stats.t(dof).cdf).pvalue > 1e-3


@pytest.mark.parametrize("scale", ["pct", "absolute"])
@pytest.mark.parametrize("arm", ["anastrozole", "placebo"])
def test_delta_shifts_only_imputed_values_in_one_arm(scale, arm):
    data = load("trial_small")
    wide = to_wide(data)
    base, included = impute_changes(wide, scale=scale, n_imputations=3, rng=7)
    shifted, _ = impute_changes(wide, scale=scale, n_imputations=3, rng=7, delta=-1.5, delta_arm=arm)
    sub = wide.loc[included]
    imputed = np.isnan(change(sub, 12, scale)) & (sub["arm"] == arm).to_numpy()
    expected = -1.5 if scale == "pct" else -1.5 / 100 * sub["bmd0"].to_numpy()
    diff = shifted - base
    np.testing.assert_allclose(diff[:, imputed], np.broadcast_to(expected, diff.shape)[:, imputed])
    assert np.all(diff[:, ~imputed] == 0)
    # The mean difference moves by delta x (share of the arm that was imputed).
    mi = student_t(data, missing="multiple_imputation", n_imputations=3, rng=7, scale=scale)
    dm = student_t(data, missing="delta_mnar", n_imputations=3, rng=7, scale=scale, delta=-1.5, delta_arm=arm)
    in_arm = (sub["arm"] == arm).to_numpy()
    sign = 1 if arm == "anastrozole" else -1
    shift = sign * np.broadcast_to(expected, in_arm.shape)[imputed].sum() / in_arm.sum()
    assert dm.estimate - mi.estimate == pytest.approx(shift, abs=1e-12)


def test_mi_options_are_checked():
    data = load("trial_small")
    with pytest.raises(InputError, match="n_imputations 1"):
        welch_t(data, missing="multiple_imputation", n_imputations=1)
    with pytest.raises(InputError, match="delta_arm 'drug'"):
        welch_t(data, missing="delta_mnar", delta_arm="drug")


def test_no_missing_data_gives_zero_between_variance():
    data = load("trial_complete")
    cc = welch_t(data)
    mi = welch_t(data, missing="multiple_imputation", n_imputations=3, rng=1)
    assert mi.estimate == pytest.approx(cc.estimate, abs=1e-12)
    assert mi.se == pytest.approx(cc.se, abs=1e-12)
    # mice's lambda floor of 1e-4 keeps df just below the complete-data df.
    pooled = rubin_pool([cc.estimate] * 3, [cc.se**2] * 3, cc.df)
    assert mi.df == pytest.approx(pooled.df, rel=1e-12) and mi.df < cc.df
