"""Recovery of the working directory's lock after a run was killed (SIGKILL, power cut).

Snakemake locks the outputs of a run in ``.snakemake/locks/`` and removes the
lock when it stops, also on SIGINT/SIGTERM; after SIGKILL the lock stays and
the next run refuses to start until ``snakemake --unlock``. Snakemake's lock
files do not say which process wrote them, so the workflow records its own
owner: when a run starts its jobs (``onstart``, after Snakemake took the lock)
it writes ``.snakemake/vtrial_run.json`` with the host, process id and process
start time, and removes it when it ends.

At the next start, :func:`clear_stale_lock` removes the lock only if all of
these hold, which keeps two live runs from writing the same files:

* an owner record exists and is at least as new as every lock file (a lock
  newer than the record belongs to a run that has not recorded itself yet);
* the record names this host;
* no process with that id and start time is alive.

Otherwise the lock is left for Snakemake to report (then ``--unlock`` is the
manual way out, as usual).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

RECORD = "vtrial_run.json"


def _process_start(pid: int) -> float | None:
    """Start time of a live process (seconds since the epoch), None if there is none."""
    import psutil  # a Snakemake dependency

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None


def record_owner(state_dir: str | Path = ".snakemake") -> Path:
    """Write the owner record of the current run (this process)."""
    path = Path(state_dir) / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "started": _process_start(pid)}))
    return path


def forget_owner(state_dir: str | Path = ".snakemake") -> None:
    """Remove the owner record of the current run, if it is ours."""
    path = Path(state_dir) / RECORD
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def clear_stale_lock(state_dir: str | Path = ".snakemake") -> str | None:
    """Remove the lock of a dead run (see the module docstring); return a message if removed."""
    state = Path(state_dir)
    locks = sorted((state / "locks").glob("*.lock"))
    record = state / RECORD
    if not locks or not record.is_file():
        return None
    try:
        owner = json.loads(record.read_text())
        newest_lock = max(p.stat().st_mtime for p in locks)
        if record.stat().st_mtime < newest_lock or owner.get("host") != socket.gethostname():
            return None
        start = _process_start(int(owner["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if start is not None and (owner.get("started") is None or abs(start - owner["started"]) < 1.0):
        return None  # the run that holds the lock is alive
    for p in locks:
        p.unlink(missing_ok=True)
    record.unlink(missing_ok=True)
    return f"removed the lock of an earlier run that was killed (process {owner['pid']} is gone)"
