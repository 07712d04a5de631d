"""Group-sequential design command: ``sequential``.

``vtrial sequential [--sample-size] [--out FILE|-]``
    Boundaries of the config's ``sequential`` section, one row per look
    (:func:`vtrial.boundaries.boundaries_table`), with the design's drift and
    inflation factor as constant columns.

``--sample-size`` adds the planned numbers of men for the two-arm comparison
of mean 12-month % change (:func:`vtrial.boundaries.sample_size_means`, as
rpact's ``getSampleSizeMeans``): the difference ``effects.difference_pct``, the
SD ``effects.sd_pct_change`` and the allocation ``trial.allocation_ratio``; the
fixed-design total from the noncentral t with ``N - 2`` df (rpact's default),
times the inflation factor. The numbers count men analysed at 12 months in both
arms together, unrounded and before any allowance for dropout.

``vtrial sequential --simulate [--method M ...] [--reps N] [--out FILE|-]``
    Operating characteristics of the design by simulating the trial
    (:func:`vtrial.sequential_sim.operating_characteristics`): for the
    configured difference and for no difference, and each method, one row per
    look and an ``overall`` row (columns in ``docs/sequential.md``).

``--target-power P`` (with ``--simulate``) instead writes the men per arm for
power ``P`` with and without the sequential design and their ratio
(:func:`vtrial.sequential_sim.sample_size`).
"""

from __future__ import annotations

from vtrial.cli import common
from vtrial.errors import InputError

#: Constant columns added by ``--sample-size`` (totals over both arms).
SAMPLE_SIZE_COLUMNS = ("n_fixed", "n_max", "expected_n_h0", "expected_n_h1")


def _sample_size(cfg: dict, table) -> None:
    """Add the planned totals to ``table`` (in place): ``n_cumulative`` per look and the constants."""
    from vtrial.boundaries import boundaries_design, sample_size_means
    from vtrial.sequential_looks import planned_section

    eff = cfg["effects"]
    if eff["mode"] != "direct":
        raise InputError(
            f"config key 'effects.mode': value {eff['mode']!r} is not allowed with --sample-size "
            "(allowed: direct, where effects.difference_pct is the difference to detect)"
        )
    if eff["difference_pct"] == 0:
        raise InputError(
            "config key 'effects.difference_pct': value 0 is not allowed with --sample-size "
            "(allowed: a nonzero difference to detect)"
        )
    design = boundaries_design(planned_section(cfg))
    ss = sample_size_means(
        design, eff["difference_pct"], eff["sd_pct_change"], cfg["trial"]["allocation_ratio"]
    )
    table["n_cumulative"] = ss.per_look
    for name in SAMPLE_SIZE_COLUMNS:
        table[name] = getattr(ss, name)


def _simulate(args, cfg: dict, out) -> None:
    from vtrial import sequential_sim

    if args.sample_size:
        raise InputError(
            "--sample-size: not with --simulate (use --target-power for a simulated sample size)"
        )
    methods = args.method or None
    if args.target_power is not None:
        table = sequential_sim.sample_size(cfg, args.target_power, methods, reps=args.reps)
        common.write_table(table, out, common.record(args, cfg, reps=args.reps))
        common.note(
            "sequential sample size: "
            + "; ".join(
                f"{r.method} {r.n_per_arm_sequential} men per arm (fixed {r.n_per_arm_fixed})"
                for r in table.itertuples()
            )
        )
        if out is not None:
            common.note(f"wrote {out}: {len(table)} rows")
        return
    table = sequential_sim.operating_characteristics(cfg, methods, reps=args.reps)
    common.write_table(table, out, common.record(args, cfg, reps=args.reps))
    overall = table[table["look"] == "overall"]
    parts = [f"{r.scenario} {r.method}: P(reject) {r.prob_efficacy:.4f}" for r in overall.itertuples()]
    common.note("sequential simulation: " + "; ".join(parts))
    if out is not None:
        common.note(f"wrote {out}: {len(table)} rows")


def cmd_sequential(args) -> None:
    out = common.check_out(args.out)
    cfg = common.load(args)
    if cfg.get("sequential") is None:
        raise InputError(
            "config key 'sequential' is not set (add a sequential section: see config/README.md)"
        )
    from vtrial.accrual import check_accrual
    from vtrial.boundaries import boundaries_table
    from vtrial.sequential_looks import planned_section

    check_accrual(cfg["trial"].get("accrual"))
    if args.simulate:
        _simulate(args, cfg, out)
        return
    if args.target_power is not None or args.method or args.reps is not None:
        raise InputError("--method, --reps and --target-power need --simulate")

    table = boundaries_table(planned_section(cfg))
    drift, inflation = table.attrs["drift"], table.attrs["inflation_factor"]
    table["drift"] = drift
    table["inflation_factor"] = inflation
    if args.sample_size:
        _sample_size(cfg, table)
    common.write_table(table, out, common.record(args, cfg))
    message = (
        f"sequential design: {len(table)} looks, drift {drift:.4f} (mean of the final z statistic at "
        f"which the power is 1 - beta), inflation factor {inflation:.4f} (maximum over fixed-design information)"
    )
    if args.sample_size:
        message += f"; n_max {table['n_max'].iloc[0]:.1f} men in both arms (fixed design {table['n_fixed'].iloc[0]:.1f})"
    common.note(message)
    if out is not None:
        common.note(f"wrote {out}: {len(table)} rows")


def register(sub) -> None:
    """Add the ``sequential`` command to the ``vtrial`` subparsers."""
    p = common.add_command(
        sub, "sequential", "boundaries of the group-sequential design of the config's sequential section",
        cmd_sequential,
    )  # fmt: skip
    common.add_config_options(p)
    p.add_argument(
        "--sample-size", action="store_true",
        help="add the planned numbers of men (both arms, analysed at 12 months, before dropout) for "
        "effects.difference_pct, effects.sd_pct_change and trial.allocation_ratio: n_cumulative per look, "
        "n_fixed, n_max, expected_n_h0, expected_n_h1 (noncentral t, as rpact getSampleSizeMeans)",
    )  # fmt: skip
    p.add_argument(
        "--simulate", action="store_true",
        help="simulate the trial with its interim looks and write the operating characteristics "
        "(per look and overall, for the configured difference and for none)",
    )  # fmt: skip
    p.add_argument(
        "--method", action="append", choices=["ancova", "welch_t", "student_t", "mmrm"],
        help="analysis at each look (repeatable; default: analysis.methods among these)",
    )  # fmt: skip
    p.add_argument("--reps", type=common.int_range(1, 10**7), help="replicates (default simulation.reps)")
    p.add_argument(
        "--target-power", type=common.float_range(0.0, 1.0), metavar="P",
        help="with --simulate: men per arm for power P with and without the sequential design",
    )  # fmt: skip
    common.add_out(p, required=False, default="-")
