"""The command line's shared rules: usage errors, --version, --out (files, '-'), provenance.

Full-disk and read-only cases use a small tmpfs mounted for the test (the
tests run as root, for whom permission bits do not stop writes); where no
tmpfs can be mounted they emulate the failure by making the write raise the
same OSError.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pandas as pd
import pytest

from vtrial.cli import main

POWER = ["power", "--reps", "1000", "--method", "ancova", "--quiet"]
SMALL_SS = ["sample-size", "--target-power", "0.8", "--method", "ancova", "--reps", "1000", "--quiet"]
SMALL_MDE = ["mde", "--n-per-arm", "44", "--target-power", "0.8", "--method", "ancova", "--reps", "1000"]


def run(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "vtrial.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


def one_line(err: str) -> str:
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith("vtrial: error: ")
    return lines[0]


# --------------------------------------------------------------------------- version and usage errors


def test_version_prints_package_version():
    from importlib import metadata

    r = run("--version")
    assert r.returncode == 0
    assert r.stdout == f"vtrial {metadata.version('vtrial')}\n"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["power", "--out", "x.csv", "--bogus"], "--bogus"),
        (["power"], "--out"),
        (["nope"], "'nope'"),
        (["power", "--reps", "1000000000000", "--out", "x.csv"], "--reps"),
        (["power", "--reps", "100000001", "--out", "x.csv"], "100000000"),
        (["power", "--workers", "1025", "--out", "x.csv"], "--workers"),
        (["power", "--target-se", "0.7", "--out", "x.csv"], "--target-se"),
        (["analyze", "t.csv", "--scale", "logit"], "--scale"),
        (["sample-size", "--target-power", "1"], "--target-power"),
        (["mde", "--target-power", "0.8", "--n-per-arm", "x"], "--n-per-arm"),
        (["calibrate", "--reps", "1", "--out", "c"], "--reps"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv, needle, tmp_path):
    r = run(*argv, cwd=tmp_path)
    assert r.returncode == 2
    line = one_line(r.stderr)
    assert needle in line
    assert "usage:" not in r.stderr and "np." not in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--grid", "pipeline.power_jobs=1,2"], "pipeline.power_jobs"),
        (["--grid", "seed=1,2"], "seed"),
        (["--grid", "simulation.reps=10,20"], "simulation.reps"),
        (["--grid", "sensitivity.foo=1,2"], "sensitivity.foo"),
        (["--reps", "1000", "--target-se", "0.01"], "--target-se"),
    ],
)
def test_power_refuses_forbidden_grids_and_reps_with_target_se(argv, needle, tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert main(["power", "--method", "ancova", *argv, "--out", str(out)]) == 2
    assert needle in one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_schema_maxima_match_the_cli_limits():
    from vtrial import power
    from vtrial.cli import common
    from vtrial.config import schema

    sim = schema()["properties"]["simulation"]["properties"]
    assert common.REPS_MAX == sim["reps"]["maximum"]
    assert power.REPS_MAX == sim["reps"]["maximum"]
    assert common.WORKERS_MAX == sim["workers"]["maximum"]


def test_too_many_replicates_through_the_api_is_an_input_error():
    from vtrial import power
    from vtrial.config import load_config
    from vtrial.errors import InputError

    with pytest.raises(InputError, match="1000000000000"):
        power.run_power(load_config(), reps=10**12)


def test_grid_accepts_integral_floats_for_integer_keys(tmp_path):
    out = tmp_path / "p.csv"
    assert main([*POWER, "--grid", "trial.n_per_arm=20.0,30", "--out", str(out)]) == 0
    t = pd.read_csv(out)
    assert t["n_per_arm"].tolist() == [20, 30]
    assert t["trial.n_per_arm"].tolist() == [20, 30]


# --------------------------------------------------------------------------- --out -


@pytest.mark.parametrize("argv", [["simulate"], POWER, SMALL_MDE])
def test_out_dash_prints_a_rounded_table_and_writes_nothing(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--out", "-"]) == 0
    text = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    header, first = text.splitlines()[:2]
    if argv == ["simulate"]:
        assert header.split()[:2] == ["subject_id", "arm"]
    else:
        assert "method" in header.split() and "ancova" in first.split()
    # numbers to at most 4 significant digits
    for field in first.split():
        digits = field.lstrip("-").replace(".", "").lstrip("0")
        if field.replace(".", "").replace("-", "").isdigit() and "." in field:
            assert len(digits) <= 4, field


def test_out_dash_power_matches_the_file_rounded(tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert main([*POWER, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main([*POWER, "--out", "-"]) == 0
    printed = capsys.readouterr().out.splitlines()
    header, row = printed[0].split(), printed[1].split()
    power = float(row[header.index("power")])
    assert power == float(f"{pd.read_csv(out).loc[0, 'power']:.4g}")


# --------------------------------------------------------------------------- output paths


COMMANDS = {
    "simulate": ["simulate"],
    "analyze": None,  # needs a data file, made in the test
    "power": POWER,
    "sample-size": SMALL_SS,
    "mde": SMALL_MDE,
}


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if any simulation or analysis starts."""

    def boom(*a, **k):
        raise AssertionError("simulation work started before the output path was checked")

    from vtrial import power, trial

    monkeypatch.setattr(power, "simulate_sums", boom)
    monkeypatch.setattr(trial, "simulate_trial", boom)
    import vtrial.analysis

    monkeypatch.setattr(vtrial.analysis, "run_methods", boom)


