"""The SLURM profile on a real (single-node) SLURM cluster.

``tests/workflow/slurm/start_slurm.sh`` starts munged, slurmctld and slurmd
under a temporary folder; the teaching config then runs through Snakemake's
SLURM executor with the shipped profile (workflow/profiles/slurm) and, in a
second folder, locally with ``--cores 2``. Every table must be byte-identical:
results depend on the config and seed only, never on where a job ran.

Needs Debian's ``slurm-wlm`` and ``munge`` packages and root (slurmd starts the
jobs). Without them the test is skipped and says why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "workflow" / "slurm" / "start_slurm.sh"
PROFILE = ROOT / "workflow" / "profiles" / "slurm" / "config.yaml"
TEACHING = ROOT / "config" / "examples" / "teaching.yaml"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "scontrol")
#: Partition of the test cluster (see start_slurm.sh).
PARTITION = "vtrial"


def _missing_daemons() -> list[str]:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [name for name in DAEMONS if shutil.which(name, path=path) is None]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = _missing_daemons()
    if missing:
        pytest.skip(
            f"SLURM not installed ({', '.join(missing)} not found): "
            "apt-get install -y --no-install-recommends slurm-wlm munge"
        )
    if os.geteuid() != 0:
        pytest.skip("SLURM test cluster needs root (slurmd must start jobs as their owner)")
    folder = tmp_path_factory.mktemp("slurm")
    start = subprocess.run(
        ["sh", str(SCRIPT), "start", str(folder)], capture_output=True, text=True, timeout=120
    )
    try:
        assert start.returncode == 0, f"start_slurm.sh failed:\n{start.stderr}"
        yield folder
    finally:
        subprocess.run(["sh", str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=60)


def _workdir(path: Path) -> Path:
    (path / "config").mkdir(parents=True)
    shutil.copy(ROOT / "config" / "config.yaml", path / "config" / "config.yaml")
    shutil.copy(TEACHING, path / "user.yaml")
    return path


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "workflow" / "Snakefile"),
        "--configfile",
        "user.yaml",
    ]
    proc = subprocess.run([*cmd, *args], cwd=workdir, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def _site_profile(path: Path) -> Path:
    """The shipped profile plus what this cluster needs (a partition, no account)."""
    profile = yaml.safe_load(PROFILE.read_text())
    profile["default-resources"]["slurm_partition"] = PARTITION
    # No accounting database here: no account to charge, and finished jobs are
    # found with squeue (the cluster keeps them for MinJobAge = 600 s).
    profile["slurm-no-account"] = True
    profile["slurm-status-command"] = "squeue"
    # Poll every second instead of the default 40 s: the jobs take seconds.
    profile["slurm-init-seconds-before-status-checks"] = 1
    path.mkdir()
    (path / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


def _tables(results: Path) -> dict[str, bytes]:
    files = sorted(p for p in results.rglob("*") if p.suffix in (".csv", ".md"))
    return {str(p.relative_to(results)): p.read_bytes() for p in files}


def test_teaching_config_on_slurm_matches_a_local_run(cluster, tmp_path):
    on_slurm = _workdir(tmp_path / "slurm")
    proc = _snakemake(on_slurm, "--workflow-profile", str(_site_profile(tmp_path / "profile")))
    # Every job was submitted with sbatch and completed as a SLURM job.
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", proc.stderr))
    assert len(submitted) >= 10, proc.stderr[-3000:]
    queue = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i %T"], capture_output=True, text=True, check=True
    )
    states = dict(line.split() for line in queue.stdout.splitlines())
    assert {states.get(job) for job in submitted} == {"COMPLETED"}, queue.stdout
    local = _workdir(tmp_path / "local")
    _snakemake(local, "--cores", "2")

    slurm_tables, local_tables = _tables(on_slurm / "results"), _tables(local / "results")
    assert "power/power.csv" in local_tables and "sample_size/sample_size.csv" in local_tables
    assert sorted(slurm_tables) == sorted(local_tables)
    different = [name for name in local_tables if slurm_tables[name] != local_tables[name]]
    assert different == []
