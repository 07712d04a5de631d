"""Benchmark of the Snakemake workflow: the default config from an empty results/.

Runs ``snakemake --cores N`` on a config (default: the packaged default) in a
fresh temporary working directory, several times, and records

* the wall time of each run (from the shell's point of view) and its CPU time
  (user + system of Snakemake and every job process: the work the run needs,
  whatever else runs on the machine; divided by the cores it estimates the wall
  time on an otherwise idle machine),
* Snakemake's own overhead: a dry run (parsing, config validation, scenarios, DAG),
* per job, from the ``TIMING`` line every workflow script writes to its log:
  process start-up (Python, Snakemake's script preamble, numpy/pandas), imports
  (vtrial, scipy, statsmodels, seaborn), simulation/analysis, plotting, writing,
  and the job process's CPU time,
* the number of scenarios the run evaluates (power grid, heatmaps, tornado and
  sample-size designs) and the replicates per scenario.

Writes a JSON file and a figure (a timeline of the jobs of the median run,
coloured by phase).

Usage (from the repository root)::

    python benchmarks/pipeline_bench.py --repeats 3 --cores 2 \\
        --out benchmarks/pipeline_results.json --figure benchmarks/pipeline_timeline.png
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["startup", "import", "simulate", "analyse", "gather", "plot", "write"]
COLORS = {
    "startup": "#bbbbbb", "import": "#8c8c8c", "simulate": "#4C72B0", "analyse": "#55A868",
    "gather": "#64B5CD", "plot": "#DD8452", "write": "#C44E52", "other": "#eeeeee",
}  # fmt: skip


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(cmd, cwd):
    """Wall and CPU seconds of ``cmd`` (CPU of the process and all its waited-for descendants)."""
    t, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t, _children_cpu() - cpu
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr[-4000:]}")
    return wall, cpu


def job_timings(results: Path) -> list[dict]:
    jobs = []
    for log in sorted((results / "logs").rglob("*.log")):
        for line in log.read_text().splitlines():
            if line.startswith("TIMING "):
                rec = json.loads(line.split(" ", 1)[1])
                rec["job"] = str(log.relative_to(results / "logs").with_suffix(""))
                jobs.append(rec)
    return jobs


def count_scenarios(configfile: Path | None) -> dict:
    from vtrial import pipeline as vp
    from vtrial.config import load_config

    cfg = vp.check_config(load_config(configfile))
    return {
        "power_grid": len(vp.power_scenarios(cfg)),
        "heatmap_effect_sd": len(vp.effect_sd_scenarios(cfg)),
        "heatmap_dropout": len(vp.dropout_scenarios(cfg)),
        "tornado_designs": len(vp.tornado_scenarios(cfg)),
        "sample_size_designs": len(vp.sample_size_scenarios(cfg)),
        "power_reps": cfg["simulation"]["reps"],
        "sensitivity_reps": vp.sensitivity_reps(cfg),
        "power_methods": vp.power_methods(cfg),
        "power_jobs": len(vp.batches(vp.power_scenarios(cfg), cfg["pipeline"]["power_jobs"])),
    }


def plot_timeline(jobs: list[dict], t0: float, wall: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    jobs = sorted(jobs, key=lambda j: j["started"])
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(jobs) + 1.6))
    for y, j in enumerate(jobs):
        x = j["started"] - t0
        for phase in PHASES:
            d = j.get(phase, 0.0)
            if d > 0:
                ax.barh(y, d, left=x, color=COLORS[phase], height=0.7)
                x += d
        rest = j["ended"] - t0 - x
        if rest > 0.05:
            ax.barh(y, rest, left=x, color=COLORS["other"], height=0.7)
    ax.set_yticks(range(len(jobs)), [j["job"] for j in jobs], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(wall, color="black", lw=1)
    ax.set_xlim(0, wall * 1.02)
    ax.set_xlabel("seconds since `snakemake` started (black line: end of run)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[p]) for p in PHASES]
    ax.legend(handles, PHASES, ncol=4, fontsize=8, loc="upper right")
    ax.set_title(title, loc="left", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    fig.savefig(path.with_suffix(".svg"))
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--configfile", type=Path, help="config (default: config/config.yaml)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "pipeline_results.json")
    p.add_argument("--figure", type=Path, default=ROOT / "benchmarks" / "pipeline_timeline.png")
    args = p.parse_args(argv)

    snake = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "workflow" / "Snakefile")]
    extra = ["--configfile", str(args.configfile.resolve())] if args.configfile else []
    runs = []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="vtrial-bench-") as tmp:
            wd = Path(tmp)
            (wd / "config").mkdir()
            shutil.copy(ROOT / "config" / "config.yaml", wd / "config" / "config.yaml")
            dry, _ = run([*snake, "-n", "--cores", str(args.cores), *extra], wd)
            shutil.rmtree(wd / ".snakemake", ignore_errors=True)
            load0 = os.getloadavg()[0]
            t0 = time.time()
            wall, cpu = run([*snake, "--cores", str(args.cores), *extra], wd)
            jobs = job_timings(wd / "results")
            runs.append({"wall_s": wall, "cpu_s": cpu, "dry_run_s": dry, "t0": t0, "jobs": jobs,
                         "loadavg_before": load0, "loadavg_after": os.getloadavg()[0]})  # fmt: skip
            print(f"run {i + 1}: {wall:.1f} s, CPU {cpu:.1f} s (dry run {dry:.1f} s, load {load0:.2f})",
                  file=sys.stderr)  # fmt: skip
    walls = [r["wall_s"] for r in runs]
    median_run = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    phases = {ph: round(sum(j.get(ph, 0.0) for j in median_run["jobs"]), 2) for ph in PHASES}
    job_time = sum(j["ended"] - j["started"] for j in median_run["jobs"])
    per_rule, cpu_rule = {}, {}
    for j in median_run["jobs"]:
        rule = j["job"].split("/")[0]
        per_rule[rule] = round(per_rule.get(rule, 0.0) + j["ended"] - j["started"], 2)
        cpu_rule[rule] = round(cpu_rule.get(rule, 0.0) + j.get("cpu", float("nan")), 2)
    cpus = [r["cpu_s"] for r in runs]
    summary = {
        "cores": args.cores,
        "configfile": str(args.configfile) if args.configfile else "config/config.yaml",
        "wall_s": [round(w, 2) for w in walls],
        "wall_median_s": round(statistics.median(walls), 2),
        "dry_run_median_s": round(statistics.median(r["dry_run_s"] for r in runs), 2),
        "jobs": len(median_run["jobs"]),
        "job_seconds_total": round(job_time, 2),
        "phase_seconds_total": phases,
        "job_seconds_per_rule": dict(sorted(per_rule.items(), key=lambda kv: -kv[1])),
        "cpu_s": [round(c, 2) for c in cpus],
        "cpu_median_s": round(statistics.median(cpus), 2),
        # the run's CPU time spread over the cores: its wall time if nothing else ran
        "idle_wall_estimate_s": round(statistics.median(cpus) / args.cores, 2),
        "job_cpu_seconds_total": round(sum(j.get("cpu", float("nan")) for j in median_run["jobs"]), 2),
        "job_cpu_seconds_per_rule": dict(sorted(cpu_rule.items(), key=lambda kv: -kv[1])),
        "loadavg_before": [round(r["loadavg_before"], 2) for r in runs],
        "scenarios": count_scenarios(args.configfile),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    args.out.write_text(json.dumps({"summary": summary, "runs": runs}, indent=1) + "\n")
    plot_timeline(
        median_run["jobs"], median_run["t0"], median_run["wall_s"], args.figure,
        f"vtrial workflow, default config, --cores {args.cores}: {median_run['wall_s']:.0f} s "
        f"(the middle run of {len(runs)}, upper one if even; median {statistics.median(walls):.0f} s)",
    )  # fmt: skip
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