def _argv(name, tmp_path):
    if name == "analyze":
        data = tmp_path / "in" / "trial.csv"
        data.parent.mkdir(exist_ok=True)
        if not data.exists():
            assert main(["simulate", "--out", str(data)]) == 0
        return ["analyze", str(data), "--method", "ancova"]
    return COMMANDS[name]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_out_is_a_folder_or_in_a_missing_folder(name, tmp_path, capsys, request):
    argv = _argv(name, tmp_path)
    request.getfixturevalue("no_simulation")
    capsys.readouterr()
    before = sorted(p.name for p in tmp_path.iterdir())
    folder = tmp_path / "existing"
    folder.mkdir()
    assert main([*argv, "--out", str(folder)]) == 2
    assert "is a folder" in one_line(capsys.readouterr().err)
    missing = tmp_path / "missing" / "x.csv"
    assert main([*argv, "--out", str(missing)]) == 2
    line = one_line(capsys.readouterr().err)
    assert "does not exist" in line and str(missing.parent) in line
    assert not missing.parent.exists()
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "existing"])


@contextmanager
def tmpfs(path, size="64k"):
    """Mount a small tmpfs at ``path`` (root only); yields False if that is not possible."""
    path.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    try:
        yield r.returncode == 0
    finally:
        if r.returncode == 0:
            subprocess.run(["umount", str(path)], check=True)


