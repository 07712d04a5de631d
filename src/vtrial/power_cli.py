"""Command-line front end of the power engine: ``power``, ``sample-size``, ``mde``.

Kept apart from :mod:`vtrial.cli` so the engine's commands grow in one place.

``vtrial power [--reps R] [--grid KEY=V1,V2,...]... [--workers W] [--target-se S] --out power.csv``
    Monte Carlo power and diagnostics, one row per scenario and method.
``vtrial sample-size --target-power P [--method M]... [--reps R] [--out ss.csv]``
    Smallest n per arm reaching P (common random numbers across n).
``vtrial mde --n-per-arm N --target-power P [--method M]... [--out mde.csv]``
    Smallest |difference| (percentage points) reaching P.
"""

from __future__ import annotations

import sys

from vtrial.errors import InputError


def _int_arg(text: str, name: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{name}: value {text!r} is not an integer (need >= {minimum})") from None
    if value < minimum:
        raise InputError(f"{name}: value {value} is too small (need >= {minimum})")
    return value


def _float_arg(text: str, name: str, low: float, high: float, high_open: bool = True) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name}: value {text!r} is not a number") from None
    inside = low < value < high if high_open else low < value <= high
    if not inside:
        bracket = ")" if high_open else "]"
        raise InputError(f"{name}: value {value} is out of range (allowed: ({low}, {high}{bracket})")
    return value


def parse_grid(items: list[str]) -> dict[str, list]:
    """``["trial.n_per_arm=20,40"]`` -> ``{"trial.n_per_arm": [20, 40]}`` (values parsed as YAML).

    Examples
    --------
    >>> parse_grid(["trial.n_per_arm=20,40", "dropout.mechanism=MCAR,MNAR"])
    {'trial.n_per_arm': [20, 40], 'dropout.mechanism': ['MCAR', 'MNAR']}
    """
    import yaml

    grid: dict[str, list] = {}
    for text in items or []:
        if "=" not in text:
            raise InputError(f"--grid {text!r} is not KEY=V1,V2,... (e.g. trial.n_per_arm=20,40)")
        key, raw = (part.strip() for part in text.split("=", 1))
        if not key or not raw:
            raise InputError(f"--grid {text!r} is not KEY=V1,V2,... (e.g. trial.n_per_arm=20,40)")
        if key in grid:
            raise InputError(f"--grid key '{key}' is given twice (give all its values at once)")
        values = []
        for part in raw.split(","):
            try:
                values.append(yaml.safe_load(part.strip()))
            except yaml.YAMLError:
                raise InputError(f"--grid {key}: value {part!r} is not a valid value") from None
        grid[key] = values
    return grid


def _config(args, grid_items=None) -> dict:
    from vtrial.config import load_config, set_key, validate_config

    cfg = load_config(args.config, args.overrides, args.seed)
    grid = parse_grid(grid_items)
    if grid:
        for key, values in grid.items():
            cfg = set_key(cfg, f"grid.{key}", values)
        validate_config(cfg)
    return cfg


def _reps_workers(args) -> tuple[int | None, int | None]:
    """``--reps`` and ``--workers`` checked (None where not given)."""
    reps = None if args.reps is None else _int_arg(args.reps, "--reps", 1)
    workers = None if args.workers is None else _int_arg(args.workers, "--workers", 1)
    return reps, workers


def _write(table, out) -> None:
    from vtrial.cli import atomic_path
    from vtrial.power import write_table

    if out:
        with atomic_path(out) as tmp:
            write_table(table, tmp)
    else:
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(table.to_string(index=False))


