"""Gather the power jobs into results/power/power.csv and draw the power curves."""

from vtrial.pipeline import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import plots
        from vtrial.pipeline import gather_tables
    with timer.phase("gather"):
        table = gather_tables(list(sm.input), sort_by=[*sm.params.grid_keys, "method"])
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
    with timer.phase("plot"):
        plots.plot_power_curves(
            table,
            sm.output.png[: -len(".png")],
            grid_keys=sm.params.grid_keys,
            target_power=sm.params.target_power,
        )
    timer.log(f"{len(table)} rows from {len(sm.input)} jobs")
