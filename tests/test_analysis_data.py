"""Data checks of `vtrial analyze`: what is refused, and what is analysed with a note.

The battery writes one bad trial file per case and runs the real console script
in a subprocess, as a user would: exit status 2, exactly one line on stderr
naming the column and the man/file line, no traceback, no output file.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vtrial.analysis import read_trial_csv, run_methods
from vtrial.analysis.data import PLAUSIBLE, analysis_notes, validate_long
from vtrial.cli import main
from vtrial.errors import InputError
from vtrial.trial import BMD_VISITS, VISITS

SRC = Path(__file__).resolve().parents[1] / "src"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "analysis" / "trial_small.csv"


def trial() -> pd.DataFrame:
    return pd.read_csv(FIXTURE)


def vtrial(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.run(["vtrial", *args], capture_output=True, text=True, env=env, timeout=120)


def _set(column, row, value):
    """Case: one cell changed. Returns (frame, column, row index of the error)."""

    def mutate(df):
        df[column] = df[column].astype(object)
        df.loc[row, column] = value
        return df, column, row

    return mutate


def _every_visit(old, new):
    def mutate(df):
        first = int(np.flatnonzero(df["visit_month"] == old)[0])
        return df.assign(visit_month=df["visit_month"].replace(old, new)), "visit_month", first

    return mutate


def _append(**changes):
    def mutate(df):
        extra = df.iloc[[0]].assign(**changes)
        return pd.concat([df, extra], ignore_index=True), "visit_month", len(df)

    return mutate


def _both_arms(df):
    # Row 1 is subject 100's month-3 row; his other rows stay placebo.
    assert df.loc[0, "arm"] == "placebo"
    df.loc[1, "arm"] = "anastrozole"
    return df, "arm", 1


def _six_to_twelve_twelve_to_24(df):
    first = int(np.flatnonzero(df["visit_month"] == 12)[0])
    return df.assign(visit_month=df["visit_month"].map({0: 0, 3: 3, 6: 12, 12: 24})), "visit_month", first


BAD = {
    "visit 3 renamed to 5": _every_visit(3, 5),
    "extra visit at 7.5": _append(visit_month=7.5),
    "visits 0/12/24": _six_to_twelve_twelve_to_24,
    "negative month": _set("visit_month", 4, -3),
    "non-integral month": _set("visit_month", 2, 6.5),
    "non-numeric month": _set("visit_month", 6, "six"),
    "empty month": _set("visit_month", 5, np.nan),
    "repeated visit": _append(),
    "baseline BMD inf": _set("bmd_g_cm2", 0, np.inf),
    "baseline BMD 1e300": _set("bmd_g_cm2", 4, 1e300),
    "BMD in mg/cm2": _set("bmd_g_cm2", 8, 1150.0),
    "negative BMD": _set("bmd_g_cm2", 6, -1.1),
    "BMD at month 3": _set("bmd_g_cm2", 1, 1.1),
    "BMD not a number": _set("bmd_g_cm2", 10, "1,15"),
    "negative age": _set("age_years", 3, -70.0),
    "child's age": _set("age_years", 0, 7.0),
    "negative testosterone": _set("testosterone_ng_dl", 0, -300.0),
    "testosterone not a number": _set("testosterone_ng_dl", 9, "low"),
    "negative estradiol": _set("estradiol_pg_ml", 0, -20.0),
    "estradiol inf": _set("estradiol_pg_ml", 4, np.inf),
    "negative BMI": _set("bmi_kg_m2", 0, -27.0),
    "BMI in pounds": _set("bmi_kg_m2", 12, 270.0),
    "arm empty": _set("arm", 8, np.nan),
    "arm misspelt": _set("arm", 5, "Placebo"),
    "man in both arms": _both_arms,
    "subject id empty": _set("subject_id", 7, np.nan),
}


#: Cases also run through the console script in a subprocess (each costs a
#: Python start with pandas, scipy and statsmodels imports); all run in-process.
THROUGH_CONSOLE_SCRIPT = [
    "visit 3 renamed to 5",
    "extra visit at 7.5",
    "visits 0/12/24",
    "negative month",
    "non-integral month",
    "non-numeric month",
    "baseline BMD inf",
    "baseline BMD 1e300",
    "BMD at month 3",
    "negative age",
    "negative testosterone",
    "negative estradiol",
    "negative BMI",
    "arm empty",
    "man in both arms",
    "subject id empty",
]


def _bad_file(tmp_path, case):
    frame, column, row = BAD[case](trial())
    path = tmp_path / "trial.csv"
    frame.to_csv(path, index=False)
    # Header is line 1, data row k (0-based) is line k + 2.
    subject = frame.loc[row, "subject_id"]
    where = f"line {row + 2}" if pd.isna(subject) else f"subject {int(subject)} (line {row + 2})"
    return path, f"vtrial: error: column '{column}', {where}: "


def _assert_one_line_refusal(code, stdout, stderr, start, out):
    assert code == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith(start), lines[0]
    assert "allowed" in lines[0]
    assert not out.exists()
    assert stdout == ""


@pytest.mark.parametrize("case", THROUGH_CONSOLE_SCRIPT)
def test_bad_file_is_refused_by_the_console_script(tmp_path, case):
    path, start = _bad_file(tmp_path, case)
    out = tmp_path / "results.csv"
    proc = vtrial("analyze", str(path), "--method", "welch_t", "--method", "ancova", "--out", str(out))
    _assert_one_line_refusal(proc.returncode, proc.stdout, proc.stderr, start, out)


@pytest.mark.parametrize("case", list(BAD))
def test_bad_file_is_refused_by_main(tmp_path, capsys, case):
    path, start = _bad_file(tmp_path, case)
    out = tmp_path / "results.csv"
    code = main(["analyze", str(path), "--method", "welch_t", "--method", "ancova", "--out", str(out)])
    captured = capsys.readouterr()
    _assert_one_line_refusal(code, captured.out, captured.err, start, out)


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)) * 40, b"\x89PNG\r\n\x1a\n" + bytes(500), b"", b'a,b\n"unclosed,1\n'],
    ids=["binary", "png", "empty", "open quote"],
)
def test_unreadable_file_is_one_line_naming_the_file(tmp_path, capsys, content):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    assert main(["analyze", str(path), "--method", "welch_t"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"vtrial: error: trial file {str(path)!r} is not a readable CSV (")


def test_binary_file_through_the_console_script(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(bytes(range(256)) * 40)
    proc = vtrial("analyze", str(path), "--method", "welch_t")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"vtrial: error: trial file {str(path)!r}") and proc.stderr.count("\n") == 1


def test_man_without_baseline_is_named_on_stderr_and_left_out(tmp_path):
    frame = trial()
    frame.loc[(frame["subject_id"] == 101) & (frame["visit_month"] == 0), "bmd_g_cm2"] = np.nan
    path, out = tmp_path / "trial.csv", tmp_path / "results.csv"
    frame.to_csv(path, index=False)
    proc = vtrial("analyze", str(path), "--method", "welch_t", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if "month-0 BMD" in line]
    # Subject 105 has no month-0 BMD in the fixture itself.
    assert notes == [
        "vtrial: note: 2 men without a month-0 BMD are not analysed "
        "(change from baseline is undefined): subject 101, 105"
    ]
    # The same numbers as with the man removed from the file.
    without = run_methods(trial().query("subject_id != 101"), ["welch_t"])
    result = pd.read_csv(out)
    assert result.loc[0, "estimate"] == pytest.approx(without.loc[0, "estimate"], rel=1e-12)


def test_validate_long_accepts_the_fixture_unchanged():
    frame = trial()
    checked = validate_long(frame)
    assert checked.shape == frame.shape
    pd.testing.assert_frame_equal(checked[["bmd_g_cm2"]], frame[["bmd_g_cm2"]])


def test_schedule_is_the_trials_and_rows_are_numbered_from_one():
    assert VISITS == (0, 3, 6, 12) and BMD_VISITS == (0, 6, 12)
    frame = trial()
    for month in (1, 2, 4, 9, 18, 24):
        bad = frame.assign(visit_month=frame["visit_month"].replace(3, month))
        with pytest.raises(InputError, match=rf"column 'visit_month', subject 100 \(row 2\): value {month} "):
            validate_long(bad)


@pytest.mark.parametrize("column", list(PLAUSIBLE))
def test_plausible_range_edges(column):
    low, high, unit, _ = PLAUSIBLE[column]
    frame = trial()
    for inside in (low, high):
        frame.loc[0, column] = inside
        assert validate_long(frame).loc[0, column] == inside
    for outside in (low - 1e-9, high * (1 + 1e-9), np.inf, -np.inf):
        frame.loc[0, column] = outside
        with pytest.raises(InputError, match=rf"column '{column}', subject 100 \(row 1\).*{unit}"):
            validate_long(frame)


def test_empty_measurements_are_allowed():
    frame = trial()
    frame.loc[0, ["age_years", "testosterone_ng_dl", "estradiol_pg_ml", "bmi_kg_m2"]] = np.nan
    assert validate_long(frame)["age_years"].isna().sum() == 1


def test_notes_name_each_reason_once():
    frame = trial()
    # The fixture: subject 105 has no month-0 BMD, 9 men (100 among them) none at month 12.
    assert [n.split(":")[0] for n in analysis_notes(frame)] == [
        "1 man without a month-0 BMD is not analysed (change from baseline is undefined)",
        "9 men without a month-12 BMD",
    ]
    frame.loc[(frame["subject_id"].isin([100, 102])) & (frame["visit_month"] == 0), "bmd_g_cm2"] = np.nan
    frame.loc[(frame["subject_id"] == 103) & (frame["visit_month"] == 0), "age_years"] = np.nan
    notes = analysis_notes(frame)
    assert len(notes) == 3
    assert notes[0] == (
        "3 men without a month-0 BMD are not analysed (change from baseline is undefined): "
        "subject 100, 102, 105"
    )
    # Subject 100 now counts under month 0 only.
    assert notes[1].startswith("8 men without a month-12 BMD")
    assert notes[2] == (
        "1 man without a month-0 age_years: analyses adjusting for age_years leave them out: subject 103"
    )


def test_dropouts_listed_are_the_men_without_month_12():
    frame = trial()
    base = frame.loc[(frame["visit_month"] == 0) & frame["bmd_g_cm2"].notna(), "subject_id"]
    month12 = frame.loc[(frame["visit_month"] == 12) & frame["bmd_g_cm2"].notna(), "subject_id"]
    expected = sorted(set(base) - set(month12))
    note = analysis_notes(frame)[1]
    assert sorted(int(s) for s in note.split("subject ")[1].split(", ")) == expected


def test_read_trial_csv_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    lines = FIXTURE.read_text().splitlines()
    lines.insert(3, "")  # a blank line 4
    row = lines[6].split(",")
    row[2] = "5"  # line 7: month 5
    lines[6] = ",".join(row)
    path = tmp_path / "trial.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"subject \d+ \(line 7\): value 5 "):
        read_trial_csv(path, quiet=True)
    lines[6] = FIXTURE.read_text().splitlines()[5]
    path.write_text("\n".join(lines) + "\n")
    assert len(read_trial_csv(path, quiet=True)) == len(trial())
