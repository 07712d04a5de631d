"""Trial commands: ``simulate``, ``analyze``, ``calibrate``, ``methods``.

``vtrial simulate --out trial.csv``
    One simulated trial in long format.
``vtrial analyze trial.csv [--method M]... [--columns SRC=DST,...] [--arms L=A,...] [--out res.csv]``
    Every chosen analysis of one trial, simulated or real, any schedule
    (``trial.schedule``) and any number of arms (``trial.arms``).
``vtrial calibrate [--reps R] --out FOLDER``
    Simulated versus published figures of the 2009 trial.
``vtrial methods``
    The analysis methods.
"""

from __future__ import annotations

from vtrial.cli import common
from vtrial.errors import InputError


def cmd_simulate(args) -> None:
    from vtrial.config import scenario_id
    from vtrial.design import is_default
    from vtrial.streams import rng_for, seed_sequence
    from vtrial.trial import simulate_trial, write_trial_csv

    out = common.check_out(args.out)
    cfg = common.load(args)
    if is_default(cfg):
        df = simulate_trial(cfg, rng=rng_for(cfg["seed"], scenario_id(cfg), 0))
    else:  # arms, schedule, hip or population of their own
        from vtrial.design_sim import simulate_design_trial

        df = simulate_design_trial(cfg, rng=seed_sequence(cfg["seed"], scenario_id(cfg), 0))
    common.write_table(df, out, common.record(args, cfg, reps=1), writer=write_trial_csv)
    n = df["subject_id"].nunique()
    if out is not None:
        common.note(f"wrote {out}: {n} men, {len(df)} rows")
    common.note_design(cfg)
    if cfg["effects"]["mode"] == "estradiol_mediated":
        from vtrial.design_sim import true_differences

        for (endpoint, label), diff in true_differences(cfg).items():
            which = "" if is_default(cfg) else f" ({endpoint}, {label})"
            common.note(f"estradiol-mediated effect: implied difference{which} {diff:.2f} percentage points")


def cmd_calibrate(args) -> None:
    import shutil
    from pathlib import Path

    folder = Path(args.out) if args.out != "-" else None
    if folder is not None:
        if folder.exists() and not folder.is_dir():
            raise InputError(f"--out: '{folder}' exists and is not a folder")
        common.check_folder(folder.parent)
    cfg = common.load(args)
    from vtrial.design import require_default

    require_default(cfg, "vtrial calibrate")  # the published figures are those of the 2009 design
    from vtrial.calibration import calibrate, plot_calibration

    table = calibrate(cfg, reps=args.reps)
    if folder is None:
        common.write_table(table, None, None)
        return
    created = not folder.exists()
    try:
        if created:
            folder.mkdir()
        common.write_table(table, folder / "calibration.csv", common.record(args, cfg, reps=args.reps))
        plot_calibration(table, folder / "calibration")
    except (OSError, InputError) as exc:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, InputError):
            raise
        raise InputError(f"--out: cannot write into '{folder}': {exc.strerror or exc}") from None
    inside = int(table["inside"].sum())
    common.note(f"wrote {folder}/calibration.csv: {inside} of {len(table)} published figures inside "
                f"their simulated 95% range")  # fmt: skip


def cmd_methods(args) -> None:
    from vtrial.method_registry import list_methods  # not vtrial.analysis: no pandas

    for name, description in list_methods():
        print(f"{name:<14} {description}")


