# Configuration, scenarios and jobs, shared by all rules.
# Every decision is made by vtrial.pipeline, which is tested without Snakemake;
# each rule's params hold only the config keys it reads (vp.stage_config), so a
# changed key reruns only the jobs that read it.
import copy
import json
import os
import sys
from importlib import resources
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

from vtrial import pipeline as vp
from vtrial.errors import InputError
from vtrial.provenance import provenance

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
import _runlock  # noqa: E402  (workflow/scripts, after the path is set)

# A lock left by a run that was killed (SIGKILL) is removed if its owner is gone.
_stale = _runlock.clear_stale_lock()
if _stale:
    logger.warning(f"vtrial: {_stale}")

try:
    # vtrial's own validation first: one readable line naming the key.
    VT = vp.workflow_config(config, workflow.overwrite_configfiles)
except InputError as exc:
    raise WorkflowError(f"vtrial config error: {exc}") from None

# The same package schema, through Snakemake's validator (as snakemake-workflows do),
# on a copy and without filling defaults: VT is already complete, and filling would
# add the absent optional keys (trial.arms: null, ...) to it, which changes the
# scenario ids (the data sections are hashed) and fails on a null whose schema
# lists properties with defaults (effects.hip).
validate(copy.deepcopy(VT), schema=str(resources.files("vtrial").joinpath("data", "config.schema.yaml")),
         set_default=False)

# Config files as given (relative to the working directory when inside it), so
# that provenance.json does not depend on where the working directory is.
CONFIG_FILES = [
    os.path.relpath(p) if not os.path.relpath(p).startswith("..") else str(p)
    for p in workflow.overwrite_configfiles
] or ["config/config.yaml"]
PROVENANCE = {
    **provenance(VT, command="snakemake", reps=VT["simulation"]["reps"]),
    "config_files": CONFIG_FILES,
}
BASE = vp.stage_config(VT)
POWER_SCENARIOS = vp.power_scenarios(VT)
POWER_BATCHES = vp.batches(POWER_SCENARIOS, VT["pipeline"]["power_jobs"])
SAMPLE_SIZE_JOBS = vp.sample_size_jobs(VT)
# None when the design has no assurance stage (estradiol-mediated mode, or not two arms).
ASSURANCE_CFG = vp.assurance_config(VT)
# The sequential stage runs only for a config with a `sequential` section.
SEQUENTIAL = VT.get("sequential") is not None
SEQUENTIAL_METHOD = (
    VT["sensitivity"]["method"] if VT["sensitivity"]["method"] in ("ancova", "welch_t", "student_t", "mmrm") else "ancova"
)
# Stages a design other than the two-arm one leaves out (stage -> why); {} for two arms.
OMITTED = vp.omitted_stages(VT)
# The design in words (figure titles, summary.md, report captions).
WORDS = vp.design_words(VT)
GRID_KEYS = [k for k in VT["grid"] if k != "trial.n_per_arm"]


def report_mode():
    """Whether this run is `snakemake --report` (Snakemake parses the workflow first)."""
    return any(a == "--report" or a.startswith("--report=") for a in sys.argv)


if report_mode():
    # A report bundles the files of the config given now: refuse if results/
    # were made with another one (e.g. --report without the run's --configfile).
    _made = Path("results/provenance.json")
    if not _made.is_file():
        logger.warning("vtrial: results/provenance.json is missing; cannot check which config made results/")
    else:
        _run = json.loads(_made.read_text(encoding="utf-8"))
        if _run["config_sha256"] != PROVENANCE["config_sha256"]:
            raise WorkflowError(
                f"vtrial: results/ were made with config {', '.join(_run['config_files'])} "
                f"(sha256 {_run['config_sha256'][:12]}), not with this one (sha256 "
                f"{PROVENANCE['config_sha256'][:12]}): pass that run's --configfile to --report"
            )
    # the design in words, read by the captions of report/ (their original text for two arms)
    config["vtrial_design"] = WORDS
    _numbers = Path("results/report/key_numbers.json")
    if _numbers.is_file():
        # read by report/workflow.rst (the report's landing page)
        config["vtrial_key_numbers"] = json.loads(_numbers.read_text(encoding="utf-8"))["rst"]


onstart:
    _runlock.record_owner()


onsuccess:
    _runlock.forget_owner()


onerror:
    _runlock.forget_owner()


def write_json(data, *paths):
    """Write ``data`` as sorted, indented JSON to each path.

    Used by small rules that run in Snakemake's own process (``run:``): a JSON
    file is not worth a Python start-up.
    """
    text = json.dumps(dict(data), indent=2, sort_keys=True) + "\n"
    for path in paths:
        Path(path).write_text(text, encoding="utf-8")


def power_batch_params(wildcards):
    """Scenarios (id, grid values, config) computed by one power job."""
    return vp.scenario_payload(POWER_BATCHES[wildcards.batch])


def power_batch_files(wildcards):
    return expand("results/power/batches/{batch}.csv", batch=sorted(POWER_BATCHES))


def sample_size_job(wildcards):
    """Scenario and methods of one sample-size job."""
    return SAMPLE_SIZE_JOBS[wildcards.scenario]


def sample_size_files(wildcards):
    return [f"results/sample_size/jobs/{name}.csv" for name in SAMPLE_SIZE_JOBS]


def sensitivity_payload(kind):
    """Scenarios of one sensitivity heatmap (``effect_sd`` or ``dropout``)."""
    if "sensitivity" in OMITTED:
        return []  # the heatmaps vary two-arm keys; the rule is not a target of this design
    make = {"effect_sd": vp.effect_sd_scenarios, "dropout": vp.dropout_scenarios}[kind]
    return vp.scenario_payload(make(VT))


def figure(stem):
    """PNG and SVG of one figure."""
    return [f"{stem}.png", f"{stem}.svg"]


def all_targets():
    """Every output of the workflow, the target of rule all (vp.workflow_targets)."""
    return vp.workflow_targets(VT)


def summary_inputs(wildcards):
    """The tables summary.md states: those of the stages the design has (vp.summary_inputs)."""
    return vp.summary_inputs(VT)
