"""Power commands: ``power``, ``sample-size``, ``mde``.

``vtrial power [--reps R | --target-se S] [--grid KEY=V1,V2,...]... [--workers W] --out power.csv``
    Monte Carlo power and diagnostics, one row per scenario and method.
``vtrial sample-size --target-power P | --target-assurance A [--method M]... [--reps R] [--comparison C] [--out ss.csv]``
    Smallest n per arm reaching P (or assurance A; common random numbers across n).
``vtrial mde --n-per-arm N --target-power P [--method M]... [--comparison C] [--out mde.csv]``
    Smallest |difference| (percentage points) reaching P.

``--comparison`` (designs): the row of the design's power table that must
reach P (:func:`vtrial.design_power.search_rows`).
"""

from __future__ import annotations

from vtrial.cli import common
from vtrial.errors import InputError
from vtrial.keys import check_variable_key


def _integer_key(dotted: str) -> bool:
    """Whether the schema types ``dotted`` as an integer."""
    from vtrial.config import schema

    node = schema()
    for part in dotted.split("."):
        node = (node.get("properties") or {}).get(part)
        if node is None:
            return False
    return node.get("type") == "integer"


def parse_grid(items: list[str]) -> dict[str, list]:
    """``["trial.n_per_arm=20,40"]`` -> ``{"trial.n_per_arm": [20, 40]}`` (values parsed as YAML).

    Keys outside :data:`vtrial.keys.VARIABLE_SECTIONS` are refused; integral numbers for an
    integer key (``20.0``) become integers.

    Examples
    --------
    >>> parse_grid(["trial.n_per_arm=20.0,40", "dropout.mechanism=MCAR,MNAR"])
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
        check_variable_key(key, "--grid")
        if key in grid:
            raise InputError(f"--grid key '{key}' is given twice (give all its values at once)")
        integer = _integer_key(key)
        values = []
        for part in raw.split(","):
            try:
                value = yaml.safe_load(part.strip())
            except yaml.YAMLError:
                raise InputError(f"--grid {key}: value {part!r} is not a valid value") from None
            if integer and isinstance(value, float) and value.is_integer():
                value = int(value)
            values.append(value)
        grid[key] = values
    return grid


def _config(args, grid_items=None) -> dict:
    """The config with ``--grid`` applied, ``--method`` and ``--reps`` written in (the resolved config)."""
    from vtrial.config import set_key, validate_config

    cfg = common.load(args)
    grid = parse_grid(grid_items)
    for key, values in grid.items():
        cfg = set_key(cfg, f"grid.{key}", values)
    methods, skipped = common.methods_for(args.method, cfg["analysis"]["methods"], cfg["analysis"]["missing"])
    # Said after the work, so that a failure stays the only line on stderr.
    args.notes = [f"vtrial: note: {', '.join(skipped)} cannot use missing={cfg['analysis']['missing']}; skipped"
                  ] if skipped else []  # fmt: skip
    methods = _design_methods(args, cfg, methods)
    cfg = set_key(cfg, "analysis.methods", methods)
    if args.reps is not None:
        cfg = set_key(cfg, "simulation.reps", args.reps)
    if args.workers is not None:
        cfg = set_key(cfg, "simulation.workers", args.workers)
    # --reps and --target-se replace each other's config value.
    if getattr(args, "target_se", None) is not None:
        cfg = set_key(cfg, "simulation.target_se", args.target_se)
    elif args.reps is not None:
        cfg = set_key(cfg, "simulation.target_se", None)
    return validate_config(cfg)


def _design_methods(args, cfg: dict, methods: list[str]) -> list[str]:
    """For a design, drop the configured methods it cannot analyse (said in a note); the others as given.

    Methods named with ``--method`` are kept, so that a design refuses them
    with one line; methods taken from ``analysis.methods`` are skipped, as
    the command skips methods that cannot use the missing-data strategy.
    """
    from vtrial import design

    if args.method or design.is_default(cfg):
        return methods
    from vtrial.design_power import SUPPORTED_METHODS, split_methods

    mult = cfg["analysis"].get("multiplicity") or "none"
    kept, skipped = split_methods(methods, mult)
    if not kept:
        raise InputError(
            f"config key 'analysis.methods': value {methods} has no method a multi-arm or scheduled "
            f"design can use with multiplicity {mult} (allowed: {', '.join(SUPPORTED_METHODS)}; "
            "not welch_t with dunnett)"
        )
    if skipped:
        args.notes.append(f"vtrial: note: {', '.join(skipped)} cannot analyse this multi-arm or scheduled "
                          f"design (multiplicity {mult}); skipped")  # fmt: skip
    return kept


def finish(args, table, out, cfg: dict, reps) -> None:
    """Write ``table`` (or print it), then say what was written and what was skipped.

    The notes come last, after the work succeeded, so that a failure stays the
    only line on stderr.
    """
    common.write_table(table, out, common.record(args, cfg, reps=reps))
    if out is not None:
        common.note(f"wrote {out}: {len(table)} rows")
    for line in args.notes:
        common.note(line)


def cmd_power(args) -> None:
    import shutil

    from vtrial.power import run_power, write_table

    if args.reps is not None and args.target_se is not None:
        raise InputError("--target-se: not allowed with --reps (give one: a fixed number or a target SE)")
    out = common.check_out(args.out)
    cfg = _config(args, args.grid)
    target_se = cfg["simulation"].get("target_se")
    # Finished scenarios are kept beside the output until it is written, so an
    # interrupted run picks up where it stopped.
    parts = None if out is None else out.with_name(f".{out.name}.parts")
    reps = cfg["simulation"]["reps"]
    try:
        table = run_power(
            cfg,
            workers=cfg["simulation"]["workers"],
            progress=not args.quiet,
            checkpoint_dir=parts,
        )
        common.write_table(table, out, common.record(args, cfg, reps=None if target_se else reps),
                           writer=write_table)  # fmt: skip
    finally:
        # Kept only while it holds finished scenarios of an unfinished run.
        if parts is not None and parts.is_dir() and not any(parts.iterdir()):
            parts.rmdir()
    if parts is not None and parts.is_dir():
        shutil.rmtree(parts)
    short = table[table["valid_reps"] < table["reps"]]
    for row in short.itertuples():
        common.note(
            f"vtrial: warning: scenario {row.scenario_id}, {row.method}: power over {row.valid_reps} of "
            f"{row.reps} replicates (the others could not be analysed; see valid_reps)"
        )
    if out is not None:
        common.note(
            f"wrote {out}: {len(table)} rows ({table['scenario_id'].nunique()} scenarios x "
            f"{table['method'].nunique()} methods), engines {', '.join(sorted(set(table['engine'])))}"
        )
    common.note_design(cfg, sizes="trial.n_per_arm" not in (cfg.get("grid") or {}))
    for line in args.notes:
        common.note(line)


def cmd_sample_size(args) -> None:
    from vtrial.power import sample_size

    out = common.check_out(args.out)
    cfg = _config(args)
    s = cfg["simulation"]
    statistic, target = ("power", args.target_power)
    if args.target_assurance is not None:
        statistic, target = ("assurance", args.target_assurance)
    # the limit the pipeline uses too: beyond it a per-man search would need gigabytes per block
    n_max = cfg["sensitivity"]["max_n_per_arm"]
    table = sample_size(cfg, target, reps=s["reps"], workers=s["workers"], progress=not args.quiet,
                        statistic=statistic, comparison=args.comparison, n_max=n_max)  # fmt: skip
    short = sorted(set(table.loc[table["n_per_arm"].isna(), "method"]))
    if short:
        args.notes.append(f"vtrial: note: {', '.join(short)} did not reach the target {statistic} by "
                          f"sensitivity.max_n_per_arm = {n_max} men per arm (n_per_arm empty); "
                          "raise it with --set sensitivity.max_n_per_arm=N")  # fmt: skip
    finish(args, table, out, cfg, s["reps"])


def cmd_mde(args) -> None:
    from vtrial.power import mde

    out = common.check_out(args.out)
    cfg = _config(args)
    s = cfg["simulation"]
    table = mde(cfg, args.n_per_arm, args.target_power, reps=s["reps"], workers=s["workers"],
                progress=not args.quiet, comparison=args.comparison)  # fmt: skip
    finish(args, table, out, cfg, s["reps"])


def _engine_options(p, *, reps_help: str) -> None:
    p.add_argument("--reps", metavar="R", type=common.int_range(1, common.REPS_MAX), help=reps_help)
    p.add_argument(
        "--workers", metavar="W", type=common.int_range(1, common.WORKERS_MAX),
        help=f"worker processes, 1 to {common.WORKERS_MAX} (default simulation.workers; results do not depend on it)",
    )  # fmt: skip
    p.add_argument(
        "--method", action="append", metavar="M",
        help="analysis method (repeatable; default analysis.methods)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")


_TARGET_POWER = common.float_range(0.0, 1.0)


def _comparison_option(p) -> None:
    p.add_argument(
        "--comparison", metavar="C",
        help="multi-arm or scheduled design: the power row to reach the target, a comparison "
        "<arm>-<control>, 'any' or 'all' (family-wise), or 'each' (default: every pairwise comparison)",
    )  # fmt: skip


def register(sub) -> None:
    """Add the power commands to the ``vtrial`` subparsers."""
    p = common.add_command(
        sub, "power", "Monte Carlo power and diagnostics per scenario and method", cmd_power
    )
    common.add_config_options(p)
    _engine_options(p, reps_help=f"replicate trials per scenario, 1 to {common.REPS_MAX} "
                    "(default simulation.reps; not with --target-se)")  # fmt: skip
    p.add_argument(
        "--grid", action="append", default=[], metavar="KEY=V1,V2,...",
        help="vary a config key over values (repeatable; cartesian product); not seed, simulation, "
        "pipeline, sensitivity or grid keys",
    )  # fmt: skip
    p.add_argument(
        "--target-se", metavar="S", type=common.float_range(0.0, 0.5, high_closed=True),
        help="choose replicates per scenario so every power estimate has Monte Carlo SE <= S, "
        "0 < S <= 0.5 (not with --reps)",
    )  # fmt: skip
    common.add_out(p, required=True)

    p = common.add_command(
        sub, "sample-size", "smallest n per arm reaching a target power or assurance", cmd_sample_size
    )
    common.add_config_options(p)
    _engine_options(
        p, reps_help=f"replicate trials per candidate n, 1 to {common.REPS_MAX} (default simulation.reps)"
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--target-power", metavar="P", type=_TARGET_POWER,
        help="target power in (0, 1); the search stops at sensitivity.max_n_per_arm men per arm "
        "(default 1000), beyond which n_per_arm is left empty",
    )  # fmt: skip
    target.add_argument(
        "--target-assurance", metavar="A", type=_TARGET_POWER,
        help="target assurance in (0, 1): power averaged over the design prior (config 'prior'), "
        "significant in the direction the prior favours; below the prior probability of that sign",
    )  # fmt: skip
    _comparison_option(p)
    common.add_out(p, required=False, default="-")

    p = common.add_command(sub, "mde", "minimal detectable difference at a given n per arm", cmd_mde)
    common.add_config_options(p)
    _engine_options(
        p,
        reps_help=f"replicate trials per candidate difference, 1 to {common.REPS_MAX} (default simulation.reps)",
    )
    p.add_argument(
        "--n-per-arm", required=True, metavar="N", type=common.int_range(2, 1_000_000),
        help="men randomized to placebo, 2 to 1000000",
    )  # fmt: skip
    p.add_argument(
        "--target-power", required=True, metavar="P", type=_TARGET_POWER, help="target power in (0, 1)"
    )
    _comparison_option(p)
    common.add_out(p, required=False, default="-")
