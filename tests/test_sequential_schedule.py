"""Group-sequential simulation on any visit schedule (vtrial.sequential_design).

References: statsmodels OLS (ANCOVA) and vtrial.analysis.mmrm.fit_mmrm_visits
(iterative REML for any missing pattern, itself checked against R nlme) on the
men and scans of one simulated trial selected by hand at an interim look; the
exact Student-t information n0 n1 / (n0 + n1).
"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from vtrial import accrual, design_stats
from vtrial import sequential_sim as ss
from vtrial.analysis.mmrm import fit_mmrm_visits
from vtrial.config import load_config, scenario_id
from vtrial.design_sim import simulate_design
from vtrial.errors import InputError
from vtrial.streams import seed_sequence

SCHEDULE24 = "trial.schedule={visits_months: [0, 6, 12, 18, 24], dxa_months: [0, 6, 12, 18, 24]}"


def _cfg(section, overrides=(), acc=None):
    cfg = load_config(overrides=[SCHEDULE24, *overrides])
    cfg["sequential"] = section
    if acc is not None:
        cfg["trial"]["accrual"] = acc
    return cfg


def _trial(cfg, reps):
    """The first block's trials, as simulate_looks draws them."""
    return simulate_design(cfg, reps, rng=seed_sequence(cfg["seed"], scenario_id(cfg), 0), covariates=False)


def test_interim_look_analyses_the_scans_due_by_then():
    acc = {"rate_per_month": 5}
    cfg = _cfg({"look_months": [30, 36, 42]}, ["trial.n_per_arm=40"], acc)
    res = ss.simulate_looks(cfg, scenario_id(cfg), 3, "ancova")
    mm = ss.simulate_looks(cfg, scenario_id(cfg), 3, "mmrm")
    arrays = _trial(cfg, 3)
    entry = accrual.entry_times(acc, 80)
    y = arrays.change("spine", "pct")
    months = np.array([6, 12, 18, 24])
    for r in range(3):
        # look 1 at month 30: a scan at month s is in when entry + s <= 30 and the man attended it
        due = entry[:, None] + months[None, :] <= 30
        yr = np.where(due, y[r], np.nan)
        frame = pd.DataFrame(
            {"y": yr[:, 3], "arm": arrays.arm[r], "b0": arrays.bmd["spine"][r, :, 0]}
        ).dropna()
        fit = smf.ols("y ~ arm + b0", data=frame).fit()
        assert res["estimate"][0, r] == pytest.approx(fit.params["arm"], rel=1e-9)
        assert res["se"][0, r] == pytest.approx(fit.bse["arm"], rel=1e-9)
        assert res["n_endpoint"][0, r] == len(frame) == np.sum(np.isfinite(yr[:, 3]))
        # MMRM on every scan in: change ~ visit + visit:arm + visit:b0, unstructured, REML
        seen = np.isfinite(yr).any(axis=1)
        z = np.column_stack([np.ones(80), arrays.arm[r], arrays.bmd["spine"][r, :, 0]])[seen]
        contrast = np.zeros((1, 12))
        contrast[0, 10] = 1.0  # arm effect at month 24
        ref = fit_mmrm_visits(z, yr[seen], contrast)
        assert mm["estimate"][0, r] == pytest.approx(ref.beta[10], rel=1e-6)
        assert mm["se"][0, r] == pytest.approx(np.sqrt(ref.cov_beta[10, 10]), rel=1e-5)
        assert mm["df"][0, r] == pytest.approx(ref.contrast_df, rel=1e-4)
    # the final look (month 42, after the last man's month-24 scan) is the analysis of the full trial
    full = design_stats.ancova_design(y[..., 3], arrays.bmd["spine"][..., 0], arrays.arm, 2, [(1, 0)], 0.05)[
        0
    ]
    np.testing.assert_allclose(res["estimate"][2], full.estimate, rtol=1e-12)
    np.testing.assert_allclose(res["month"][:, 0], [30, 36, 42])


def test_student_t_information_on_a_schedule_without_accrual():
    cfg = _cfg(
        {"information_fractions": [0.25, 0.5, 1]},
        ["trial.n_per_arm=40", "dropout.anastrozole=0", "dropout.placebo=0"],
    )
    res = ss.simulate_looks(cfg, scenario_id(cfg), 20, "student_t")
    # blocks of 4 keep the arms balanced: 10 + 10, 20 + 20, 40 + 40 men
    np.testing.assert_allclose(res["information"], np.array([[5.0], [10.0], [20.0]]) + 0 * res["z"])
    assert (res["n_endpoint"] == np.array([[20], [40], [80]])).all()


def test_schedule_results_do_not_depend_on_the_number_of_replicates():
    # as the design power engine: trials depend on (seed, scenario, block of 1000, place in it)
    cfg = _cfg({"look_endpoints": [20, 50]}, ["trial.n_per_arm=30"], {"period_months": 10})
    a = ss.simulate_looks(cfg, scenario_id(cfg), 1000, "mmrm")
    b = ss.simulate_looks(cfg, scenario_id(cfg), 1300, "mmrm")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key][:, :1000])
    assert (a["n_endpoint"][0] == 20).all()


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "trial.arms=[{name: placebo}, {name: anastrozole}, {name: high, difference_pct: -3, allocation: 2}]",
            "trial.arms",
        ),
        ("effects.hip={}", "effects.hip"),
        ("effects.mode=estradiol_mediated", "effects.mode direct"),
    ],
)
def test_other_design_keys_are_refused(override, message):
    cfg = _cfg({"information_fractions": [0.5, 1]}, [override])
    with pytest.raises(InputError, match=message):
        ss.check_config(cfg, "ancova")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ancova", "mmrm"])
def test_type_one_error_on_a_24_month_schedule(method):
    # scans every 6 months to month 24, three looks, 8 men a month after a 3-month ramp-up
    reps = 20_000
    cfg = _cfg(
        {"information_fractions": [0.33, 0.67, 1]},
        ["trial.n_per_arm=100", "effects.difference_pct=0"],
        {"rate_per_month": 8, "ramp_up_months": 3},
    )
    res = ss.simulate_decisions(cfg, scenario_id(cfg), reps, method, adjusted=False)
    alpha = 0.025
    assert np.mean(res["reject"]) <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / reps)
    observed = np.nanmean(res["information"] / res["information"][-1], axis=1)
    if method == "mmrm":  # the scans at months 6-18 of men not yet at month 24 add information
        assert observed[0] > 0.5
    else:
        assert abs(observed[0] - 0.33) < 0.02
