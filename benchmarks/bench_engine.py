"""Speed benchmarks of the vtrial power engine (not tests; results in RESULTS.md).

Run from the repository root:

    python benchmarks/bench_engine.py [--repeats 5] [--out benchmarks/results.json]

Each figure is the median of ``--repeats`` runs (after one warm-up run) on the
same machine in the same process. Threads are pinned through environment
variables set before numpy is imported (OMP/OPENBLAS/MKL = 1 per process).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from vtrial import engine, model, power, samplers  # noqa: E402
from vtrial.config import load_config, scenario_id, set_key  # noqa: E402

TOTALS = list(range(40, 131, 10))  # 10 totals, n per arm 20..65
REPS = 10_000
NO_DROPOUT = ["dropout.anastrozole=0", "dropout.placebo=0", "analysis.methods=[ancova]"]


def median_time(fn, repeats: int) -> tuple[float, list[float]]:
    fn()  # warm-up (caches, imports, process pools)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


_CONFIGS: dict = {}


def _configs(shortcut: str):
    """Configs of the 10 candidate sizes (built once, outside the timed region)."""
    if shortcut not in _CONFIGS:
        cfg = load_config(overrides=[*NO_DROPOUT, f"simulation.exact_shortcut={shortcut}"])
        sid = scenario_id(cfg, exclude=("trial.n_per_arm",))
        _CONFIGS[shortcut] = (sid, [(t, set_key(cfg, "trial.n_per_arm", t // 2)) for t in TOTALS])
    return _CONFIGS[shortcut]


def vtrial_search(workers: int, shortcut: str = "auto", pool=None) -> dict[int, float]:
    """ANCOVA power at the 10 totals, 10,000 replicates each (common random numbers)."""
    sid, configs = _configs(shortcut)
    out = {}
    for total, c in configs:
        s = power.simulate_sums(c, sid, REPS, ["ancova"], workers=workers, pool=pool)["ancova"]
        out[total] = s[1] / s[0]
    return out


def mcpower_search(threads: int) -> dict[int, float]:
    from mcpower import MCPower

    cfg = load_config(overrides=NO_DROPOUT)
    mo = model.moments(cfg)
    sd_e = math.sqrt(mo.cov[1, 1] - mo.cov[0, 1] ** 2 / mo.cov[0, 0])
    beta_t = 2.46 / sd_e  # standardized: difference in residual SDs
    beta_b = mo.cov[0, 1] / math.sqrt(mo.cov[0, 0]) / sd_e  # slope x SD(baseline) / residual SD
    m = MCPower("change = treatment + baseline")
    m.set_variable_type("treatment=binary")
    m.set_effects(f"treatment={beta_t:.6f}, baseline={beta_b:.6f}")
    m.set_simulations(REPS)
    r = m.find_sample_size(
        target_test="treatment", from_size=40, to_size=130, by=10, target_power=0.9,
        verbose=False, progress_callback=False, seed=20091201,
    )  # fmt: skip
    return {n: p[0] for n, p in zip(r["sample_sizes"], r["power_uncorrected"], strict=True)}


def paired_search(threads: int, repeats: int) -> dict:
    """The exact search and MCPower's, in one process, timed in alternation round by round.

    ``threads`` is MCPower's thread count and vtrial's worker count. The
    speed-up is the median over rounds of MCPower's time / vtrial's time.
    """
    from mcpower import _engine

    _engine.set_n_threads(threads)
    pool = power._pool(threads) if threads > 1 else None
    load = os.getloadavg()
    vt, mc = [], []
    for round_ in range(repeats + 1):  # the first round warms up
        t0 = time.perf_counter()
        vtrial_search(threads, pool=pool)
        t1 = time.perf_counter()
        mcpower_search(threads)
        t2 = time.perf_counter()
        if round_:
            vt.append(t1 - t0)
            mc.append(t2 - t1)
    if pool is not None:
        pool.shutdown()
    return {
        "threads": threads,
        "loadavg": [load, os.getloadavg()],
        "vtrial_median_s": statistics.median(vt),
        "mcpower_median_s": statistics.median(mc),
        "median_speedup": statistics.median(m / v for m, v in zip(mc, vt, strict=True)),
        "vtrial_times": vt,
        "mcpower_times": mc,
    }


def statsmodels_loop(reps_per_total: int) -> tuple[float, dict[int, float]]:
    """Per-replicate statsmodels OLS ANCOVA on per-man data; seconds per trial and power."""
    import statsmodels.api as sm

    cfg = load_config(overrides=[*NO_DROPOUT, "simulation.exact_shortcut=never"])
    sid = scenario_id(cfg, exclude=("trial.n_per_arm",))
    total_time, trials, pw = 0.0, 0, {}
    for total in TOTALS:
        c = set_key(cfg, "trial.n_per_arm", total // 2)
        block = samplers.per_man_block(c, reps_per_total, np.random.SeedSequence([1, total]), need_y6=False)
        t0 = time.perf_counter()
        rej = 0
        for r in range(reps_per_total):
            k0, k1 = block.size[:, r]
            y = np.concatenate([block.y12(0)[:k0, r], block.y12(1)[:k1, r]])
            b = np.concatenate([block.b0(0)[:k0, r], block.b0(1)[:k1, r]])
            t = np.r_[np.zeros(block.size[0, r]), np.ones(block.size[1, r])]
            fit = sm.OLS(y, np.column_stack([np.ones_like(y), t, b])).fit()
            rej += fit.pvalues[1] < 0.05
        total_time += time.perf_counter() - t0
        trials += reps_per_total
        pw[total] = rej / reps_per_total
    del sid
    return total_time / trials, pw


def per_man_rate(
    mechanism: str, methods: list[str], blocks: int = 20, shortcut: str = "never", repeats: int = 3
) -> float:
    """Trials per second of one process: simulate 88 men and analyse.

    ``shortcut="never"`` forces the per-man engine (every man's values);
    ``"auto"`` lets the engine pick (``per_man_y`` for complete-case t-tests
    and ANCOVA under MAR/MNAR dropout).
    """
    cfg = load_config(overrides=[f"dropout.mechanism={mechanism}", f"simulation.exact_shortcut={shortcut}"])
    sid = scenario_id(cfg)

    def run():
        for k in range(blocks):
            engine.run_block(cfg, sid, k, engine.BLOCK, methods)

    t, _ = median_time(run, repeats)
    return blocks * engine.BLOCK / t


def per_man_table(repeats: int) -> dict:
    """Per-man engines side by side (88 men, ANCOVA + Welch), with the load average around."""
    out: dict = {"loadavg_before": os.getloadavg()}
    methods = ["ancova", "welch_t"]
    for mech in ("MNAR", "MAR"):
        for shortcut in ("auto", "never"):
            eng = engine.method_engine(
                load_config(overrides=[f"dropout.mechanism={mech}", f"simulation.exact_shortcut={shortcut}"]),
                "ancova",
                methods,
            )
            out[f"{mech}_{eng}"] = per_man_rate(mech, methods, shortcut=shortcut, repeats=repeats)
    out["MCAR_per_man"] = per_man_rate("MCAR", methods, repeats=repeats)
    out["MNAR_ratio_per_man_y_to_per_man"] = out["MNAR_per_man_y"] / out["MNAR_per_man"]
    out["MAR_ratio_per_man_y_to_per_man"] = out["MAR_per_man_y"] / out["MAR_per_man"]
    out["loadavg_after"] = os.getloadavg()
    return out


def reference_rate(method: str, trials: int = 40) -> float:
    cfg = load_config(overrides=["dropout.mechanism=MNAR"])
    block = samplers.per_man_block(cfg, trials, np.random.SeedSequence(5), need_y6=True)
    t0 = time.perf_counter()
    engine.reference_replicates(block, cfg, method, np.random.SeedSequence(6))
    return trials / (time.perf_counter() - t0)


def million(workers: int) -> dict:
    cfg = load_config(overrides=["dropout.mechanism=MNAR"])  # engine per_man_y
    t0 = time.perf_counter()
    table = power.run_power(
        cfg, reps=1_000_000, methods=["ancova", "welch_t"], workers=workers, chunk_size=20_000
    )
    elapsed = time.perf_counter() - t0
    assert set(table["engine"]) == {"per_man_y"}
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "seconds": elapsed,
        "peak_rss_mb_main": self_kb / 1024,
        "peak_rss_mb_largest_worker": child_kb / 1024,
        "power": dict(zip(table["method"], table["power"], strict=True)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results.json")
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--mcpower-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--paired-child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.paired_child:
        print(json.dumps(paired_search(args.paired_child, args.repeats)))
        return
    if args.mcpower_child:
        from mcpower import _engine

        _engine.set_n_threads(args.mcpower_child)
        t, times = median_time(lambda: mcpower_search(args.mcpower_child), args.repeats)
        print(json.dumps({"median_s": t, "times": times, "power": mcpower_search(args.mcpower_child)}))
        return
    res: dict = {}
    if args.only and os.path.exists(args.out):
        # a partial run updates the previous results instead of discarding them
        with open(args.out) as fh:
            res = json.load(fh)
    res |= {
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpu": _cpu(),
            "cores": os.cpu_count(),
            "numpy": np.__version__,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "loadavg_start": os.getloadavg(),
        }
    }
    want = set(args.only or ["search", "mcpower", "paired", "statsmodels", "perman", "mmrm", "million"])
    analytic = {
        t: power.analytic_power(
            set_key(load_config(overrides=NO_DROPOUT), "trial.n_per_arm", t // 2), "ancova"
        )
        for t in TOTALS
    }
    res["analytic_power_ancova"] = analytic
    if "search" in want:
        for workers in (1, 2):
            pool = power._pool(workers) if workers > 1 else None
            t, times = median_time(lambda w=workers, p=pool: vtrial_search(w, pool=p), args.repeats)
            res[f"vtrial_exact_{workers}w"] = {
                "loadavg": os.getloadavg(),
                "median_s": t,
                "times": times,
                "power": vtrial_search(workers, pool=pool),
            }
            t, times = median_time(
                lambda w=workers, p=pool: vtrial_search(w, "never", pool=p), max(2, args.repeats // 2)
            )
            res[f"vtrial_per_man_{workers}w"] = {
                "median_s": t,
                "times": times,
                "power": vtrial_search(workers, "never", pool=pool),
            }
            if pool is not None:
                pool.shutdown()
            print(
                json.dumps({k: v for k, v in res.items() if k.startswith("vtrial")}, default=str)[:400],
                file=sys.stderr,
            )
    if "mcpower" in want:
        for threads in (1, 2):
            # MCPower fixes its thread pool at first use: one process per thread count.
            res[f"mcpower_{threads}t"] = _child("--mcpower-child", threads, args.repeats) | {
                "loadavg": os.getloadavg()
            }
            print(f"mcpower {threads}t {res[f'mcpower_{threads}t']['median_s']:.3f}s", file=sys.stderr)
    if "paired" in want:
        for threads in (1, 2):
            r = res[f"paired_{threads}"] = _child("--paired-child", threads, args.repeats)
            print(
                f"paired {threads}: vtrial {r['vtrial_median_s']:.4f} s, MCPower {r['mcpower_median_s']:.4f} s, "
                f"speed-up {r['median_speedup']:.2f}x, load {r['loadavg']}",
                file=sys.stderr,
            )
    if "statsmodels" in want:
        per_trial, pw = statsmodels_loop(300)
        res["statsmodels_loop"] = {
            "seconds_per_trial": per_trial,
            "extrapolated_search_s": per_trial * REPS * len(TOTALS),
            "power_300_reps": pw,
        }
        print(f"statsmodels {per_trial * 1e3:.2f} ms/trial", file=sys.stderr)
    if "perman" in want:
        tab = per_man_table(max(3, args.repeats))
        res["per_man_ancova_welch_trials_per_s"] = tab
        print(f"per-man {json.dumps(tab)}", file=sys.stderr)
    if "mmrm" in want:
        res["mmrm_vectorised_trials_per_s"] = per_man_rate("MNAR", ["mmrm"])
        res["mmrm_reference_trials_per_s"] = reference_rate("mmrm")
        res["mann_whitney_vectorised_trials_per_s"] = per_man_rate("MNAR", ["mann_whitney"], blocks=5)
    if "million" in want:
        res["million_1_worker"] = million(1)
        print(res["million_1_worker"], file=sys.stderr)
    res["machine"]["loadavg_end"] = os.getloadavg()
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1, default=float)
    print(json.dumps(res, indent=1, default=float))


def _child(flag: str, threads: int, repeats: int) -> dict:
    """Run this script as a child process (one MCPower thread count per process) and read its JSON."""
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, flag, str(threads), "--repeats", str(repeats)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(out)


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
