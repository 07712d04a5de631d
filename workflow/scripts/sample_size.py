"""Gather the sample-size jobs into results/sample_size/sample_size.csv, an HTML page and a figure."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import plots
        from vtrial.pipeline import gather_tables
        from vtrial.report import table_html
    with timer.phase("gather"):
        table = gather_tables(list(sm.input), sort_by=[*sm.params.grid_keys, "target_power", "method"])
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
        with open(sm.output.html, "w", encoding="utf-8") as fh:
            fh.write(table_html(table, "Sample size", sm.params.note))
    with timer.phase("plot"):
        plots.plot_sample_size(
            table,
            sm.output.png[: -len(".png")],
            grid_keys=sm.params.grid_keys,
            control=sm.params.control,
            title=sm.params.title,
        )
    timer.log(table.to_string(index=False))
