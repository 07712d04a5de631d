"""Job logs of the workflow scripts: stdout/stderr to the rule's log, and a TIMING line.

Every script runs its work inside ``with job_log(snakemake.log[0]) as timer:``
and times its phases with ``timer.phase("simulate")`` etc. On exit the log
gets ``TIMING {json}`` (seconds per phase, start and end time), which
``benchmarks/pipeline_bench.py`` collects. ``startup`` is the time from the
process start (Python, Snakemake's script preamble) to the first line of the
script; ``cpu`` the CPU seconds (user + system) of the job's process from its
start, which unlike the wall times does not grow when other work shares the
cores. Snakemake puts this folder on the scripts' ``sys.path``.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path


def _process_age() -> float | None:
    """Seconds since this process started, to the clock tick (``None`` where unknown).

    Linux gives the start in clock ticks since boot (``/proc/self/stat``, field
    22), so the age is exact to a tick against ``CLOCK_BOOTTIME``.
    ``psutil.Process().create_time()`` adds the boot time, which Linux reports
    in whole seconds: on some machines that put up to a second of false
    start-up into every job.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, AttributeError, ValueError, IndexError):  # not Linux
        try:
            import psutil  # a Snakemake dependency

            return max(0.0, time.time() - psutil.Process().create_time())
        except ImportError:  # pragma: no cover
            return None


class JobTimer:
    """Wall time per phase of one job."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.phases: dict[str, float] = {}
        self.started = time.time()
        age = _process_age()
        if age is not None:
            self.started -= age
            self.phases["startup"] = age

    @contextlib.contextmanager
    def phase(self, name: str):
        """Add the wall time of the ``with`` block to phase ``name``."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - t

    def log(self, message: str) -> None:
        """Write one line to the job log."""
        print(message, file=self._stream, flush=True)


@contextlib.contextmanager
def job_log(path: str | Path):
    """Send stdout and stderr of a job to its log file; yield a :class:`JobTimer`."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        timer = JobTimer(fh)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
            try:
                yield timer
            except Exception:
                traceback.print_exc(file=fh)
                raise
            finally:
                timer.phases["script"] = time.perf_counter() - t0
                record = {k: round(v, 4) for k, v in timer.phases.items()}
                ru = resource.getrusage(resource.RUSAGE_SELF)
                record["cpu"] = round(ru.ru_utime + ru.ru_stime, 4)
                record["started"], record["ended"] = round(timer.started, 3), round(time.time(), 3)
                fh.write("TIMING " + json.dumps(record) + "\n")
        sys.stderr.flush()
