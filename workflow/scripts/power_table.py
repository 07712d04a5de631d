"""Gather the power jobs into results/power/power.csv, an HTML page and the power curves."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import plots
        from vtrial.pipeline import gather_tables
        from vtrial.power import POWER_COLUMNS
        from vtrial.report import table_html
    with timer.phase("gather"):
        table = gather_tables(list(sm.input), sort_by=[*sm.params.grid_keys, "method"], first=POWER_COLUMNS)
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
        with open(sm.output.html, "w", encoding="utf-8") as fh:
            fh.write(table_html(table, "Power", sm.params.note))
    with timer.phase("plot"):
        if "comparison" in table.columns:  # a design with several arms: one line per comparison
            plots.plot_comparison_power_curves(
                table,
                sm.output.png[: -len(".png")],
                title=sm.params.words["title"],
                control=sm.params.words["control"],
                grid_keys=sm.params.grid_keys,
                target_power=sm.params.target_power,
                planned_n=sm.params.planned_n,
            )
        else:
            plots.plot_power_curves(
                table,
                sm.output.png[: -len(".png")],
                grid_keys=sm.params.grid_keys,
                target_power=sm.params.target_power,
            )
    timer.log(f"{len(table)} rows from {len(sm.input)} jobs")
