"""Simulated assurance: per-replicate true differences drawn from the design prior.

References: the analytic assurance of :mod:`vtrial.assurance` (noncentral t /
Welch quadrature integrated over the prior) for the t-tests and ANCOVA; for
MMRM and Mann-Whitney, which have no formula, the ordinary power engine run
at equally spaced prior quantiles and averaged (a brute-force integral over
the prior); the closed-form Type S/M of Gelman & Carlin at a near-point prior.
Agreement means a difference below 3 Monte Carlo SEs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vtrial import assurance, engine, power
from vtrial.config import load_config, scenario_id, set_key
from vtrial.errors import InputError
from vtrial.priors import DesignPrior, Draws, Normal, ScaledInvChi2, default_prior

NO_DROPOUT = ["dropout.anastrozole=0", "dropout.placebo=0"]
T_METHODS = ["welch_t", "student_t", "ancova"]


def _simulated(cfg, methods, reps, prior, label="a55e"):
    sums = power.simulate_sums(cfg, label, reps, methods, prior=prior)
    return {m: assurance.summarise_sums(sums[m][power._NSUMS :]) for m in methods}


def _sid(cfg):
    return scenario_id(cfg, exclude=("trial.n_per_arm",))


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        NO_DROPOUT,  # exact engine, no dropout
        [],  # exact engine, MCAR dropout (binomial completers)
        ["simulation.exact_shortcut=never"],  # per_man engine: per-man outcomes
    ],
    ids=["exact", "exact-dropout", "per_man-dropout"],
)
@pytest.mark.parametrize(
    "prior",
    [default_prior(), DesignPrior(Normal(-2.46, 0.738), ScaledInvChi2(3.0, 10))],
    ids=["fixed-sd", "sd-prior"],
)
def test_simulated_assurance_matches_the_formula_at_several_n(overrides, prior):
    base = load_config(overrides=overrides)
    for n in (20, 44, 80):
        cfg = set_key(base, "trial.n_per_arm", n)
        got = _simulated(cfg, T_METHODS, 20_000, prior, _sid(cfg))
        # the formula for Welch and ANCOVA under an SD prior and dropout takes about a minute
        checked = ["student_t"] if prior.sd_pct_change is not None and overrides != NO_DROPOUT else T_METHODS
        for m in checked:
            assert engine.method_engine(cfg, m, T_METHODS) == (
                "per_man" if overrides[-1:] == ["simulation.exact_shortcut=never"] else "exact"
            )
            exact = assurance.analytic_assurance(cfg, m, prior)
            r = got[m]
            assert abs(r["assurance"] - exact) < 3 * r["assurance_se"], (n, m, r["assurance"], exact)


@pytest.mark.slow
@pytest.mark.parametrize("mechanism", ["MAR", "MNAR"])
def test_per_man_y_and_per_man_agree_in_law_with_an_sd_prior(mechanism):
    # No formula under data-dependent dropout: the two samplers (different
    # draws of the same law) must agree within Monte Carlo error.
    prior = DesignPrior(Normal(-2.0, 1.0), ScaledInvChi2(3.0, 10))
    cfg = load_config(
        overrides=["trial.n_per_arm=20", f"dropout.mechanism={mechanism}", "dropout.strength=1.5"]
    )
    assert engine.method_engine(cfg, "ancova", ["ancova"]) == "per_man_y"
    assert engine.method_engine(cfg, "ancova", ["ancova", "mmrm"]) == "per_man"
    a = _simulated(cfg, ["welch_t", "ancova"], 30_000, prior, "a5")
    b = _simulated(cfg, ["welch_t", "ancova", "mmrm"], 30_000, prior, "a6")
    for m in ("welch_t", "ancova"):
        se = math.hypot(a[m]["assurance_se"], b[m]["assurance_se"])
        assert abs(a[m]["assurance"] - b[m]["assurance"]) < 3 * se


@pytest.mark.slow
def test_per_man_engine_matches_the_formula_with_a_wide_prior():
    # bocf is not the estimand of the formula, so complete case on the per_man
    # engine (forced by MMRM in the block) and a prior with a wrong-sign tail.
    prior = DesignPrior(Normal(-1.5, 1.5))
    cfg = load_config(overrides=["trial.n_per_arm=30", "simulation.exact_shortcut=never"])
    assert engine.method_engine(cfg, "welch_t", ["welch_t", "mmrm"]) == "per_man"
    got = _simulated(cfg, ["welch_t", "mmrm"], 20_000, prior)
    detail = assurance.analytic_assurance_detail(cfg, "welch_t", prior)
    r = got["welch_t"]
    assert abs(r["assurance"] - detail["assurance"]) < 3 * r["assurance_se"]
    assert abs(r["p_wrong_sign"] - detail["p_wrong_sign"]) < 3 * r["p_wrong_sign_se"]
    assert r["p_wrong_sign"] > 0.01  # the wrong-sign branch is exercised


def _brute_force(cfg, method, prior, k, reps):
    """Mean power at the k quantile midpoints of the prior (ordinary engine) and its SE."""
    qs = prior.difference.ppf((np.arange(k) + 0.5) / k)
    powers = []
    for i, q in enumerate(qs):
        c = set_key(cfg, "effects.difference_pct", float(q))
        s = power.simulate_sums(c, f"bf{i:03d}", reps, [method], p_only=True)[method]
        powers.append(s[1] / s[0])
    powers = np.array(powers)
    return powers.mean(), math.sqrt((powers * (1 - powers)).sum() / reps) / k


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mmrm", "mann_whitney"])
def test_methods_without_formula_match_power_averaged_over_prior_quantiles(method):
    prior = DesignPrior(Normal(-2.0, 1.2))
    cfg = load_config(overrides=["trial.n_per_arm=30"])
    ref, ref_se = _brute_force(cfg, method, prior, 24, 1000)
    r = _simulated(cfg, [method], 20_000, prior)[method]
    # the prior puts 5% below ... above 0, so the wrong sign (a two-sided test) is rare but
    # counts in the brute-force power: compare the two-sided prior-averaged power
    two_sided = r["assurance"] + r["p_wrong_sign"]
    se = math.hypot(ref_se, math.sqrt(two_sided * (1 - two_sided) / r["reps"]))
    assert abs(two_sided - ref) < 3 * se, (two_sided, ref, se)


@pytest.mark.slow
def test_type_s_and_m_match_the_closed_forms_at_a_near_point_prior():
    # A small true difference in a large trial: the t-test is close to the
    # z-test of the closed forms (df ~ 400) and Type S/M are far from 0 and 1.
    d = -0.15
    cfg = load_config(overrides=[*NO_DROPOUT, "trial.n_per_arm=200"])
    s = assurance.design_se(cfg, "student_t")
    prior = DesignPrior(Normal(d, 1e-9))
    r = _simulated(cfg, ["student_t"], 200_000, prior)["student_t"]
    ts, tm = float(assurance.type_s(d, s)), float(assurance.type_m(d, s))
    assert 0.02 < ts < 0.2 and tm > 1.5
    k = r["n_significant"]
    assert abs(r["type_s"] - ts) < 3 * math.sqrt(ts * (1 - ts) / k)
    # Type M's SE: the SD of |estimate| / |d| among significant trials over sqrt(k);
    # |estimate| given significance is spread about s / |d| around its mean.
    assert abs(r["type_m"] - tm) < 3 * (s / abs(d)) / math.sqrt(k)
    ts_prior, tm_prior = assurance.prior_type_s_m(prior, s)
    assert ts_prior == pytest.approx(ts, rel=1e-6) and tm_prior == pytest.approx(tm, rel=1e-6)


def test_block_sums_match_assurance_from_replicates_on_one_block():
    cfg = load_config(overrides=["trial.n_per_arm=12"])
    res, truths = engine.run_block(cfg, "00ff", 3, 1000, ["welch_t"], prior=DesignPrior(Normal(-0.5, 1.0)))
    rep = res["welch_t"]
    sig = rep.p_value < 0.05
    one = assurance.assurance_from_replicates(sig, rep.estimate, truths, -1)
    halves = assurance.block_sums(sig[:400], rep.estimate[:400], truths[:400], -1) + assurance.block_sums(
        sig[400:], rep.estimate[400:], truths[400:], -1
    )
    two = assurance.summarise_sums(halves)
    for key in ("assurance", "p_wrong_sign", "type_s", "n_significant"):
        assert two[key] == one[key]
    assert two["type_m"] == pytest.approx(one["type_m"], rel=1e-12)
    assert one["p_wrong_sign"] > 0 and 0 < one["type_s"] < 1


@pytest.mark.parametrize(
    "overrides,methods",
    [
        ([], ["welch_t", "ancova"]),  # exact
        (["dropout.mechanism=MNAR"], ["welch_t", "ancova"]),  # per_man_y
        (["dropout.mechanism=MAR"], ["welch_t", "ancova"]),  # per_man_y, month-6 driver
        (["dropout.mechanism=MNAR", "analysis.missing=locf"], ["welch_t", "mmrm", "mann_whitney"]),  # per_man
    ],
)
def test_a_point_prior_at_the_configured_difference_reproduces_the_power_engine(overrides, methods):
    # A prior that always draws the configured difference shifts nobody: the
    # replicates are bitwise those of the ordinary engine.
    cfg = load_config(overrides=["trial.n_per_arm=20", *overrides])
    plain = engine.run_block(cfg, "0abc", 2, 500, methods)
    with_prior, truths = engine.run_block(cfg, "0abc", 2, 500, methods, prior=DesignPrior(Draws((-2.46,))))
    assert (truths == -2.46).all()
    for m in methods:
        np.testing.assert_array_equal(plain[m].p_value, with_prior[m].p_value)
        np.testing.assert_array_equal(plain[m].estimate, with_prior[m].estimate)


def test_per_man_and_per_man_y_agree_bitwise_under_a_prior():
    cfg = load_config(overrides=["dropout.mechanism=MNAR", "dropout.strength=1.5"])
    prior = DesignPrior(Normal(-2.0, 1.5))
    assert engine.method_engine(cfg, "welch_t", ["welch_t"]) == "per_man_y"
    a, ta = engine.run_block(cfg, "0def", 0, 1000, ["welch_t", "student_t"], prior=prior)
    b, tb = engine.run_block(cfg, "0def", 0, 1000, ["welch_t", "student_t", "mmrm"], prior=prior)
    np.testing.assert_array_equal(ta, tb)
    for m in ("welch_t", "student_t"):
        np.testing.assert_array_equal(a[m].p_value, b[m].p_value)
        np.testing.assert_array_equal(a[m].n_anastrozole, b[m].n_anastrozole)


def test_mnar_dropout_responds_to_the_drawn_difference():
    # Dropout is standardized by the configured arm means: a replicate whose
    # true loss is larger than planned loses more anastrozole men under MNAR
    # than a trial configured at that loss.
    base = ["dropout.mechanism=MNAR", "dropout.strength=2", "trial.n_per_arm=40"]
    planned = load_config(overrides=base)
    at_four = load_config(overrides=[*base, "effects.difference_pct=-4"])
    res, _ = engine.run_block(planned, "0aaa", 0, 1000, ["welch_t"], prior=DesignPrior(Draws((-4.0,))))
    plain = engine.run_block(at_four, "0aaa", 0, 1000, ["welch_t"])
    assert res["welch_t"].n_anastrozole.mean() < plain["welch_t"].n_anastrozole.mean() - 1
    np.testing.assert_array_equal(res["welch_t"].n_placebo, plain["welch_t"].n_placebo)


def test_same_prior_draws_at_every_n():
    prior = default_prior()
    cfgs = [load_config(overrides=[f"trial.n_per_arm={n}"]) for n in (20, 60)]
    sids = {_sid(c) for c in cfgs}
    assert len(sids) == 1
    draws = [engine.run_block(c, sids.pop() if i == 0 else _sid(c), 1, 300, ["welch_t"], prior=prior)[1]
             for i, c in enumerate(cfgs)]  # fmt: skip
    np.testing.assert_array_equal(draws[0], draws[1])


def test_assurance_table_is_byte_identical_for_any_chunking_and_workers():
    cfg = load_config(
        overrides=["trial.n_per_arm=25", "dropout.mechanism=MNAR", "grid.trial.n_per_arm=[20, 30]"]
    )
    prior = DesignPrior(Normal(-2.0, 1.0))
    methods = ["welch_t", "mmrm"]
    a = assurance.run_assurance(cfg, reps=3500, methods=methods, prior=prior, chunk_size=1000)
    b = assurance.run_assurance(cfg, reps=3500, methods=methods, prior=prior, chunk_size=3000, workers=2)
    assert a.to_csv(index=False) == b.to_csv(index=False)
    assert (a["assurance"] > 0.3).all()


def test_full_simulator_is_refused_with_one_line():
    mediated = load_config(overrides=["effects.mode=estradiol_mediated"])
    with pytest.raises(InputError, match="^prior: simulated assurance needs effects.mode 'direct'") as e:
        engine.run_block(mediated, "01", 0, 10, ["welch_t"], prior=default_prior())
    assert "\n" not in str(e.value)


def test_an_sd_prior_keeps_the_differences_and_scales_the_outcome():
    cfg = load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0", "trial.n_per_arm=30"])
    fixed = DesignPrior(Normal(-2.46, 0.7))
    wide = DesignPrior(Normal(-2.46, 0.7), ScaledInvChi2(3.0, 4))
    a, da = engine.run_block(cfg, "0b", 0, 1000, ["student_t"], prior=fixed)
    b, db = engine.run_block(cfg, "0b", 0, 1000, ["student_t"], prior=wide)
    np.testing.assert_array_equal(da, db)
    # the empirical SE now varies with the drawn SD: its spread across replicates grows
    assert np.std(b["student_t"].se) > 2 * np.std(a["student_t"].se)
    floor = math.sqrt(2) * cfg["measurement"]["bmd_cv_pct"]
    sd = engine.prior_truths(cfg, wide, np.random.SeedSequence(1), 5000)[1]
    assert sd.min() > floor


def test_solve_refuses_an_unreachable_target_before_searching():
    prior = DesignPrior(Normal(-0.5, 1.0))  # P(harm) = 0.6915
    cfg = load_config()
    with pytest.raises(InputError, match=r"largest assurance any sample size gives is 0\.691462") as e:
        power.solve(cfg, "trial.n_per_arm", 0.7, methods=["welch_t"], statistic="assurance", prior=prior)
    assert "\n" not in str(e.value)


def test_analytic_only_assurance_search_matches_the_assurance_module():
    cfg = load_config(overrides=NO_DROPOUT)
    prior = default_prior()
    t = power.solve(
        cfg,
        "trial.n_per_arm",
        0.8,
        methods=["student_t"],
        statistic="assurance",
        prior=prior,
        analytic_only=True,
    )
    assert t.loc[0, "value"] == assurance.analytic_sample_size_for_assurance(cfg, "student_t", prior, 0.8)


def test_type_m_is_unit_free_on_the_absolute_scale():
    # On the g/cm2 scale the truths are converted like the power table's truth,
    # so Type M stays a ratio of like quantities (about 1 for a well-powered trial).
    prior = DesignPrior(Normal(-2.46, 0.3))
    pct = _simulated(load_config(overrides=["trial.n_per_arm=80"]), ["welch_t"], 3000, prior)["welch_t"]
    cfg = load_config(overrides=["trial.n_per_arm=80", "analysis.scale=absolute"])
    r = _simulated(cfg, ["welch_t"], 3000, prior)["welch_t"]
    assert 0.9 < r["type_m"] < 1.2 and 0.9 < pct["type_m"] < 1.2
