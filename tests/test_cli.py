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
