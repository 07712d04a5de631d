"""Designs of many arms, any schedule and two endpoints: parsing, validation and simulation.

The references are closed forms: :func:`vtrial.model.moments` (the exact
joint law of the 2009 design), the model's formulas for other schedules and
the hip endpoint (docs/designs.md), and the configured probabilities.
Monte Carlo figures must agree within 3 Monte Carlo SEs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from vtrial.config import load_config
from vtrial.design import design_of, is_default
from vtrial.design_sim import simulate_design, time_fraction, true_differences
from vtrial.errors import InputError
from vtrial.model import implied_effects, moments

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "config" / "examples"
THREE_ARMS = "trial.arms=[{name: placebo}, {name: a, allocation: 2, difference_pct: -2, dropout: 0.1}, {name: b, difference_pct: -1, dropout: 0.3}]"
SCHEDULE_24 = "trial.schedule={visits_months: [0, 6, 12, 18, 24], dxa_months: [0, 6, 12, 18, 24]}"


def within(estimate, truth, se, k=3.0):
    assert abs(estimate - truth) < k * se, (estimate, truth, se)


def se_sd(sd, n):
    """Monte Carlo SE of a normal sample SD."""
    return sd / math.sqrt(2 * n)


def se_corr(r, n):
    return (1 - r * r) / math.sqrt(n)


# --------------------------------------------------------------------------- parsing


def test_default_design_is_the_two_arm_trial_of_the_old_keys():
    cfg = load_config()
    d = design_of(cfg)
    assert is_default(cfg)
    assert d.names == ("placebo", "anastrozole") and d.control == 0
    assert d.labels == ("anastrozole-placebo",) and d.comparisons == ((1, 0),)
    assert (d.visits_months, d.dxa_months, d.endpoint_month) == ((0, 3, 6, 12), (0, 6, 12), 12)
    assert [a.dropout for a in d.arms] == [0.18, 0.25]
    assert d.arms[1].difference_pct == -2.46 and d.arms[1].estradiol_ratio == (0.8, 0.8, 0.8)
    assert d.endpoints == ("spine",) and d.population == "hypogonadal_untreated"


def test_schedule_without_arms_keeps_the_old_keys_meaning():
    cfg = load_config(
        overrides=[SCHEDULE_24, "dropout.placebo=0.1", "trial.allocation_ratio=2", "trial.block_sizes=[3]"]
    )
    d = design_of(cfg)
    assert not is_default(cfg)
    assert [a.dropout for a in d.arms] == [0.1, 0.25]
    assert d.sizes == (44, 88)
    # hormone ratios of months 3, 6, 12 carried to the nearest month (6 -> 6, 12+ -> 12)
    assert d.arms[1].testosterone_ratio == (1.57, 1.49, 1.49, 1.49)
    assert d.endpoint_month == 24 and d.scan_months == (6, 12, 18, 24)


def test_comparisons_labels_and_fixed_sequence_order():
    cfg = load_config(overrides=[THREE_ARMS, "analysis.comparisons=all_pairs",
                                 "analysis.multiplicity=fixed_sequence",
                                 "analysis.multiplicity_order=[b-placebo, a-b, a-placebo]"])  # fmt: skip
    d = design_of(cfg)
    assert d.labels == ("a-placebo", "b-placebo", "a-b")
    assert d.comparisons == ((1, 0), (2, 0), (1, 2))
    assert d.multiplicity_order == (1, 2, 0)
    assert d.sizes == (44, 88, 44)
    assert true_differences(cfg) == {
        ("spine", "a-placebo"): -2.0,
        ("spine", "b-placebo"): -1.0,
        ("spine", "a-b"): -1.0,
    }


def test_control_other_than_the_first_arm():
    cfg = load_config(overrides=["trial.arms=[{name: drug, difference_pct: 1.5}, {name: placebo}]",
                                 "trial.control=placebo", "trial.n_per_arm=30"])  # fmt: skip
    d = design_of(cfg)
    assert d.control == 1 and d.labels == ("drug-placebo",) and d.sizes == (30, 30)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["trial.arms=[{name: a}]"], r"'trial.arms': .* list of 2 to 8"),
        (["trial.arms=[{name: a}, {name: a}]"], r"'trial.arms\[1\].name': value 'a' is used twice"),
        (["trial.arms=[{name: a}, {name: b}]", "trial.control=c"], r"'trial.control': value 'c' is not an arm"),
        (["trial.control=anastrozole"], r"'trial.control': value 'anastrozole' is not an arm .*without trial.arms"),
        (["trial.schedule={visits_months: [0, 6, 12], dxa_months: [0, 12], endpoint_month: 6}"], r"'trial.schedule.endpoint_month': value 6 is not a scan"),
        (["trial.schedule={visits_months: [0, 12, 6], dxa_months: [0, 12]}"], r"'trial.schedule.visits_months': value \[0, 12, 6\]"),
        (["trial.schedule={visits_months: [0, 12], dxa_months: [3, 12]}"], r"'trial.schedule.dxa_months': .* starting at 0"),
        (["trial.arms=[{name: p}, {name: a, testosterone_ratio: [1.5]}]"], r"'trial.arms\[1\].testosterone_ratio': value \[1.5\] has 1 ratios .* 3"),
        (["analysis.multiplicity=dunnett", "analysis.comparisons=all_pairs"], r"'analysis.multiplicity': value 'dunnett' needs analysis.comparisons: vs_control"),
        (["analysis.multiplicity=fixed_sequence", "analysis.multiplicity_order=[a-b]"], r"'analysis.multiplicity_order': .* every comparison exactly once"),
        (["analysis.multiplicity_order=[anastrozole-placebo]"], r"'analysis.multiplicity_order': .* only used with .*fixed_sequence"),
        (["effects.mode=estradiol_mediated", "trial.arms=[{name: p}, {name: a, difference_pct: -1}]"], r"'trial.arms\[1\].difference_pct': value -1 is not used in effects.mode estradiol_mediated"),
        (["trial.arms=[{name: p, difference_pct: 1}, {name: a}]"], r"'trial.arms\[0\].difference_pct': value 1 is given for the control arm"),
        (["trial.arms=[{name: p}, {name: a, hip_difference_pct: -1}]"], r"'trial.arms\[1\].hip_difference_pct': .*effects.hip is not set"),
        (["analysis.endpoint_rule=all"], r"'analysis.endpoint_rule': value 'all' needs a second endpoint"),
        (["trial.arms=[{name: p}, {name: a, allocation: 2}]"], r"'trial.block_sizes': value \[4\] cannot hold the allocation 1:2 exactly .*multiples of 3"),
        (["trial.arms=[{name: p}, {name: a, allocation: 0.01}]"], r"'trial.arms\[1\].allocation': value 0.01 leaves 0 men"),
        (["trial.arms=[{name: p}, {name: a, difference_pct: 45}]", "effects.placebo_pct_change=10"], r"'trial.arms\[1\].difference_pct': value 45.0 makes the mean spine change of arm a 55%"),
        ([SCHEDULE_24, "dropout.visit_probs=[0.2, 0.3, 0.5]"], r"'dropout.visit_probs': .* months 3, 6, 12 only"),
        (["trial.schedule={visits_months: [0, 12], dxa_months: [0, 12]}", "dropout.mechanism=MAR"], r"'dropout.mechanism': value 'MAR' needs a scan between baseline and the endpoint"),
        (["effects.hip={sd_pct_change: 1.0}"], r"'effects.hip.sd_pct_change': value 1.0 must exceed sqrt\(2\)"),
        (["effects.hip={corr_change_spine: 0.99}"], r"'effects.hip.corr_change_spine': value 0.99 is not possible"),
        (["effects.hip={bogus: 1}"], r"'effects.hip.bogus' is not known"),
        (["cohort.population=treated"], r"'cohort.population': value 'treated' is not allowed"),
    ],
)  # fmt: skip
def test_bad_designs_name_the_key(overrides, message):
    with pytest.raises(InputError, match=message) as err:
        load_config(overrides=overrides)
    assert "\n" not in str(err.value)


def test_bad_design_exits_2_with_one_line_from_the_command_line(capsys):
    from vtrial.cli import main

    assert main(["power", "--reps", "10", "--out", "-", "--set", "trial.arms=[{name: p}, {name: p}]"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert "'trial.arms[1].name': value 'p' is used twice" in err


# --------------------------------------------------------------------------- simulation


def _arm_moments(arrays, arm, scan, endpoint="spine"):
    """Observed change at one scan among men of one arm who attended it."""
    y = arrays.change(endpoint, "pct")[..., scan][arrays.arm == arm]
    return y[~np.isnan(y)]


@pytest.mark.slow
def test_default_design_has_the_exact_moments_of_the_two_arm_model():
    cfg = load_config()
    arrays = simulate_design(cfg, 1500, rng=np.random.SeedSequence(11))
    m = moments(cfg)
    sd12, sd6 = math.sqrt(m.cov[1, 1]), math.sqrt(m.cov[2, 2])
    r = m.cov[1, 2] / (sd12 * sd6)
    r_b = m.cov[0, 1] / math.sqrt(m.cov[0, 0] * m.cov[1, 1])
    for k, p in enumerate((cfg["dropout"]["placebo"], cfg["dropout"]["anastrozole"])):
        men = int((arrays.arm == k).sum())
        assert men == 1500 * 44
        y12, y6 = _arm_moments(arrays, k, 1), _arm_moments(arrays, k, 0)
        within(y12.mean(), m.mean_pct[k], sd12 / math.sqrt(len(y12)))
        within(y12.std(), sd12, se_sd(sd12, len(y12)))
        within(y6.mean(), m.month6_fraction * m.mean_pct[k], sd6 / math.sqrt(len(y6)))
        within(y6.std(), sd6, se_sd(sd6, len(y6)))
        y = arrays.change("spine", "pct")[arrays.arm == k]
        both = ~np.isnan(y).any(-1)
        within(np.corrcoef(y[both].T)[0, 1], r, se_corr(r, both.sum()))
        b0 = arrays.bmd["spine"][..., 0][arrays.arm == k]
        within(np.corrcoef(b0[both], y[both, 1])[0, 1], r_b, se_corr(r_b, both.sum()))
        within(b0.std(), math.sqrt(m.cov[0, 0]), se_sd(math.sqrt(m.cov[0, 0]), men))
        # dropout and its timing: last visit 0, 3, 6 with p x visit_probs
        last = arrays.last_visit[arrays.arm == k]
        for month, q in zip((0, 3, 6), cfg["dropout"]["visit_probs"], strict=True):
            pq = p * q
            within((last == month).mean(), pq, math.sqrt(pq * (1 - pq) / men))
        within((last == 12).mean(), 1 - p, math.sqrt(p * (1 - p) / men))


@pytest.mark.slow
def test_24_month_schedule_has_the_configured_endpoint_law_and_the_time_curve():
    cfg = load_config(overrides=[SCHEDULE_24, "trial.n_per_arm=100", "effects.month6_fraction=0.3"])
    arrays = simulate_design(cfg, 600, rng=np.random.SeedSequence(12), covariates=False)
    sd, cv = cfg["effects"]["sd_pct_change"], cfg["measurement"]["bmd_cv_pct"]
    var_true = sd**2 - 2 * cv**2
    g = time_fraction(arrays.scan_months, 24, 0.3)
    assert abs(g[1] - 0.3) < 1e-12  # month 12 is half of the 24-month endpoint
    means = implied_effects(cfg).mean_pct
    for k in range(2):
        for s in range(4):
            y = _arm_moments(arrays, k, s)
            sd_s = math.sqrt(g[s] ** 2 * var_true + 2 * cv**2)
            within(y.mean(), g[s] * means[k], sd_s / math.sqrt(len(y)))
            within(y.std(), sd_s, se_sd(sd_s, len(y)))
        # MCAR dropout times uniform over 24 months: the last visit is 0, 6, 12 or 18 equally often
        last = arrays.last_visit[arrays.arm == k]
        p = cfg["dropout"]["anastrozole" if k else "placebo"]
        for month in (0, 6, 12, 18):
            q = p / 4
            within((last == month).mean(), q, math.sqrt(q * (1 - q) / last.size))


@pytest.mark.slow
def test_allocation_and_per_arm_dropout_of_three_arms():
    cfg = load_config(overrides=[THREE_ARMS])
    arrays = simulate_design(cfg, 400, rng=np.random.SeedSequence(13), covariates=False)
    counts = np.stack([(arrays.arm == k).sum(1) for k in range(3)], 1)
    assert (counts == [44, 88, 44]).all()  # 176 men fill 44 blocks of 4 exactly
    # Every complete block of 4 holds 1 placebo, 2 a, 1 b
    block = arrays.randomization_block[0].astype(int)
    for b in np.unique(block):
        assert np.bincount(arrays.arm[0][block == b], minlength=3).tolist() == [1, 2, 1]
    for k, p in enumerate((0.0, 0.1, 0.3)):
        done = arrays.completed[arrays.arm == k]
        within(1 - done.mean(), p, math.sqrt(max(p * (1 - p), 1e-12) / done.size))
        y = _arm_moments(arrays, k, 1)
        within(y.mean(), 0.76 + (0, -2, -1)[k], 3 / math.sqrt(len(y)))


def test_cut_short_blocks_and_simple_randomization_keep_the_shares():
    # 5 + 10 + 5 = 20 men in blocks of 8: the last block is cut after 4 men
    cfg = load_config(overrides=[THREE_ARMS, "trial.n_per_arm=5", "trial.block_sizes=[8]"])
    arrays = simulate_design(cfg, 4000, rng=np.random.SeedSequence(14), covariates=False)
    last_block = arrays.arm[:, 16:]
    share = np.bincount(last_block.ravel(), minlength=3) / last_block.size
    n = last_block.size
    for k, q in enumerate((0.25, 0.5, 0.25)):
        within(share[k], q, math.sqrt(q * (1 - q) / n) * 1.2)  # places of one list are negatively correlated
    assert (np.stack([(arrays.arm[:, :16] == k).sum(1) for k in range(3)], 1) == [4, 8, 4]).all()
    simple = load_config(overrides=[THREE_ARMS, "trial.randomization=simple"])
    arrays = simulate_design(simple, 500, rng=np.random.SeedSequence(15), covariates=False)
    sizes = np.stack([(arrays.arm == k).sum(1) for k in range(3)], 1)
    assert sizes.std(0).min() > 0  # sizes vary under simple randomization
    for k, q in enumerate((0.25, 0.5, 0.25)):
        within(sizes[:, k].mean(), 176 * q, math.sqrt(176 * q * (1 - q) / 500))
    assert np.isnan(arrays.randomization_block).all()


@pytest.mark.slow
def test_hip_endpoint_has_its_configured_law_and_correlation_with_the_spine():
    cfg = load_config(overrides=["effects.hip={}", "dropout.placebo=0", "dropout.anastrozole=0"])
    hip = {"mean": 0.98, "sd": 0.13, "cv": 1.0, "sd_change": 2.5, "r": 0.4, "r_b": 0.65, "diff": -1.0}
    arrays = simulate_design(cfg, 800, rng=np.random.SeedSequence(16), covariates=False)
    for k in range(2):
        s, h = (
            arrays.change("spine", "pct")[..., 1][arrays.arm == k],
            arrays.change("hip", "pct")[..., 1][arrays.arm == k],
        )
        n = s.size
        within(h.mean(), hip["diff"] * k, hip["sd_change"] / math.sqrt(n))
        within(h.std(), hip["sd_change"], se_sd(hip["sd_change"], n))
        within(np.corrcoef(s, h)[0, 1], hip["r"], se_corr(hip["r"], n))
        b_s, b_h = arrays.bmd["spine"][..., 0][arrays.arm == k], arrays.bmd["hip"][..., 0][arrays.arm == k]
        sd_h0 = math.hypot(hip["sd"], hip["mean"] * hip["cv"] / 100)
        within(b_h.mean(), hip["mean"], sd_h0 / math.sqrt(n))
        within(b_h.std(), sd_h0, se_sd(sd_h0, n))
        # measured baselines: the DXA errors dilute the true correlation 0.65
        sd_s0 = math.hypot(0.14, 1.15 * 0.01)
        r_b = hip["r_b"] * 0.14 * hip["sd"] / (sd_s0 * sd_h0)
        within(np.corrcoef(b_s, b_h)[0, 1], r_b, se_corr(r_b, n))
    assert true_differences(cfg) == {
        ("spine", "anastrozole-placebo"): -2.46,
        ("hip", "anastrozole-placebo"): -1.0,
    }


def test_adding_the_hip_leaves_the_spine_draws_unchanged():
    a = simulate_design(load_config(), 3, rng=np.random.SeedSequence(3))
    b = simulate_design(load_config(overrides=["effects.hip={}"]), 3, rng=np.random.SeedSequence(3))
    assert np.array_equal(a.bmd["spine"], b.bmd["spine"], equal_nan=True)
    assert np.array_equal(a.arm, b.arm) and "hip" not in a.bmd
    c = simulate_design(load_config(), 3, rng=np.random.SeedSequence(3))
    assert np.array_equal(a.bmd["spine"], c.bmd["spine"], equal_nan=True)


@pytest.mark.slow
def test_mar_dropout_keeps_the_configured_rate_per_arm_and_follows_the_last_observed_change():
    cfg = load_config(overrides=[SCHEDULE_24, "dropout.mechanism=MAR", "dropout.strength=1.5"])
    arrays = simulate_design(cfg, 1500, rng=np.random.SeedSequence(17), covariates=False)
    y18 = arrays.change("spine", "pct")[..., 2]
    for k, p in enumerate((0.18, 0.25)):
        sel = arrays.arm == k
        done = arrays.completed[sel]
        within(1 - done.mean(), p, math.sqrt(p * (1 - p) / done.size))
        assert set(np.unique(arrays.last_visit[sel])) == {18, 24}  # MAR dropouts leave after month 18
        assert np.isfinite(y18[sel]).all()
        assert y18[sel][~done].mean() < y18[sel][done].mean() - 0.5  # more bone loss, more dropout


@pytest.mark.slow
def test_estradiol_mediated_arms_follow_their_own_estradiol_change():
    cfg = load_config(overrides=[
        "effects.mode=estradiol_mediated", "effects.estradiol_slope_pct_per_pg_ml=0.5",
        "trial.arms=[{name: placebo}, {name: full, estradiol_ratio: [0.5, 0.5, 0.5]},"
        " {name: half, estradiol_ratio: [0.8, 0.8, 0.8]}]",
        "dropout.placebo=0", "trial.n_per_arm=50", "trial.block_sizes=[3]", "effects.hip={}",
    ])  # fmt: skip
    diffs = true_differences(cfg)
    # Same estradiol change, slopes 0.4 (hip) and 0.5 (spine), no direct effect.
    for label in ("full-placebo", "half-placebo"):
        assert diffs[("hip", label)] == pytest.approx(0.8 * diffs[("spine", label)], abs=1e-9)
    # Reference: E[dE2] = E[E2] (r - 1) (the response has mean one), with E[E2]
    # from 100,000 other enrolled men; SEs of both Monte Carlo means combined.
    from vtrial.cohort import draw_cohort

    e2 = np.exp(draw_cohort(cfg["cohort"], 1, 100_000, rng=7).log_estradiol)
    for label, r in (("full-placebo", 0.5), ("half-placebo", 0.8)):
        se = 0.5 * abs(r - 1) * e2.std() * math.sqrt(1 / e2.size + 1 / 400_000)
        within(diffs[("spine", label)], 0.5 * e2.mean() * (r - 1), se)
    arrays = simulate_design(cfg, 400, rng=np.random.SeedSequence(18))
    e2 = arrays.hormones["estradiol_pg_ml"]
    ratio = np.nanmean(e2[..., 3][arrays.arm == 1]) / np.nanmean(e2[..., 0][arrays.arm == 1])
    assert abs(ratio - 0.5) < 0.02
    for k, label in ((1, "full-placebo"), (2, "half-placebo")):
        y = _arm_moments(arrays, k, 1)
        within(y.mean(), 0.76 + diffs[("spine", label)], 3 / math.sqrt(len(y)))
        within(y.std(), 3.0, se_sd(3.0, len(y)))
        h = _arm_moments(arrays, k, 1, "hip")
        within(h.mean(), diffs[("hip", label)], 2.5 / math.sqrt(len(h)))
        within(h.std(), 2.5, se_sd(2.5, len(h)))


@pytest.mark.slow
def test_on_testosterone_population_has_the_on_treatment_hormones():
    # every man eligible, so that selection on age (correlated with testosterone) leaves the hormones alone
    cfg = load_config(overrides=["cohort.population=on_testosterone", "cohort.eligibility.age_min_years=18"])
    arrays = simulate_design(cfg, 300, rng=np.random.SeedSequence(19))
    t0, e0 = arrays.covariates["testosterone_ng_dl"], arrays.covariates["estradiol_pg_ml"]
    # lognormal usual level (median 550, log-SD 0.30) times the visit error (log-SD 0.20)
    mean_t = 550 * math.exp((0.30**2 + 0.20**2) / 2)
    sd_log = math.sqrt(0.30**2 + 0.20**2)
    within(t0.mean(), mean_t, mean_t * math.sqrt(math.exp(sd_log**2) - 1) / math.sqrt(t0.size))
    within(np.log(e0).std(), math.hypot(0.35, 0.12), se_sd(math.hypot(0.35, 0.12), e0.size))
    assert (t0 > 350).mean() > 0.8  # no testosterone screening window (2009: 150-350 ng/dL)
    # the age rule still applies
    ages = simulate_design(load_config(overrides=["cohort.population=on_testosterone"]), 5, rng=1).covariates
    assert (ages["age_years"] >= 60).all()


# --------------------------------------------------------------------------- examples and CSV


@pytest.mark.parametrize("name", ["three_arm_dose.yaml", "addon_24m_spine_hip.yaml"])
def test_example_designs_load_and_simulate(name):
    cfg = load_config(EXAMPLES / name)
    d = design_of(cfg)
    arrays = simulate_design(cfg, 2, rng=np.random.SeedSequence(1))
    assert arrays.arm.shape == (2, sum(d.sizes))
    assert set(arrays.bmd) == set(d.endpoints)
    assert np.isfinite(arrays.bmd["spine"][..., 0]).all()
    assert set(true_differences(cfg)) == {(e, lab) for e in d.endpoints for lab in d.labels}


def test_simulate_writes_a_design_trial_csv(tmp_path):
    import pandas as pd

    from vtrial.cli import main

    out = tmp_path / "t.csv"
    assert main(["simulate", "--config", str(EXAMPLES / "addon_24m_spine_hip.yaml"), "--out", str(out)]) == 0
    df = pd.read_csv(out)
    cfg = load_config(EXAMPLES / "addon_24m_spine_hip.yaml")
    d = design_of(cfg)
    assert set(df["arm"]) == set(d.names)
    assert sorted(df["visit_month"].unique()) == list(d.visit_months)
    assert "hip_bmd_g_cm2" in df.columns
    men = df[df["visit_month"] == 0]
    assert len(men) == sum(d.sizes) and men["hip_bmd_g_cm2"].notna().all()
    scans = df[df["visit_month"].isin(d.scan_months)]
    assert scans["bmd_g_cm2"].notna().any()
    assert df[~df["visit_month"].isin(d.dxa_months)]["bmd_g_cm2"].isna().all()
    again = tmp_path / "u.csv"
    assert (
        main(["simulate", "--config", str(EXAMPLES / "addon_24m_spine_hip.yaml"), "--out", str(again)]) == 0
    )
    assert out.read_bytes() == again.read_bytes()


def test_stratified_blocks_balance_three_arms_within_strata():
    cfg = load_config(overrides=[THREE_ARMS, "trial.randomization=stratified_blocks"])
    arrays = simulate_design(cfg, 50, rng=np.random.SeedSequence(20), covariates=False)
    stratum = arrays.bmd["spine"][..., 0] >= 1.15
    for s in (False, True):
        for r in range(50):
            arm = arrays.arm[r][stratum[r] == s]
            full = len(arm) // 4 * 4  # complete blocks hold 1:2:1 exactly
            assert np.bincount(arm[:full], minlength=3).tolist() == [full // 4, full // 2, full // 4]


def test_design_keys_name_what_the_two_arm_commands_refuse(capsys, tmp_path):
    from vtrial.design import design_keys, require_default

    assert design_keys(load_config()) == []
    cfg = load_config(overrides=[THREE_ARMS, "effects.hip={}"])
    assert design_keys(cfg) == ["trial.arms", "effects.hip"]
    with pytest.raises(InputError, match=r"config key 'trial.arms' is set, but vtrial mde supports only"):
        require_default(cfg, "vtrial mde")
    from vtrial.cli import main

    assert (
        main(["calibrate", "--out", str(tmp_path / "c"), "--set", "cohort.population=on_testosterone"]) == 2
    )
    assert "'cohort.population' is set, but vtrial calibrate supports only" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_hip_defaults_are_filled_in_so_a_grid_can_vary_them():
    from vtrial.config import expand_grid, scenario_id

    cfg = load_config(overrides=["effects.hip={}", "grid.effects.hip.difference_pct=[-1, -2]"])
    assert cfg["effects"]["hip"]["bmd_cv_pct"] == 1.0
    points = [s.config for s in expand_grid(cfg)]
    assert [true_differences(p)[("hip", "anastrozole-placebo")] for p in points] == [-1.0, -2.0]
    assert scenario_id(load_config(overrides=["effects.hip={}"])) == scenario_id(
        load_config(overrides=["effects.hip.difference_pct=-1.0"])
    )


def test_assurance_refuses_a_design_instead_of_running_two_arms(capsys, tmp_path):
    from vtrial.cli import main

    out = tmp_path / "a.csv"
    assert main(["assurance", "--reps", "50", "--out", str(out), "--set", THREE_ARMS]) == 2
    err = capsys.readouterr().err
    assert "config key 'trial.arms' is set, but vtrial assurance supports only the two-arm design" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