def _fill(folder):
    """Fill a file system to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)


def _enospc(monkeypatch):
    real = os.replace

    def full(src, dst, *a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(os, "replace", full)
    return real


@pytest.mark.parametrize("name", ["simulate", "analyze", "power"])
def test_full_disk_exits_2_and_leaves_nothing(name, tmp_path, capsys, monkeypatch):
    argv = _argv(name, tmp_path)
    capsys.readouterr()
    with tmpfs(tmp_path / "disk") as mounted:
        disk = tmp_path / "disk"
        if mounted:
            _fill(disk)
        else:
            _enospc(monkeypatch)
        before = sorted(p.name for p in disk.iterdir())
        assert main([*argv, "--out", str(disk / "out.csv")]) == 2
        line = one_line(capsys.readouterr().err)
        assert "out.csv" in line and "No space left on device" in line
        assert sorted(p.name for p in disk.iterdir()) == before


def test_power_with_a_full_disk_keeps_only_whole_checkpoints(tmp_path, capsys, monkeypatch):
    # Eight scenarios fill a 16 kB file system (a file takes a 4 kB page) with
    # checkpoints before the table is written: the run fails with one line,
    # every checkpoint kept is whole (the resume will use it) and no temporary
    # file is left.
    with tmpfs(tmp_path / "disk", size="16k") as mounted:
        disk = tmp_path / "disk"
        if not mounted:  # emulated: two checkpoints fit, then the disk is full
            real = os.replace
            done = []

            def replace(src, dst, *a, **k):
                if len(done) >= 2:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
                done.append(dst)
                return real(src, dst, *a, **k)

            monkeypatch.setattr(os, "replace", replace)
        argv = [*POWER, "--grid", "trial.n_per_arm=20,22,24,26,28,30,32,34", "--out", str(disk / "p.csv")]
        assert main(argv) == 2
        assert "No space left on device" in one_line(capsys.readouterr().err)
        names = [p.name for p in disk.iterdir()]
        assert names == [".p.csv.parts"]
        saved = list((disk / ".p.csv.parts").iterdir())
        assert 0 < len(saved) < 8
        assert all(p.suffix == ".npz" and ".tmp" not in p.name for p in saved)
        from vtrial.power import _read_checkpoint

        assert all(_read_checkpoint(p, ["ancova"]) is not None for p in saved)


def test_read_only_file_system(tmp_path, capsys):
    argv = _argv("analyze", tmp_path)
    capsys.readouterr()
    with tmpfs(tmp_path / "ro") as mounted:
        ro = tmp_path / "ro"
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        else:
            os.chmod(ro, 0o555)  # emulated: refused by os.access for non-root users
        for cmd in (["simulate"], argv, SMALL_SS):
            assert main([*cmd, "--out", str(ro / "x.csv")]) == 2
            assert "not writable" in one_line(capsys.readouterr().err)
        assert list(ro.iterdir()) == []


def test_calibrate_folder_rules(tmp_path, capsys):
    stray = tmp_path / "file"
    stray.write_text("x")
    assert main(["calibrate", "--reps", "200", "--out", str(stray)]) == 2
    assert "not a folder" in one_line(capsys.readouterr().err)
    assert main(["calibrate", "--reps", "200", "--out", str(tmp_path / "no" / "cal")]) == 2
    assert "does not exist" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "no").exists()


# --------------------------------------------------------------------------- permissions and checkpoints


def test_output_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        out = tmp_path / "t.csv"
        assert main(["simulate", "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "t.csv.provenance.json").stat().st_mode & 0o777 == 0o640
    old = os.umask(0o022)
    try:
        assert main(["simulate", "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


GRID = ["--grid", "trial.n_per_arm=20,30"]


def test_corrupt_or_truncated_checkpoint_is_recomputed(tmp_path):
    from vtrial import power as power_mod
    from vtrial.config import load_config

    whole = tmp_path / "whole.csv"
    assert main([*POWER, *GRID, "--out", str(whole)]) == 0
    # a killed run left one truncated and one corrupted checkpoint
    cfg = load_config(overrides=["analysis.methods=[ancova]", "grid.trial.n_per_arm=[20, 30]"])
    parts = tmp_path / "parts"
    power_mod.run_power(cfg, reps=1000, checkpoint_dir=parts)
    files = sorted(parts.glob("*.npz"))
    assert len(files) == 2
    files[0].write_bytes(files[0].read_bytes()[:100])
    data = bytearray(files[1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files[1].write_bytes(bytes(data))
    out = tmp_path / "again.csv"
    os.rename(parts, tmp_path / ".again.csv.parts")
    assert main([*POWER, *GRID, "--out", str(out)]) == 0
    assert out.read_bytes() == whole.read_bytes()
    assert not (tmp_path / ".again.csv.parts").exists()


def test_checkpoint_with_right_layout_but_wrong_sums_is_recomputed(tmp_path):
    import numpy as np

    from vtrial import power as power_mod
    from vtrial.config import load_config

    cfg = load_config(overrides=["analysis.methods=[ancova]"])
    parts = tmp_path / "parts"
    whole = power_mod.run_power(cfg, reps=1000, checkpoint_dir=parts)
    (path,) = parts.glob("*.npz")
    with np.load(path) as saved:
        fields = {k: saved[k] for k in saved.files}
    fields["ancova"] = fields["ancova"] + 1.0
    np.savez(path, **fields)
    assert power_mod._read_checkpoint(path, ["ancova"]) is None
    again = power_mod.run_power(cfg, reps=1000, checkpoint_dir=parts)
    pd.testing.assert_frame_equal(again, whole)


def test_stray_file_in_place_of_the_checkpoint_folder(tmp_path):
    whole = tmp_path / "whole.csv"
    assert main([*POWER, *GRID, "--out", str(whole)]) == 0
    stray = tmp_path / ".p.csv.parts"
    stray.write_text("not a folder")
    out = tmp_path / "p.csv"
    assert main([*POWER, *GRID, "--out", str(out)]) == 0
    assert out.read_bytes() == whole.read_bytes()
    assert stray.read_text() == "not a folder"


# --------------------------------------------------------------------------- provenance


def _canonical_sha256(cfg: dict) -> str:
    text = json.dumps(cfg, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_provenance_sidecar(tmp_path):
    from importlib import metadata

    from vtrial.config import load_config

    out = tmp_path / "p.csv"
    argv = [*POWER, "--seed", "7", "--set", "trial.n_per_arm=30", "--out", str(out)]
    assert main(argv) == 0
    rec = json.loads((tmp_path / "p.csv.provenance.json").read_text())
    assert rec["vtrial_version"] == metadata.version("vtrial")
    assert rec["seed"] == 7
    assert rec["reps"] == 1000
    assert rec["command"].split()[:3] == ["vtrial", "power", "--reps"] and str(out) in rec["command"]
    # the hash is of the full resolved config: the loaded config with the
    # command's choices (methods, replicates) written in
    expected = load_config(overrides=["trial.n_per_arm=30", "analysis.methods=[ancova]",
                                      "simulation.reps=1000", "simulation.target_se=null"], seed=7)  # fmt: skip
    assert rec["config"] == expected
    assert rec["config_sha256"] == _canonical_sha256(expected)
    # a changed config value changes the hash
    out2 = tmp_path / "q.csv"
    assert main([*POWER, "--seed", "7", "--set", "trial.n_per_arm=31", "--out", str(out2)]) == 0
    rec2 = json.loads((tmp_path / "q.csv.provenance.json").read_text())
    assert rec2["config_sha256"] != rec["config_sha256"]
    assert rec2["config_sha256"] == _canonical_sha256(rec2["config"])


def test_analyze_provenance_records_the_input_file(tmp_path):
    data = tmp_path / "trial.csv"
    assert main(["simulate", "--out", str(data)]) == 0
    out = tmp_path / "res.csv"
    assert main(["analyze", str(data), "--method", "ancova", "--out", str(out)]) == 0
    rec = json.loads((tmp_path / "res.csv.provenance.json").read_text())
    assert rec["inputs"]["data"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    sim = json.loads((tmp_path / "trial.csv.provenance.json").read_text())
    assert sim["reps"] == 1 and sim["config_sha256"] == _canonical_sha256(sim["config"])


def test_power_warns_when_replicates_could_not_be_analysed(tmp_path):
    """At 2 men per arm with dropout many trials cannot be fitted: said on stderr, counted in valid_reps."""
    out = tmp_path / "p.csv"
    r = run("power", "--reps", "400", "--set", "trial.n_per_arm=2", "--method", "ancova", "--quiet",
            "--out", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(out)
    assert table.loc[0, "valid_reps"] < 400
    warning = [line for line in r.stderr.splitlines() if line.startswith("vtrial: warning:")]
    assert warning == [
        f"vtrial: warning: scenario {table.loc[0, 'scenario_id']}, ancova: power over "
        f"{table.loc[0, 'valid_reps']} of 400 replicates (the others could not be analysed; see valid_reps)"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_power_resumes_to_the_same_bytes(tmp_path, sig):
    """Killed after its first finished scenario, a plain rerun keeps that scenario and writes the same table."""
    args = ["power", "--reps", "3000", "--method", "mann_whitney", "--set", "simulation.exact_shortcut=never",
            "--grid", "trial.n_per_arm=60,61,62,63,64,65", "--quiet"]  # fmt: skip
    whole = tmp_path / "whole.csv"
    assert run(*args, "--out", whole).returncode == 0
    out = tmp_path / "p.csv"
    parts = tmp_path / ".p.csv.parts"
    proc = subprocess.Popen([sys.executable, "-m", "vtrial.cli", *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 240
    while not (parts.is_dir() and list(parts.glob("*.npz"))):
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode != 0 and not out.exists()
    assert list(parts.glob("*.npz"))  # the finished scenarios survive the kill
    r = run(*args, "--out", out)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == whole.read_bytes()
    assert not parts.exists()


def test_power_treats_methods_and_missing_data_as_analyze_does(tmp_path):
    """Config methods that cannot take the strategy are skipped with a note; a named one is refused."""
    out = tmp_path / "p.csv"
    r = run("power", "--reps", "50", "--set", "analysis.missing=multiple_imputation",
            "--set", "analysis.methods=[ancova, mmrm]", "--quiet", "--out", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert list(pd.read_csv(out)["method"]) == ["ancova"]
    assert "vtrial: note: mmrm cannot use missing=multiple_imputation; skipped" in r.stderr.splitlines()
    r = run("power", "--reps", "50", "--set", "analysis.missing=multiple_imputation", "--method", "ancova",
            "--method", "mmrm", "--out", tmp_path / "q.csv")  # fmt: skip
    assert r.returncode == 2
    assert "--method mmrm" in one_line(r.stderr) and not (tmp_path / "q.csv").exists()
