"""Command line with a design config: methods it cannot use are skipped, searches accept designs."""

from __future__ import annotations

from pathlib import Path

from vtrial.cli import main

EXAMPLE = str(Path(__file__).resolve().parents[1] / "config" / "examples" / "three_arm_dose.yaml")


def test_power_skips_methods_a_design_cannot_use_with_one_note(capsys):
    assert main(["power", "--config", EXAMPLE, "--reps", "500", "--quiet", "--out", "-"]) == 0
    out, err = capsys.readouterr()
    methods = {line.split()[1] for line in out.splitlines()[1:]}
    assert methods == {"ancova", "student_t", "mmrm"}
    # welch_t: Dunnett needs a pooled variance; mann_whitney: no design statistic. One line says so.
    skipped = [line for line in err.splitlines() if "skipped" in line]
    assert skipped == [
        "vtrial: note: welch_t, mann_whitney cannot analyse this multi-arm or scheduled design "
        "(multiplicity dunnett); skipped"
    ]
    assert all(line.startswith("vtrial: note: ") for line in err.splitlines())


def test_power_refuses_a_named_method_and_a_config_with_no_usable_method(capsys):
    assert main(["power", "--config", EXAMPLE, "--reps", "50", "--method", "mann_whitney", "--out", "-"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "method 'mann_whitney'" in err[0]
    argv = ["power", "--config", EXAMPLE, "--reps", "50", "--set", "analysis.methods=[welch_t, mann_whitney]"]
    assert main([*argv, "--out", "-"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("vtrial: error: config key 'analysis.methods'")


def test_default_design_keeps_every_method(capsys):
    argv = ["power", "--reps", "50", "--quiet", "--set", "analysis.methods=[ancova, mann_whitney]"]
    assert main([*argv, "--out", "-"]) == 0
    assert capsys.readouterr().err == ""
