import io
import subprocess
import sys

import pandas as pd
import pytest

from vtrial.cli import main
from vtrial.trial import COLUMNS


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "vtrial.cli", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_simulate_writes_contract_csv_byte_identical(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["simulate", "--out", str(a)]) == 0
    assert main(["simulate", "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    df = pd.read_csv(a)
    assert list(df.columns) == COLUMNS
    assert df["subject_id"].nunique() == 88
    c = tmp_path / "c.csv"
    assert main(["simulate", "--out", str(c), "--seed", "3"]) == 0
    assert c.read_bytes() != a.read_bytes()


def test_simulate_honours_set(tmp_path):
    out = tmp_path / "t.csv"
    assert (
        main(
            [
                "simulate",
                "--out",
                str(out),
                "--set",
                "trial.n_per_arm=10",
                "--set",
                "trial.allocation_ratio=2",
                "--set",
                "trial.block_sizes=[3, 6]",
            ]
        )
        == 0
    )
    df = pd.read_csv(out)
    assert df.groupby("arm")["subject_id"].nunique().to_dict() == {"anastrozole": 20, "placebo": 10}


BAD = [
    (["--set", "trial.bogus=1"], "trial.bogus"),
    (["--set", "trial.n_per_arm=x"], "trial.n_per_arm"),
    (["--set", "effects.sd_pct_change=-2"], "effects.sd_pct_change"),
    (["--set", "dropout.placebo=1.0"], "dropout.placebo"),
    (["--set", "trial.n_per_arm=1"], "trial.n_per_arm"),
    (["--set", "dropout.mechanism=NMAR"], "dropout.mechanism"),
    (["--config", "does/not/exist.yaml"], "does/not/exist.yaml"),
]


@pytest.mark.parametrize("args, key", BAD)
def test_bad_input_exits_2_with_one_line_and_no_file(tmp_path, capsys, args, key):
    out = tmp_path / "t.csv"
    assert main(["simulate", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert key in err and "\n" not in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_malformed_config_file_through_the_console(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("effects: {difference_pct: -1\n")
    out = tmp_path / "t.csv"
    r = run("simulate", "--config", bad, "--out", out)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "bad.yaml" in r.stderr and "not valid YAML" in r.stderr
    assert not out.exists()


def test_calibrate_command_writes_table_and_figure(tmp_path):
    out = tmp_path / "cal"
    assert main(["calibrate", "--reps", "200", "--out", str(out)]) == 0
    table = pd.read_csv(out / "calibration.csv")
    assert {"published", "sim_median", "sim_p2_5", "sim_p97_5", "inside"} <= set(table.columns)
    assert (out / "calibration.png").stat().st_size > 10_000
    assert (out / "calibration.svg").exists()


def test_analyze_a_simulated_trial_matches_statsmodels(tmp_path, capsys):
    import numpy as np
    import statsmodels.formula.api as smf

    trial, out = tmp_path / "trial.csv", tmp_path / "res.csv"
    assert main(["simulate", "--out", str(trial)]) == 0
    assert main(["analyze", str(trial), "--method", "ancova", "--method", "welch_t", "--out", str(out)]) == 0
    res = pd.read_csv(out).set_index("method")
    assert "ancova" in capsys.readouterr().out
    df = pd.read_csv(trial)
    wide = df.pivot(index="subject_id", columns="visit_month", values="bmd_g_cm2")
    wide["arm"] = df.groupby("subject_id")["arm"].first()
    wide = wide.dropna(subset=[0, 12])
    wide["change"] = 100 * (wide[12] - wide[0]) / wide[0]
    wide["treated"] = (wide["arm"] == "anastrozole").astype(float)
    wide["baseline"] = wide[0]
    fit = smf.ols("change ~ treated + baseline", data=wide).fit()
    assert res.loc["ancova", "estimate"] == pytest.approx(fit.params["treated"], abs=1e-10)
    assert res.loc["ancova", "se"] == pytest.approx(fit.bse["treated"], abs=1e-10)
    assert res.loc["ancova", "p_value"] == pytest.approx(fit.pvalues["treated"], rel=1e-8)
    assert res.loc["ancova", "n_placebo"] + res.loc["ancova", "n_anastrozole"] == len(wide)
    assert np.isfinite(res.loc["welch_t", "p_value"])


def test_analyze_rejects_a_file_without_bmd_column(tmp_path, capsys):
    trial = tmp_path / "trial.csv"
    assert main(["simulate", "--out", str(trial)]) == 0
    pd.read_csv(trial).drop(columns="bmd_g_cm2").to_csv(trial, index=False)
    out = tmp_path / "res.csv"
    assert main(["analyze", str(trial), "--out", str(out)]) == 2
    assert "bmd_g_cm2" in capsys.readouterr().err
    assert not out.exists()


def test_analyze_skips_config_methods_that_cannot_use_the_strategy(tmp_path, capsys):
    trial, out = tmp_path / "trial.csv", tmp_path / "res.csv"
    assert main(["simulate", "--out", str(trial)]) == 0
    assert main(["analyze", str(trial), "--missing", "locf", "--out", str(out)]) == 0
    assert "mmrm" in capsys.readouterr().err
    res = pd.read_csv(out)
    assert "mmrm" not in set(res["method"]) and "ancova" in set(res["method"])
    assert (res["missing"] == "locf").all()
    # naming an incompatible method explicitly is an error
    assert main(["analyze", str(trial), "--missing", "locf", "--method", "mmrm"]) == 2


def test_simulate_reports_the_implied_difference_in_mediated_mode(tmp_path, capsys):
    from vtrial.config import load_config
    from vtrial.trial import implied_effects

    out = tmp_path / "t.csv"
    assert main(["simulate", "--out", str(out), "--set", "effects.mode=estradiol_mediated"]) == 0
    expected = implied_effects(load_config(overrides=["effects.mode=estradiol_mediated"])).difference_pct
    assert f"implied difference {expected:.2f}" in capsys.readouterr().err


def test_sample_size_stops_at_max_n_per_arm_and_says_so():
    # No effect: power stays at alpha, so the search must stop at the configured
    # limit (it used to climb to 65,000 men per arm and fail allocating 32 GB).
    r = run("sample-size", "--target-power", "0.9", "--set", "effects.difference_pct=0",
            "--set", "sensitivity.max_n_per_arm=300", "--method", "ancova", "--method", "mmrm",
            "--reps", "50", "--quiet", "--out", "-")  # fmt: skip
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(io.StringIO(r.stdout), sep=r"\s+")
    assert list(table["method"]) == ["ancova", "mmrm"] and table["n_per_arm"].isna().all()
    note = r.stderr.strip().splitlines()[-1]
    assert "ancova, mmrm did not reach the target power" in note
    assert "sensitivity.max_n_per_arm = 300" in note
    # reached: no note, and the answer is within the limit
    r = run(
        "sample-size", "--target-power", "0.8", "--method", "ancova", "--reps", "500", "--quiet", "--out", "-"
    )
    assert r.returncode == 0 and "did not reach" not in r.stderr
    assert 20 < pd.read_csv(io.StringIO(r.stdout), sep=r"\s+")["n_per_arm"].iloc[0] < 60
