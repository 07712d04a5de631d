"""Speed of an assurance curve against the power curve it generalises (not a test).

Run from the repository root:

    PYTHONPATH=src python benchmarks/bench_assurance.py [--repeats 3] [--reps 10000]

One curve is 10 sample sizes (n per arm 20, 25, ..., 65) x ``--reps``
replicates of every method of the default config (the packaged 2009 trial:
MCAR dropout, so the t-tests and ANCOVA use the exact engine and MMRM and
Mann-Whitney the per-man engine). The power curve runs the ordinary engine
at the configured difference; the assurance curve draws each replicate's
true difference from the default design prior (N(-2.46, 0.738^2)) and keeps
the assurance sums as well. Each figure is the median of ``--repeats`` runs
after one warm-up, in the same process; the ratio is assurance / power
(target: at most 1.5).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from vtrial import power  # noqa: E402
from vtrial.config import load_config, scenario_id, set_key  # noqa: E402
from vtrial.priors import default_prior  # noqa: E402

SIZES = list(range(20, 66, 5))


def curve(cfg: dict, methods, reps: int, prior) -> None:
    sid = scenario_id(cfg, exclude=("trial.n_per_arm",))
    for n in SIZES:
        power.simulate_sums(set_key(cfg, "trial.n_per_arm", n), sid, reps, methods, prior=prior)


def median_time(fn, repeats: int) -> tuple[float, list[float]]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10_000)
    ap.add_argument("--method", action="append", help="methods (default: the config's)")
    args = ap.parse_args()
    cfg = load_config()
    methods = args.method or list(cfg["analysis"]["methods"])
    prior = default_prior()
    out = {"sizes": SIZES, "reps": args.reps, "methods": methods, "repeats": args.repeats}
    for label, pr in (("power", None), ("assurance", prior)):
        med, times = median_time(lambda pr=pr: curve(cfg, methods, args.reps, pr), args.repeats)
        out[f"{label}_s"] = round(med, 3)
        out[f"{label}_runs_s"] = [round(t, 3) for t in times]
    out["ratio"] = round(out["assurance_s"] / out["power_s"], 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
