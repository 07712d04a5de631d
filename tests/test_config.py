from pathlib import Path

import pytest
import yaml

from vtrial.config import (
    default_config,
    expand_grid,
    load_config,
    parse_override,
    scenario_id,
    set_key,
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
