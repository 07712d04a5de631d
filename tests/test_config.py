import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vtrial.config import (
    default_config,
    expand_grid,
    get_key,
    load_config,
    parse_override,
    read_yaml_file,
    scenario_id,
    schema,
    set_key,
    validate_config,
)
from vtrial.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_repo_config_is_the_packaged_default():
    assert yaml.safe_load((ROOT / "config" / "config.yaml").read_text()) == default_config()


def test_contract_keys_have_2009_defaults(cfg):
    assert cfg["trial"]["n_per_arm"] == 44
    assert cfg["trial"]["allocation_ratio"] == 1.0
    assert cfg["effects"]["placebo_pct_change"] == 0.76
    assert cfg["effects"]["difference_pct"] == -2.46
    assert cfg["effects"]["sd_pct_change"] == 3.0
    assert -1 < cfg["effects"]["baseline_corr"] < 1
    assert cfg["measurement"]["bmd_cv_pct"] == 1.0
    assert (cfg["dropout"]["anastrozole"], cfg["dropout"]["placebo"]) == (0.25, 0.18)
    assert cfg["dropout"]["mechanism"] == "MCAR"
    assert {"ancova", "welch_t"} <= set(cfg["analysis"]["methods"])
    assert cfg["analysis"]["alpha"] == 0.05
    assert cfg["simulation"]["reps"] == 10000
    assert isinstance(cfg["seed"], int)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("trial.n_per_arm=60", ("trial.n_per_arm", 60)),
        ("effects.difference_pct=-1.5", ("effects.difference_pct", -1.5)),
        ("dropout.mechanism=MNAR", ("dropout.mechanism", "MNAR")),
        ("analysis.methods=[ancova, mmrm]", ("analysis.methods", ["ancova", "mmrm"])),
        ("analysis.robust_se=true", ("analysis.robust_se", True)),
    ],
)
def test_parse_override_reads_yaml_scalars(text, expected):
    assert parse_override(text) == expected


def test_overrides_apply_in_order():
    cfg = load_config(overrides=["trial.n_per_arm=60", "trial.n_per_arm=70"], seed=5)
    assert cfg["trial"]["n_per_arm"] == 70
    assert cfg["seed"] == 5


