"""The Snakemake workflow: lint, dry run of the default config, an end-to-end run of
a tiny config in a temporary folder, reruns, the report, and config errors.

Each test runs ``snakemake`` on the repository's Snakefile from a temporary
working directory, so the repository's results/ is never touched.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from vtrial.pipeline import ANALYSIS_COLUMNS, POWER_COLUMNS
from vtrial.trial import COLUMNS as TRIAL_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "Snakefile"

#: Every output the workflow declares for `snakemake` with no target.
OUTPUTS = [
    "calibration/calibration.csv",
    "example_trial/trial.csv",
    "example_trial/analysis.csv",
    "replication/replication.csv",
    "power/power.csv",
    "sample_size/sample_size.csv",
    "sensitivity/power_effect_sd.csv",
    "sensitivity/power_dropout.csv",
    "sensitivity/tornado.csv",
    "tipping_point/example_trial.csv",
    "tipping_point/planned_design.csv",
    "summary.md",
] + [
    f"{stem}.{ext}"
    for stem in (
        "calibration/calibration",
        "example_trial/bmd_trajectories",
        "example_trial/hormones",
        "example_trial/analysis",
        "replication/replication",
        "power/power_curves",
        "sample_size/sample_size",
        "sensitivity/power_effect_sd",
        "sensitivity/power_dropout",
        "sensitivity/tornado",
        "tipping_point/example_trial",
        "tipping_point/planned_design",
    )
    for ext in ("png", "svg")
]

TINY = {
    "analysis": {"methods": ["ancova", "welch_t"], "imputations": 5},
    "simulation": {"reps": 200},
    "grid": {"effects.difference_pct": [-2.46, -1.5]},
    "pipeline": {
        "power_n_per_arm": [20, 44],
        "power_jobs": 2,
        "calibration_reps": 50,
        "replication_reps": 100,
        "example_methods": ["welch_t", "ancova", "mann_whitney"],
    },
    "sensitivity": {
        "reps": 200,
        "target_power": [0.8],
        "difference_pct": [-2.5, -1.5],
        "sd_pct_change": [2.5, 3.5],
        "dropout_rate": [0.1, 0.3],
        "dropout_mechanisms": ["MCAR", "MNAR"],
        "tornado": {"effects.sd_pct_change": [2.5, 3.5]},
        "tipping_delta_pct": [-4, 0, 4],
        "tipping_reps": 10,
    },
}


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def workdir(tmp_path: Path, config: dict | None = None) -> Path:
    """A working directory with config/config.yaml (the packaged default) and a user config."""
    (tmp_path / "config").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config" / "config.yaml", tmp_path / "config" / "config.yaml")
    if config is not None:
        (tmp_path / "user.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp_path


def jobs_of(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: rule -> count."""
    lines = dry_run_output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    out = {}
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        out[parts[0]] = int(parts[1])
    return out


def test_lint_has_no_findings(tmp_path):
    proc = snakemake(workdir(tmp_path), "--lint")
    text = proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in text, text


