"""``vtrial sequential``: the boundaries table of the config's ``sequential`` section.

References: rpact 3.3.4, tests/fixtures/sequential/rpact_reference.json (made by
make_rpact_fixtures.R) and followup_rpact.json (the worked example, made by
make_followup_fixture.R).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vtrial.boundaries import boundaries_table
from vtrial.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "sequential"
FOLLOWUP = ROOT / "config" / "examples" / "sequential_followup.yaml"
RPACT = {d["name"]: d for d in json.loads((FIXTURES / "rpact_reference.json").read_text())["designs"]}
SAMPLE_SIZE = json.loads((FIXTURES / "rpact_reference.json").read_text())["sample_size"]
FOLLOWUP_RPACT = json.loads((FIXTURES / "followup_rpact.json").read_text())

#: rpact's asOF_bsHSD_binding design as a config section.
BINDING = {
    "information_fractions": [0.3, 0.7, 1],
    "alpha": 0.025,
    "efficacy": {"type": "as_obrien_fleming"},
    "futility": {"type": "as_hsd", "gamma": -2, "binding": True, "beta": 0.2},
}


def _run(tmp_path, *args):
    out = tmp_path / "bounds.csv"
    assert main(["sequential", *map(str, args), "--out", str(out)]) == 0
    return pd.read_csv(out), out


def test_csv_is_the_boundaries_table_with_drift_and_inflation(tmp_path, capsys):
    table, out = _run(tmp_path, "--config", FOLLOWUP)
    section = yaml.safe_load(FOLLOWUP.read_text())["sequential"]
    expected = boundaries_table(section)
    assert list(table.columns) == [*expected.columns, "drift", "inflation_factor"]
    assert list(table.columns[:5]) == [
        "look",
        "information_fraction",
        "z_efficacy",
        "cumulative_alpha",
        "z_futility",
    ]
    pd.testing.assert_frame_equal(
        table[list(expected.columns)], expected, check_exact=False, rtol=0, atol=1e-12
    )
    assert (table["drift"] == expected.attrs["drift"]).all()
    assert (table["inflation_factor"] == expected.attrs["inflation_factor"]).all()
    err = capsys.readouterr().err
    assert f"drift {expected.attrs['drift']:.4f}" in err and "inflation factor 1.0670" in err
    record = json.loads(out.with_name(out.name + ".provenance.json").read_text())
    assert record["config"]["sequential"] == section


def test_worked_example_matches_rpact(tmp_path):
    table, _ = _run(tmp_path, "--config", FOLLOWUP, "--sample-size")
    ref = FOLLOWUP_RPACT
    np.testing.assert_allclose(table["information_fraction"], ref["informationRates"], atol=1e-12)
    np.testing.assert_allclose(table["z_efficacy"], ref["criticalValues"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(table["z_futility"][:-1], ref["futilityBounds"], rtol=0, atol=1e-6)
    # rpact's beta spending solver stops within 1e-8 of beta.
    np.testing.assert_allclose(table["cumulative_beta"], ref["betaSpent"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(table["cumulative_alpha"], ref["alphaSpent"], rtol=0, atol=1e-7)
    assert table["drift"][0] ** 2 == pytest.approx(ref["shift"], rel=1e-6)
    assert table["inflation_factor"][0] == pytest.approx(ref["inflationFactor"], rel=1e-6)
    # rpact solves the noncentral-t fixed N to 1e-4 (relative agreement ~1e-6).
    for ours, key in [("n_fixed", "nFixed"), ("n_max", "maxNumberOfSubjects"),
                      ("expected_n_h0", "expectedNumberOfSubjectsH0"),
                      ("expected_n_h1", "expectedNumberOfSubjectsH1")]:  # fmt: skip
        assert table[ours][0] == pytest.approx(ref[key], rel=1e-5), ours
    np.testing.assert_allclose(table["n_cumulative"], ref["numberOfSubjects"], rtol=1e-5)


def test_rpact_fixture_design_through_the_command(tmp_path):
    cfg = tmp_path / "binding.yaml"
    cfg.write_text(yaml.safe_dump({"sequential": BINDING}))
    table, _ = _run(tmp_path, "--config", cfg, "--sample-size")
    entry = RPACT["asOF_bsHSD_binding"]
    np.testing.assert_allclose(table["z_efficacy"], entry["criticalValues"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(table["z_futility"][:-1], entry["futilityBounds"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(table["cumulative_alpha"], entry["alphaSpent"], rtol=0, atol=1e-7)
    assert table["drift"][0] ** 2 == pytest.approx(entry["characteristics"]["shift"], rel=1e-6)
    assert table["inflation_factor"][0] == pytest.approx(
        entry["characteristics"]["inflationFactor"], rel=1e-6
    )
    # The config's default effects are rpact's alternative 2.46 and SD 3 (1:1, noncentral t).
    (case,) = [c for c in SAMPLE_SIZE if c["design"] == "asOF_bsHSD_binding" and not c["normalApproximation"]]
    assert table["n_max"][0] == pytest.approx(case["maxNumberOfSubjects"], rel=1e-5)
    assert table["n_fixed"][0] == pytest.approx(case["nFixed"], rel=1e-5)
    assert table["expected_n_h0"][0] == pytest.approx(case["expectedNumberOfSubjectsH0"], rel=1e-5)
    assert table["expected_n_h1"][0] == pytest.approx(case["expectedNumberOfSubjectsH1"], rel=1e-5)


def test_design_without_futility_has_no_futility_column(tmp_path):
    table, _ = _run(tmp_path, "--set", "sequential.information_fractions=[0.5, 1]")
    entry = RPACT["asOF_2"]
    assert "z_futility" not in table.columns
    np.testing.assert_allclose(table["z_efficacy"], entry["criticalValues"], rtol=0, atol=1e-6)
    assert table["inflation_factor"][0] == pytest.approx(
        entry["characteristics"]["inflationFactor"], rel=1e-6
    )


def test_out_dash_prints_the_table_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sequential", "--config", str(FOLLOWUP), "--out", "-"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split()[:5] == [
        "look",
        "information_fraction",
        "z_efficacy",
        "cumulative_alpha",
        "z_futility",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3"]
    assert lines[1].split()[2] == "3.731"  # rpact 3.73066529 to 4 significant digits
    assert "inflation factor" in captured.err
    assert list(tmp_path.iterdir()) == []
    assert main(["sequential", "--config", str(FOLLOWUP)]) == 0  # '-' is the default
    assert capsys.readouterr().out == captured.out


def test_missing_section_is_one_line_exit_2(tmp_path, capsys):
    out = tmp_path / "b.csv"
    assert main(["sequential", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "vtrial: error: config key 'sequential' is not set (add a sequential section: see config/README.md)\n"
    )
    assert list(tmp_path.iterdir()) == []
    assert main(["sequential", "--set", "sequential=null"]) == 2


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["effects.mode=estradiol_mediated"], "effects.mode"),
        (["effects.difference_pct=0"], "effects.difference_pct"),
    ],
)
def test_sample_size_needs_a_direct_nonzero_difference(tmp_path, capsys, overrides, key):
    args = [a for o in overrides for a in ("--set", o)]
    out = tmp_path / "b.csv"
    assert main(["sequential", "--config", str(FOLLOWUP), "--sample-size", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert key in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_help_describes_the_command_and_its_simulation_options():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["sequential"].format_help()
    assert "--sample-size" in text and "--out" in text
    for option in ("--simulate", "--method", "--reps", "--target-power"):
        assert option in text, option
