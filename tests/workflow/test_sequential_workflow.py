"""The workflow's sequential stage: scheduled only with a `sequential` section; its outputs."""

from __future__ import annotations

import pandas as pd
import pytest
from test_workflow import dry_jobs, snakemake, workdir

from vtrial.sequential_sim import OC_COLUMNS

SEQUENTIAL = {
    "trial": {"n_per_arm": 30, "accrual": {"rate_per_month": 5}},
    "simulation": {"reps": 300},
    "sequential": {"information_fractions": [0.5, 1], "efficacy": {"type": "as_pocock"}},
}


def test_sequential_job_only_with_the_section(tmp_path):
    assert "sequential" not in dry_jobs(workdir(tmp_path / "default"))
    jobs = dry_jobs(workdir(tmp_path / "seq", SEQUENTIAL), "--configfile", "user.yaml")
    assert jobs["sequential"] == 1 and jobs["summary"] == 1


@pytest.mark.slow
def test_sequential_outputs(tmp_path):
    wd = workdir(tmp_path, SEQUENTIAL)
    snakemake(wd, "--configfile", "user.yaml", "--cores", "1", "results/sequential/bounds.csv")
    out = wd / "results" / "sequential"
    for name in ("bounds.csv", "boundaries.png", "boundaries.svg", "stopping.png", "stopping.svg"):
        assert (out / name).stat().st_size > 0, name
    oc = pd.read_csv(out / "operating_characteristics.csv", keep_default_na=False, na_values=[""])
    assert list(oc.columns) == OC_COLUMNS
    assert oc["look"].astype(str).tolist() == ["1", "2", "overall"] * 2
    assert set(oc["method"]) == {"ancova"}  # sensitivity.method of the default config
    assert (oc["reps"] == 300).all()
    bounds = pd.read_csv(out / "bounds.csv")
    assert bounds["information_fraction"].tolist() == [0.5, 1.0]
