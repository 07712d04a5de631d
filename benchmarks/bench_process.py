"""Whole-process timings: what a user waits for, command against command.

Each case is a complete process (interpreter start-up, imports, config, work,
writing the table), run alternately with its comparison so that both see the
same machine load; the figures are medians over ``--repeats`` rounds.

Cases
-----
``search``
    The ANCOVA sample-size search of 10 sizes (20 to 65 men per arm) x 100,000
    replicates, no dropout, the 2009 effect: ``vtrial power --grid`` against
    MCPower's ``find_sample_size`` script doing the same search.
``small``
    A 1,000-replicate ``vtrial power`` run against ``python -c "import numpy, pandas"``.
``mann_whitney``
    Mann-Whitney against Student's t power at 150 men per arm, 10,000
    replicates, on the per-man engine.

Usage (from the repository root; MCPower is for the benchmark only)::

    pip install mcpower
    python benchmarks/bench_process.py --repeats 5 --out benchmarks/process_results.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEARCH_SIZES = ",".join(str(n) for n in range(20, 70, 5))
SEARCH = [
    "power", "--reps", "100000", "--grid", f"trial.n_per_arm={SEARCH_SIZES}",
    "--set", "analysis.methods=[ancova]", "--set", "dropout.anastrozole=0",
    "--set", "dropout.placebo=0", "--set", "effects.difference_pct=-2.46",
    "--set", "effects.sd_pct_change=3.0", "--quiet",
]  # fmt: skip

# Standardized effects of the same model for MCPower (effect per residual SD):
# treatment = 2.46 / sd_e and baseline = cov(B0, Y) / sd(B0) / sd_e, where sd_e is
# the residual SD of the 12-month change given baseline BMD, from the outcome
# model's moments at the default config without dropout (vtrial.model.moments).
MCPOWER_SCRIPT = """
from mcpower import MCPower
m = MCPower("change = treatment + baseline")
m.set_variable_type("treatment=binary")
m.set_effects("treatment=0.825494, baseline=-0.115957")
m.set_simulations(100000)
r = m.find_sample_size(target_test="treatment", from_size=40, to_size=130, by=10,
                       target_power=0.9, verbose=False, progress_callback=False, seed=20091201)
print(r["sample_sizes"], r["power_uncorrected"])
"""


def vtrial_cmd() -> list[str]:
    """The ``vtrial`` console script of this interpreter.

    The one beside ``sys.executable`` first: a version manager's shim on PATH
    (pyenv) starts a shell and a lookup before Python, which is not vtrial's
    time, and MCPower's script is run by ``sys.executable`` directly.
    """
    beside = Path(sys.executable).with_name("vtrial")
    exe = str(beside) if beside.is_file() else shutil.which("vtrial")
    if exe is None:
        sys.exit("vtrial is not on PATH: pip install -e . first")
    return [exe]


def timed(cmd: list[str], cwd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def alternate(cases: dict[str, list[str]], repeats: int, cwd: str) -> dict[str, dict]:
    """Run the commands in turn, ``repeats`` rounds after one warm-up round."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    load = os.getloadavg()
    for round_ in range(repeats + 1):
        for name, cmd in cases.items():
            t = timed(cmd, cwd)
            if round_:
                times[name].append(t)
    out: dict = {name: {"median_s": statistics.median(v), "times": v} for name, v in times.items()}
    out["loadavg_start_end"] = [load, os.getloadavg()]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", nargs="*", choices=["search", "small", "mann_whitney"])
    ap.add_argument("--out", default="benchmarks/process_results.json")
    args = ap.parse_args()
    want = set(args.only or ["search", "small", "mann_whitney"])
    vt = vtrial_cmd()
    py = sys.executable
    res: dict = {"loadavg_before": os.getloadavg(), "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "mcpower_search.py").write_text(MCPOWER_SCRIPT)
        if "search" in want:
            res["search"] = alternate(
                {
                    "vtrial": [*vt, *SEARCH, "--out", "search.csv"],
                    "mcpower": [py, "mcpower_search.py"],
                },
                args.repeats,
                tmp,
            )
            r = res["search"]
            r["ratio"] = r["vtrial"]["median_s"] / r["mcpower"]["median_s"]
        if "small" in want:
            res["small"] = alternate(
                {
                    "vtrial": [
                        *vt,
                        "power",
                        "--reps",
                        "1000",
                        "--set",
                        "analysis.methods=[ancova]",
                        "--quiet",
                        "--out",
                        "small.csv",
                    ],
                    "import_numpy_pandas": [py, "-c", "import numpy, pandas"],
                },  # fmt: skip
                args.repeats,
                tmp,
            )
            r = res["small"]
            r["ratio"] = r["vtrial"]["median_s"] / r["import_numpy_pandas"]["median_s"]
        if "mann_whitney" in want:
            common = ["power", "--reps", "10000", "--set", "trial.n_per_arm=150",
                      "--set", "simulation.exact_shortcut=never", "--quiet"]  # fmt: skip
            res["mann_whitney"] = alternate(
                {
                    "mann_whitney": [
                        *vt,
                        *common,
                        "--set",
                        "analysis.methods=[mann_whitney]",
                        "--out",
                        "mw.csv",
                    ],
                    "student_t": [*vt, *common, "--set", "analysis.methods=[student_t]", "--out", "t.csv"],
                },
                args.repeats,
                tmp,
            )
            r = res["mann_whitney"]
            r["ratio"] = r["mann_whitney"]["median_s"] / r["student_t"]["median_s"]
    res["loadavg_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    for name in ("search", "small", "mann_whitney"):
        if name in res:
            medians = {k: round(v["median_s"], 3) for k, v in res[name].items() if isinstance(v, dict)}
            print(f"{name}: {medians} ratio {res[name]['ratio']:.2f}")
    print(f"load average before {res['loadavg_before']}, after {res['loadavg_after']}")


if __name__ == "__main__":
    main()
