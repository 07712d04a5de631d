"""The ``vtrial`` command line.

Every command accepts ``--config FILE``, repeated ``--set KEY=VALUE`` and
``--seed N``. Bad input ends with one message on stderr and exit status 2, and
no output file is left behind (outputs are written to a temporary name in the
same folder and renamed when complete).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from vtrial.errors import InputError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML config (default: the packaged 2009 trial)")
    p.add_argument(
        "--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
        help="override a config key, dotted (repeatable), e.g. --set trial.n_per_arm=60",
    )  # fmt: skip
    p.add_argument("--seed", type=int, help="root seed (overrides config key 'seed')")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success."""
    path = Path(path)
    if not path.parent.exists():
        raise InputError(f"output folder '{path.parent}' does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(args) -> dict:
    from vtrial.config import load_config

    return load_config(args.config, args.overrides, args.seed)


def cmd_simulate(args) -> None:
    from vtrial.config import scenario_id
    from vtrial.streams import rng_for
    from vtrial.trial import simulate_trial, write_trial_csv

    cfg = _load(args)
    df = simulate_trial(cfg, rng=rng_for(cfg["seed"], scenario_id(cfg), 0))
    with atomic_path(args.out) as tmp:
        write_trial_csv(df, tmp)
    n = df["subject_id"].nunique()
    print(f"wrote {args.out}: {n} men, {len(df)} rows", file=sys.stderr)
    if cfg["effects"]["mode"] == "estradiol_mediated":
        from vtrial.trial import implied_effects

        diff = implied_effects(cfg).difference_pct
        print(f"estradiol-mediated effect: implied difference {diff:.2f} percentage points", file=sys.stderr)


def cmd_calibrate(args) -> None:
    from vtrial.calibration import calibrate, plot_calibration

    cfg = _load(args)
    if args.reps < 2:
        raise InputError(f"--reps: value {args.reps} is too small (need at least 2)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: '{out}' exists and is not a folder")
    table = calibrate(cfg, reps=args.reps)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "calibration.csv") as tmp:
        table.to_csv(tmp, index=False, lineterminator="\n")
    plot_calibration(table, out / "calibration")
    inside = int(table["inside"].sum())
    print(f"wrote {out}/calibration.csv: {inside} of {len(table)} published figures inside "
          f"their simulated 95% range", file=sys.stderr)  # fmt: skip


def cmd_methods(args) -> None:
    from vtrial.analysis import list_methods

    for name, description in list_methods():
        print(f"{name:<14} {description}")


def cmd_analyze(args) -> None:
    from vtrial.analysis import read_trial_csv, run_methods
    from vtrial.config import method_options, scenario_id
    from vtrial.streams import rng_for

    cfg = _load(args)
    a = cfg["analysis"]
    missing = args.missing or a["missing"]
    methods = args.method or a["methods"]
    if not args.method:
        # Methods from the config that cannot take this strategy are skipped,
        # not an error: the user did not name them.
        from vtrial.analysis import ALLOWED_MISSING

        skipped = [m for m in methods if missing not in ALLOWED_MISSING.get(m, (missing,))]
        methods = [m for m in methods if m not in skipped]
        if skipped:
            print(
                f"vtrial: note: {', '.join(skipped)} cannot use missing={missing}; skipped", file=sys.stderr
            )
        if not methods:
            raise InputError(f"--missing {missing}: none of the methods {a['methods']} allows it")
    data = read_trial_csv(args.data)
    table = run_methods(
        data,
        methods,
        missing=missing,
        alpha=a["alpha"],
        scale=args.scale or a["scale"],
        rng=rng_for(cfg["seed"], scenario_id(cfg), 0),
        options=method_options(cfg, methods),
    )
    with pd_display():
        print(table.to_string(index=False))
    if args.out:
        with atomic_path(args.out) as tmp:
            table.to_csv(tmp, index=False, lineterminator="\n")


@contextlib.contextmanager
def pd_display():
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 4):
        yield


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vtrial",
        description="Virtual trials of anastrozole versus placebo on PA spine BMD (Burnett-Bowie 2009).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="one simulated trial in long format")
    _common(p)
    p.add_argument("--out", required=True, help="CSV file to write")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("analyze", help="analyse a trial, simulated or real")
    _common(p)
    p.add_argument("data", help="long-format CSV (see README)")
    p.add_argument("--method", action="append", help="analysis method (repeatable; see `vtrial methods`)")
    p.add_argument("--missing", help="missing-data strategy (default: config analysis.missing)")
    p.add_argument("--scale", choices=["pct", "absolute"], help="outcome scale (default: config)")
    p.add_argument("--out", help="CSV file to write")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("calibrate", help="simulated versus published figures of the 2009 trial")
    _common(p)
    p.add_argument("--reps", type=int, default=1000, help="replicate trials (default 1000)")
    p.add_argument("--out", required=True, help="folder to write calibration.csv and the figure")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("methods", help="list analysis methods")
    p.set_defaults(func=cmd_methods)

    from vtrial import power_cli

    power_cli.add_commands(sub, _common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vtrial`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except InputError as exc:
        print(f"vtrial: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vtrial: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
