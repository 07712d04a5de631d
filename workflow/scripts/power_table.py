"""Gather the power jobs into results/power/power.csv, an HTML page and the power curves."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import plots
        from vtrial.design_power import DESIGN_COLUMNS
        from vtrial.pipeline import gather_tables
        from vtrial.power import POWER_COLUMNS
        from vtrial.report import table_html
    with timer.phase("gather"):
        design = not sm.params.words["default"]  # a design: endpoint, comparison, multiplicity after method
        first = DESIGN_COLUMNS if design else POWER_COLUMNS
        table = gather_tables(list(sm.input), sort_by=[*sm.params.grid_keys, "method"], first=first)
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
        with open(sm.output.html, "w", encoding="utf-8") as fh:
            fh.write(table_html(table, "Power", sm.params.note))
    with timer.phase("plot"):
        if design:  # one line per comparison
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
