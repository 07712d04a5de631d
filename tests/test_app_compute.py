"""The teaching app's computations, without a browser (vtrial.app.compute)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vtrial.app import compute
from vtrial.assurance import analytic_assurance, run_assurance
from vtrial.config import load_config, set_key
from vtrial.errors import InputError
from vtrial.power import run_power
from vtrial.priors import Normal

POWER = {"difference_pct": -2.0, "sd_pct_change": 3.0, "dropout_rate": 0.2, "mechanism": "MNAR",
         "n_per_arm": 30, "method": "ancova", "reps": 1000, "seed": 7}  # fmt: skip
ASSURANCE = {"prior_mean": -2.46, "prior_sd": 0.74, "dropout_rate": 0.2, "method": "ancova",
             "n_per_arm": 30, "reps": 1000, "seed": 7}  # fmt: skip


def test_one_trial_page_lists_blocks_and_dropouts():
    t = compute.one_trial({"seed": 3, "n_per_arm": 20, "block_size": "4", "method": "welch_t",
                           "missing": "complete_case"})  # fmt: skip
    assert len(t.blocks) == 40 and t.blocks["block"].max() == 10
    assert (t.blocks.groupby("block")["arm"].apply(lambda a: (a == "anastrozole").sum()) == 2).all()
    assert t.blocks["order"].tolist() == [1, 2, 3, 4] * 10  # blocks of four filled in enrolment order
    done = t.data[(t.data["visit_month"] == 12) & t.data["bmd_g_cm2"].notna()]["subject_id"]
    assert set(t.dropouts["subject_id"]) == set(range(1, 41)) - set(done)
    assert t.analysis.loc[0, "n_placebo"] + t.analysis.loc[0, "n_anastrozole"] == len(done)
    assert "vtrial simulate --seed 3" in t.command and "--method welch_t" in t.command


def test_power_page_row_is_run_power_at_that_n():
    page = compute.power_page(POWER)
    alone = run_power(load_config(overrides=page.overrides, seed=7), reps=1000, methods=["ancova"]).iloc[0]
    assert page.at_n["power"] == alone["power"] and page.at_n["bias"] == alone["bias"]
    assert 30 in page.curve["n_per_arm"].tolist() and np.isnan(page.at_n["analytic_power"])  # MNAR
    assert page.curve.sort_values("n_per_arm")["power"].is_monotonic_increasing


@pytest.mark.parametrize(
    ("page", "key", "value"),
    [("power", "n_per_arm", "1"), ("power", "n_per_arm", "ten"), ("power", "n_per_arm", 30.5),
     ("power", "reps", None), ("power", "mechanism", "MAYBE"), ("power", "difference_pct", float("nan")),
     ("power", "sd_pct_change", 0), ("power", "method", "ttest"),
     ("assurance", "prior_sd", 0), ("assurance", "prior_sd", 2.5), ("assurance", "prior_mean", 0),
     ("assurance", "prior_mean", "x"), ("assurance", "method", "mmrm"), ("assurance", "n_per_arm", 3),
     ("assurance", "dropout_rate", 0.9)],
)  # fmt: skip
def test_bad_inputs_are_refused_in_one_line_naming_the_key(page, key, value):
    fn, good = {"power": (compute.power_page, POWER), "assurance": (compute.assurance_page, ASSURANCE)}[page]
    with pytest.raises(InputError) as e:
        fn({**good, key: value})
    msg = str(e.value)
    assert msg.startswith(f"{key}: value") and "\n" not in msg and "allowed" in msg


def test_curve_sizes_include_the_chosen_n():
    for n in (4, 13, 44, 500):
        sizes = compute.curve_sizes(n)
        assert n in sizes and sizes == sorted(set(sizes)) and min(sizes) >= 4


def test_assurance_page_is_run_assurance_for_the_same_settings_and_seed():
    page = compute.assurance_page(ASSURANCE)
    # The config written out by hand, as the page's command sets it.
    cfg = load_config(overrides=["prior.difference.distribution=normal", "prior.difference.mean=-2.46",
                                 "prior.difference.sd=0.74", "dropout.anastrozole=0.2", "dropout.placebo=0.2",
                                 "grid={trial.n_per_arm: [8, 15, 22, 30, 38, 45, 60]}"], seed=7)  # fmt: skip
    expected = run_assurance(cfg, reps=1000, methods=["ancova"])
    pd.testing.assert_frame_equal(page.table, expected)
    row = expected[expected["n_per_arm"] == 30].iloc[0]
    assert page.at_n["assurance"] == row["assurance"] and page.at_n["power"] == row["power"]
    # Assurance below power at the prior mean, and the ceiling is P(difference < 0) of N(-2.46, 0.74^2).
    assert row["assurance"] < row["power"]
    assert row["max_assurance"] == pytest.approx(stats.norm.cdf(0, -2.46, 0.74), abs=1e-12)
    assert (
        "--set prior.difference.sd=0.74" in page.command and "--grid trial.n_per_arm=8,15,22" in page.command
    )


def test_assurance_page_n_is_the_smallest_reaching_the_target():
    page = compute.assurance_page(ASSURANCE)
    one = load_config(overrides=[*page.overrides], seed=7)
    prior = Normal(-2.46, 0.74)
    for target, n in page.n_for.items():
        at = analytic_assurance(set_key(one, "trial.n_per_arm", int(n)), "ancova", prior)
        below = analytic_assurance(set_key(one, "trial.n_per_arm", int(n) - 1), "ancova", prior)
        assert below < target <= at
    assert page.n_for[0.8] < page.n_for[0.9]
    assert page.adjusted_2009 == pytest.approx(-2.282, abs=5e-4)  # the selection module's doctest value


def test_assurance_target_above_the_ceiling_is_not_reachable():
    # N(-0.5, 2^2) favours harm with probability Phi(0.25) = 0.599: neither 80% nor 90% is reachable.
    page = compute.assurance_page({**ASSURANCE, "prior_mean": -0.5, "prior_sd": 2.0, "reps": 200})
    assert all(np.isnan(n) for n in page.n_for.values())
    assert page.at_n["max_assurance"] == pytest.approx(stats.norm.cdf(0.25), abs=1e-12)
