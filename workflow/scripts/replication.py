"""Replications of the base design: distribution of the between-group P and estimate."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import plots
        from vtrial.pipeline import replication_table
        from vtrial.reference import published
        from vtrial.report import published_p_value
    with timer.phase("simulate"):
        table = replication_table(sm.params.cfg, sm.params.reps)
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
    with timer.phase("plot"):
        estimate = published()["derived"]["mean_pct_change_12m"]["difference"]
        plots.plot_replication(
            table,
            sm.output.png[: -len(".png")],
            published_p=published_p_value(),
            published_estimate=estimate,
            alpha=sm.params.cfg["analysis"]["alpha"],
        )
    timer.log(f"{len(table)} replications; median P {table['p_value'].median():.3g}")
