"""Vectorised multi-arm statistics against R (nlme::gls, lm, t.test), scipy and statsmodels.

Reference values: fixtures/design/r_reference.json from r_reference.R on the
CSVs written by make_data.py (so the tests need no R).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from vtrial.analysis.mmrm import fit_mmrm
from vtrial.design_stats import ancova_design, mmrm_design, monotone, student_design, welch_design

FIX = Path(__file__).parent / "fixtures" / "design"
REF = json.loads((FIX / "r_reference.json").read_text())
DATASETS = ["three_arm_4scans", "four_arm_3scans", "two_arm_2scans"]


def _arrays(name):
    """One replicate: y (1, n, scans), b0 (1, n), arm (1, n) from a fixture CSV."""
    d = pd.read_csv(FIX / f"{name}.csv")
    arms, months = REF[name]["arms"], REF[name]["months"]
    men = d.drop_duplicates("id").set_index("id")
    y = np.full((1, len(men), len(months)), np.nan)
    index = {m: i for i, m in enumerate(men.index)}
    for row in d.itertuples():
        y[0, index[row.id], months.index(row.month)] = row.change
    arm = men["arm"].map(arms.index).to_numpy()[None, :]
    return y, men["bmd0"].to_numpy()[None, :], arm, arms, months


def _pairs(n_arms):
    return [(i, j) for i, j in itertools.permutations(range(n_arms), 2)]


def _contrast(coef, vcov, names, key_i, key_j):
    """Estimate and SE of coef[key_i] - coef[key_j] (a missing key is the reference level: 0)."""
    c = np.zeros(len(names))
    for key, sign in ((key_i, 1.0), (key_j, -1.0)):
        if key in names:
            c[names.index(key)] = sign
    return c @ coef, np.sqrt(c @ vcov @ c)


@pytest.mark.parametrize("name", DATASETS)
def test_mmrm_matches_nlme_gls_at_every_scan(name):
    y, b0, arm, arms, months = _arrays(name)
    ref = REF[name]["mmrm"]
    coef, vcov, names = np.array(ref["coef"]), np.array(ref["vcov"]), ref["names"]
    pairs = _pairs(len(arms))
    # The fit uses every scan; the MMRM at an earlier endpoint ignores later scans
    # (their likelihood factor has its own parameters), so each scan is checked.
    for e, m in enumerate(months):
        res = mmrm_design(y, b0, arm, len(arms), pairs, 0.05, endpoint=e)
        for (i, j), r in zip(pairs, res, strict=True):
            est, se = _contrast(coef, vcov, names, f"visit{m}:arm{arms[i]}", f"visit{m}:arm{arms[j]}")
            assert r.estimate[0] == pytest.approx(est, abs=1e-6), (m, i, j)
            assert r.se[0] == pytest.approx(se, abs=1e-6), (m, i, j)


def test_mmrm_two_scans_matches_two_visit_satterthwaite_df():
    # Independent implementation of the df: fit_mmrm (numerical REML Hessian).
    y, b0, arm, arms, _ = _arrays("two_arm_2scans")
    r = mmrm_design(y, b0, arm, 2, [(1, 0)], 0.05)[0]
    keep = np.isfinite(y[0, :, 0])
    z = np.column_stack([np.ones(keep.sum()), arm[0, keep], b0[0, keep]])
    fit = fit_mmrm(z, y[0, keep, 0], y[0, keep, 1])
    assert r.estimate[0] == pytest.approx(fit.beta[4], abs=1e-8)
    assert r.se[0] == pytest.approx(np.sqrt(fit.cov_beta[4, 4]), abs=1e-8)
    assert r.df[0] == pytest.approx(fit.contrast_df, rel=1e-6)


def test_mmrm_without_missing_data_has_df_n_minus_q_and_equals_ancova():
    rng = np.random.default_rng(5)
    reps, n, k = 4, 40, 4
    arm = np.tile(np.repeat([0, 1, 2, 3], 10), (reps, 1))
    b0 = rng.normal(1.15, 0.1, (reps, n))
    y = rng.normal(0, 2, (reps, n, k)).cumsum(axis=2)
    pairs = [(1, 0), (2, 0), (3, 1)]
    for e in range(k):
        mm = mmrm_design(y, b0, arm, 4, pairs, 0.05, endpoint=e)
        an = ancova_design(y[:, :, e], b0, arm, 4, pairs, 0.05)
        for a, b in zip(mm, an, strict=True):
            np.testing.assert_allclose(a.estimate, b.estimate, rtol=0, atol=1e-10)
            np.testing.assert_allclose(a.se, b.se, rtol=1e-10)
            np.testing.assert_allclose(a.df, n - 5, rtol=1e-10)


@pytest.mark.parametrize("name", DATASETS)
def test_ancova_oneway_and_welch_match_r(name):
    y, b0, arm, arms, months = _arrays(name)
    pairs = _pairs(len(arms))
    for e, m in enumerate(months):
        ref = REF[name][f"month{m}"]
        anc = ancova_design(y[:, :, e], b0, arm, len(arms), pairs, 0.05)
        one = student_design(y[:, :, e], arm, len(arms), pairs, 0.05)
        wel = welch_design(y[:, :, e], arm, len(arms), pairs, 0.05)
        for p, (i, j) in enumerate(pairs):
            for res, key in ((anc[p], "ancova"), (one[p], "oneway")):
                r = ref[key]
                est, se = _contrast(np.array(r["coef"]), np.array(r["vcov"]), r["names"],
                                    f"arm{arms[i]}", f"arm{arms[j]}")  # fmt: skip
                assert res.estimate[0] == pytest.approx(est, abs=1e-10)
                assert res.se[0] == pytest.approx(se, abs=1e-10)
                assert res.df[0] == r["df"]
            w = ref["welch"][f"{arms[i]}-{arms[j]}"]
            assert wel[p].estimate[0] == pytest.approx(w["estimate"], abs=1e-10)
            assert wel[p].se[0] == pytest.approx(w["se"], abs=1e-10)
            assert wel[p].df[0] == pytest.approx(w["df"], rel=1e-10)
            assert wel[p].p_value[0] == pytest.approx(w["p"], rel=1e-8)


def _replicates(seed=11, reps=5, sizes=(14, 9, 11), drop=0.2):
    rng = np.random.default_rng(seed)
    arm = np.tile(np.repeat(np.arange(len(sizes)), sizes), (reps, 1))
    n = arm.shape[1]
    b0 = rng.normal(1.15, 0.14, (reps, n))
    y = rng.normal(0, 3, (reps, n)) - 1.0 * arm - 5 * (b0 - 1.15)
    y[rng.random((reps, n)) < drop] = np.nan
    return y, b0, arm


def test_t_tests_match_scipy_on_several_replicates():
    y, b0, arm = _replicates()
    pairs = [(1, 0), (2, 0), (2, 1)]
    wel = welch_design(y, arm, 3, pairs, 0.05)
    stu = student_design(y, arm, 3, pairs, 0.05)
    for r in range(y.shape[0]):
        groups = [y[r][(arm[r] == a) & np.isfinite(y[r])] for a in range(3)]
        pooled = sum(((g - g.mean()) ** 2).sum() for g in groups) / (sum(map(len, groups)) - 3)
        for p, (i, j) in enumerate(pairs):
            ref = stats.ttest_ind(groups[i], groups[j], equal_var=False)
            assert wel[p].p_value[r] == pytest.approx(ref.pvalue, rel=1e-10)
            assert wel[p].estimate[r] / wel[p].se[r] == pytest.approx(ref.statistic, rel=1e-10)
            # One-way model: the variance pooled over all three arms.
            t = (groups[i].mean() - groups[j].mean()) / np.sqrt(
                pooled * (1 / len(groups[i]) + 1 / len(groups[j]))
            )
            assert stu[p].estimate[r] / stu[p].se[r] == pytest.approx(t, rel=1e-10)
            assert stu[p].p_value[r] == pytest.approx(
                2 * stats.t.sf(abs(t), sum(map(len, groups)) - 3), rel=1e-9
            )


def test_joint_ancova_matches_statsmodels_on_several_replicates():
    y, b0, arm = _replicates(seed=12)
    pairs = [(1, 0), (2, 0), (2, 1)]
    res = ancova_design(y, b0, arm, 3, pairs, 0.05)
    for r in range(y.shape[0]):
        keep = np.isfinite(y[r])
        x = np.column_stack([np.ones(keep.sum()), arm[r, keep] == 1, arm[r, keep] == 2, b0[r, keep]]).astype(
            float
        )
        fit = sm.OLS(y[r, keep], x).fit()
        for p, (i, j) in enumerate(pairs):
            c = np.zeros(4)
            c[i] += 1 if i else 0
            c[j] -= 1 if j else 0
            tt = fit.t_test(c)
            assert res[p].estimate[r] == pytest.approx(float(tt.effect[0]), abs=1e-10)
            assert res[p].se[r] == pytest.approx(float(tt.sd[0, 0]), rel=1e-10)
            assert res[p].p_value[r] == pytest.approx(float(tt.pvalue), rel=1e-8)
            assert res[p].df[r] == fit.df_resid


def test_failed_fits_are_nan_and_count_the_men_available():
    y, b0, arm = _replicates(reps=2)
    y[0, arm[0] == 2] = np.nan  # nobody in arm 2 completed in replicate 0
    for fn in (ancova_design, mmrm_design):
        yy = y if fn is ancova_design else y[:, :, None]
        res = fn(yy, b0, arm, 3, [(2, 0), (1, 0)], 0.05)
        assert np.isnan(res[0].estimate[0]) and np.isfinite(res[0].estimate[1])
        assert res[0].n_anastrozole[0] == 0
    # The other comparisons of a failed MMRM replicate fail too (one joint model).
    assert np.isfinite(ancova_design(y, b0, arm, 3, [(1, 0)], 0.05)[0].estimate[0])


def test_monotone_truncates_after_first_gap():
    y = np.array([[[1.0, np.nan, 3.0, 4.0], [np.nan, 2.0, 3.0, 4.0]]])
    got = monotone(y)
    assert np.isnan(got[0, 0, 1:]).all() and got[0, 0, 0] == 1.0 and np.isnan(got[0, 1]).all()
