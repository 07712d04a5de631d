"""The workflow on designs other than the two-arm one: which stages run, and what they say.

Dry runs of a three-arm design with Dunnett and of a 24-month spine + hip design,
and a small end-to-end run of the three-arm design with its report. The two-arm
outputs are checked in test_workflow.py (byte-identical to the code before the
design keys).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_workflow import dry_jobs, jobs_of, snakemake, workdir

from vtrial import pipeline as vp
from vtrial.config import load_config

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "words"

#: The only jobs of a design run (the power batches and sample-size jobs counted apart).
DESIGN_JOBS = {"provenance": 1, "power_table": 1, "sample_size": 1, "summary": 1, "all": 1}

#: Small enough for a test: 100 replicates, two sizes, one job, one method, one target power.
SMALL = {
    "analysis": {"methods": ["ancova"]},
    "simulation": {"reps": 100},
    "pipeline": {"power_n_per_arm": [20, 44], "power_jobs": 1},
    "sensitivity": {"target_power": [0.8], "max_n_per_arm": 300},
}


def design_workdir(tmp_path: Path, name: str, extra: dict | None = None) -> Path:
    wd = workdir(tmp_path)
    shutil.copy(FIX / f"{name}.yaml", wd / "design.yaml")
    (wd / "small.yaml").write_text(yaml.safe_dump(extra or {}, sort_keys=False))
    return wd


@pytest.mark.parametrize("name", ["three_arm", "hip_24_month"])
def test_dry_run_of_a_design_has_only_its_stages(tmp_path, name):
    wd = design_workdir(tmp_path, name)
    jobs = dry_jobs(wd, "--configfile", "design.yaml")
    assert jobs.pop("power_batch") == 2  # pipeline.power_jobs of the default config
    assert jobs.pop("sample_size_job") == 1  # one scenario, every method of analysis.methods
    assert jobs == DESIGN_JOBS


@pytest.mark.parametrize(
    ("name", "methods"),
    [
        ("three_arm_dose", ["ancova", "student_t", "mmrm"]),  # welch_t cannot take Dunnett
        ("addon_24m_spine_hip", ["ancova", "welch_t", "student_t", "mmrm"]),
    ],
)
def test_dry_run_of_an_example_design_sizes_it_with_every_method(tmp_path, name, methods):
    wd = workdir(tmp_path)
    shutil.copy(ROOT / "config" / "examples" / f"{name}.yaml", wd / "design.yaml")
    proc = snakemake(wd, "-n", "--configfile", "design.yaml")
    text = proc.stdout + proc.stderr
    jobs = jobs_of(text)
    assert jobs.pop("power_batch") == 2
    assert jobs.pop("sample_size_job") == 1  # one scenario
    assert jobs == DESIGN_JOBS
    # its job searches every method a design can take (mann_whitney is not available for designs)
    cfg = vp.check_config(load_config(wd / "design.yaml"))
    assert [job["methods"] for job in vp.sample_size_jobs(cfg).values()] == [methods]
    assert "results/sample_size/sample_size.png" in text


@pytest.fixture(scope="module")
def design_run(tmp_path_factory):
    wd = design_workdir(tmp_path_factory.mktemp("design"), "three_arm", SMALL)
    snakemake(wd, "--cores", "2", "--configfile", "design.yaml", "small.yaml")
    return wd


def test_design_run_writes_its_targets_and_nothing_else(design_run):
    res = design_run / "results"
    made = sorted(str(p.relative_to(res)) for p in res.rglob("*") if p.is_file())
    made = [p for p in made if not p.startswith(("logs/", "power/batches/", "sample_size/jobs/"))]  # jobs
    assert made == sorted([
        "provenance.json", "power/power.csv", "power/power.html", "power/power_curves.png",
        "power/power_curves.svg", "sample_size/sample_size.csv", "sample_size/sample_size.html",
        "sample_size/sample_size.png", "sample_size/sample_size.svg", "summary.md", "summary.html",
        "report/key_numbers.json",
    ])  # fmt: skip


def test_design_run_summary_states_the_design_and_its_power(design_run):
    res = design_run / "results"
    text = (res / "summary.md").read_text(encoding="utf-8")
    power = pd.read_csv(res / "power" / "power.csv")
    assert "2009 trial as one draw" not in text and "## Assumptions" not in text
    assert "The design has three arms" in text
    assert "each arm against placebo (anastrozole_daily-placebo, anastrozole_twice_weekly-placebo)" in text
    assert "analysed by ancova with two-sided alpha 0.05 and Dunnett." in text
    at = power[(power["n_per_arm"] == 44) & (power["method"] == "ancova")].set_index("comparison")
    assert set(at.index) == {"anastrozole_daily-placebo", "anastrozole_twice_weekly-placebo", "any", "all"}
    for comparison, row in at.iterrows():
        assert f"`{comparison}`" in text
        assert f"power {100 * row['power']:.1f}% ± {100 * row['power_se']:.1f}" in text
    for stage in ("calibration", "replication", "sensitivity", "tipping point", "assurance"):
        assert f"- {stage} (results/" in text
    assert "- sample size (results/" not in text
    numbers = json.loads((res / "report" / "key_numbers.json").read_text())
    assert numbers["power_at_planned_n"] == at.loc["any", "power"]
    svg = (res / "power" / "power_curves.svg").read_text(encoding="utf-8")
    assert "anastrozole_daily, anastrozole_twice_weekly versus placebo (Dunnett)" in svg


def test_design_report_names_the_design(design_run):
    snakemake(design_run, "--configfile", "design.yaml", "small.yaml", "--report", "report.html")
    html = (design_run / "report.html").read_text(encoding="utf-8")
    assert "a virtual trial of anastrozole_daily, anastrozole_twice_weekly versus placebo (Dunnett)" in html
    assert "virtual trials of anastrozole versus placebo" not in html


def test_design_run_sizes_the_trial_for_every_comparison(design_run):
    from vtrial import power
    from vtrial.config import load_config

    res = design_run / "results"
    ss = pd.read_csv(res / "sample_size" / "sample_size.csv")
    assert list(ss.columns[:4]) == ["scenario_id", "method", "comparison", "target_power"]
    assert len(ss) == 1
    row = ss.iloc[0]
    assert (row["method"], row["comparison"], row["target_power"]) == ("ancova", "each", 0.8)
    n = int(row["n_per_arm"])
    # the job's answer is that of vtrial.power.sample_size on the same config (same streams)
    cfg = load_config(FIX / "three_arm.yaml", overrides=["simulation.reps=100"])
    direct = power.sample_size(cfg, 0.8, methods=["ancova"], reps=100, n_max=300)
    assert int(direct.loc[0, "n_per_arm"]) == n
    assert row["power"] >= 0.8 > row["power_below"]
    # every comparison reaches 80% at n: the weaker arm (-1.5 points) needs more than the planned 44,
    # at which the power table gives it well under 80%
    pw = pd.read_csv(res / "power" / "power.csv")
    weak = pw[(pw["n_per_arm"] == 44) & (pw["comparison"] == "anastrozole_twice_weekly-placebo")]
    assert weak["power"].iloc[0] < 0.8 and n > 44
    text = (res / "summary.md").read_text(encoding="utf-8")
    assert "## Sample size" in text
    assert "comparison rule `each`: every comparison (`anastrozole_daily-placebo`, " in text
    assert (
        f"- ancova: {n} men in the control arm (placebo) for 80% power ({3 * n} men in all; "
        f"simulated power at that n: {100 * row['power']:.1f}% ± {100 * row['power_se']:.1f})." in text
    )
    numbers = json.loads((res / "report" / "key_numbers.json").read_text())
    assert numbers["n_for_target"] == {"0.8": n}
    svg = (res / "sample_size" / "sample_size.svg").read_text(encoding="utf-8")
    assert "men per arm (placebo)" in svg and "comparison rule each" in svg
    html = (res / "sample_size" / "sample_size.html").read_text(encoding="utf-8")
    assert "comparison rule each: every comparison" in html
