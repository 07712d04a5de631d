"""``power.solve``: one search over a monotone config key.

References: R ``power.t.test`` (tests/fixtures/power), and the tables of the
four separate search loops that ``solve`` replaced (tests/fixtures/solver, with
the script that made them).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vtrial import power
from vtrial.config import load_config, set_key

FIXTURES = Path(__file__).parent / "fixtures"
NO_DROPOUT = ["dropout.anastrozole=0", "dropout.placebo=0"]


@pytest.fixture(scope="module")
def r_power():
    return pd.read_csv(FIXTURES / "power" / "power_t_test.csv")


@pytest.mark.parametrize("target", [0.8, 0.9])
def test_integer_key_matches_r_sample_size(target, r_power):
    cfg = load_config(overrides=NO_DROPOUT)
    row = r_power[(r_power["quantity"] == "n_for_power") & np.isclose(r_power["target_power"], target)]
    n_r = math.ceil(float(row["n_per_arm"].iloc[0]))
    got = power.solve(cfg, "trial.n_per_arm", target, methods=["student_t"], analytic_only=True).iloc[0]
    assert got["value"] == n_r
    assert got["value_below"] == n_r - 1
    # both ends evaluated, and they straddle the target
    assert got["statistic"] >= target > got["statistic_below"]
    below = set_key(cfg, "trial.n_per_arm", n_r - 1)
    assert got["statistic_below"] == pytest.approx(power.analytic_power(below, "student_t"), abs=1e-12)


def test_continuous_key_matches_r_delta_and_keeps_the_sign(r_power):
    rows = r_power[r_power["quantity"] == "delta_for_power"]
    for sign in (-1, 1):
        cfg = load_config(
            overrides=[*NO_DROPOUT, "trial.n_per_arm=44", f"effects.difference_pct={sign * 2.46}"]
        )
        for p, delta in zip(rows["target_power"], rows["delta"], strict=True):
            t = power.solve(
                cfg, "effects.difference_pct", p, methods=["student_t"], analytic_only=True, tol=1e-4
            )
            got = t.iloc[0]
            assert got["value"] == pytest.approx(delta, abs=1e-4)
            assert got["statistic"] >= p
            assert math.isnan(got["value_below"])


def test_monte_carlo_search_brackets_the_target_with_common_random_numbers():
    cfg = load_config(overrides=NO_DROPOUT)
    t = power.solve(cfg, "trial.n_per_arm", 0.8, methods=["ancova"], reps=2000)
    got = t.iloc[0]
    assert got["statistic"] >= 0.8 > got["statistic_below"]
    # the streams do not depend on n: the answer's power is a plain run of the
    # scenario id without n, at that n
    at = set_key(cfg, "trial.n_per_arm", int(got["value"]))
    sums = power.simulate_sums(at, got["scenario_id"], 2000, ["ancova"], p_only=True)
    assert got["statistic"] == sums["ancova"][1] / 2000
    assert got["analytic_value"] == 25  # R: 24.34 men per arm for Student; ANCOVA adds one df
    assert abs(got["value"] - got["analytic_value"]) <= 2


def test_unreached_target_is_reported_as_nan():
    cfg = load_config(overrides=["analysis.methods=[ancova]", "effects.difference_pct=-0.1"])
    got = power.solve(cfg, "trial.n_per_arm", 0.8, reps=1000, upper=200).iloc[0]
    assert math.isnan(got["value"]) and math.isnan(got["statistic"])


@pytest.mark.parametrize(
    ("key", "kw", "needle"),
    [
        ("trial.allocation_ratio", {}, "trial.allocation_ratio"),
        ("trial.n_per_arm", {"statistic": "coverage"}, "coverage"),
        ("trial.n_per_arm", {"methods": ["nope"]}, "nope"),
    ],
)
def test_bad_search_arguments(key, kw, needle):
    from vtrial.errors import InputError

    with pytest.raises(InputError, match=needle):
        power.solve(load_config(), key, 0.8, **kw)


def _csv(table: pd.DataFrame) -> str:
    buf = io.StringIO()
    power.write_table(table, buf)
    return buf.getvalue()


def _cases():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_before", FIXTURES / "solver" / "make_before.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.cases())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ss_welch", "ss_mnar", "ss_grid", "ss_nmax", "mde", "mde_pos"])
def test_sample_size_and_mde_tables_unchanged(name):
    """The separate loops' tables, but for formula values and MDE midpoints now rounded to 12 decimals.

    Monte Carlo columns are equal exactly; the analytic columns and the MDE
    (whose search starts from the analytic answer) to 1e-11, since the formulas
    were vectorised since.
    """
    got = _cases()[name]()
    old = pd.read_csv(FIXTURES / "solver" / f"{name}.csv")
    new = pd.read_csv(io.StringIO(_csv(got)))
    close = [c for c in new.columns if c.startswith("analytic") or c == "mde_pct"]
    for col in close:
        np.testing.assert_allclose(new[col], old[col], rtol=0, atol=1e-11)
    pd.testing.assert_frame_equal(new.drop(columns=close), old.drop(columns=close))