def test_config_file_merges_over_defaults(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("effects:\n  difference_pct: -1.0\n")
    cfg = load_config(f)
    assert cfg["effects"]["difference_pct"] == -1.0
    assert cfg["effects"]["sd_pct_change"] == 3.0


BAD = [
    (["trial.bogus=1"], "trial.bogus"),
    (["bogus=1"], "bogus"),
    (["trial.n_per_arm=abc"], "trial.n_per_arm"),
    (["trial.n_per_arm=1"], "trial.n_per_arm"),
    (["trial.n_per_arm=2.5"], "trial.n_per_arm"),
    (["effects.sd_pct_change=-1"], "effects.sd_pct_change"),
    (["dropout.placebo=1"], "dropout.placebo"),
    (["dropout.anastrozole=-0.1"], "dropout.anastrozole"),
    (["dropout.mechanism=MISSING"], "dropout.mechanism"),
    (["analysis.methods=[anova]"], "analysis.methods"),
    (["dropout.visit_probs=[0.5, 0.5, 0.5]"], "dropout.visit_probs"),
    (["effects.sd_pct_change=1.2"], "effects.sd_pct_change"),
    (["grid.trial.n_per_arm=[20, 1]"], "trial.n_per_arm"),
    (["grid.effects.nope=[1, 2]"], "effects.nope"),
    (["trial.allocation_ratio=2"], "trial.block_sizes"),
]


@pytest.mark.parametrize("overrides, key", BAD)
def test_bad_values_name_the_key(overrides, key):
    with pytest.raises(InputError) as err:
        load_config(overrides=overrides)
    message = str(err.value)
    assert key in message
    assert "\n" not in message


def test_enum_error_lists_allowed_values():
    with pytest.raises(InputError, match="allowed: MCAR, MAR, MNAR"):
        load_config(overrides=["dropout.mechanism=mnar"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("trial: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(bad)


def test_grid_expands_cartesian_with_distinct_ids():
    cfg = load_config(overrides=["grid.trial.n_per_arm=[20, 40, 60]", "grid.dropout.mechanism=[MCAR, MNAR]"])
    scenarios = expand_grid(cfg)
    assert len(scenarios) == 6
    assert len({s.id for s in scenarios}) == 6
    assert scenarios[1].config["dropout"]["mechanism"] == "MNAR"
    assert scenarios[1].config["grid"] == {}


def test_scenario_id_tracks_data_parameters_only(cfg):
    same = set_key(cfg, "analysis.methods", ["mmrm"])
    same = set_key(same, "simulation.reps", 5)
    other = set_key(cfg, "effects.difference_pct", -1.0)
    assert scenario_id(same) == scenario_id(cfg)
    assert scenario_id(other) != scenario_id(cfg)
    bigger = set_key(cfg, "trial.n_per_arm", 80)
    assert scenario_id(bigger, exclude=("trial.n_per_arm",)) == scenario_id(cfg, exclude=("trial.n_per_arm",))


# --------------------------------------------------------------------------- schema documents itself


def _leaves():
    from vtrial.config_docs import leaves

    return leaves(schema(), "")


#: Top-level sections absent from the default configuration.
OPTIONAL_SECTIONS = ("sequential", "prior")


def _optional(key: str) -> bool:
    """True for a key absent from the default config that the schema does not require."""
    node, value = schema(), default_config()
    for part in key.split("."):
        if part not in node.get("properties", {}):
            return False
        if part not in node.get("required", []) and part not in value:
            return True
        node, value = node["properties"][part], value.get(part, {})
    return False


def test_every_key_is_documented_with_its_default_and_the_reason_for_its_range():
    defaults = default_config()
    keys = _leaves()

    def paths(node, prefix=""):
        if isinstance(node, dict) and node and prefix not in ("grid", "sensitivity.tornado"):
            return [p for k, v in node.items() for p in paths(v, f"{prefix}.{k}" if prefix else k)]
        return [prefix]

    for key, node in keys:
        assert node.get("description", "").strip(), key
    keys = [(k, n) for k, n in keys if not _optional(k)]
    assert [k for k, _ in keys] == paths(defaults)  # every key of the default, in the same order
    for key, node in keys:
        assert node.get("description", "").strip(), key
        assert "default" in node, key
        assert node["default"] == get_key(defaults, key), key
        numeric = {node.get("type")} | {b.get("type") for b in node.get("anyOf", [])}
        numeric |= {node.get("items", {}).get("type")}
        if numeric & {"number", "integer"}:
            assert node.get("x-why", "").strip(), key


def test_optional_sections_are_documented_and_their_defaults_are_the_validators():
    from vtrial.sequential_config import validate_sequential

    top = schema()
    assert set(OPTIONAL_SECTIONS) == set(top["properties"]) - set(top["required"]) - {
        "grid",
        "pipeline",
        "sensitivity",
    }
    assert not set(OPTIONAL_SECTIONS) & set(default_config())
    keys = [(k, n) for k, n in _leaves() if k.split(".")[0] in OPTIONAL_SECTIONS]
    assert {k.split(".")[0] for k, _ in keys} == set(OPTIONAL_SECTIONS)
    for key, node in keys:
        assert node.get("description", "").strip(), key
        numeric = {node.get("type")} | {b.get("type") for b in node.get("anyOf", [])}
        if numeric & {"number", "integer"}:
            assert node.get("x-why", "").strip(), key
    # Every default the schema states is the one validate_sequential fills in.
    filled = validate_sequential(
        {"information_fractions": [0.5, 1], "futility": {"type": "as_pocock", "beta": 0.1}}
    )
    documented = {k: n["default"] for k, n in keys if "default" in n}
    assert len(documented) == 8
    for key, value in documented.items():
        assert get_key({"sequential": filled}, key) == value, key


def test_every_number_has_an_upper_and_a_lower_bound():
    def bounded(node):
        lower = "minimum" in node or "exclusiveMinimum" in node
        upper = "maximum" in node or "exclusiveMaximum" in node
        return lower and upper

    for key, node in _leaves():
        for sub in [node, node.get("items", {}), *node.get("anyOf", [])]:
            if sub.get("type") in ("number", "integer") and key != "trial.strata_cutoffs":
                assert bounded(sub), key


def test_config_readme_tables_are_generated_from_the_schema():
    from vtrial.config_docs import render

    text = (ROOT / "config" / "README.md").read_text(encoding="utf-8")
    assert text.count("<!-- BEGIN GENERATED:") == 14
    assert render(text) == text, "run: python -m vtrial.config_docs config/README.md"


def test_readme_generator_replaces_only_the_marked_block():
    from vtrial.config_docs import render

    text = "intro\n<!-- BEGIN GENERATED: measurement -->\nstale\n<!-- END GENERATED -->\noutro\n"
    out = render(text)
    assert out.startswith("intro\n<!-- BEGIN GENERATED: measurement -->\n| key |")
    assert out.endswith("<!-- END GENERATED -->\noutro\n")
    assert "stale" not in out
    row = out.splitlines()[4]
    assert row.startswith("| `measurement.bmd_cv_pct` |")
    assert "| 1.0 | number 0 to 10 |" in row


# --------------------------------------------------------------------------- normalization


def test_integral_floats_become_integers_under_the_config_key():
    ints = ["trial.n_per_arm=44", "trial.block_sizes=[4]", "analysis.permutations=199", "simulation.reps=100"]
    floats = [
        t.replace("44", "44.0").replace("[4]", "[4.0]").replace("199", "199.0").replace("=100", "=100.0")
        for t in ints
    ]
    a, b = load_config(overrides=ints), load_config(overrides=floats)
    assert a == b
    assert type(b["trial"]["n_per_arm"]) is int
    assert type(b["trial"]["block_sizes"][0]) is int
    assert type(b["analysis"]["permutations"]) is int
    assert type(b["simulation"]["reps"]) is int
    assert scenario_id(a) == scenario_id(b)


def test_integral_floats_in_grid_values_and_nullable_integers():
    cfg = load_config(overrides=["grid.trial.n_per_arm=[20.0, 40]", "sensitivity.reps=50.0"])
    assert [type(v) for v in cfg["grid"]["trial.n_per_arm"]] == [int, int]
    assert [dict(s.grid_values)["trial.n_per_arm"] for s in expand_grid(cfg)] == [20, 40]
    assert expand_grid(cfg)[0].config["trial"]["n_per_arm"] == 20
    assert type(cfg["sensitivity"]["reps"]) is int
    assert load_config(overrides=["effects.difference_pct=-2"])["effects"]["difference_pct"] == -2


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
@pytest.mark.parametrize(
    "key",
    [
        "effects.difference_pct",
        "trial.strata_cutoffs",
        "sensitivity.target_power",
        "grid.effects.sd_pct_change",
    ],
)
def test_non_finite_numbers_are_refused_everywhere(key, value):
    text = f"{key}=[{value}]" if key != "effects.difference_pct" else f"{key}={value}"
    with pytest.raises(InputError, match="finite") as err:
        load_config(overrides=[text])
    assert key in str(err.value)


def test_non_finite_numbers_in_free_mappings(cfg):
    bad = set_key(cfg, "sensitivity.tornado", {"effects.baseline_corr": [float("nan"), 0.1]})
    with pytest.raises(InputError, match=r"sensitivity\.tornado\.effects\.baseline_corr\[0\]"):
        validate_config(bad)


# --------------------------------------------------------------------------- YAML


def test_duplicate_keys_are_refused_with_dotted_key_and_lines(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("seed: 1\ncohort:\n  eligibility:\n    age_min_years: 60\n    age_min_years: 65\n")
    with pytest.raises(
        InputError, match=r"line 5: key 'cohort\.eligibility\.age_min_years' appears twice \(first at line 4"
    ):
        load_config(f)


def test_aliases_are_refused_before_expansion(tmp_path):
    f = tmp_path / "bomb.yaml"
    levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    levels += [f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    f.write_text("\n".join(levels) + "\n")  # 9^9 = 387 million strings once expanded
    with pytest.raises(InputError, match=r"line 2: YAML alias '\*a' is not allowed"):
        read_yaml_file(f)
    with pytest.raises(InputError, match="alias"):
        parse_override("analysis.methods=[&m ancova, *m]")


def test_yaml_star_outside_aliases_is_fine(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text('analysis:\n  scale: "absolute"  # x * y\n')
    assert load_config(f)["analysis"]["scale"] == "absolute"


@pytest.mark.parametrize(
    "data, match",
    [
        (b"seed: 1\n\xff\xfe\n", r"not UTF-8 text \(byte 0xff at offset 8"),
        (b"seed: 1\x00\n", "binary file"),
        (b"seed: [1\n", "not valid YAML at line 2"),
        (b"- 1\n- 2\n", "must hold a mapping of keys, not list"),
        (b"seed: !!python/object:os.system 1\n", "not valid YAML"),
        (b"#" * 1_000_001, "at most 1,000,000"),
    ],
    ids=["latin-1", "binary", "unclosed", "list", "python-tag", "huge"],
)
def test_unreadable_files_are_one_line_errors(tmp_path, data, match):
    f = tmp_path / "c.yaml"
    f.write_bytes(data)
    with pytest.raises(InputError, match=match) as err:
        load_config(f)
    assert "\n" not in str(err.value)


def test_folder_is_not_a_config_file(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        load_config(tmp_path)


def test_schema_and_default_are_parsed_once():
    from vtrial import config

    load_config()
    before = config._package_yaml.cache_info().misses
    for _ in range(3):
        load_config(overrides=["trial.n_per_arm=50"])
        default_config()
        schema()
    assert config._package_yaml.cache_info().misses == before
    assert default_config() is not default_config()  # callers get their own copy


def test_config_module_imports_no_heavy_libraries():
    code = (
        "import sys, vtrial.config as c; c.load_config(); "
        "print(sorted(m for m in ('pandas', 'scipy', 'statsmodels', 'numpy') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- rules across keys


def test_mmrm_needs_dxa_error():
    with pytest.raises(InputError, match="measurement.bmd_cv_pct': value 0 is not allowed with mmrm"):
        load_config(overrides=["measurement.bmd_cv_pct=0"])
    cfg = load_config(overrides=["measurement.bmd_cv_pct=0", "analysis.methods=[ancova, welch_t]"])
    assert cfg["measurement"]["bmd_cv_pct"] == 0
    with pytest.raises(InputError, match="mmrm"):
        load_config(
            overrides=[
                "measurement.bmd_cv_pct=0",
                "analysis.methods=[ancova]",
                "pipeline.power_methods=[mmrm]",
            ]
        )


def test_missing_strategy_must_suit_some_method():
    from vtrial.analysis import ALLOWED_MISSING

    # The validator skips the registry for complete_case: every method must accept it.
    assert all("complete_case" in allowed for allowed in ALLOWED_MISSING.values())
    with pytest.raises(InputError, match="analysis.missing': value 'multiple_imputation'"):
        load_config(overrides=["analysis.missing=multiple_imputation", "analysis.methods=[mmrm]"])
    with pytest.raises(InputError, match="pipeline.power_methods"):
        load_config(overrides=["analysis.missing=locf", "pipeline.power_methods=[mmrm]"])
    # A mixed list is what `vtrial analyze` accepts (it skips mmrm with a note).
    assert (
        load_config(overrides=["analysis.missing=multiple_imputation"])["analysis"]["missing"]
        == "multiple_imputation"
    )


def test_anastrozole_arm_needs_two_men():
    with pytest.raises(InputError, match="leaves 0 men on anastrozole"):
        load_config(overrides=["trial.allocation_ratio=0.01", "trial.randomization=simple"])
    assert load_config(overrides=["trial.allocation_ratio=0.05", "trial.randomization=simple"])


def test_default_cohort_passes_the_checks_it_skips(cfg):
    """The packaged cohort is not re-checked on every validation; it must pass."""
    from vtrial.cohort import correlation_matrix
    from vtrial.config import MIN_ELIGIBLE_RATE, _screening

    correlation_matrix(cfg["cohort"])
    rate, age_rate, _, _ = _screening(json.dumps(cfg["cohort"], sort_keys=True))
    assert rate > 10 * MIN_ELIGIBLE_RATE
    assert age_rate > rate


def test_eligible_share_matches_a_large_independent_draw(cfg):
    """The 20,000-man estimate agrees with 400,000 other men within 3 SEs."""
    import numpy as np

    from vtrial.cohort import _population_draw, eligible
    from vtrial.config import ELIGIBILITY_DRAW, _screening

    c = {**cfg["cohort"], "eligibility": {**cfg["cohort"]["eligibility"], "age_min_years": 70}}
    rate = _screening(json.dumps(c, sort_keys=True))[0]
    rng = np.random.default_rng(99)
    big = float(eligible(c, _population_draw(c, 400_000, rng), rng).mean())
    se = (big * (1 - big) / ELIGIBILITY_DRAW) ** 0.5
    assert abs(rate - big) < 3 * se


def test_unreachable_eligibility_is_refused_at_once():
    with pytest.raises(InputError, match=r"age_min_years': value 110 leaves 0\.00% of screened men eligible"):
        load_config(overrides=["cohort.eligibility.age_min_years=110"])
    assert load_config(overrides=["cohort.eligibility.age_min_years=70"])


@pytest.mark.slow
def test_estradiol_moments_match_the_simulation(cfg):
    """Closed-form E[dE2] and SD(dE2) from the validation draw against trial's 400,000-man simulation."""
    import math

    from vtrial.config import _screening
    from vtrial.model import _estradiol_change_moments

    mean_sim, sd_sim = _estradiol_change_moments(
        json.dumps(cfg["cohort"], sort_keys=True), json.dumps(cfg["hormones"], sort_keys=True)
    )
    rate, _, m1, m2 = _screening(json.dumps(cfg["cohort"], sort_keys=True))
    r, s = cfg["hormones"]["estradiol_ratio"][2], cfg["hormones"]["estradiol_response_log_sd"]
    mean = m1 * (r - 1)
    sd = math.sqrt(m2 * (r * r * math.exp(s * s) - 2 * r + 1) - mean**2)
    n = rate * 20_000
    assert abs(mean - mean_sim) < 3 * sd_sim / math.sqrt(n)
    assert abs(sd - sd_sim) < 3 * sd_sim / math.sqrt(2 * n) * 2  # kurtosis of a lognormal mixture: x2


def test_estradiol_slope_too_steep_is_refused():
    base = ["effects.mode=estradiol_mediated"]
    assert load_config(overrides=[*base, "effects.estradiol_slope_pct_per_pg_ml=1.0"])
    with pytest.raises(InputError, match="effects.estradiol_slope_pct_per_pg_ml': value 1.2"):
        load_config(overrides=[*base, "effects.estradiol_slope_pct_per_pg_ml=1.2"])


def test_bmd_stays_positive():
    with pytest.raises(InputError, match="cohort.bmd_sd_g_cm2"):
        load_config(overrides=["cohort.bmd_sd_g_cm2=0.2", "cohort.bmd_mean_g_cm2=1.1"])
    with pytest.raises(InputError, match=r"mean - 6 x SD > -100%"):
        load_config(overrides=["effects.placebo_pct_change=-20", "effects.sd_pct_change=14"])
    assert load_config(overrides=["effects.placebo_pct_change=-20", "effects.sd_pct_change=12"])


def test_correlations_must_be_positive_definite():
    # Each pair is allowed alone; together they are not: r(T,E2) high but r(BMI,T), r(BMI,E2) opposite.
    over = ["cohort.corr_log_testosterone_log_estradiol=0.9", "cohort.corr_bmi_log_testosterone=-0.7",
            "cohort.corr_bmi_log_estradiol=0.7"]  # fmt: skip
    with pytest.raises(InputError, match=r"cohort\.corr_\*.*positive definite"):
        load_config(overrides=over)


def test_messages_are_one_short_line():
    from vtrial.config import MAX_MESSAGE

    with pytest.raises(InputError) as err:
        load_config(overrides=["analysis.methods=[" + ", ".join(["ancova"] * 500) + ", anova]"])
    assert len(str(err.value)) <= MAX_MESSAGE
    assert "analysis.methods[500]" in str(err.value)


# --------------------------------------------------------------------------- optional sections

FOLLOWUP = ROOT / "config" / "examples" / "sequential_followup.yaml"


def test_optional_sections_are_absent_by_default_and_validated_when_present(tmp_path):
    cfg = load_config()
    assert "sequential" not in cfg and "prior" not in cfg
    cfg = load_config(FOLLOWUP)
    assert cfg["sequential"]["futility"] == {"type": "as_hsd", "gamma": -2, "binding": False, "beta": 0.1}
    assert load_config(overrides=["sequential=null", "prior=null"])["sequential"] is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["sequential.information_fractions=[0.6, 0.5, 1]"], "sequential.information_fractions: .* strictly increasing"),
        (["sequential.information_fractions=[0.5, 0.9]"], "sequential.information_fractions: .* must end at 1"),
        (["sequential.information_fractions=[0.5, 1]", "sequential.alpha=0.6"], "'sequential.alpha': value 0.6 is out of range"),
        (["sequential.information_fractions=[1]", "sequential.efficacy.type=wald"], "'sequential.efficacy.type': value 'wald'"),
        (["sequential.information_fractions=[1]", "sequential.efficacy.type=as_hsd"], "sequential.efficacy.gamma: missing"),
        (["sequential.information_fractions=[1]", "sequential.futility.type=as_hsd"], "'sequential.futility.beta' is missing"),
        (["sequential.information_fractions=[1]", "sequential.sided=2", "sequential.futility={type: as_pocock, beta: 0.2}"], "sequential.futility: futility bounds"),
        (["sequential.alpha=0.05"], "'sequential.information_fractions' is missing"),
        (["prior.difference={distribution: normal, mean: -2, sd: -1}"], "'prior.difference.sd': value -1 is out of range"),
        (["prior.difference={distribution: cauchy}"], "'prior.difference.distribution': value 'cauchy'"),
        (["prior.difference={distribution: mixture, components: [{weight: 0.5, mean: -2, sd: 1}, {weight: 0.6, mean: 0, sd: 1}]}"], "'prior.difference.components': weights"),
        (["prior.difference={distribution: normal, mean: -2, sd: 1, df: 3}"], "'prior.difference.df' is not known"),
        (["prior.difference={distribution: normal, mean: -80, sd: 1}"], "'prior.difference.mean': value -80 is out of range"),
        (["prior.sd_pct_change={distribution: scaled_inv_chi2, value: 3}"], "'prior.sd_pct_change.df' is missing"),
        (["prior.bogus=1"], "prior.bogus"),
        (["grid.sequential.alpha=[0.01, 0.02]"], "'sequential.alpha' cannot be varied"),
        (["grid.prior.difference.sd=[1, 2]"], "'prior.difference.sd' cannot be varied"),
    ],
)  # fmt: skip
def test_bad_optional_sections_name_the_key(overrides, message):
    with pytest.raises(InputError, match=message) as err:
        load_config(overrides=overrides)
    assert "\n" not in str(err.value)


def test_draws_file_is_relative_to_the_config_files_folder(tmp_path, monkeypatch):
    study = tmp_path / "study"
    study.mkdir()
    (study / "draws.csv").write_text("difference\n-2.0\n-3.0\n")
    (study / "c.yaml").write_text("prior:\n  difference: {distribution: draws, file: draws.csv}\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    cfg = load_config("study/c.yaml")
    assert cfg["prior"]["difference"]["file"] == str(study / "draws.csv")
    monkeypatch.chdir(study.parent.parent)
    validate_config(cfg)  # absolute now: valid from any folder
    with pytest.raises(InputError, match=r"prior\.difference\.file': file 'draws\.csv' does not exist"):
        # --set: from the current folder
        load_config(overrides=["prior.difference={distribution: draws, file: draws.csv}"])
    monkeypatch.chdir(study)
    assert load_config(overrides=["prior.difference={distribution: draws, file: draws.csv}"])["prior"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "holds no draws"),
        ("d\n-2.0\nabc\n", "line 3 .* 'abc', not a number"),
        ("-2,1\n", "has 2 columns"),
    ],
    ids=["empty", "not-a-number", "two-columns"],
)
def test_bad_draws_files_name_the_key(tmp_path, content, message):
    (tmp_path / "draws.csv").write_text(content)
    (tmp_path / "c.yaml").write_text("prior:\n  difference: {distribution: draws, file: draws.csv}\n")
    with pytest.raises(InputError, match=f"'prior.difference.file': .*{message}"):
        load_config(tmp_path / "c.yaml")


def test_optional_sections_keep_the_scenario_and_its_streams(tmp_path):
    from vtrial.cli import main

    plain = load_config()
    both = load_config(FOLLOWUP, overrides=["prior.difference={distribution: normal, mean: -1, sd: 2}"])
    assert scenario_id(both) == scenario_id(plain)
    assert [s.id for s in expand_grid(both)] == [s.id for s in expand_grid(plain)]
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["simulate", "--out", str(a)]) == 0
    assert main(["simulate", "--config", str(FOLLOWUP), "--set", "prior.difference.distribution=t",
                 "--set", "prior.difference.mean=-1", "--set", "prior.difference.scale=1",
                 "--set", "prior.difference.df=4", "--out", str(b)]) == 0  # fmt: skip
    assert a.read_bytes() == b.read_bytes()


def test_set_creates_keys_of_optional_sections_only():
    assert set_key(default_config(), "prior.difference.sd", 1.0)["prior"] == {"difference": {"sd": 1.0}}
    with pytest.raises(InputError, match="'sequential.looks' does not exist"):
        set_key(default_config(), "sequential.looks", 3)