def cmd_analyze(args) -> None:
    out = common.check_out(args.out)
    cfg = common.load(args)
    from vtrial.analysis import read_trial_csv
    from vtrial.analysis.comparisons import analyze_trial
    from vtrial.analysis.data import analysis_notes, layout_of
    from vtrial.analysis.trial_input import layout_from_config, parse_mapping, parse_wide
    from vtrial.config import method_options, scenario_id
    from vtrial.streams import rng_for

    a = cfg["analysis"]
    missing = args.missing or a["missing"]
    methods, skipped = common.methods_for(args.method, a["methods"], missing)
    columns, file_arms = parse_mapping(args.columns, "--columns")
    arms = {**file_arms, **parse_mapping(args.arms, "--arms")[0]}
    # Notes wait until the work is done, so that a failure is the only line on stderr.
    wide = parse_wide(args.wide) if args.wide else None
    data = read_trial_csv(
        args.data,
        quiet=True,
        layout=layout_from_config(cfg),
        columns=columns,
        arms=arms,
        wide=wide,
        wide_outcome=args.wide_outcome,
    )
    generic = layout_of(data).outcome == "generic"
    if generic and args.scale == "pct":
        raise InputError(
            "--scale: value 'pct' is not allowed for a generic outcome (allowed: absolute; "
            "% change is defined for BMD only)"
        )
    table = analyze_trial(
        data,
        methods,
        missing=missing,
        alpha=a["alpha"],
        scale="absolute" if generic else args.scale or a["scale"],
        rng=rng_for(cfg["seed"], scenario_id(cfg), 0),
        options=method_options(cfg, methods),
        analysis=a,
    )
    # The table is always shown; with --out FILE it is also written.
    print(common.format_table(table))
    if out is not None:
        inputs = {"data": args.data}
        if args.columns and args.columns.endswith((".yaml", ".yml")):
            inputs["columns"] = args.columns  # the mapping file decides what was analysed
        common.write_table(table, out, common.record(args, cfg, inputs=inputs))
    if skipped:
        common.note(f"vtrial: note: {', '.join(skipped)} cannot use missing={missing}; skipped")
    if generic:
        source = layout_of(data).source("bmd_g_cm2")
        common.note(
            f"vtrial: note: outcome {source!r} is not BMD: analysed as its change from month 0 in its own unit"
        )
    for line in analysis_notes(data):
        common.note(f"vtrial: note: {line}")


def register(sub) -> None:
    """Add the trial commands to the ``vtrial`` subparsers."""
    p = common.add_command(sub, "simulate", "one simulated trial in long format", cmd_simulate)
    common.add_config_options(p)
    common.add_out(p, required=True)

    p = common.add_command(sub, "analyze", "analyse a trial, simulated or real", cmd_analyze)
    common.add_config_options(p)
    p.add_argument("data", help="long-format CSV (see README and docs/analyze.md)")
    p.add_argument("--method", action="append", help="analysis method (repeatable; see `vtrial methods`)")
    p.add_argument("--missing", help="missing-data strategy (default: config analysis.missing)")
    p.add_argument("--scale", choices=["pct", "absolute"], help="outcome scale (default: config)")
    p.add_argument(
        "--columns", metavar="SRC=DST[,...]|FILE.yaml",
        help="rename the file's columns to contract columns (subject_id, arm, visit_month, bmd_g_cm2, "
        "outcome for a non-BMD score, age_years, ...), or a YAML file with columns: and arms:",
    )  # fmt: skip
    p.add_argument(
        "--arms", metavar="LABEL=ARM[,...]",
        help="map the arm labels of the data to configured arm names (trial.arms; default placebo, anastrozole)",
    )  # fmt: skip
    p.add_argument(
        "--wide", metavar="COLUMN=MONTH[,...]",
        help="the file has one row per subject: COLUMN holds the outcome at MONTH (e.g. bmd0=0,bmd12=12)",
    )  # fmt: skip
    p.add_argument(
        "--wide-outcome", choices=["bmd_g_cm2", "outcome"], default="bmd_g_cm2",
        help="with --wide: the values are PA spine BMD (default) or a generic outcome",
    )  # fmt: skip
    common.add_out(p, required=False, default="-")

    p = common.add_command(
        sub, "calibrate", "simulated versus published figures of the 2009 trial", cmd_calibrate
    )
    common.add_config_options(p)
    p.add_argument(
        "--reps", type=common.int_range(2, common.REPS_MAX), default=1000, metavar="R",
        help="replicate trials (default 1000)",
    )  # fmt: skip
    p.add_argument(
        "--out", required=True, metavar="FOLDER|-",
        help="folder to write calibration.csv (with its provenance) and the figure; created if "
        "missing, but its parent folder must exist; '-' prints the table (4 significant digits), no figure",
    )  # fmt: skip

    p = common.add_command(sub, "methods", "list analysis methods", cmd_methods)
