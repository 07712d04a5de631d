"""Speed of a three-arm ANCOVA power curve against the two-arm curve (not a test).

Run from the repository root:

    PYTHONPATH=src python benchmarks/bench_design.py [--repeats 5] [--reps 10000]

One curve is :func:`vtrial.power.run_power` over a grid of 10 sample sizes
(``trial.n_per_arm`` 20, 25, ..., 65) x ``--reps`` replicates of ANCOVA, with
dropout 0.18 in the control arm and 0.25 in each treated arm:

* ``three_arm``: placebo, ``low`` (-1.5 points) and ``high`` (-2.46 points),
  ``analysis.multiplicity`` (default ``dunnett``), through the design engine
  (:mod:`vtrial.design_power`) on its exact shortcut
  (:mod:`vtrial.design_exact`), so 1.5 times the men of the two-arm trial;
* ``three_arm_per_man``: the same with ``simulation.exact_shortcut: never``
  (every man simulated by :func:`vtrial.design_sim.simulate_design`);
* ``two_arm_design``: placebo and anastrozole (-2.46) given as ``trial.arms``,
  the same design engine (exact shortcut): the like-for-like comparison;
* ``two_arm_default``: the packaged two-arm config (same n, dropout and
  difference), through the ordinary engine (its exact shortcut for ANCOVA).

Each round times the cases in turn (the order alternates from round to
round), after one warm-up round; the figures are medians over rounds, and
each ratio is the median of the per-round ratios. Both wall-clock and CPU
time of the process are recorded (single-threaded BLAS): on a shared machine
the wall-clock time also counts the waits for a core, so the ratio is taken
on CPU time. Goals: three_arm at most 1.6 x two_arm_design; the exact design
path close to the default two-arm engine.

``--split`` adds, per case, the median CPU seconds spent in the formula
column (:func:`vtrial.design_analytic.row_power`, the ``analytic_power`` of
each row) and in the Dunnett critical values (tabulating the known-variance
tail, :class:`vtrial.multiplicity.DunnettDistribution`, and solving for
c(df), :meth:`~vtrial.multiplicity.DunnettDistribution.critical_values`),
by timing wrappers around them; the wrappers themselves cost microseconds
per call.
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
import time  # noqa: E402

import numpy as np  # noqa: E402

from vtrial import design_analytic, multiplicity, power  # noqa: E402
from vtrial.config import load_config, set_key, validate_config  # noqa: E402

SIZES = list(range(20, 66, 5))


def configs(multiplicity: str) -> dict[str, dict]:
    base = load_config()
    base = set_key(base, "analysis.methods", ["ancova"])
    base = set_key(base, "grid", {"trial.n_per_arm": SIZES})
    three = [
        {"name": "placebo", "dropout": 0.18},
        {"name": "low", "difference_pct": -1.5, "dropout": 0.25},
        {"name": "high", "difference_pct": -2.46, "dropout": 0.25},
    ]
    two = [
        {"name": "placebo", "dropout": 0.18},
        {"name": "anastrozole", "difference_pct": -2.46, "dropout": 0.25},
    ]
    three_arm = set_key(
        set_key(set_key(base, "trial.arms", three), "trial.block_sizes", [6]),
        "analysis.multiplicity",
        multiplicity,
    )
    out = {
        "three_arm": three_arm,
        "three_arm_per_man": set_key(three_arm, "simulation.exact_shortcut", "never"),
        "two_arm_design": set_key(base, "trial.arms", two),
        "two_arm_default": base,
    }
    return {k: validate_config(v) for k, v in out.items()}


def _powers(table) -> dict[str, float]:
    """Power per comparison row at n per arm 45."""
    t = table[table["n_per_arm"] == 45]
    labels = t["comparison"] if "comparison" in t else ["anastrozole-placebo"] * len(t)
    return {str(c): round(float(p), 4) for c, p in zip(labels, t["power"], strict=True)}


def _timed(owner, name: str, spent: dict, key: str) -> None:
    """Replace ``owner.name`` by a wrapper adding its CPU seconds to ``spent[key]``."""
    inner = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[key] += time.process_time() - start

    setattr(owner, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--reps", type=int, default=10_000)
    ap.add_argument("--multiplicity", default="dunnett")
    ap.add_argument("--out", help="write the figures as JSON here")
    ap.add_argument("--split", action="store_true", help="also time the formula column and Dunnett values")
    args = ap.parse_args()
    cfgs = configs(args.multiplicity)
    names = list(cfgs)
    parts = ("formula_rows", "dunnett_tabulate", "dunnett_solve")
    spent = dict.fromkeys(parts, 0.0)
    if args.split:
        _timed(design_analytic, "row_power", spent, "formula_rows")
        _timed(multiplicity, "_NormalTail", spent, "dunnett_tabulate")
        _timed(multiplicity.DunnettDistribution, "critical_values", spent, "dunnett_solve")
    split = {name: {part: [] for part in parts} for name in names}

    def run(name):
        spent.update(dict.fromkeys(parts, 0.0))
        t, c = time.perf_counter(), time.process_time()
        table = power.run_power(cfgs[name], reps=args.reps)
        for part in parts:
            split[name][part].append(spent[part])
        return time.perf_counter() - t, time.process_time() - c, table

    load_before = os.getloadavg()
    for name in names:  # warm-up (imports, quadrature tables)
        run(name)
    times = {name: [] for name in names}
    cpu = {name: [] for name in names}
    tables = {}
    for r in range(args.repeats):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            dt, dc, tables[name] = run(name)
            times[name].append(dt)
            cpu[name].append(dc)
    load_after = os.getloadavg()
    pairs = [("three_arm", "two_arm_design"), ("three_arm", "two_arm_default"),
             ("two_arm_design", "two_arm_default"), ("three_arm_per_man", "three_arm")]  # fmt: skip
    ratios = {
        f"{kind} {one}/{other}": statistics.median(
            a / b for a, b in zip(series[one], series[other], strict=True)
        )
        for kind, series in (("cpu", cpu), ("wall", times))
        for one, other in pairs
    }
    out = {
        "command": " ".join(["python", *sys.argv]),
        "machine": {
            "nproc": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },  # fmt: skip
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "sizes": SIZES,
        "reps": args.reps,
        "multiplicity": args.multiplicity,
        "median_cpu_seconds": {k: round(statistics.median(v), 3) for k, v in cpu.items()},
        "median_wall_seconds": {k: round(statistics.median(v), 3) for k, v in times.items()},
        "cpu_seconds": {k: [round(x, 3) for x in v] for k, v in cpu.items()},
        "wall_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "median_ratio": {k: round(v, 3) for k, v in ratios.items()},
        **(
            {
                "median_cpu_seconds_in": {
                    name: {part: round(statistics.median(v[1:]), 3) for part, v in by.items()}
                    for name, by in split.items()
                }
            }
            if args.split
            else {}
        ),
        "power_at_45": {name: _powers(t) for name, t in tables.items()},
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
