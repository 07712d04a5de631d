"""Looks by calendar month and by men with the endpoint (vtrial.sequential_looks, vtrial.sequential_sim).

References: closed forms of the accrual (entry of man j at (j + 1/2) P / N with
period_months P), counts of men followed by a month, and the definition of a
look by men with the endpoint scan (exactly m_k men have it at the look).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vtrial import sequential_looks as looks
from vtrial import sequential_sim as ss
from vtrial.cli import main
from vtrial.config import load_config, scenario_id, validate_config
from vtrial.errors import InputError


def _cfg(section, overrides=("trial.n_per_arm=30",), acc=None):
    cfg = load_config(overrides=list(overrides))
    cfg["sequential"] = section
    if acc is not None:
        cfg["trial"]["accrual"] = acc
    return cfg


def test_planned_fractions_by_month_count_the_men_followed():
    # 60 men over 15 months: man j enters at (j + 0.5) / 4; by month C, 4 (C - 12) men are past month 12
    cfg = _cfg({"look_months": [17, 22, 27.125]}, acc={"period_months": 15})
    followed = np.minimum(np.floor(4 * (np.array([17, 22, 27.125]) - 12) - 0.5) + 1, 60)
    np.testing.assert_allclose(looks.planned_fractions(cfg), followed / 60)
    plan = ss.look_plan(cfg)
    assert plan.n_endpoint.tolist() == [20, 40, 60]
    np.testing.assert_allclose(plan.months, [17, 22, 27.125])
    assert plan.n_enrolled.tolist() == [60, 60, 60]


def test_planned_fractions_by_men_with_the_endpoint():
    cfg = _cfg({"look_endpoints": [15, 30, 45]})
    np.testing.assert_allclose(looks.planned_fractions(cfg), [1 / 3, 2 / 3, 1])
    section = looks.planned_section(cfg)
    assert "look_endpoints" not in section and len(section["information_fractions"]) == 3


def test_months_looks_in_the_simulation():
    cfg = _cfg({"look_months": [20, 30]}, acc={"period_months": 20})
    res = ss.simulate_looks(cfg, scenario_id(cfg), 400, "ancova")
    assert (res["month"] == np.array([[20.0], [30.0]])).all()
    # 60 men over 20 months: 3 a month; by month 20, 3 * 8 = 24 men are followed to month 12
    assert (res["n_enrolled"] == 60).all()
    assert res["n_endpoint"][0].max() <= 24 and res["n_endpoint"][1].max() <= 54
    assert res["n_endpoint"][0].mean() > 0.7 * 24  # dropout only removes men


def test_endpoint_looks_hold_exactly_that_many_men():
    cfg = _cfg({"look_endpoints": [20, 40, 45]}, acc={"rate_per_month": 4})
    end = 59.5 / 4 + 12  # the last man's endpoint month
    for method in ("mmrm", "ancova"):
        res = ss.simulate_looks(cfg, scenario_id(cfg), 500, method)
        # the look is held at the m_k-th endpoint scan: exactly m_k men have it (entries are distinct)
        for k, m in enumerate([20, 40, 45]):
            reached = res["n_endpoint"][k] == m
            # a look not reached (dropout) is at the end of follow-up; an interim one is skipped
            np.testing.assert_allclose(res["month"][k][~reached], end)
            assert np.isnan(res["z"][k][~reached]).all() == (k < 2)
            assert np.isfinite(res["z"][k][reached]).all()
            assert reached.mean() > (0.9 if k < 2 else 0.5)
        # the month is the entry of the man with the 20th endpoint scan plus 12 months: not before the 20th man's
        assert (res["month"][0] >= 19.5 / 4 + 12 - 1e-9).all()


def test_endpoint_looks_without_accrual_use_enrolment_order():
    cfg = _cfg(
        {"look_endpoints": [20, 40]}, ["trial.n_per_arm=30", "dropout.anastrozole=0", "dropout.placebo=0"]
    )
    res = ss.simulate_looks(cfg, scenario_id(cfg), 50, "student_t")
    # no dropout: the first 20 and 40 men; Student's t information n0 n1 / (n0 + n1) (blocks of 4 keep balance)
    assert (res["n_endpoint"] == np.array([[20], [40]])).all()
    np.testing.assert_allclose(res["information"], np.array([[5.0], [10.0]]) + 0 * res["z"])
    assert np.isnan(res["month"]).all()


def test_skipped_interim_look_has_no_test():
    # 60 men with 50 % dropout: an interim look at 40 endpoint scans is rarely reached
    cfg = _cfg(
        {"look_endpoints": [40, 45]},
        ["trial.n_per_arm=30", "dropout.anastrozole=0.5", "dropout.placebo=0.5"],
        acc={"period_months": 12},
    )
    res = ss.simulate_decisions(cfg, scenario_id(cfg), 300, "ancova", adjusted=False)
    skipped = np.isnan(res["z"][0])
    assert skipped.mean() > 0.5
    assert (res["look"][skipped] == 1).all()
    assert np.isfinite(res["z"][1]).all()


def test_expected_decision_month_is_the_month_of_the_stopping_look():
    cfg = _cfg(
        {"look_months": [20, 26, 32], "futility": {"type": "as_hsd", "gamma": -2, "beta": 0.2}},
        ["trial.n_per_arm=30", "effects.difference_pct=-2"],
        acc={"rate_per_month": 4, "ramp_up_months": 2},
    )
    res = ss.simulate_decisions(cfg, scenario_id(cfg), 600, "ancova", adjusted=False)
    table = ss.summarise(cfg, res, "ancova", "h1")
    stop = res["look"]
    expected = np.mean(np.array([20, 26, 32])[stop])
    assert table["month"].iloc[-1] == pytest.approx(expected, abs=1e-12)
    assert table["month"].iloc[:3].tolist() == [20, 26, 32]
    assert 0 < np.mean(stop < 2) < 1


@pytest.mark.slow
@pytest.mark.parametrize("section", [{"look_months": [22, 30, 38]}, {"look_endpoints": [40, 90, 150]}])
def test_type_one_error_with_looks_by_month_or_men(section):
    reps = 20_000
    cfg = _cfg(
        {**section, "efficacy": {"type": "as_pocock"}},
        ["trial.n_per_arm=100", "effects.difference_pct=0"],
        acc={"rate_per_month": 8, "ramp_up_months": 3},
    )
    res = ss.simulate_decisions(cfg, scenario_id(cfg), reps, "ancova", adjusted=False)
    alpha = 0.025
    assert np.mean(res["reject"]) <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / reps)
    # Pocock spends a lot early: the interim looks do reject
    assert np.mean(res["reject"] & (res["look"] == 0)) > 0.005


@pytest.mark.parametrize(
    "section, trial, message",
    [
        ({"look_months": [20, 30]}, {}, "need trial.accrual"),
        ({"look_months": [10, 30]}, {"accrual": {"period_months": 12}}, "before the first man"),
        ({"look_months": [25, 30]}, {"accrual": {"period_months": 12}}, "same 88 men"),
        ({"look_endpoints": [40, 100]}, {}, "more than the 88 men"),
        ({"look_endpoints": [40, 40.5]}, {}, "look_endpoints[1]"),
        ({"look_endpoints": [40, 30]}, {}, "strictly increasing"),
        ({"look_months": [20, 30], "information_fractions": [0.5, 1]}, {}, "exactly one of"),
        ({"alpha": 0.025}, {}, "information_fractions' is missing"),
    ],
)
def test_inconsistent_looks_exit_2(tmp_path, capsys, section, trial, message):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"trial": trial, "sequential": section}))
    for extra in ([], ["--simulate", "--reps", "10"]):
        assert main(["sequential", "--config", str(config), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_boundaries_table_by_month():
    cfg = validate_config(_cfg({"look_months": [17, 22, 27]}, acc={"period_months": 15}))
    from vtrial.boundaries import boundaries_table

    table = boundaries_table(looks.planned_section(cfg))
    np.testing.assert_allclose(table["information_fraction"], looks.planned_fractions(cfg))
    with pytest.raises(InputError, match="sequential.look_months"):
        boundaries_table(cfg["sequential"])


def test_example_24_month_schedule_with_calendar_looks(tmp_path):
    # config/examples/sequential_24m.yaml: 90 men, 4 a month after a 3-month ramp (6 men in the ramp);
    # by month 36 (42) the men who entered by month 12 (18) are past month 24: 6 + 4 * 9 = 42 (66)
    out = tmp_path / "oc.csv"
    example = Path(__file__).resolve().parents[1] / "config" / "examples" / "sequential_24m.yaml"
    args = ["sequential", "--config", str(example), "--simulate", "--reps", "200"]
    assert main([*args, "--method", "ancova", "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    rows = table[(table["scenario"] == "h1") & (table["look"] != "overall")]
    np.testing.assert_allclose(rows["information_fraction"], [42 / 90, 66 / 90, 1])
    assert rows["month"].tolist() == [36, 42, 48] and (rows["n_enrolled"] == 90).all()
    overall = table[(table["scenario"] == "h1") & (table["look"] == "overall")].iloc[0]
    assert 36 <= overall["month"] <= 48
