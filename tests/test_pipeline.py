"""Tests of vtrial.pipeline (workflow config, scenarios, jobs, stages), the tipping-point
statistics, the report text (vtrial.report) and the workflow scripts' helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vtrial import pipeline as vp
from vtrial import report
from vtrial.analysis import tipping
from vtrial.analysis.result import RESULT_COLUMNS
from vtrial.config import default_config, load_config, scenario_id
from vtrial.errors import InputError
from vtrial.provenance import config_sha256, provenance
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
    # more jobs than curves: each curve is split over jobs of its own
    a = vp.check_config(
        load_config(overrides=["grid.effects.difference_pct=[-2.46, -1.5, -1.0]", "pipeline.power_jobs=4"])
    )
    b = vp.check_config(
        load_config(overrides=["grid.effects.difference_pct=[-2.46, -1.5, -0.8]", "pipeline.power_jobs=4"])
    )
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
    from vtrial.analysis import method_seed

    grid = tipping.tipping_grid(to_wide(data), [0.0, 3.0], method=method, rng=method_seed(5, method))
    for arm, other in (("anastrozole", "placebo"), ("placebo", "anastrozole")):
        ref = run_methods(data, [method], missing="delta_mnar", rng=5,
                          options={"delta": 3.0, "delta_arm": arm}).iloc[0]  # fmt: skip
        row = grid[(grid[f"delta_{arm}"] == 3.0) & (grid[f"delta_{other}"] == 0.0)].iloc[0]
        for col in ("estimate", "se", "ci_low", "ci_high", "p_value", "df"):
            assert row[col] == pytest.approx(ref[col], rel=1e-10, abs=1e-12), col


def test_rubin_pool_many_matches_rubin_pool():
    from vtrial.analysis.missing import rubin_pool, rubin_pool_many

    rng = np.random.default_rng(1)
    q, u = rng.normal(size=(3, 7)), rng.uniform(0.5, 1.0, size=(3, 7))
    for dfcom in (40.0, np.inf):
        qbar, t, df = rubin_pool_many(q, u, np.full(3, dfcom))
        for i in range(3):
            ref = rubin_pool(q[i], u[i], dfcom=dfcom)
            assert (qbar[i], t[i], df[i]) == pytest.approx((ref.qbar, ref.t, ref.df), rel=1e-12)


def test_tipping_design_moves_with_the_shift(wcfg):
    cfg = vp.check_config(load_config(overrides=["sensitivity.tipping_delta_pct=[-6, 0, 6]"]))
    t = tipping.tipping_design(cfg, [-6, 0, 6], method="ancova", reps=40, rng=rng_for(1, "00ab", 0))
    at = t.set_index(["delta_anastrozole", "delta_placebo"])["power"]
    # shifting the anastrozole dropouts up (towards placebo) can only weaken the effect
    assert at[(6.0, 0.0)] < at[(0.0, 0.0)] < at[(-6.0, 0.0)] + 1e-12
    assert set(t["reps"]) == {40}


def test_tipping_points():
    g = pd.DataFrame({"delta_anastrozole": [0, 2, 4, 0, 0, -2, 0],
                      "delta_placebo": [0, 0, 0, 2, -2, 0, 4],
                      "holds": [1, 1, 0, 1, 0, 1, 1]})  # fmt: skip
    tp = tipping.tipping_points(g, "holds").set_index(["arm", "direction"])["tipping_delta"]
    assert tp[("anastrozole", "positive")] == 4
    assert np.isnan(tp[("anastrozole", "negative")])
    assert tp[("placebo", "negative")] == -2
    assert np.isnan(tp[("placebo", "positive")])


def test_example_analysis_has_contract_columns(wcfg):
    data = simulate_trial(wcfg, rng=rng_for(wcfg["seed"], scenario_id(wcfg), 0))
    table = vp.example_analysis(data, wcfg, ["welch_t", "ancova", "mann_whitney"])
    assert set(RESULT_COLUMNS) <= set(table.columns)
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
    text = report.summary_markdown(wcfg, sample_size=ss, tornado=tor)
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


def test_job_log_records_phases(tmp_path, monkeypatch):
    import json

    monkeypatch.syspath_prepend(str(ROOT / "workflow" / "scripts"))
    from _log import job_log

    log = tmp_path / "logs" / "job.log"
    with job_log(log) as timer:
        with timer.phase("compute"):
            print("hello")
    lines = log.read_text().splitlines()
    assert lines[0] == "hello"
    timing = json.loads(lines[-1].split(" ", 1)[1])
    assert {"compute", "script"} <= set(timing)


# --------------------------------------------------------------------------- jobs and their keys


def test_stage_config_keeps_only_the_named_workflow_keys(wcfg):
    c = vp.stage_config(wcfg, "sensitivity.tornado_power", "sensitivity.method")
    assert c["sensitivity"] == {"tornado_power": 0.9, "method": "ancova"}
    assert "pipeline" not in c and c["grid"] == {}
    assert c["effects"] == wcfg["effects"]
    # changing a key the stage does not read leaves its params equal
    other = vp.check_config(load_config(overrides=["sensitivity.tipping_reps=7"]))
    assert vp.stage_config(other, "sensitivity.tornado_power", "sensitivity.method") == c


def test_sample_size_jobs_follow_the_grid_values():
    a = vp.check_config(load_config(overrides=[
        "grid.effects.difference_pct=[-2.46, -1.5]", "analysis.methods=[ancova, welch_t]",
    ]))  # fmt: skip
    b = vp.check_config(load_config(overrides=[
        "grid.effects.difference_pct=[-2.46, -1.2]", "analysis.methods=[ancova, welch_t]",
    ]))  # fmt: skip
    ja, jb = vp.sample_size_jobs(a), vp.sample_size_jobs(b)
    assert len(ja) == 2 and all(job["methods"] == ["ancova", "welch_t"] for job in ja.values())
    same = {k for k in ja if k in jb and ja[k] == jb[k]}
    assert len(same) == 1  # the -2.46 scenario's job keeps its name and params
    assert all(ja[k]["scenario"]["grid"] == [["effects.difference_pct", -2.46]] for k in same)


def test_scenario_key_separates_analysis_grid_values():
    cfg = vp.check_config(load_config(overrides=["grid.analysis.alpha=[0.05, 0.01]"]))
    keys = [vp.scenario_key(s) for s in vp.sample_size_scenarios(cfg)]
    assert len(set(keys)) == 2 and keys[0].split("-")[0] == keys[1].split("-")[0]


def test_sample_size_of_one_method_does_not_depend_on_the_others(wcfg):
    item = vp.scenario_payload(vp.sample_size_scenarios(wcfg))
    kw = dict(targets=[0.8], reps=400, n_max=200)
    alone = vp.sample_size_table(item, methods=["mann_whitney"], **kw)
    both = vp.sample_size_table(item, methods=["ancova", "mann_whitney"], **kw)
    row = both[both["method"] == "mann_whitney"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, row)


# --------------------------------------------------------------------------- random streams


@pytest.mark.parametrize("root", ["int", "seedsequence", "generator"])
def test_each_method_has_its_own_stream(wcfg, root):
    from vtrial.analysis import run_methods

    cfg = vp.check_config(load_config(overrides=["dropout.anastrozole=0.3"]))
    data = simulate_trial(cfg, rng=rng_for(cfg["seed"], scenario_id(cfg), 0))

    def rng():
        return {"int": 11, "seedsequence": np.random.SeedSequence(11),
                "generator": np.random.default_rng(11)}[root]  # fmt: skip

    kw = dict(missing="multiple_imputation", options={"n_imputations": 5})
    alone = run_methods(data, ["welch_t"], rng=rng(), **kw)
    after = run_methods(data, ["ancova", "welch_t"], rng=rng(), **kw)
    before = run_methods(data, ["welch_t", "ancova"], rng=rng(), **kw)
    for col in ("estimate", "se", "p_value", "df"):
        assert alone[col].iloc[0] == after[col].iloc[1] == before[col].iloc[0], col
    # the imputation is random: another root gives another answer
    other = run_methods(data, ["welch_t"], rng=12, **kw)
    assert other["estimate"].iloc[0] != alone["estimate"].iloc[0]


def test_example_analysis_equals_analyze_on_the_csv(tmp_path):
    from vtrial.analysis import read_trial_csv, run_methods
    from vtrial.config import method_options
    from vtrial.trial import write_trial_csv

    cfg = vp.check_config(load_config(overrides=["analysis.missing=multiple_imputation",
                                                 "analysis.imputations=5"]))  # fmt: skip
    write_trial_csv(simulate_trial(cfg, rng=rng_for(cfg["seed"], scenario_id(cfg), 0)), tmp_path / "t.csv")
    data = read_trial_csv(tmp_path / "t.csv")
    table = vp.example_analysis(data, cfg, ["ancova", "welch_t"])
    # what `vtrial analyze --data t.csv --method welch_t` computes
    ref = run_methods(data, ["welch_t"], missing="multiple_imputation",
                      rng=rng_for(cfg["seed"], scenario_id(cfg), 0),
                      options=method_options(cfg, ["welch_t"]))  # fmt: skip
    row = table[(table["method"] == "welch_t") & (table["missing"] == "multiple_imputation")]
    for col in ("estimate", "se", "ci_low", "ci_high", "p_value", "df"):
        assert row[col].iloc[0] == ref[col].iloc[0], col


def test_tipping_example_unshifted_cell_repeats_the_example_mi(wcfg):
    cfg = vp.check_config(load_config(overrides=["sensitivity.tipping_delta_pct=[-2, 0, 2]"]))
    data = simulate_trial(cfg, rng=rng_for(cfg["seed"], scenario_id(cfg), 0))
    grid = vp.tipping_example(data, cfg)
    table = vp.example_analysis(data, cfg, ["ancova"])
    mi = table[(table["method"] == "ancova") & (table["missing"] == "multiple_imputation")].iloc[0]
    zero = grid[(grid["delta_anastrozole"] == 0) & (grid["delta_placebo"] == 0)].iloc[0]
    for col in ("estimate", "se", "p_value", "df"):
        assert zero[col] == pytest.approx(mi[col], rel=1e-10), col


# --------------------------------------------------------------------------- report text


def test_published_p_comes_from_the_reference_data():
    from vtrial.reference import published

    ref = published()["primary_trial"]["outcomes"]["pa_spine_bmd_g_cm2"]["p_between_groups"]
    assert report.published_p_value() == ref == 0.0014


def test_config_hash_is_of_the_resolved_values(wcfg):
    import hashlib
    import json

    shuffled = dict(reversed(list(wcfg.items())))
    assert config_sha256(shuffled) == config_sha256(wcfg)
    text = json.dumps(wcfg, sort_keys=True, separators=(",", ":"))
    assert config_sha256(wcfg) == hashlib.sha256(text.encode()).hexdigest()
    changed = vp.check_config(load_config(overrides=["sensitivity.tornado_power=0.8"]))
    assert config_sha256(changed) != config_sha256(wcfg)


def _small_tables():
    ss = pd.DataFrame({"method": ["ancova"], "target_power": [0.9], "n_per_arm": [42],
                       "power": [0.9], "power_se": [0.003]})  # fmt: skip
    tor = pd.DataFrame({"key": ["base"], "side": ["base"], "value": [None], "n_per_arm": [42]})
    return ss, tor


def test_summary_opens_with_provenance_and_flags_short_replicates(wcfg):
    ss, tor = _small_tables()
    power = pd.DataFrame({"scenario_id": ["aa", "bb"], "method": ["mmrm", "ancova"], "n_per_arm": [10, 44],
                          "reps": [1000, 1000], "valid_reps": [987, 1000]})  # fmt: skip
    prov = provenance(wcfg, command="snakemake", reps=1000)
    text = report.summary_markdown(wcfg, sample_size=ss, tornado=tor, power_tables={"power curves": power},
                                   provenance=prov)  # fmt: skip
    lines = text.splitlines()
    assert lines[2].startswith("- vtrial ") and prov["config_sha256"] in lines[3]
    assert "seed 20091201, 1000 replicates" in lines[4]
    flagged = [line for line in lines if "replicates (the others could not be analysed)" in line]
    assert flagged == ["- power curves: scenario `aa`, mmrm, 10 per arm: power over 987 of 1000 "
                       "replicates (the others could not be analysed)."]  # fmt: skip
    clean = report.summary_markdown(wcfg, sample_size=ss, tornado=tor,
                                    power_tables={"power curves": power.iloc[1:]})  # fmt: skip
    assert "fewer replicates" not in clean


def test_summary_html_and_tables(wcfg):
    ss, tor = _small_tables()
    page = report.markdown_to_html(report.summary_markdown(wcfg, sample_size=ss, tornado=tor))
    assert "<h1>vtrial summary</h1>" in page and "<h2>Sample size</h2>" in page
    assert "<li>For 90% power with ancova, 42 men per arm" in page
    table = report.table_html(pd.DataFrame({"method": ["a<b"], "power": [float("nan")]}), "T")
    assert "<td>a&lt;b</td><td></td>" in table


def test_key_numbers_of_the_landing_page(wcfg):
    ss = pd.DataFrame({"method": ["ancova", "ancova", "welch_t"], "target_power": [0.8, 0.9, 0.9],
                       "n_per_arm": [32.0, float("nan"), 40.0]})  # fmt: skip
    pw = pd.DataFrame({"method": ["ancova", "ancova"], "n_per_arm": [40, 44], "power": [0.88, 0.912],
                       "power_se": [0.003, 0.0028]})  # fmt: skip
    k = report.key_numbers(wcfg, sample_size=ss, power=pw, config_name="config/examples/teaching.yaml")
    assert k["n_for_target"] == {"0.8": 32, "0.9": None}
    assert k["power_at_planned_n"] == 0.912 and k["planned_n"] == 44
    assert "``config/examples/teaching.yaml``" in k["rst"] and "91.2%" in k["rst"]
    assert "not reached" in k["rst"]


# --------------------------------------------------------------------------- stale locks


@pytest.fixture
def runlock(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "workflow" / "scripts"))
    import _runlock

    return _runlock


def _locked(state: Path) -> None:
    (state / "locks").mkdir(parents=True)
    (state / "locks" / "0.output.lock").write_text("results/x.csv\n")


def test_lock_of_a_dead_run_is_removed(tmp_path, runlock):
    import json
    import subprocess
    import sys

    _locked(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    import socket

    (tmp_path / runlock.RECORD).write_text(
        json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "started": 1.0})
    )
    assert "killed" in runlock.clear_stale_lock(tmp_path)
    assert not list((tmp_path / "locks").glob("*.lock")) and not (tmp_path / runlock.RECORD).exists()


def test_lock_of_a_live_run_is_kept(tmp_path, runlock):
    _locked(tmp_path)
    runlock.record_owner(tmp_path)  # this process: alive
    assert runlock.clear_stale_lock(tmp_path) is None
    assert (tmp_path / "locks" / "0.output.lock").exists()
    runlock.forget_owner(tmp_path)
    assert not (tmp_path / runlock.RECORD).exists()


def test_lock_newer_than_the_record_is_kept(tmp_path, runlock):
    import os

    _locked(tmp_path)
    runlock.record_owner(tmp_path)
    lock = tmp_path / "locks" / "0.output.lock"
    os.utime(lock, (lock.stat().st_mtime + 10, lock.stat().st_mtime + 10))
    import json

    rec = json.loads((tmp_path / runlock.RECORD).read_text())
    rec["pid"] = 2**22 + 12345  # no such process, but the lock is newer than the record
    (tmp_path / runlock.RECORD).write_text(json.dumps(rec))
    os.utime(tmp_path / runlock.RECORD, (lock.stat().st_mtime - 5, lock.stat().st_mtime - 5))
    assert runlock.clear_stale_lock(tmp_path) is None and lock.exists()


def test_assurance_stage_only_where_it_applies():
    """Direct mode: the sensitivity method over an n grid holding the planned n; estradiol-mediated: none."""
    cfg = vp.check_config(load_config(overrides=["trial.n_per_arm=47", "sensitivity.method=welch_t"]))
    a = vp.assurance_config(cfg)
    assert a["analysis"]["methods"] == ["welch_t"]
    assert 47 in a["grid"]["trial.n_per_arm"] and a["grid"]["trial.n_per_arm"] == sorted(
        a["grid"]["trial.n_per_arm"]
    )
    assert "pipeline" not in a and "sensitivity" not in a
    assert (
        vp.assurance_config(vp.check_config(load_config(overrides=["effects.mode=estradiol_mediated"])))
        is None
    )
