"""Tests of vtrial.pipeline: workflow config, scenarios, job batches, tipping point, summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vtrial import pipeline as vp
from vtrial.config import default_config, load_config, scenario_id
from vtrial.errors import InputError
from vtrial.streams import rng_for
from vtrial.trial import simulate_trial

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def wcfg():
    return vp.check_config(load_config())


def test_config_yaml_equals_packaged_default():
    assert yaml.safe_load((ROOT / "config" / "config.yaml").read_text()) == default_config()


@pytest.mark.parametrize("path", sorted((ROOT / "config" / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_valid(path):
    cfg = vp.check_config(load_config(path))
    assert vp.power_scenarios(cfg)


def test_workflow_config_replaces_grid_and_tornado_whole(tmp_path, wcfg):
    # Snakemake deep-merges config files; vtrial replaces grid and tornado whole.
    merged = {**wcfg, "grid": {"effects.difference_pct": [-1.0], "trial.allocation_ratio": [1.0, 2.0]}}
    merged["sensitivity"] = {**wcfg["sensitivity"], "tornado": {**wcfg["sensitivity"]["tornado"]}}
    f = tmp_path / "user.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "grid": {"effects.difference_pct": [-1.0]},
                "sensitivity": {"tornado": {"effects.sd_pct_change": [2.5, 3.5]}},
            }
        )
    )
    cfg = vp.workflow_config(merged, [f])
    assert cfg["grid"] == {"effects.difference_pct": [-1.0]}
    assert cfg["sensitivity"]["tornado"] == {"effects.sd_pct_change": [2.5, 3.5]}


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("grid.pipeline.power_jobs=[1, 2]", "grid.pipeline.power_jobs"),
        ("grid.effects.sd_pct_chnage=[3.0]", "effects.sd_pct_chnage"),
        ("grid.effects.sd_pct_change=[-1.0]", "effects.sd_pct_change"),
        ("sensitivity.tornado={effects.nope: [1, 2]}", "effects.nope"),
        ("sensitivity.tornado={effects.sd_pct_change: [-1, 3]}", "effects.sd_pct_change"),
        ("sensitivity.method=mmrm", "sensitivity.method"),
        ("pipeline.power_jobs=0", "pipeline.power_jobs"),
    ],
)
def test_bad_workflow_config_names_the_key(override, key):
    with pytest.raises(InputError, match=key.replace(".", r"\.")) as err:
        vp.check_config(load_config(overrides=[override]))
    assert "\n" not in str(err.value)


def test_power_scenarios_cross_grid_with_n(wcfg):
    cfg = load_config(overrides=["grid.effects.difference_pct=[-2.46, -1.0]"])
    sc = vp.power_scenarios(vp.check_config(cfg))
    assert len(sc) == 2 * len(cfg["pipeline"]["power_n_per_arm"])
    assert {k for s in sc for k, _ in s.grid_values} == {"trial.n_per_arm", "effects.difference_pct"}
    # a grid over n replaces pipeline.power_n_per_arm
    cfg = vp.check_config(load_config(overrides=["grid.trial.n_per_arm=[20, 30]"]))
    assert [s.config["trial"]["n_per_arm"] for s in vp.power_scenarios(cfg)] == [20, 30]


def _names(cfg):
    jobs = vp.batches(vp.power_scenarios(cfg), cfg["pipeline"]["power_jobs"])
    return {name: [s.id for s in members] for name, members in jobs.items()}


def test_batches_cover_every_scenario_once_and_balance_cost(wcfg):
    scen = vp.power_scenarios(wcfg)
    jobs = vp.batches(scen, 4)
    ids = [s.id for members in jobs.values() for s in members]
    assert sorted(ids) == sorted(s.id for s in scen)
    load = [sum(s.config["trial"]["n_per_arm"] for s in m) for m in jobs.values()]
    assert len(jobs) == 4 and max(load) - min(load) <= max(wcfg["pipeline"]["power_n_per_arm"])


def test_changing_one_grid_value_keeps_the_other_jobs():
    a = vp.check_config(load_config(overrides=["grid.effects.difference_pct=[-2.46, -1.5, -1.0]"]))
    b = vp.check_config(load_config(overrides=["grid.effects.difference_pct=[-2.46, -1.5, -0.8]"]))
    ja, jb = _names(a), _names(b)
    same = {k for k in ja if jb.get(k) == ja[k]}
    assert len(same) == len(ja) - len([k for k in ja if k not in jb])
    assert len(same) == 2 * len(ja) // 3  # the curves of -2.46 and -1.5 are untouched


def test_many_curves_share_few_jobs():
    cfg = vp.check_config(load_config(overrides=[
        "grid.effects.difference_pct=[-3, -2.5, -2, -1.5, -1, -0.5]", "pipeline.power_jobs=2",
    ]))  # fmt: skip
    jobs = vp.batches(vp.power_scenarios(cfg), 2)
    assert set(jobs) <= {"h0", "h1"}
    assert sum(len(m) for m in jobs.values()) == 6 * len(cfg["pipeline"]["power_n_per_arm"])


def test_sensitivity_designs(wcfg):
    s = wcfg["sensitivity"]
    eff = vp.effect_sd_scenarios(wcfg)
    assert len(eff) == len(s["difference_pct"]) * len(s["sd_pct_change"])
    drop = vp.dropout_scenarios(wcfg)
    assert len(drop) == len(s["dropout_rate"]) * len(s["dropout_mechanisms"])
    assert all(c.config["dropout"]["anastrozole"] == c.config["dropout"]["placebo"] for c in drop)
    tor = vp.tornado_scenarios(wcfg)
    assert tor[0][0] == "base" and len(tor) == 1 + 2 * len(s["tornado"])
    for key, _side, value, c in tor[1:]:
        head, last = key.rsplit(".", 1)
        node = c
        for part in head.split("."):
            node = node[part]
        assert node[last] == value


def test_payload_leaves_out_workflow_sections(wcfg):
    item = vp.scenario_payload(vp.power_scenarios(wcfg)[:1])[0]
    assert "pipeline" not in item["config"] and "sensitivity" not in item["config"]
    assert scenario_id(item["config"]) == item["id"]


@pytest.mark.parametrize("method", ["ancova", "welch_t", "student_t"])
def test_tipping_grid_reproduces_delta_mnar_in_one_arm(wcfg, method):
    from vtrial.analysis import run_methods
    from vtrial.analysis.data import to_wide

    data = simulate_trial(wcfg, rng=rng_for(wcfg["seed"], scenario_id(wcfg), 0))
    grid = vp.tipping_grid(to_wide(data), [0.0, 3.0], method=method, rng=np.random.default_rng(5))
    for arm, other in (("anastrozole", "placebo"), ("placebo", "anastrozole")):
        ref = run_methods(data, [method], missing="delta_mnar", rng=np.random.default_rng(5),
                          options={"delta": 3.0, "delta_arm": arm}).iloc[0]  # fmt: skip
        row = grid[(grid[f"delta_{arm}"] == 3.0) & (grid[f"delta_{other}"] == 0.0)].iloc[0]
        for col in ("estimate", "se", "ci_low", "ci_high", "p_value", "df"):
            assert row[col] == pytest.approx(ref[col], rel=1e-10, abs=1e-12), col


def test_rubin_pool_many_matches_rubin_pool():
    from vtrial.analysis.missing import rubin_pool

    rng = np.random.default_rng(1)
    q, u = rng.normal(size=(3, 7)), rng.uniform(0.5, 1.0, size=(3, 7))
    for dfcom in (40.0, np.inf):
        qbar, t, df = vp.rubin_pool_many(q, u, np.full(3, dfcom))
        for i in range(3):
            ref = rubin_pool(q[i], u[i], dfcom=dfcom)
            assert (qbar[i], t[i], df[i]) == pytest.approx((ref.qbar, ref.t, ref.df), rel=1e-12)


def test_tipping_design_moves_with_the_shift(wcfg):
    cfg = vp.check_config(load_config(overrides=["sensitivity.tipping_delta_pct=[-6, 0, 6]"]))
    t = vp.tipping_design(cfg, reps=40, rng=rng_for(1, "00ab", 0))
    at = t.set_index(["delta_anastrozole", "delta_placebo"])["power"]
    # shifting the anastrozole dropouts up (towards placebo) can only weaken the effect
    assert at[(6.0, 0.0)] < at[(0.0, 0.0)] < at[(-6.0, 0.0)] + 1e-12
    assert set(t["reps"]) == {40}


def test_tipping_points():
    g = pd.DataFrame({"delta_anastrozole": [0, 2, 4, 0, 0, -2, 0],
                      "delta_placebo": [0, 0, 0, 2, -2, 0, 4],
                      "holds": [1, 1, 0, 1, 0, 1, 1]})  # fmt: skip
    tp = vp.tipping_points(g, "holds").set_index(["arm", "direction"])["tipping_delta"]
    assert tp[("anastrozole", "positive")] == 4
    assert np.isnan(tp[("anastrozole", "negative")])
    assert tp[("placebo", "negative")] == -2
    assert np.isnan(tp[("placebo", "positive")])


def test_example_analysis_has_contract_columns(wcfg):
    data = simulate_trial(wcfg, rng=rng_for(wcfg["seed"], scenario_id(wcfg), 0))
    table = vp.example_analysis(data, wcfg, ["welch_t", "ancova", "mann_whitney"])
    assert set(vp.ANALYSIS_COLUMNS) <= set(table.columns)
    assert table["method"].tolist()[:3] == ["welch_t", "ancova", "mann_whitney"]
    assert set(table.loc[table["method"] == "ancova", "missing"]) >= {"complete_case", "bocf", "locf"}


def test_replication_table(wcfg):
    t = vp.replication_table(wcfg, 200)
    assert len(t) == 200 and t["p_value"].between(0, 1).all()
    assert t["estimate"].mean() == pytest.approx(-2.46, abs=0.3)


def test_summary_markdown_states_the_numbers(wcfg):
    ss = pd.DataFrame({"method": ["ancova", "welch_t", "ancova", "welch_t"],
                       "target_power": [0.8, 0.8, 0.9, 0.9], "n_per_arm": [32, 33, 42, 43],
                       "power": [0.81, 0.8, 0.9, 0.91], "power_se": [0.004] * 4})  # fmt: skip
    tor = pd.DataFrame({"key": ["base", "effects.sd_pct_change", "effects.sd_pct_change"],
                        "side": ["base", "low", "high"], "value": [None, 2.5, 3.5],
                        "n_per_arm": [42, 30, 57]})  # fmt: skip
    text = vp.summary_markdown(wcfg, sample_size=ss, tornado=tor)
    assert "For 80% power with ancova, 32 men per arm" in text
    assert "For 90% power with ancova, 42 men per arm" in text
    assert "welch_t 43" in text
    assert "`effects.sd_pct_change` from 2.5 to 3.5: 30 to 57 men per arm" in text
    assert "-2.46 percentage points" in text


def test_sample_size_under_no_effect_is_not_searched(wcfg):
    cfg = vp.check_config(load_config(overrides=["effects.difference_pct=0"]))
    item = vp.scenario_payload(vp.sample_size_scenarios(cfg))
    t = vp.sample_size_table(item, targets=[0.9], methods=["ancova"], reps=100)
    assert t["n_per_arm"].isna().all()


def test_job_log_records_phases(tmp_path):
    import json

    log = tmp_path / "logs" / "job.log"
    with vp.job_log(log) as timer:
        with timer.phase("compute"):
            print("hello")
    lines = log.read_text().splitlines()
    assert lines[0] == "hello"
    timing = json.loads(lines[-1].split(" ", 1)[1])
    assert {"compute", "script"} <= set(timing)