def test_dry_run_of_the_default_config(tmp_path):
    proc = snakemake(workdir(tmp_path), "-n", "--cores", "2")
    jobs = jobs_of(proc.stdout + proc.stderr)
    assert jobs["power_batch"] == 4
    for rule in ("calibration", "example_trial", "replication", "power_table", "sample_size",
                 "heatmap_effect_sd", "heatmap_dropout", "tornado", "tipping_example",
                 "tipping_design", "summary", "default"):  # fmt: skip
        assert jobs[rule] == 1, rule
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"grid": {"effects.sd_pct_chnage": [3.0]}}, "effects.sd_pct_chnage"),
        ({"effects": {"sd_pct_change": -1.0}}, "effects.sd_pct_change"),
        ({"sensitivity": {"tornado": {"dropout.nope": [0.1, 0.2]}}}, "dropout.nope"),
    ],
)
def test_config_error_stops_before_any_job(tmp_path, config, key):
    wd = workdir(tmp_path, config)
    proc = snakemake(wd, "--cores", "2", "--configfile", "user.yaml", check=False)
    assert proc.returncode != 0
    message = [line for line in proc.stderr.splitlines() if "vtrial config error" in line]
    assert len(message) == 1 and key in message[0], proc.stderr
    assert not (wd / "results").exists()


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"sequential": {"information_fractions": [0.5, 0.9]}}, "sequential.information_fractions"),
        ({"sequential": {"information_fractions": [0.5, 1], "futility": {"type": "as_hsd", "gamma": -2}}},
         "sequential.futility.beta"),
        ({"prior": {"difference": {"distribution": "draws", "file": "draws.csv"}}}, "prior.difference.file"),
    ],
)  # fmt: skip
def test_bad_optional_sections_stop_the_dry_run(tmp_path, config, key):
    wd = workdir(tmp_path, config)
    (wd / "draws.csv").write_text("difference\n-2.0\n-1.0,3\n")  # malformed: two columns on line 3
    proc = snakemake(wd, "-n", "--cores", "2", "--configfile", "user.yaml", check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr  # a dry run reports on stdout
    message = [line for line in text.splitlines() if "vtrial config error" in line]
    assert len(message) == 1 and key in message[0], text


def test_draws_file_is_found_beside_its_config_file(tmp_path):
    wd = workdir(tmp_path)
    (wd / "study").mkdir()
    (wd / "study" / "draws.csv").write_text("difference\n-2.0\n-3.0\n")
    (wd / "study" / "user.yaml").write_text(
        yaml.safe_dump({"prior": {"difference": {"distribution": "draws", "file": "draws.csv"}},
                        "sequential": {"information_fractions": [0.5, 1]}})
    )  # fmt: skip
    proc = snakemake(wd, "-n", "--cores", "2", "--configfile", "study/user.yaml")
    assert jobs_of(proc.stdout + proc.stderr)["power_batch"] == 4


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    wd = workdir(tmp_path_factory.mktemp("tiny"), TINY)
    snakemake(wd, "--cores", "2", "--configfile", "user.yaml")
    return wd


def test_tiny_run_writes_every_output(tiny_run):
    missing = [p for p in OUTPUTS if not (tiny_run / "results" / p).is_file()]
    assert not missing
    for p in OUTPUTS:
        assert (tiny_run / "results" / p).stat().st_size > 0, p


def test_tiny_run_tables_have_contract_columns(tiny_run):
    res = tiny_run / "results"
    power = pd.read_csv(res / "power" / "power.csv")
    assert list(power.columns[: len(POWER_COLUMNS)]) == POWER_COLUMNS
    assert {"trial.n_per_arm", "effects.difference_pct"} <= set(power.columns)
    assert len(power) == 2 * 2 * 2  # n values x differences x methods
    assert set(power["reps"]) == {200}
    analysis = pd.read_csv(res / "example_trial" / "analysis.csv")
    assert set(ANALYSIS_COLUMNS) <= set(analysis.columns)
    trial = pd.read_csv(res / "example_trial" / "trial.csv")
    assert set(TRIAL_COLUMNS) <= set(trial.columns)
    ss = pd.read_csv(res / "sample_size" / "sample_size.csv")
    assert {"method", "target_power", "n_per_arm", "effects.difference_pct"} <= set(ss.columns)
    assert len(ss) == 2 * 2  # methods x differences (one target)
    for name in ("power_effect_sd", "power_dropout"):
        table = pd.read_csv(res / "sensitivity" / f"{name}.csv")
        assert list(table.columns[: len(POWER_COLUMNS)]) == POWER_COLUMNS and len(table) == 4
    tornado = pd.read_csv(res / "sensitivity" / "tornado.csv")
    assert tornado["key"].tolist() == ["base", "effects.sd_pct_change", "effects.sd_pct_change"]
    tip = pd.read_csv(res / "tipping_point" / "example_trial.csv")
    assert len(tip) == 9 and {"p_value", "holds"} <= set(tip.columns)
    summary = (res / "summary.md").read_text()
    assert "men per arm" in summary and "published" in summary


def test_tiny_rerun_does_nothing(tiny_run):
    proc = snakemake(tiny_run, "-n", "--cores", "2", "--configfile", "user.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_changing_one_grid_value_reruns_only_what_depends_on_it(tiny_run):
    changed = {**TINY, "grid": {"effects.difference_pct": [-2.46, -1.2]}}
    (tiny_run / "changed.yaml").write_text(yaml.safe_dump(changed, sort_keys=False))
    proc = snakemake(tiny_run, "-n", "--cores", "2", "--configfile", "changed.yaml")
    jobs = jobs_of(proc.stdout + proc.stderr)
    # one of the two power curves (its jobs), the gathered table, the sample
    # size of the grid, and what reads them; nothing of the base case.
    assert jobs.pop("power_batch") == 1
    assert set(jobs) == {"power_table", "sample_size", "summary", "default"}


def test_report(tiny_run):
    snakemake(tiny_run, "--configfile", "user.yaml", "--report", "results/report.html")
    html = (tiny_run / "results" / "report.html").read_text(errors="replace")
    assert "power_curves.png" in html and "tornado.png" in html


@pytest.mark.skipif(
    importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
    reason="snakemake-executor-plugin-slurm is not installed (not a vtrial dependency)",
)
def test_slurm_profile_dry_run(tmp_path):
    wd = workdir(tmp_path)
    proc = snakemake(wd, "-n", "--profile", str(ROOT / "workflow" / "profiles" / "slurm"))
    assert jobs_of(proc.stdout + proc.stderr)["power_batch"] == 4
