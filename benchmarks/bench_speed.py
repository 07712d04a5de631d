"""Per-component timings of the power engine (not tests; figures quoted in RESULTS.md).

Run from the repository root (in-process, single thread, median of ``--repeats``;
compared timings alternate within each round and the ratio is the median of
the per-round ratios):

    PYTHONPATH=src python benchmarks/bench_speed.py [--repeats 3]

* ``exact``: the exact shortcut's sufficient statistics for 1,000,000 replicates
  (asked for block by block, 1,000 blocks, default design with MCAR dropout and without dropout) against
  drawing the same random numbers alone in one call per distribution; then the
  whole exact path of a power run (statistics, ANCOVA, power-table sums:
  ``power.simulate_sums``) against the same random numbers;
* ``mann_whitney``: Mann-Whitney (with Hodges-Lehmann estimate and CI) against
  Student's t on the per-man engine, 150 men per arm, 10,000 replicates;
* ``analytic``: analytic Welch power at 150 men per arm (default dropout).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from vtrial import engine, power  # noqa: E402
from vtrial.config import load_config  # noqa: E402
from vtrial.engine import exact_block_stats  # noqa: E402


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired(fa, fb, repeats: int) -> tuple[float, float, float]:
    """Medians of ``fa`` and ``fb`` timed in alternation, and the median of the per-round ratios.

    On a shared machine the load changes from second to second; timing the two
    in turn within each round lets the ratio compare like with like.
    """
    fa(), fb()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, out in ((fa, ta), (fb, tb)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    ratio = statistics.median(a / b for a, b in zip(ta, tb, strict=True))
    return statistics.median(ta), statistics.median(tb), ratio


def exact(cfg, reps: int = 1_000_000) -> None:
    """The exact engine's statistics, block by block as :func:`vtrial.engine.run_block` asks for them."""
    for k in range(reps // engine.BLOCK):
        exact_block_stats(cfg, "0123456789", k, engine.BLOCK)


def exact_power(cfg, reps: int = 1_000_000) -> None:
    """The whole exact path of a power run: statistics, ANCOVA and the power-table sums."""
    power.simulate_sums(cfg, "0123456789", reps, ["ancova"])


def raw_draws(cfg, reps: int = 1_000_000) -> None:
    """The exact shortcut's random numbers alone: a binomial per arm (dropout), three normals, two chi-squares."""
    rng = np.random.default_rng(1)
    n = cfg["trial"]["n_per_arm"]
    m = np.zeros(reps)
    for arm in ("placebo", "anastrozole"):
        p = cfg["dropout"][arm]
        m += rng.binomial(n, 1 - p, reps) - 1.0 if p > 0 else n - 1.0
    rng.standard_normal((3, reps))
    if np.all(m == m[0]):
        rng.chisquare(m[0], reps)
        rng.chisquare(m[0] - 1, reps)
    else:
        rng.chisquare(m)
        rng.chisquare(m - 1)


def run(cfg, methods, blocks: int = 10) -> None:
    for k in range(blocks):
        engine.run_block(cfg, "0123456789", k, engine.BLOCK, methods)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    r = args.repeats
    for label, over in (("MCAR dropout", []), ("no dropout", ["dropout.anastrozole=0", "dropout.placebo=0"])):
        cfg = load_config(overrides=over)
        te, tr, ratio = paired(lambda cfg=cfg: exact(cfg), lambda cfg=cfg: raw_draws(cfg), r)
        print(f"exact 1e6 reps ({label}): {te:.3f} s; random numbers alone {tr:.3f} s; ratio {ratio:.2f}")
        tp, tr, ratio = paired(lambda cfg=cfg: exact_power(cfg), lambda cfg=cfg: raw_draws(cfg), r)
        print(
            f"  with ANCOVA and power sums (simulate_sums): {tp:.3f} s; random numbers {tr:.3f} s; ratio {ratio:.2f}"
        )
        print(f"  load average {os.getloadavg()}")
    cfg = load_config(overrides=["trial.n_per_arm=150", "simulation.exact_shortcut=never"])
    tm, tt, ratio = paired(lambda: run(cfg, ["mann_whitney"]), lambda: run(cfg, ["student_t"]), r)
    print(f"per-man 150/arm 10,000 reps: mann_whitney {tm:.3f} s, student_t {tt:.3f} s, ratio {ratio:.2f}")
    cfg = load_config(overrides=["trial.n_per_arm=150"])
    ta = median_time(lambda: power.analytic_power(cfg, "welch_t"), r)
    print(f"analytic Welch power 150/arm: {ta:.3f} s (value {power.analytic_power(cfg, 'welch_t'):.12f})")


if __name__ == "__main__":
    main()
