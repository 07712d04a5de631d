"""Power heatmap at the planned n: effect x SD, or dropout rate x mechanism."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import plots
        from vtrial.pipeline import run_power_scenarios
    with timer.phase("simulate"):
        table = run_power_scenarios(sm.params.scenarios, reps=sm.params.reps, methods=[sm.params.method])
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
    with timer.phase("plot"):
        keys = [k for k, _ in sm.params.scenarios[0]["grid"]]
        n = sm.params.n_per_arm
        if keys == ["effects.difference_pct", "effects.sd_pct_change"]:
            plots.plot_heatmap(
                table, sm.output.png[: -len(".png")], x=keys[1], y=keys[0],
                xlabel="SD of 12-month % change (points)", ylabel="difference, anastrozole - placebo (points)",
                title=f"Power of {sm.params.method} at {n} men per arm",
            )  # fmt: skip
        else:
            plots.plot_heatmap(
                table, sm.output.png[: -len(".png")], x=keys[1], y=keys[0],
                xlabel="dropout mechanism", ylabel="dropout probability (both arms)",
                title=f"Power of {sm.params.method} at {n} men per arm",
            )  # fmt: skip
    timer.log(f"{len(sm.params.scenarios)} scenarios, {sm.params.reps} reps")
