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
"""

from __future__ import annotations

from vtrial.cli import common
from vtrial.errors import InputError

#: Constant columns added by ``--sample-size`` (totals over both arms).
SAMPLE_SIZE_COLUMNS = ("n_fixed", "n_max", "expected_n_h0", "expected_n_h1")


def _sample_size(cfg: dict, table) -> None:
    """Add the planned totals to ``table`` (in place): ``n_cumulative`` per look and the constants."""
    from vtrial.boundaries import boundaries_design, sample_size_means

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
    design = boundaries_design(cfg["sequential"])
    ss = sample_size_means(
        design, eff["difference_pct"], eff["sd_pct_change"], cfg["trial"]["allocation_ratio"]
    )
    table["n_cumulative"] = ss.per_look
    for name in SAMPLE_SIZE_COLUMNS:
        table[name] = getattr(ss, name)


def cmd_sequential(args) -> None:
    out = common.check_out(args.out)
    cfg = common.load(args)
    if cfg.get("sequential") is None:
        raise InputError(
            "config key 'sequential' is not set (add a sequential section: see config/README.md)"
        )
    from vtrial.boundaries import boundaries_table

    table = boundaries_table(cfg["sequential"])
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
    common.add_out(p, required=False, default="-")
