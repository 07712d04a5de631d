"""Power of multi-arm, scheduled and two-endpoint designs: decisions, error rates, table.

Error rates under the null use the design simulator (vtrial.design_sim); the
co-primary power uses tests/design_fakes.py (normal changes whose endpoint
correlation is known exactly), so that it has a closed-form reference.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from design_fakes import simulate, truths
from scipy import stats

from vtrial import design_decisions, design_power, multiplicity, power
from vtrial.analysis.result import Replicates
from vtrial.config import load_config, set_key, validate_config
from vtrial.design import design_of
from vtrial.errors import InputError
from vtrial.streams import seed_sequence

ALPHA = 0.05


@pytest.fixture
def fake(monkeypatch):
    """Route run_design_power through the fake simulator; returns a setter of its options."""
    opts = {}

    def sim(cfg, scenario, index, reps, methods=()):
        rng = np.random.default_rng(seed_sequence(cfg["seed"], scenario, index))
        return simulate(cfg, reps, rng=rng, **opts)

    monkeypatch.setattr(design_power, "_simulate", sim)
    monkeypatch.setattr(design_power, "_truths", truths)
    return opts.update


def _cfg(**keys):
    cfg = load_config()
    for key, value in keys.items():
        cfg = set_key(cfg, key.replace("__", "."), value)
    return validate_config(cfg)


def _three_arm(diffs=(0.0, 0.0), n=30, dropout=0.0, **keys):
    arms = [{"name": "placebo", "dropout": dropout}] + [
        {"name": name, "difference_pct": d, "dropout": dropout}
        for name, d in zip(("low", "high"), diffs, strict=True)
    ]
    return _cfg(trial__arms=arms, trial__n_per_arm=n, trial__block_sizes=[6], **keys)


def _row(table, method, comparison, multiplicity=None, endpoint=None):
    sel = (table["method"] == method) & (table["comparison"] == comparison)
    if multiplicity is not None:
        sel &= table["multiplicity"] == multiplicity
    if endpoint is not None:
        sel &= table["endpoint"] == endpoint
    assert sel.sum() == 1, (method, comparison, multiplicity, endpoint)
    return table[sel].iloc[0]


def _mc_se(p, reps):
    return math.sqrt(p * (1 - p) / reps)


# --------------------------------------------------------------------------- acceptance


@pytest.mark.slow
def test_three_arm_global_null_familywise_error():
    reps = 20_000
    cfg = _three_arm(dropout=0.15, analysis__methods=["ancova", "student_t", "mmrm"])
    mults = ["none", "bonferroni", "holm", "hochberg", "dunnett", "fixed_sequence"]
    t = design_power.run_design_power(cfg, reps=reps, multiplicities=mults)
    bound = ALPHA + 3 * _mc_se(ALPHA, reps)
    for method in ("ancova", "student_t", "mmrm"):
        for mult in mults[1:]:
            assert _row(t, method, "any", mult)["power"] <= bound, (method, mult)
        # Two comparisons sharing a control: 1 - P(neither) is about 0.097 - overlap.
        assert _row(t, method, "any", "none")["power"] > bound
        # Dunnett is exact for pooled-variance statistics (up to the realised allocation): FWER = alpha.
        dun = _row(t, method, "any", "dunnett")["power"]
        assert abs(dun - ALPHA) < 3 * _mc_se(ALPHA, reps), method
    # Per comparison without adjustment: each test is exactly at alpha.
    for label in ("low-placebo", "high-placebo"):
        p = _row(t, "ancova", label, "none")["power"]
        assert abs(p - ALPHA) < 3 * _mc_se(ALPHA, reps)


def test_dunnett_critical_value_of_the_design_allocation_is_the_qmvt_fixture():
    # The qmvt fixtures (1:1:1 and 2:1:1) are tested in test_multiplicity.py; here the
    # design's planned allocation must reach dunnett_adjusted_p as (control, treated...).
    arms = [{"name": "placebo", "allocation": 2}, {"name": "a"}, {"name": "b"}]
    d = design_of(_cfg(trial__arms=arms, trial__n_per_arm=20))
    assert design_decisions.dunnett_allocation(d) == [20.0, 10.0, 10.0]
    c = multiplicity.dunnett_critical_value(ALPHA, [2, 1, 1], 37)
    r = [Replicates(np.array([c, 0.5]), np.ones(2), np.full(2, 0.01), np.full(2, 37.0), np.full(2, 20),
                    np.full(2, 10), ALPHA) for _ in range(2)]  # fmt: skip
    adj = design_decisions.adjusted_p(r, "dunnett", d)
    np.testing.assert_allclose(adj[0], ALPHA, atol=1e-8)


@pytest.mark.slow
def test_dunnett_decisions_equal_adjusted_p_below_alpha():
    # The batched critical values must give exactly the decisions of the adjusted p-values.
    rng = np.random.default_rng(3)
    reps = 1000
    t = rng.normal(0, 1.6, (reps, 3))
    df = np.floor(rng.uniform(3, 150, reps))
    df[:5] = np.nan
    t[5:10, 1] = np.nan
    alloc = [2, 1, 1, 1]
    crit = design_decisions.DunnettCritical(alloc, ALPHA)
    got = crit.significant(t, df)
    adj = multiplicity.dunnett_adjusted_p(np.where(np.isnan(df)[:, None], np.nan, t), alloc,
                                          df=np.where(np.isnan(df), 1.0, df))  # fmt: skip
    np.testing.assert_array_equal(got, np.where(np.isnan(adj), False, adj <= ALPHA))
    assert 0.02 < got.any(axis=1).mean() < 0.5
    # One critical value per distinct df, none for the missing ones.
    assert sorted(crit.values) == np.unique(df[np.isfinite(df)]).tolist()


@pytest.mark.parametrize("alloc", [[1, 1, 1], [2, 1, 1], [1, 1, 1, 1, 1]])
def test_dunnett_batched_critical_values_equal_one_at_a_time(alloc):
    # Values found together (in any order, repeated, over several calls) are each df's own root.
    crit = design_decisions.DunnettCritical(alloc, ALPHA)
    v = np.array([[77.0, 5, 250], [19, 5, 700]])
    got = crit.critical(v)
    assert got.shape == v.shape and got[0, 1] == got[1, 1]
    more = crit.critical(np.array([3.0, 19, 101]))
    one = [multiplicity.dunnett_critical_value(ALPHA, alloc, x) for x in [77, 5, 250, 19, 5, 700, 3, 19, 101]]
    np.testing.assert_allclose(np.concatenate([got.ravel(), more]), one, rtol=0, atol=1e-11)
    assert len(crit.values) == 7


def _orthant_power(ncp, rho, crit):
    """P(|T1| > c, |T2| > c) for bivariate normal means ncp, correlation rho."""
    from vtrial.multiplicity import bivariate_normal_cdf

    return float(
        sum(
            bivariate_normal_cdf(s1 * ncp[0] - crit, s2 * ncp[1] - crit, s1 * s2 * rho)
            for s1 in (1, -1)
            for s2 in (1, -1)
        )  # fmt: skip
    )


@pytest.mark.slow
@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_coprimary_power_is_the_orthant_probability(fake, rho):
    reps, n = 20_000, 60
    fake(rho=rho, sd=(3.0, 2.0))
    cfg = _cfg(effects__hip={"difference_pct": -1.0}, analysis__endpoint_rule="all", trial__n_per_arm=n,
               dropout__placebo=0.0, dropout__anastrozole=0.0, analysis__methods=["student_t"])  # fmt: skip
    t = design_power.run_design_power(cfg, reps=reps)
    label = "anastrozole-placebo"
    both = _row(t, "student_t", label, endpoint="all")["power"]
    df = 2 * n - 2
    ncp = [-2.46 / (3.0 * math.sqrt(2 / n)), -1.0 / (2.0 * math.sqrt(2 / n))]
    crit = stats.t.isf(ALPHA / 2, df)
    # The statistics' correlation is the changes' (same men, no dropout); reference
    # with the t critical value (the noncentral t power differs from it by < 0.002 here).
    ref = _orthant_power(ncp, rho, crit)
    assert abs(both - ref) < 3 * _mc_se(ref, reps)
    if rho == 0.0:
        single = [stats.nct.sf(crit, df, abs(x)) + stats.nct.cdf(-crit, df, abs(x)) for x in ncp]
        assert abs(both - single[0] * single[1]) < 3 * _mc_se(ref, reps)
        for ep, p in zip(("spine", "hip"), single, strict=True):
            assert abs(_row(t, "student_t", label, endpoint=ep)["power"] - p) < 3 * _mc_se(p, reps)
    # Family-wise rows summarise the combined decision (one comparison: any = all = it).
    assert _row(t, "student_t", "any", endpoint="all")["power"] == both


@pytest.mark.slow
def test_24_month_schedule_type_one_error_every_method():
    reps = 20_000
    cfg = _cfg(trial__schedule={"visits_months": [0, 6, 12, 18, 24], "dxa_months": [0, 6, 12, 18, 24]},
               effects__difference_pct=0.0, analysis__methods=["student_t", "welch_t", "ancova", "mmrm"],
               trial__n_per_arm=25)  # fmt: skip
    t = design_power.run_design_power(cfg, reps=reps)
    for method in ("student_t", "welch_t", "ancova", "mmrm"):
        p = _row(t, method, "anastrozole-placebo")["power"]
        assert abs(p - ALPHA) < 3 * _mc_se(ALPHA, reps), (method, p)
        row = _row(t, method, "anastrozole-placebo")
        assert abs(row["bias"]) < 3 * row["emp_se"] / math.sqrt(row["valid_reps"])


# --------------------------------------------------------------------------- table and decisions


def test_table_columns_rows_and_chunking():
    cfg = _three_arm(diffs=(-1.0, -3.0), n=20, dropout=0.1, analysis__methods=["ancova", "mmrm"],
                     analysis__multiplicity="holm")  # fmt: skip
    a = design_power.run_design_power(cfg, reps=2500, chunk_size=1000)
    b = design_power.run_design_power(cfg, reps=2500, chunk_size=5000)
    assert a.to_csv() == b.to_csv()
    assert list(a.columns) == design_power.DESIGN_COLUMNS + power.EXTRA_COLUMNS
    assert list(a["comparison"]) == ["low-placebo", "high-placebo", "any", "all"] * 2
    assert set(a["multiplicity"]) == {"holm"} and set(a["endpoint"]) == {"spine"}
    hi = _row(a, "ancova", "high-placebo")
    assert hi["true_difference_pct"] == -3.0 and abs(hi["bias"]) < 0.1
    fam = _row(a, "ancova", "any")
    assert np.isnan(fam["mean_estimate"]) and fam["power"] >= hi["power"] >= _row(a, "ancova", "all")["power"]
    # run_power routes a design here (one early branch).
    c = power.run_power(cfg, reps=2500, chunk_size=1000)
    pd.testing.assert_frame_equal(a, c)


def test_adjustments_and_rules_on_known_p_values():
    d = design_of(_three_arm(analysis__multiplicity="fixed_sequence",
                             analysis__multiplicity_order=["high-placebo", "low-placebo"]))  # fmt: skip

    def rep(p):
        p = np.asarray(p, float)
        return Replicates(np.ones_like(p), np.ones_like(p), p, np.full_like(p, 50.0), p, p, ALPHA)

    spine = [rep([0.01, 0.20, 0.04]), rep([0.03, 0.01, 0.30])]
    hip = [rep([0.50, 0.01, 0.01]), rep([0.02, 0.50, 0.01])]
    fs = design_decisions.decide({"spine": spine}, d, "fixed_sequence", ALPHA)
    # Order high then low: row 0 high p=.03 ok, low .01 -> max .03; row 2 high fails -> low fails.
    np.testing.assert_array_equal(fs["significant"]["spine"], [[True, True], [False, True], [False, False]])
    adj = design_decisions.adjusted_p(spine, "fixed_sequence", d, [1, 0])
    np.testing.assert_allclose(adj, [[0.03, 0.03], [0.20, 0.01], [0.30, 0.30]])
    assert fs["family"][1].any(axis=1).tolist() == [True, True, False]
    two = d.__class__(**{**d.__dict__, "endpoints": ("spine", "hip"), "endpoint_rule": "all"})
    res = design_decisions.decide({"spine": spine, "hip": hip}, two, "none", ALPHA)
    assert res["combined"][0] == "all"
    np.testing.assert_array_equal(res["combined"][1], [[False, True], [False, False], [True, False]])
    anyr = d.__class__(**{**two.__dict__, "endpoint_rule": "any", "multiplicity": "bonferroni"})
    res = design_decisions.decide({"spine": spine, "hip": hip}, anyr, "bonferroni", ALPHA)
    # Bonferroni over 2 endpoints x 2 comparisons: reject where p < 0.0125.
    np.testing.assert_array_equal(res["combined"][1], [[True, False], [True, True], [True, True]])
    assert res["significant"]["hip"][0].tolist() == [False, False]
    # A comparison that could not be analysed counts as p = 1.
    nan = design_decisions.adjusted_p([rep([np.nan]), rep([0.01])], "holm", d)
    assert nan.tolist() == [[1.0, 0.02]]


@pytest.mark.parametrize(
    ("keys", "match"),
    [
        ({"analysis__methods": ["mann_whitney"]}, "method 'mann_whitney'"),
        ({"analysis__missing": "locf"}, "analysis.missing"),
        ({"analysis__multiplicity": "dunnett", "analysis__methods": ["welch_t"]}, "welch_t"),
        ({"analysis__covariates": ["age_years"]}, "analysis.covariates"),
    ],
)
def test_unsupported_settings_are_refused(keys, match):
    keys = {"analysis__methods": ["ancova"], **keys}
    with pytest.raises(InputError, match=match):
        design_power.run_design_power(_three_arm(**keys), reps=10)


def test_searches_refuse_what_a_design_cannot_search():
    with pytest.raises(InputError, match="power only"):
        power.sample_size(_three_arm(analysis__methods=["ancova"]), 0.8, reps=100, statistic="assurance")


def test_workers_target_se_and_endpoint_rule_any():
    cfg = _cfg(effects__hip={"difference_pct": -1.0}, analysis__endpoint_rule="any",
               analysis__multiplicity="holm", analysis__methods=["ancova"], trial__n_per_arm=30)  # fmt: skip
    a = design_power.run_design_power(cfg, reps=2000, chunk_size=1000)
    b = design_power.run_design_power(cfg, reps=2000, chunk_size=1000, workers=2)
    assert a.to_csv() == b.to_csv()
    assert list(a["endpoint"]) == ["spine", "hip", "any", "any", "any"]
    assert list(a["comparison"]) == ["anastrozole-placebo"] * 3 + ["any", "all"]
    spine, hip, either = a["power"].iloc[:3]
    # Holm over the two endpoints: either succeeds at least as often as each alone after adjustment.
    assert either >= max(spine, hip) and either == a["power"].iloc[3]
    t = design_power.run_design_power(cfg, target_se=0.02)
    assert t["reps"].iloc[0] % 1000 == 0 and (t["power_se"] <= 0.02).all()


@pytest.mark.slow
def test_two_arm_design_path_matches_the_analytic_power_of_the_two_arm_engine():
    # The same trial given as trial.arms (design simulator and statistics) and by the
    # default keys (exact ANCOVA power formula of vtrial.analytic).
    from vtrial.analytic import analytic_power

    base = _cfg(analysis__methods=["ancova"], trial__n_per_arm=30)
    arms = [
        {"name": "placebo", "dropout": 0.18},
        {"name": "anastrozole", "difference_pct": -2.46, "dropout": 0.25},
    ]
    t = design_power.run_design_power(_cfg(analysis__methods=["ancova"], trial__n_per_arm=30, trial__arms=arms),
                                      reps=10_000)  # fmt: skip
    exact = analytic_power(base, "ancova")
    assert abs(_row(t, "ancova", "anastrozole-placebo")["power"] - exact) < 3 * _mc_se(exact, 10_000)
