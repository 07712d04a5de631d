# Configuration, scenarios and job batches, shared by all rules.
# Every decision is made by vtrial.pipeline, which is tested without Snakemake.
import sys
from importlib import resources

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from vtrial import pipeline as vp
from vtrial.errors import InputError

try:
    # vtrial's own validation first: one readable line naming the key.
    VT = vp.workflow_config(config, workflow.overwrite_configfiles)
except InputError as exc:
    raise WorkflowError(f"vtrial config error: {exc}") from None

# The same package schema, through Snakemake's validator (as snakemake-workflows do).
validate(VT, schema=str(resources.files("vtrial").joinpath("data", "config.schema.yaml")))

BASE = vp.stage_config(VT)
SENS = vp.stage_config(VT, "sensitivity")
RESULTS = "results"
POWER_SCENARIOS = vp.power_scenarios(VT)
POWER_BATCHES = vp.batches(POWER_SCENARIOS, VT["pipeline"]["power_jobs"])
SAMPLE_SIZE_SCENARIOS = vp.sample_size_scenarios(VT)


def power_batch_params(wildcards):
    """Scenarios (id, grid values, config) computed by one power job."""
    return vp.scenario_payload(POWER_BATCHES[wildcards.batch])


def power_batch_files(wildcards):
    return expand("results/power/batches/{batch}.csv", batch=sorted(POWER_BATCHES))


def sensitivity_payload(kind):
    """Scenarios of one sensitivity heatmap (``effect_sd`` or ``dropout``)."""
    make = {"effect_sd": vp.effect_sd_scenarios, "dropout": vp.dropout_scenarios}[kind]
    return vp.scenario_payload(make(VT))


def figure(stem):
    """PNG and SVG of one figure."""
    return [f"{stem}.png", f"{stem}.svg"]


def all_targets():
    """Every output of the workflow (rule all)."""
    out = [
        "results/calibration/calibration.csv",
        "results/example_trial/trial.csv",
        "results/example_trial/analysis.csv",
        "results/replication/replication.csv",
        "results/power/power.csv",
        "results/sample_size/sample_size.csv",
        "results/sensitivity/power_effect_sd.csv",
        "results/sensitivity/power_dropout.csv",
        "results/sensitivity/tornado.csv",
        "results/tipping_point/example_trial.csv",
        "results/tipping_point/planned_design.csv",
        "results/summary.md",
    ]
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
    ):
        out += figure(f"results/{stem}")
    return out
