"""The Snakemake workflow: lint, dry runs (which jobs a change reruns), an end-to-end run
of a tiny config, the report and its config check, config errors, and on the teaching
config: byte-identical clean runs and resuming after SIGINT and SIGKILL.

Each test runs ``snakemake`` on the repository's workflow from a temporary working
directory, so the repository's results/ is never touched. Snakemake finds the
workflow's default profile (workflow/profiles/default) itself, as in a plain run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from vtrial.analysis.result import RESULT_COLUMNS
from vtrial.power import POWER_COLUMNS
from vtrial.trial import COLUMNS as TRIAL_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "workflow" / "Snakefile"
TEACHING = ROOT / "config" / "examples" / "teaching.yaml"

#: Every output the workflow declares for `snakemake` with no target.
OUTPUTS = [
    "provenance.json",
    "calibration/calibration.csv",
    "example_trial/trial.csv",
    "example_trial/analysis.csv",
    "replication/replication.csv",
    "power/power.csv",
    "power/power.html",
    "sample_size/sample_size.csv",
    "sample_size/sample_size.html",
    "sensitivity/power_effect_sd.csv",
    "sensitivity/power_dropout.csv",
    "sensitivity/tornado.csv",
    "tipping_point/example_trial.csv",
    "tipping_point/planned_design.csv",
    "summary.md",
    "summary.html",
    "report/key_numbers.json",
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


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), *args]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = command(*args)
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=1800)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def workdir(tmp_path: Path, config: dict | None = None) -> Path:
    """A working directory with config/config.yaml (the packaged default) and a user config."""
    (tmp_path / "config" / "examples").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config" / "config.yaml", tmp_path / "config" / "config.yaml")
    shutil.copy(TEACHING, tmp_path / "config" / "examples" / "teaching.yaml")
    if config is not None:
        (tmp_path / "user.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp_path


def jobs_of(output: str) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run: rule -> count."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    out = {}
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        out[parts[0]] = int(parts[1])
    return out


def dry_jobs(wd: Path, *args: str) -> dict[str, int]:
    proc = snakemake(wd, "-n", *args)
    text = proc.stdout + proc.stderr
    return {} if "Nothing to be done" in text else jobs_of(text)


def test_lint_has_no_findings(tmp_path):
    proc = snakemake(workdir(tmp_path), "--lint")
    text = proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in text, text


def test_dry_run_of_the_default_config(tmp_path):
    proc = snakemake(workdir(tmp_path), "-n")
    text = proc.stdout + proc.stderr
    assert "workflow/profiles/default" in text  # found without --profile
    jobs = jobs_of(text)
    assert jobs.pop("power_batch") == 2  # pipeline.power_jobs
    assert jobs.pop("sample_size_job") == 1  # one per scenario (every method), and the default has one
    assert jobs == dict.fromkeys(
        ["calibration", "example_trial", "replication", "power_table", "sample_size", "heatmap_effect_sd",
         "heatmap_dropout", "tornado", "tipping_example", "tipping_design", "assurance", "provenance",
         "summary", "all"],
        1,
    )  # fmt: skip
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
    proc = snakemake(wd, "--configfile", "user.yaml", check=False)
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
    assert jobs_of(proc.stdout + proc.stderr)["power_batch"] == 2


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    wd = workdir(tmp_path_factory.mktemp("tiny"), TINY)
    snakemake(wd, "--configfile", "user.yaml")
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
    assert set(RESULT_COLUMNS) <= set(analysis.columns)
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
    prov = json.loads((res / "provenance.json").read_text())
    assert prov["config_files"] == ["user.yaml"] and prov["reps"] == 200
    assert summary.splitlines()[3] == f"- config SHA-256 `{prov['config_sha256']}` (user.yaml)"


def test_example_analysis_equals_run_methods_on_the_trial_csv(tiny_run):
    from vtrial.analysis import read_trial_csv, run_methods
    from vtrial.config import load_config, method_options, scenario_id
    from vtrial.streams import rng_for

    cfg = load_config(tiny_run / "user.yaml")
    res = tiny_run / "results" / "example_trial"
    table = pd.read_csv(res / "analysis.csv")
    methods = TINY["pipeline"]["example_methods"]
    # `vtrial analyze --data trial.csv` with the run's config, one method at a time
    for method in methods:
        ref = run_methods(read_trial_csv(res / "trial.csv"), [method], rng=rng_for(cfg["seed"], scenario_id(cfg), 0),
                          options=method_options(cfg, [method]))  # fmt: skip
        row = table[(table["method"] == method) & (table["missing"] == "complete_case")]
        for col in ("estimate", "se", "ci_low", "ci_high", "p_value"):
            expected = pytest.approx(ref[col].iloc[0], rel=1e-12, abs=1e-15, nan_ok=True)
            assert row[col].iloc[0] == expected, (method, col)


def test_tiny_run_outputs_are_those_of_the_reference_run(tiny_run):
    """summary.md, its page, the key numbers and every table they state are byte-identical to the
    reference run (tests/fixtures/words/make_default_summary.sh says which code made it and why)."""
    fixture = ROOT / "tests" / "fixtures" / "words"
    assert yaml.safe_load((fixture / "default.yaml").read_text()) == TINY
    files = sorted(p for p in (fixture / "default").rglob("*") if p.is_file())
    assert len(files) == 14  # provenance, 10 tables, summary.md, its page, the key numbers
    differ = [
        str(path.relative_to(fixture / "default"))
        for path in files
        if (tiny_run / "results" / path.relative_to(fixture / "default")).read_bytes() != path.read_bytes()
    ]
    assert differ == []


def test_tiny_rerun_does_nothing(tiny_run):
    assert dry_jobs(tiny_run, "--configfile", "user.yaml") == {}


def _changed(wd: Path, name: str, **sections) -> str:
    cfg = json.loads(json.dumps(TINY))
    for section, values in sections.items():
        cfg[section] = {**cfg.get(section, {}), **values}
    (wd / name).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return name


def test_changing_one_grid_value_reruns_only_that_scenario(tiny_run):
    name = _changed(tiny_run, "grid.yaml", grid={"effects.difference_pct": [-2.46, -1.2]})
    jobs = dry_jobs(tiny_run, "--configfile", name)
    # the power job of the changed curve and the sample-size job of the changed
    # scenario (of its two), the gathers, and what reads them; the config hash
    # changes, so the provenance; nothing of the base case.
    assert jobs == {"power_batch": 1, "sample_size_job": 1, "power_table": 1, "sample_size": 1,
                    "provenance": 1, "summary": 1, "all": 1}  # fmt: skip


def test_changing_tornado_power_reruns_only_the_tornado(tiny_run):
    name = _changed(tiny_run, "tornado.yaml", sensitivity={"tornado_power": 0.85})
    jobs = dry_jobs(tiny_run, "--configfile", name)
    assert jobs == {"tornado": 1, "provenance": 1, "summary": 1, "all": 1}


def test_changing_tipping_reps_reruns_only_the_design_tipping_point(tiny_run):
    name = _changed(tiny_run, "tipping.yaml", sensitivity={"tipping_reps": 12})
    jobs = dry_jobs(tiny_run, "--configfile", name)
    assert jobs == {"tipping_design": 1, "provenance": 1, "summary": 1, "all": 1}


def test_report_states_the_key_numbers(tiny_run):
    snakemake(tiny_run, "--configfile", "user.yaml", "--report", "results/report.html")
    html = (tiny_run / "results" / "report.html").read_text(errors="replace")
    assert "power_curves.png" in html and "tornado.png" in html and "summary.html" in html
    numbers = json.loads((tiny_run / "results" / "report" / "key_numbers.json").read_text())
    assert "user.yaml" in numbers["config"]
    assert "Power at the planned 44 per arm:" in html and "n per arm for 80% power:" in html


def test_report_refuses_results_of_another_config(tiny_run):
    proc = snakemake(tiny_run, "--report", "results/other.html", check=False)  # no --configfile
    assert proc.returncode != 0 and not (tiny_run / "results" / "other.html").exists()
    lines = [line for line in proc.stderr.splitlines() if "pass that run's --configfile" in line]
    assert len(lines) == 1 and "user.yaml" in lines[0], proc.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
    reason="snakemake-executor-plugin-slurm is not installed (not a vtrial dependency)",
)
def test_slurm_profile_dry_run(tmp_path):
    wd = workdir(tmp_path)
    proc = snakemake(wd, "-n", "--workflow-profile", str(ROOT / "workflow" / "profiles" / "slurm"))
    assert jobs_of(proc.stdout + proc.stderr)["power_batch"] == 2


# --------------------------------------------------------------------------- teaching config

TEACHING_ARGS = ("--configfile", "config/examples/teaching.yaml")


def outputs(wd: Path) -> dict[str, bytes]:
    """Every file under results/ except the logs (which hold timings)."""
    res = wd / "results"
    return {
        str(p.relative_to(res)): p.read_bytes()
        for p in sorted(res.rglob("*"))
        if p.is_file() and p.parts[len(res.parts)] != "logs"
    }


@pytest.fixture(scope="module")
def teaching_run(tmp_path_factory):
    wd = workdir(tmp_path_factory.mktemp("teaching"))
    snakemake(wd, *TEACHING_ARGS)
    return wd


def test_two_clean_runs_give_identical_outputs(teaching_run, tmp_path):
    wd = workdir(tmp_path)
    snakemake(wd, *TEACHING_ARGS)
    a, b = outputs(teaching_run), outputs(wd)
    assert sorted(a) == sorted(b)
    # tables, summary, HTML pages and figures (PNG and SVG: no dates) byte-identical
    differ = sorted(name for name in a if a[name] != b[name])
    assert differ == []


def _interrupt(wd: Path, sig: int) -> None:
    """Start the teaching run and send ``sig`` to its whole process group mid-run."""
    proc = subprocess.Popen(command(*TEACHING_ARGS), cwd=wd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    res = wd / "results"
    deadline = time.monotonic() + 900
    # wait until some jobs have finished and others are running
    while time.monotonic() < deadline and proc.poll() is None:
        done = [p for p in res.rglob("*.csv")] if res.exists() else []
        if len(done) >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    assert not (res / "summary.md").exists()
    os.killpg(proc.pid, sig)  # as Ctrl-C (SIGINT) or a crash (SIGKILL) of the job tree
    proc.wait(timeout=300)
    if sig == signal.SIGKILL:
        # a killed Snakemake leaves its lock behind
        assert list((wd / ".snakemake" / "locks").glob("*.lock"))


def _recorded(wd: Path) -> dict[Path, int]:
    """Outputs whose job finished (Snakemake wrote their metadata record): path -> mtime."""
    from base64 import urlsafe_b64decode

    out = {}
    for rec in (wd / ".snakemake" / "metadata").glob("*"):
        path = wd / urlsafe_b64decode(rec.name).decode()
        if rec.is_file() and path.is_file():
            out[path] = path.stat().st_mtime_ns
    return out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_plain_rerun_after_interruption_finishes_the_work(teaching_run, tmp_path, sig):
    wd = workdir(tmp_path)
    _interrupt(wd, sig)
    finished = _recorded(wd)
    assert finished  # some jobs had finished
    snakemake(wd, *TEACHING_ARGS)  # plain: no --rerun-incomplete, no --unlock
    # finished outputs were not recomputed ...
    assert [p for p, t in finished.items() if p.stat().st_mtime_ns != t] == []
    # ... and the final tables equal those of an uninterrupted run
    ref, got = outputs(teaching_run), outputs(wd)
    assert sorted(got) == sorted(ref)
    for name in ref:
        if name.endswith((".csv", ".md", ".json", ".html")):
            assert got[name] == ref[name], name
