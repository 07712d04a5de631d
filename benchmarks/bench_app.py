"""Response time of the teaching app's power page to a slider change (not a test).

Wall times depend on what else runs on the machine: the JSON gives the CPU time
of the in-process calls and the load average beside them. Threads are pinned to
one per process, as in bench_engine.py.

Run from the repository root:

    python benchmarks/bench_app.py [--reps 5000] [--repeats 7] [--method ancova] [--browser]

In process: the median wall time of the functions the page calls when the
difference slider moves - :func:`vtrial.app.compute.power_page` (power curve
over seven sizes and the row at the chosen n) and
:func:`vtrial.app.compute.sample_sizes` (n for 80% and 90% power) - each time
with a new difference, after one warm-up call. With ``--browser`` it also starts
the app, drives headless Chromium (Debian ``chromium`` and ``chromium-driver``)
and times a slider move until the page shows the new power and is idle again.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from vtrial.app import compute  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def settings(diff: float, reps: int, method: str) -> dict:
    return {"difference_pct": diff, "sd_pct_change": 3.0, "dropout_rate": 0.2, "mechanism": "MCAR",
            "n_per_arm": 44, "method": method, "reps": reps, "seed": 20091201}  # fmt: skip


def in_process(reps: int, repeats: int, method: str) -> dict:
    diffs = [-2.46 + 0.08 * k for k in range(repeats + 1)]
    curve, sizes, curve_cpu, sizes_cpu = [], [], [], []
    for k, d in enumerate(diffs):
        t0, c0 = time.perf_counter(), time.process_time()
        compute.power_page(settings(d, reps, method))
        t1, c1 = time.perf_counter(), time.process_time()
        compute.sample_sizes(settings(d, reps, method))
        t2, c2 = time.perf_counter(), time.process_time()
        if k:  # the first is the warm-up (imports, caches)
            curve.append(t1 - t0)
            sizes.append(t2 - t1)
            curve_cpu.append(c1 - c0)
            sizes_cpu.append(c2 - c1)
    return {
        "power_curve_s": statistics.median(curve),
        "power_curve_cpu_s": statistics.median(curve_cpu),
        "sample_sizes_s": statistics.median(sizes),
        "sample_sizes_cpu_s": statistics.median(sizes_cpu),
        "load_average_1min": os.getloadavg()[0],
    }


def through_browser(reps: int, repeats: int, method: str) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from app_browser import (
        chromium,
        idle,
        move_slider,
        open_page,
        start_app,
        stop_app,
        text_of,
        type_into,
        wait_for,
    )

    from vtrial.app import free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
    port = free_port()
    proc = start_app(port, tmp / "app.log")
    driver = chromium(tmp / "profile")
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        open_page(driver, "Power and sample size")
        type_into(driver, "power_reps", str(reps))
        if method != "ancova":
            driver.execute_script("$('#power_method').val(arguments[0]).trigger('change');", method)
        wait_for(lambda: text_of(driver, "#n-80") and idle(driver), timeout=300, what="the first page")
        power, full = [], []
        for k in range(repeats + 1):
            before = text_of(driver, "#power-at-n")
            t0 = time.perf_counter()
            move_slider(driver, "power_diff", round(-2.4 + 0.08 * k, 2))
            wait_for(lambda b=before: text_of(driver, "#power-at-n") != b, timeout=300, what="new power")
            t1 = time.perf_counter()
            wait_for(lambda: idle(driver) and n_shown(driver), timeout=300, what="the n for 80%/90%")
            t2 = time.perf_counter()
            if k:
                power.append(t1 - t0)
                full.append(t2 - t0)
    finally:
        driver.quit()
        stop_app(proc)
    return {
        "browser_power_shown_s": statistics.median(power),
        "browser_sample_sizes_shown_s": statistics.median(full),
    }


def n_shown(driver) -> bool:
    """The page shows the n for 80% power and no search is under way."""
    return driver.execute_script(
        "return !!document.getElementById('n-80') && !document.getElementById('n-searching');"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--method", default="ancova")
    ap.add_argument("--browser", action="store_true")
    args = ap.parse_args()
    out = {"reps": args.reps, "repeats": args.repeats, "method": args.method, "python": platform.python_version(),
           **in_process(args.reps, args.repeats, args.method)}  # fmt: skip
    if args.browser:
        out.update(through_browser(args.reps, args.repeats, args.method))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
