"""Tornado: n per arm for the target power as each assumption moves across its range."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import plots
        from vtrial.pipeline import tornado_table
    cfg = sm.params.cfg
    with timer.phase("simulate"):
        table = tornado_table(cfg)
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
    with timer.phase("plot"):
        plots.plot_tornado(
            table, sm.output.png[: -len(".png")], target_power=cfg["sensitivity"]["tornado_power"]
        )
    timer.log(table.to_string(index=False))
