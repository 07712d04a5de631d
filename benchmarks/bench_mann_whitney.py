"""Speed and bit-identity of ``mann_whitney_vec`` against a reference commit.

Loads ``src/vtrial/analysis/nonparametric.py`` as it was at ``--ref`` (git
show) beside the working tree's version, checks on the same blocks that
estimate, CI ends, p-value and arm sizes are bit-identical, then times both
alternately (median wall-clock and CPU time of ``--runs`` runs each, in one
session). The blocks are those of the default config (MCAR dropout) at the
given arm sizes, 1,000 replicates.

Usage (from the repository root)::

    PYTHONPATH=$PWD/src python benchmarks/bench_mann_whitney.py --ref 2c47075 --n 100 150
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vtrial import config, engine, samplers
from vtrial.analysis import nonparametric as new

FIELDS = ("estimate", "ci_low", "ci_high", "p_value", "n_placebo", "n_anastrozole")


def load_ref(ref: str):
    src = subprocess.run(
        ["git", "show", f"{ref}:src/vtrial/analysis/nonparametric.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "nonparametric_ref.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("nonparametric_ref", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="main", help="git revision of the reference implementation")
    ap.add_argument("--n", type=int, nargs="+", default=[100, 150], help="men per arm")
    ap.add_argument("--reps", type=int, default=1000, help="replicates per block")
    ap.add_argument("--runs", type=int, default=7, help="timed runs per implementation")
    ap.add_argument("--missing", default=None, help="override analysis.missing (e.g. bocf for ties)")
    args = ap.parse_args(argv)
    old = load_ref(args.ref)
    for n in args.n:
        cfg = config.default_config()
        cfg["trial"]["n_per_arm"] = n
        if args.missing:
            cfg["analysis"]["missing"] = args.missing
        opt = engine.analysis_options(cfg)
        block = samplers.per_man_block(
            cfg, args.reps, engine.seed_sequence(cfg["seed"], "abc", n), need_y6=False
        )
        args_ = (block, opt["missing"], opt["scale"], opt["alpha"])
        call = {
            name: (lambda m=m, a=args_: m.mann_whitney_vec(*a)) for name, m in (("old", old), ("new", new))
        }
        r_old, r_new = call["old"](), call["new"]()
        for f in FIELDS:
            a, b = getattr(r_old, f), getattr(r_new, f)
            if not np.array_equal(a, b, equal_nan=True):
                print(f"n={n}: {f} differs in {int(np.sum(~((a == b) | (np.isnan(a) & np.isnan(b)))))} rows")
                return 1
        wall = {"old": [], "new": []}
        cpu = {"old": [], "new": []}
        for _ in range(args.runs):
            for name in ("old", "new"):  # alternating, so that load changes hit both
                t, c = time.perf_counter(), time.process_time()
                call[name]()
                wall[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
        w = {k: float(np.median(v)) for k, v in wall.items()}
        c = {k: float(np.median(v)) for k, v in cpu.items()}
        print(
            f"n_per_arm={n} reps={args.reps} missing={opt['missing']}: identical; medians of {args.runs}: "
            f"wall old {w['old']:.4f} s, new {w['new']:.4f} s ({w['old'] / w['new']:.2f}x); "
            f"CPU old {c['old']:.4f} s, new {c['new']:.4f} s ({c['old'] / c['new']:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
