"""The job logs' TIMING line: the start-up phase is measured from the real process start."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "workflow" / "scripts"


def test_startup_is_at_most_the_time_since_the_process_was_spawned(tmp_path):
    # The parent's clock bounds the child's age: a start-up longer than the time
    # since spawning (psutil's boot time rounded to whole seconds did this) is wrong.
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import _log; "
        "t = _log.JobTimer(sys.stdout); print(json.dumps(t.phases))"
    )
    before = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code, str(SCRIPTS)], capture_output=True, text=True, check=True
    ).stdout
    elapsed = time.monotonic() - before
    startup = json.loads(out)["startup"]
    assert 0.0 <= startup <= elapsed + 0.011  # one clock tick of slack


def test_job_log_writes_phases_and_cpu(tmp_path):
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import _log\n"
        "with _log.job_log(sys.argv[2]) as t:\n"
        "    with t.phase('simulate'):\n"
        "        sum(range(10**6))\n"
        "    print('hello')\n"
    )
    log = tmp_path / "logs" / "job.log"
    subprocess.run([sys.executable, "-c", code, str(SCRIPTS), str(log)], check=True)
    lines = log.read_text().splitlines()
    assert "hello" in lines
    timing = json.loads(next(line for line in lines if line.startswith("TIMING "))[len("TIMING ") :])
    assert timing["simulate"] > 0 and timing["cpu"] > 0 and timing["startup"] >= 0
