"""Bad configs and overrides through the real command line.

Each case runs ``vtrial simulate``, ``vtrial power --reps 10`` or ``vtrial sequential`` in a subprocess
and must end before any simulation: exit status 2, exactly one non-empty line on
stderr that names the key (or the file), no traceback, and the output folder
left as it was.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Runs the CLI's main() whatever its layout (module or package).
CLI = [sys.executable, "-c", "from vtrial.cli import main; raise SystemExit(main())"]

#: A 300-byte alias bomb: 9^7 = 4.8 million strings once expanded.
BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "grid: {trial.n_per_arm: *g}\n"
)

#: Config files by name: bytes written to the case's folder.
FILES = {
    "dup_key.yaml": b"trial:\n  n_per_arm: 40\n  n_per_arm: 50\n",
    "dup_section.yaml": b"trial:\n  n_per_arm: 40\neffects:\n  difference_pct: -1.0\ntrial:\n  allocation_ratio: 1.0\n",
    "bomb.yaml": BOMB.encode(),
    "alias.yaml": b"trial: &t {n_per_arm: 40}\nsimulation: *t\n",
    "latin1.yaml": "effects:\n  difference_pct: -2.0  # \u00e9cart\n".encode("latin-1"),
    "binary.yaml": bytes(range(256)),
    "list.yaml": b"- trial\n- effects\n",
    "scalar.yaml": b"just some text\n",
    "bad_yaml.yaml": b"trial: [unclosed\n",
    "float_seed.yaml": b"seed: 1.5\n",
    "nan_file.yaml": b"cohort:\n  eligibility:\n    testosterone_single_ng_dl: [150, .nan]\n",
    "tornado_nan.yaml": b"sensitivity:\n  tornado:\n    effects.difference_pct: [-3.0, .nan]\n",
    # the optional sections sequential and prior
    "seq_decreasing.yaml": b"sequential:\n  information_fractions: [0.6, 0.5, 1]\n",
    "seq_not_one.yaml": b"sequential:\n  information_fractions: [0.5, 0.9]\n",
    "seq_alpha.yaml": b"sequential:\n  information_fractions: [0.5, 1]\n  alpha: 0.6\n",
    "seq_type.yaml": b"sequential:\n  information_fractions: [0.5, 1]\n  efficacy: {type: haybittle_peto}\n",
    "seq_no_beta.yaml": b"sequential:\n  information_fractions: [0.5, 1]\n  futility: {type: as_hsd, gamma: -2}\n",
    "seq_gamma.yaml": b"sequential:\n  information_fractions: [0.5, 1]\n  efficacy: {type: as_kim_demets}\n",
    "prior_sd.yaml": b"prior:\n  difference: {distribution: normal, mean: -2.46, sd: -0.5}\n",
    "prior_weights.yaml": (
        b"prior:\n  difference:\n    distribution: mixture\n    components:\n"
        b"      - {weight: 0.7, mean: -2.46, sd: 0.74}\n      - {weight: 0.2, mean: 0.0, sd: 0.5}\n"
    ),
    "prior_family.yaml": b"prior:\n  difference: {distribution: cauchy, mean: -2.46}\n",
    "prior_empty.yaml": b"prior:\n  difference: {distribution: draws, file: empty.csv}\n",
    "empty.csv": b"",
    "prior_malformed.yaml": b"prior:\n  difference: {distribution: draws, file: malformed.csv}\n",
    "malformed.csv": b"difference\n-2.1\n-1.7,0.3\n",
    "prior_text.yaml": b"prior:\n  difference: {distribution: draws, file: text.csv}\n",
    "text.csv": b"difference\n-2.1\nabout -2\n",
}


def _set(*overrides: str) -> list[str]:
    return [arg for text in overrides for arg in ("--set", text)]


SIM = ["simulate"]
POWER = ["power", "--reps", "10"]
SEQ = ["sequential"]

# (command, arguments, text the one stderr line must contain)
CASES = [
    # unknown keys, wrong types, enums, lengths
    (SIM, _set("trial.bogus=1"), "trial.bogus"),
    (SIM, _set("bogus=1"), "bogus"),
    (SIM, _set("trial.n_per_arm=abc"), "trial.n_per_arm"),
    (SIM, _set("trial.n_per_arm=1"), "trial.n_per_arm"),
    (SIM, _set("dropout.mechanism=MISSING"), "dropout.mechanism"),
    (SIM, _set("analysis.methods=[anova]"), "analysis.methods"),
    (SIM, _set("hormones.estradiol_ratio=[0.8, 0.8]"), "hormones.estradiol_ratio"),
    (SIM, _set("trial.n_per_arm"), "trial.n_per_arm"),
    (SIM, _set("trial.n_per_arm=[1,"), "trial.n_per_arm"),
    (SIM, ["--set", "trial." + "x" * 5000 + "=1"], "does not exist"),
    (POWER, _set("grid.effects.nope=[1, 2]"), "effects.nope"),
    (POWER, _set("grid.trial.n_per_arm=[20, 1]"), "trial.n_per_arm"),
    # NaN and infinity, also inside lists, the grid and the tornado ranges
    (SIM, _set("effects.difference_pct=.nan"), "effects.difference_pct"),
    (SIM, _set("effects.sd_pct_change=.inf"), "effects.sd_pct_change"),
    (SIM, _set("cohort.bmd_sd_g_cm2=.nan"), "cohort.bmd_sd_g_cm2"),
    (SIM, _set("dropout.anastrozole=.nan"), "dropout.anastrozole"),
    (SIM, _set("dropout.visit_probs=[.nan, 0.5, 0.5]"), "dropout.visit_probs"),
    (SIM, _set("trial.strata_cutoffs=[.nan]"), "trial.strata_cutoffs"),
    (SIM, _set("effects.placebo_pct_change=-.inf"), "effects.placebo_pct_change"),
    (POWER, _set("grid.effects.difference_pct=[-2.0, .nan]"), "effects.difference_pct"),
    (SIM, ["--config", "nan_file.yaml"], "cohort.eligibility.testosterone_single_ng_dl"),
    (SIM, ["--config", "tornado_nan.yaml"], "sensitivity.tornado"),
    # absurd values: every number has a documented range
    (SIM, _set("cohort.age_sd_years=1.0e+300"), "cohort.age_sd_years"),
    (SIM, _set("cohort.testosterone_median_ng_dl=1.0e+308"), "cohort.testosterone_median_ng_dl"),
    (SIM, _set("cohort.age_mean_years=200"), "cohort.age_mean_years"),
    (SIM, _set("cohort.estradiol_median_pg_ml=5000"), "cohort.estradiol_median_pg_ml"),
    (SIM, _set("cohort.bmi_sd_kg_m2=100"), "cohort.bmi_sd_kg_m2"),
    (SIM, _set("cohort.testosterone_visit_log_sd=3"), "cohort.testosterone_visit_log_sd"),
    (SIM, _set("hormones.testosterone_ratio=[1.6, 1.5, 100]"), "hormones.testosterone_ratio"),
    (SIM, _set("effects.sd_pct_change=-1"), "effects.sd_pct_change"),
    (SIM, _set("measurement.bmd_cv_pct=50"), "measurement.bmd_cv_pct"),
    (SIM, _set("dropout.placebo=1"), "dropout.placebo"),
    (SIM, _set("dropout.strength=100"), "dropout.strength"),
    (POWER, _set("analysis.alpha=0.9"), "analysis.alpha"),
    (SIM, _set("seed=-1"), "seed"),
    # integers: integral floats are accepted, others refused under the config key's name
    (SIM, _set("trial.n_per_arm=2.5"), "trial.n_per_arm"),
    (POWER, ["--set", "analysis.permutations=199.5", "--method", "permutation"], "analysis.permutations"),
    (POWER, _set("simulation.reps=100.5"), "simulation.reps"),
    (SIM, _set("trial.block_sizes=[4.5]"), "trial.block_sizes"),
    (SIM, ["--config", "float_seed.yaml"], "seed"),
    # files: duplicate keys, aliases, encodings, not a mapping
    (SIM, ["--config", "dup_key.yaml"], "trial.n_per_arm"),
    (SIM, ["--config", "dup_section.yaml"], "'trial'"),
    (SIM, ["--config", "bomb.yaml"], "alias"),
    (POWER, ["--config", "alias.yaml"], "alias"),
    (SIM, ["--config", "latin1.yaml"], "latin1.yaml"),
    (SIM, ["--config", "binary.yaml"], "binary.yaml"),
    (SIM, ["--config", "list.yaml"], "list.yaml"),
    (SIM, ["--config", "scalar.yaml"], "scalar.yaml"),
    (SIM, ["--config", "bad_yaml.yaml"], "bad_yaml.yaml"),
    (SIM, ["--config", "missing.yaml"], "missing.yaml"),
    # rules across keys
    (SIM, _set("dropout.visit_probs=[0.5, 0.5, 0.5]"), "dropout.visit_probs"),
    (SIM, _set("effects.sd_pct_change=1.2"), "effects.sd_pct_change"),
    (SIM, _set("trial.allocation_ratio=2"), "trial.block_sizes"),
    (SIM, _set("trial.allocation_ratio=0.01"), "trial.allocation_ratio"),
    (SIM, _set("trial.strata_cutoffs=[1.0, 1.0]"), "trial.strata_cutoffs"),
    (SIM, _set("cohort.eligibility.testosterone_single_ng_dl=[300, 150]"), "testosterone_single_ng_dl"),
    (SIM, _set("cohort.corr_log_testosterone_log_estradiol=0.99"), "cohort.corr_"),
    (SIM, _set("cohort.eligibility.age_min_years=110"), "cohort.eligibility.age_min_years"),
    (
        POWER,
        _set(
            "cohort.eligibility.testosterone_single_ng_dl=[4000, 5000]",
            "cohort.eligibility.testosterone_two_consecutive_ng_dl=[4000, 4100]",
        ),
        "cohort.eligibility.testosterone_single_ng_dl",
    ),
    (SIM, _set("cohort.bmd_sd_g_cm2=0.3"), "cohort.bmd_sd_g_cm2"),
    (
        SIM,
        _set("effects.mode=estradiol_mediated", "effects.estradiol_slope_pct_per_pg_ml=5"),
        "effects.estradiol_slope_pct_per_pg_ml",
    ),
    (
        SIM,
        _set("effects.placebo_pct_change=-45", "effects.difference_pct=-10"),
        "effects.difference_pct",
    ),
    (
        SIM,
        _set("effects.placebo_pct_change=-10", "effects.sd_pct_change=18"),
        "effects.sd_pct_change",
    ),
    (POWER, _set("measurement.bmd_cv_pct=0"), "measurement.bmd_cv_pct"),
    (
        POWER,
        _set("analysis.missing=multiple_imputation", "analysis.methods=[mmrm]"),
        "analysis.missing",
    ),
    (
        POWER,
        _set("analysis.missing=delta_mnar", "analysis.methods=[mann_whitney, mmrm]"),
        "analysis.missing",
    ),
    # the sequential section (checked by validate_sequential) and the design prior (parse_prior)
    (SEQ, [], "config key 'sequential' is not set"),
    (SEQ, ["--config", "seq_decreasing.yaml"], "sequential.information_fractions"),
    (SIM, ["--config", "seq_decreasing.yaml"], "sequential.information_fractions"),
    (SEQ, ["--config", "seq_not_one.yaml"], "sequential.information_fractions"),
    (SIM, ["--config", "seq_not_one.yaml"], "sequential.information_fractions"),
    (SEQ, ["--config", "seq_alpha.yaml"], "sequential.alpha"),
    (SIM, ["--config", "seq_alpha.yaml"], "sequential.alpha"),
    (SEQ, ["--config", "seq_type.yaml"], "sequential.efficacy.type"),
    (SIM, ["--config", "seq_type.yaml"], "sequential.efficacy.type"),
    (SEQ, ["--config", "seq_no_beta.yaml"], "sequential.futility.beta"),
    (SIM, ["--config", "seq_no_beta.yaml"], "sequential.futility.beta"),
    (SEQ, ["--config", "seq_gamma.yaml"], "sequential.efficacy.gamma"),
    (
        SEQ,
        _set(
            "sequential.information_fractions=[0.5, 1]",
            "sequential.sided=2",
            "sequential.futility={type: as_pocock, beta: 0.2}",
        ),
        "sequential.futility",
    ),
    (SEQ, _set("sequential.information_fractions=[0.5, .nan, 1]"), "sequential.information_fractions"),
    (POWER, _set("grid.sequential.alpha=[0.01, 0.02]"), "sequential.alpha"),
    (SIM, ["--config", "prior_sd.yaml"], "prior.difference.sd"),
    (SEQ, ["--config", "prior_sd.yaml"], "prior.difference.sd"),
    (SIM, ["--config", "prior_weights.yaml"], "prior.difference.components"),
    (SEQ, ["--config", "prior_weights.yaml"], "prior.difference.components"),
    (SIM, ["--config", "prior_family.yaml"], "prior.difference.distribution"),
    (SEQ, ["--config", "prior_family.yaml"], "prior.difference.distribution"),
    (SIM, ["--config", "prior_empty.yaml"], "prior.difference.file"),
    (SIM, ["--config", "prior_malformed.yaml"], "prior.difference.file"),
    (SEQ, ["--config", "prior_malformed.yaml"], "prior.difference.file"),
    (SIM, ["--config", "prior_text.yaml"], "prior.difference.file"),
    (SIM, _set("prior.difference={distribution: draws, file: nowhere.csv}"), "prior.difference.file"),
]


def _id(case) -> str:
    command, args, _ = case
    return f"{command[0]}:{' '.join(args)[:60]}"


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("command, args, key", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_stops_with_one_line_naming_the_key(tmp_path, command, args, key):
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.csv").write_text("earlier result\n")
    before = _snapshot(out)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    # The timeout only guards against a hang (an expanded alias bomb would never end).
    proc = subprocess.run(
        [*CLI, *command, *args, "--out", str(out / "result.csv")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].strip(), proc.stderr
    assert "Traceback" not in proc.stderr
    assert key in lines[0]
    assert len(lines[0]) <= len("vtrial: error: ") + 300
    assert proc.stdout == ""
    assert _snapshot(out) == before


def test_battery_is_large_and_covers_both_commands():
    assert len(CASES) >= 45
    assert {c[0][0] for c in CASES} == {"simulate", "power", "sequential"}
