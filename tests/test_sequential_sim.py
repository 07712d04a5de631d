"""Simulated group-sequential trials (vtrial.sequential_sim, vtrial.accrual).

References: rpact 3.3.4 getPowerMeans and getFinalConfidenceInterval in
tests/fixtures/sequential/simulation_rpact.json (made by make_simulation_fixture.R);
vtrial.boundaries.observed_design for the bound expansion; closed forms for accrual.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from vtrial import accrual, boundaries
from vtrial import sequential_sim as ss
from vtrial.cli import main
from vtrial.config import load_config, scenario_id
from vtrial.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "sequential" / "simulation_rpact.json").read_text())

#: rpact designs of the fixture as config sections.
SECTIONS = {
    "followup": {
        "information_fractions": [1 / 3, 2 / 3, 1],
        "efficacy": {"type": "as_obrien_fleming"},
        "futility": {"type": "as_hsd", "gamma": -2, "binding": False, "beta": 0.1},
    },
    "pocock_2": {"information_fractions": [0.5, 1], "efficacy": {"type": "as_pocock"}},
    "binding_3": {
        "information_fractions": [1 / 3, 2 / 3, 1],
        "efficacy": {"type": "as_obrien_fleming"},
        "futility": {"type": "as_hsd", "gamma": -2, "binding": True, "beta": 0.2},
    },
}


def _cfg(overrides=(), section=None, acc=None):
    cfg = load_config(overrides=list(overrides))
    cfg["sequential"] = section or SECTIONS["followup"]
    if acc is not None:
        cfg["trial"]["accrual"] = acc
    return cfg


#: Instant endpoints, no dropout, 360 men per arm, SD 3 (the fixture's setting).
INSTANT = [
    "trial.n_per_arm=360", "dropout.anastrozole=0", "dropout.placebo=0", "effects.baseline_corr=0",
]  # fmt: skip


# --------------------------------------------------------------------------- accrual


def test_entry_times_closed_forms():
    # rate 6 with a 4-month ramp: Lambda(s) = 6 s^2 / 8 up to 12 men, then 6 a month.
    e = accrual.entry_times({"rate_per_month": 6, "ramp_up_months": 4}, 30)
    count = np.arange(30) + 0.5
    lam = np.where(e <= 4, 6 * e**2 / 8, 12 + 6 * (e - 4))
    np.testing.assert_allclose(lam, count, rtol=0, atol=1e-12)
    np.testing.assert_allclose(accrual.entry_times({"rate_per_month": 2}, 3), [0.25, 0.75, 1.25])
    np.testing.assert_allclose(accrual.entry_times({"period_months": 10}, 5), [1, 3, 5, 7, 9])
    assert not accrual.entry_times(None, 4).any()


@pytest.mark.parametrize(
    "section, message",
    [
        ({"rate_per_month": 3, "period_months": 12}, "both rate_per_month"),
        ({"ramp_up_months": 2}, "neither rate_per_month nor period_months"),
        ({"period_months": 12, "ramp_up_months": 2}, "ramp_up_months"),
    ],
)
def test_bad_accrual(section, message):
    with pytest.raises(InputError, match=message):
        accrual.check_accrual(section)


def test_look_plan_with_accrual():
    # 80 men, 4 a month after a 3-month ramp: man j enters at 3 + (j + 0.5 - 6) / 4 for j >= 6.
    plan = ss.look_plan(_cfg(["trial.n_per_arm=40"], acc={"rate_per_month": 4, "ramp_up_months": 3}))
    assert plan.n_endpoint.tolist() == [27, 54, 80]
    months = 3 + (plan.n_endpoint - 1 + 0.5 - 6) / 4 + 12
    np.testing.assert_allclose(plan.months, months)
    # enrolled by the look: entry <= month; 6-month scans: entry <= month - 6
    assert plan.n_enrolled.tolist() == [min(80, int(np.floor(4 * (m - 3) + 6 - 0.5)) + 1) for m in months]
    assert plan.n_scan6.tolist() == [int(np.floor(4 * (m - 9) + 6 - 0.5)) + 1 for m in months[:2]] + [80]


def test_instant_endpoints_plan():
    plan = ss.look_plan(_cfg(["trial.n_per_arm=40"]))
    assert plan.n_endpoint.tolist() == plan.n_enrolled.tolist() == plan.n_scan6.tolist() == [27, 54, 80]
    assert np.isnan(plan.months).all()


# --------------------------------------------------------------------------- bounds at observed information


@pytest.mark.parametrize("name", ["followup", "binding_3"])
def test_bound_expansion_matches_observed_design(name):
    design = boundaries.boundaries_design(SECTIONS[name])
    expansion = ss.bound_expansion(design)
    rng = np.random.default_rng(1)
    for _ in range(4):
        u = design.information_fractions * np.exp(rng.uniform(-0.1, 0.1, 3))
        exact = boundaries.observed_design(u, 1.0, design)
        approx = expansion.evaluate(np.log(u)[:, None])[:, 0]
        assert np.abs(approx[:3] - exact.z_efficacy).max() < 2e-3
        assert np.abs(approx[3:5] - exact.z_futility[:2]).max() < 2e-3


def test_information_is_exact_for_student_t_with_instant_endpoints():
    cfg = _cfg(["trial.n_per_arm=30", "dropout.anastrozole=0", "dropout.placebo=0"])
    res = ss.simulate_looks(cfg, scenario_id(cfg), 50, "student_t")
    # n0 n1 / (n0 + n1) with balanced looks of 20, 40, 60 men (permuted blocks of 4)
    np.testing.assert_allclose(res["information"], np.array([[5.0], [10.0], [15.0]]) + 0 * res["z"])
    assert (res["n_endpoint"] == np.array([[20], [40], [60]])).all()


def test_results_do_not_depend_on_the_number_of_replicates():
    cfg = _cfg(["trial.n_per_arm=20"], acc={"period_months": 10})
    a = ss.simulate_looks(cfg, scenario_id(cfg), 1000, "mmrm")
    b = ss.simulate_looks(cfg, scenario_id(cfg), 1500, "mmrm")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key][:, :1000])


# --------------------------------------------------------------------------- against rpact


@pytest.mark.slow
@pytest.mark.parametrize("entry", FIXTURE["power"], ids=lambda e: f"{e['design']}-{e['alternative']}")
def test_operating_characteristics_match_rpact_power_means(entry):
    reps = 20_000
    cfg = _cfg([*INSTANT, f"effects.difference_pct={entry['alternative']}"], SECTIONS[entry["design"]])
    res = ss.simulate_decisions(cfg, scenario_id(cfg), reps, "student_t", adjusted=False, orientation=1)
    k = len(entry["rejectPerStage"])
    look, reject = res["look"], res["reject"]
    sim = [np.mean((look == j) & reject) for j in range(k)] + [np.mean(reject)]
    ref = [*entry["rejectPerStage"], entry["overallReject"]]
    if isinstance(entry["futilityPerStage"], list):
        sim += [np.mean((look == j) & ~reject) for j in range(k - 1)]
        ref += entry["futilityPerStage"]
    for s, r in zip(sim, ref, strict=True):
        se = np.sqrt(max(r * (1 - r), 1e-4) / reps)
        assert abs(s - r) < 3 * se, (sim, ref)
    # the bounds used are the rpact design's (instant endpoints: exact information fractions)
    np.testing.assert_allclose(res["z_efficacy"][:, 0], entry["criticalValues"], atol=1e-6)


@pytest.mark.parametrize("path", FIXTURE["final_ci"], ids=lambda p: f"look{p['finalStage']}")
def test_stagewise_estimate_matches_rpact_final_confidence_interval(path):
    design = boundaries.boundaries_design(SECTIONS["followup"])
    k, z = path["finalStage"], path["z"]
    # the spline table through neighbouring z values, read at the fixture's z
    mu = ss.stagewise_table(design, k, np.array([z - 0.7, z, z + 0.4]))[:, 1]
    scale = np.sqrt(1 / path["overallSampleSize1"] + 1 / path["overallSampleSize2"])
    ref = [path["medianUnbiasedGeneral"], *path["finalConfidenceIntervalGeneral"]]
    np.testing.assert_allclose(mu * scale, ref, rtol=0, atol=1e-6)
    # outcome scale: mu * sd * sqrt(1/n1 + 1/n2), the SE of the difference
    ref_units = [path["medianUnbiased"], *path["finalConfidenceInterval"]]
    np.testing.assert_allclose(mu * scale * path["overallStDev"], ref_units, rtol=0, atol=1e-5)


def test_stagewise_table_is_median_unbiased_for_canonical_z():
    # Z_1, Z_2 drawn from the canonical joint law (Pocock, two looks, drift 2.683):
    # the estimate on the theta sqrt(I_2) scale is below the truth half the time.
    design = boundaries.boundaries_design(SECTIONS["pocock_2"])
    rng = np.random.default_rng(3)
    n, drift = 50_000, 2.683
    s1 = rng.normal(drift / 2, np.sqrt(0.5), n)
    z1, z2 = s1 / np.sqrt(0.5), s1 + rng.normal(drift / 2, np.sqrt(0.5), n)
    look = np.where(z1 >= design.z_efficacy[0], 0, 1)
    mu = np.empty(n)
    for k in (0, 1):
        at = look == k
        mu[at] = ss.stagewise_table(design, k + 1, np.where(look == 0, z1, z2)[at])[0]
    theta = np.where(look == 0, mu / np.sqrt(0.5), mu)
    assert abs(np.mean(theta < drift) - 0.5) < 3 * np.sqrt(0.25 / n)


@pytest.mark.slow
def test_adjusted_estimate_in_the_simulated_trial():
    reps = 20_000
    cfg = _cfg([*INSTANT, "effects.difference_pct=-0.6"], SECTIONS["pocock_2"])
    res = ss.simulate_decisions(cfg, scenario_id(cfg), reps, "student_t")
    truth, se = -0.6, np.sqrt(0.25 / reps)
    naive = res["estimate"][res["look"], np.arange(reps)]
    # the naive estimate at stopping exaggerates the effect (early stops are extreme);
    # the adjusted one is median-unbiased for canonical z (test above) and close to it with
    # t statistics and an estimated SE: P(adjusted < truth) was 0.4958 in 100,000 trials
    # (seed 7), 0.487 in these 20,000.
    assert np.mean(naive < truth) > 0.5 + 10 * se
    assert abs(np.mean(res["adjusted"] < truth) - 0.5) < 5 * se
    covered = np.mean((res["adjusted_lower"] <= truth) & (truth <= res["adjusted_upper"]))
    assert abs(covered - 0.95) < 3 * np.sqrt(0.95 * 0.05 / reps)


# --------------------------------------------------------------------------- type I error


SCHEDULES = {
    "two": {"information_fractions": [0.5, 1], "efficacy": {"type": "as_pocock"}},
    "three": {"information_fractions": [0.33, 0.67, 1], "efficacy": {"type": "as_obrien_fleming"}},
    "four": {"information_fractions": [0.25, 0.5, 0.75, 1], "efficacy": {"type": "as_hsd", "gamma": -1}},
}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mmrm", "ancova"])
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_type_one_error_with_accrual_and_partial_data(schedule, method):
    reps = 20_000
    cfg = _cfg(
        ["trial.n_per_arm=100", "effects.difference_pct=0"],
        SCHEDULES[schedule],
        acc={"rate_per_month": 4, "ramp_up_months": 3},
    )
    res = ss.simulate_decisions(cfg, scenario_id(cfg), reps, method, adjusted=False)
    alpha = 0.025
    assert np.mean(res["reject"]) <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / reps)
    if method == "mmrm":  # the interim looks use men with only their 6-month scan
        observed = np.mean(res["information"] / res["information"][-1], axis=1)
        planned = np.array(SCHEDULES[schedule]["information_fractions"])
        assert (observed[:-1] > planned[:-1] + 0.03).all()


# --------------------------------------------------------------------------- CLI


def test_cli_simulate_writes_the_table(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "trial": {"n_per_arm": 20, "accrual": {"period_months": 12}},
                "sequential": {"information_fractions": [0.5, 1]},
            }
        )
    )
    out = tmp_path / "oc.csv"
    args = ["sequential", "--config", config, "--simulate", "--method", "ancova", "--reps", 500, "--out", out]
    assert main([str(a) for a in args]) == 0
    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert list(table.columns) == ss.OC_COLUMNS
    assert table["look"].astype(str).tolist() == ["1", "2", "overall"] * 2
    assert table["scenario"].tolist() == ["h1"] * 3 + ["h0"] * 3
    overall = table[table["look"].astype(str) == "overall"]
    # the overall efficacy probability is the sum over looks
    for sc in ("h1", "h0"):
        rows = table[table["scenario"] == sc]
        assert rows["prob_efficacy"].iloc[:2].sum() == pytest.approx(rows["prob_efficacy"].iloc[2], abs=1e-12)
    assert (overall["month"] > 12).all() and (overall["month"] <= 24).all()


@pytest.mark.parametrize(
    "sequential, trial, message",
    [
        ({"information_fractions": [0.6, 0.4, 1]}, {}, "strictly increasing"),
        ({"information_fractions": [0.5, 0.9]}, {}, "must end at 1"),
        (
            {"information_fractions": [0.5, 1], "futility": {"type": "as_hsd", "gamma": -2}},
            {},
            "futility.beta",
        ),
        (
            {"information_fractions": [0.5, 1]},
            {"accrual": {"rate_per_month": 4, "period_months": 12}},
            "both rate_per_month",
        ),
        ({"information_fractions": [0.5, 1]}, {"accrual": {"ramp_up_months": 1}}, "neither"),
    ],
)
def test_bad_configs_exit_2(tmp_path, capsys, sequential, trial, message):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"trial": trial, "sequential": sequential}))
    assert main(["sequential", "--config", str(config), "--simulate", "--reps", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_unsupported_method_and_schedule_are_refused():
    cfg = _cfg()
    with pytest.raises(InputError, match="mann_whitney"):
        ss.check_config(cfg, "mann_whitney")
    cfg["analysis"]["missing"] = "locf"
    with pytest.raises(InputError, match="analysis.missing"):
        ss.check_config(cfg)


# --------------------------------------------------------------------------- sample size


@pytest.mark.slow
def test_sequential_sample_size_through_solve_matches_rpact():
    # config/examples/sequential_followup.yaml, no dropout: rpact getSampleSizeMeans gives
    # a maximum of 68.8 men (34.4 per arm) against 64.5 (32.25) for the fixed design.
    followup = json.loads((ROOT / "tests" / "fixtures" / "sequential" / "followup_rpact.json").read_text())
    cfg = load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0", "effects.baseline_corr=0"])
    cfg["sequential"] = yaml.safe_load((ROOT / "config/examples/sequential_followup.yaml").read_text())[
        "sequential"
    ]
    table = ss.sample_size(cfg, 0.9, ["student_t"], reps=10_000)
    row = table.iloc[0]
    assert row["n_per_arm_sequential"] == np.ceil(followup["maxNumberOfSubjects"] / 2)
    assert row["n_per_arm_fixed"] == np.ceil(followup["nFixed"] / 2)
    assert row["power_sequential"] >= 0.9 and row["power_fixed"] >= 0.9
    assert row["inflation"] == row["n_per_arm_sequential"] / row["n_per_arm_fixed"]


def test_conditional_power_futility_keeps_its_bounds():
    section = {
        "information_fractions": [0.5, 1],
        "futility": {"type": "conditional_power", "threshold": 0.1, "beta": 0.2},
    }
    cfg = _cfg(["trial.n_per_arm=30"], section, acc={"period_months": 12})
    design = boundaries.boundaries_design(section)
    res = ss.simulate_decisions(cfg, scenario_id(cfg), 300, "mmrm", adjusted=False)
    assert (res["z_futility"][0] == design.z_futility[0]).all()
    # efficacy bounds at the observed information: MMRM interims see more than half
    observed = boundaries.observed_design(
        np.exp(np.mean(np.log(res["information"] / res["information"][-1].mean()), axis=1)),
        1.0,
        boundaries.boundaries_design({"information_fractions": [0.5, 1]}),
    )
    assert np.mean(res["z_efficacy"][0]) == pytest.approx(observed.z_efficacy[0], abs=0.02)
    assert np.mean(res["z_efficacy"][0]) < design.z_efficacy[0] - 0.2


# --------------------------------------------------------------------------- t statistics against normal bounds


def test_t_quantile_bounds_are_the_p_value_rule():
    # T >= F_t^{-1}(Phi(c); df) is the same test as Z = Phi^{-1}(F_t(T; df)) >= c (small df: 20 men per arm)
    cfg = _cfg(["trial.n_per_arm=20"], SECTIONS["followup"], acc={"rate_per_month": 4})
    res = ss.simulate_decisions(cfg, scenario_id(cfg), 3000, "ancova", adjusted=False)
    t_stat = ss.direction(cfg) * res["estimate"] / res["se"]
    bound = [stats.t.ppf(stats.norm.cdf(res[key]), res["df"]) for key in ("z_efficacy", "z_futility")]
    look, reject = ss.decide(t_stat, *bound)
    np.testing.assert_array_equal(look, res["look"])
    np.testing.assert_array_equal(reject, res["reject"])
    assert np.nanmax(res["df"][0]) < 20 and 0 < np.mean(res["look"] == 0) < 1


@pytest.mark.slow
def test_small_trial_type_one_error_of_the_significance_level_approach():
    # 40 men per arm, four looks, instant endpoints, no dropout: df 18, 38, 58, 78. The t statistics
    # mapped through their p-values keep the type I error at alpha (Student's t: 0.02525 in these
    # 100,000 trials); the same t statistics against the normal bounds reject far too often (0.0316).
    reps = 100_000
    cfg = _cfg(
        ["trial.n_per_arm=40", "effects.difference_pct=0", "dropout.anastrozole=0", "dropout.placebo=0"],
        SCHEDULES["four"],
    )
    res = ss.simulate_decisions(cfg, scenario_id(cfg), reps, "student_t", adjusted=False)
    se = np.sqrt(0.025 * 0.975 / reps)
    assert abs(np.mean(res["reject"]) - 0.025) < 3 * se
    naive = ss.decide(ss.direction(cfg) * res["estimate"] / res["se"], res["z_efficacy"], res["z_futility"])[
        1
    ]
    assert np.mean(naive) > 0.025 + 10 * se