def cmd_power(args) -> None:
    from vtrial.power import run_power

    reps, workers = _reps_workers(args)
    target_se = None
    if args.target_se is not None:
        target_se = _float_arg(args.target_se, "--target-se", 0.0, 0.5, high_open=False)
    cfg = _config(args, args.grid)
    # Finished scenarios are kept beside the output until it is written, so an
    # interrupted run picks up where it stopped.
    parts = None
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        parts = out.with_name(f".{out.name}.parts")
    table = run_power(
        cfg,
        reps=reps,
        target_se=target_se,
        workers=workers or cfg["simulation"]["workers"],
        progress=not args.quiet,
        methods=args.method,
        checkpoint_dir=parts,
    )
    _write(table, args.out)
    if parts is not None and parts.exists():
        import shutil

        shutil.rmtree(parts)
    print(
        f"wrote {args.out}: {len(table)} rows ({table['scenario_id'].nunique()} scenarios x "
        f"{table['method'].nunique()} methods), engines {', '.join(sorted(set(table['engine'])))}",
        file=sys.stderr,
    )


def cmd_sample_size(args) -> None:
    from vtrial.power import sample_size

    target = _float_arg(args.target_power, "--target-power", 0.0, 1.0)
    reps, workers = _reps_workers(args)
    cfg = _config(args)
    table = sample_size(
        cfg,
        target,
        args.method,
        reps=reps,
        workers=workers or cfg["simulation"]["workers"],
        progress=not args.quiet,
    )
    _write(table, args.out)
    if args.out:
        print(f"wrote {args.out}: {len(table)} rows", file=sys.stderr)


def cmd_mde(args) -> None:
    from vtrial.power import mde

    target = _float_arg(args.target_power, "--target-power", 0.0, 1.0)
    n = _int_arg(args.n_per_arm, "--n-per-arm", 2)
    reps, workers = _reps_workers(args)
    cfg = _config(args)
    table = mde(
        cfg,
        n,
        target,
        args.method,
        reps=reps,
        workers=workers or cfg["simulation"]["workers"],
        progress=not args.quiet,
    )
    _write(table, args.out)
    if args.out:
        print(f"wrote {args.out}: {len(table)} rows", file=sys.stderr)


def _engine_options(p, *, reps_help: str) -> None:
    p.add_argument("--reps", metavar="R", help=reps_help)
    p.add_argument("--workers", metavar="W", help="worker processes (default simulation.workers)")
    p.add_argument(
        "--method", action="append", metavar="M",
        help="analysis method (repeatable; default analysis.methods)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")


def add_commands(sub, common) -> None:
    """Register the engine's subcommands on the ``vtrial`` parser."""
    p = sub.add_parser("power", help="Monte Carlo power and diagnostics per scenario and method")
    common(p)
    _engine_options(p, reps_help="replicate trials per scenario (default simulation.reps)")
    p.add_argument(
        "--grid", action="append", default=[], metavar="KEY=V1,V2,...",
        help="vary a config key over values (repeatable; cartesian product)",
    )  # fmt: skip
    p.add_argument(
        "--target-se", metavar="S",
        help="choose replicates so every power estimate has Monte Carlo SE <= S",
    )  # fmt: skip
    p.add_argument("--out", required=True, help="CSV file to write")
    p.set_defaults(func=cmd_power)

    p = sub.add_parser("sample-size", help="smallest n per arm reaching a target power")
    common(p)
    _engine_options(p, reps_help="replicate trials per candidate n (default simulation.reps)")
    p.add_argument("--target-power", required=True, metavar="P", help="target power in (0, 1)")
    p.add_argument("--out", help="CSV file to write (default: print)")
    p.set_defaults(func=cmd_sample_size)

    p = sub.add_parser("mde", help="minimal detectable difference at a given n per arm")
    common(p)
    _engine_options(p, reps_help="replicate trials per candidate difference (default simulation.reps)")
    p.add_argument("--n-per-arm", required=True, metavar="N", help="men randomized to placebo")
    p.add_argument("--target-power", required=True, metavar="P", help="target power in (0, 1)")
    p.add_argument("--out", help="CSV file to write (default: print)")
    p.set_defaults(func=cmd_mde)
