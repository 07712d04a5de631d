"""Speed of a 3-look sequential simulation against the fixed design at the same maximum n (not a test).

Run from the repository root:

    PYTHONPATH=src python benchmarks/bench_sequential.py [--repeats 5] [--reps 10000]

The design is config/examples/sequential_followup.yaml (looks at 0.33, 0.67
and 1, asOF efficacy, non-binding asHSD(-2) futility) on the default trial
(44 men per arm, MCAR dropout) with accrual of 4 men a month after a 3-month
ramp-up, so MMRM interims use 6-month scans. The sequential run is
:func:`vtrial.sequential_sim.simulate_decisions` without the adjusted
estimates (bounds at observed information, decisions); the fixed design is
:func:`vtrial.power.simulate_sums` for the same method and n, once with the
engine the power command picks (``auto``: the exact shortcut for ANCOVA) and
once on the per-man engine (``simulation.exact_shortcut: never``). Runs
alternate (sequential, fixed auto, fixed per-man) after one warm-up; each
figure is the median over ``--repeats``; the ratio is sequential / fixed
(target: at most 3 against the per-man fixed run).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from vtrial import power, sequential_sim  # noqa: E402
from vtrial.config import load_config, scenario_id, set_key  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    cfg = load_config()
    cfg["sequential"] = yaml.safe_load((ROOT / "config/examples/sequential_followup.yaml").read_text())[
        "sequential"
    ]
    cfg["trial"]["accrual"] = {"rate_per_month": 4, "ramp_up_months": 3}
    return cfg


def _timed(f) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reps", type=int, default=10_000)
    args = parser.parse_args()
    cfg = _config()
    never = set_key(cfg, "simulation.exact_shortcut", "never")
    sid = scenario_id(cfg)
    out = {"reps": args.reps, "repeats": args.repeats, "load": os.getloadavg()[0], "methods": {}}
    for method in ("ancova", "mmrm"):
        runs = {
            "sequential": lambda m=method: sequential_sim.simulate_decisions(
                cfg, sid, args.reps, m, adjusted=False
            ),
            "fixed_auto": lambda m=method: power.simulate_sums(cfg, sid, args.reps, [m]),
            "fixed_per_man": lambda m=method: power.simulate_sums(never, sid, args.reps, [m]),
        }
        for f in runs.values():  # warm-up
            f()
        times = {k: [] for k in runs}
        for _ in range(args.repeats):
            for k, f in runs.items():
                times[k].append(_timed(f))
        med = {k: statistics.median(v) for k, v in times.items()}
        med["ratio_vs_per_man"] = med["sequential"] / med["fixed_per_man"]
        med["ratio_vs_auto"] = med["sequential"] / med["fixed_auto"]
        out["methods"][method] = med
        print(method, json.dumps({k: round(v, 4) for k, v in med.items()}), flush=True)
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
