"""Sample size per method and scenario for each target power (vtrial.power.sample_size)."""

from vtrial.pipeline import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import plots
        from vtrial.pipeline import sample_size_table
    with timer.phase("simulate"):
        table = sample_size_table(
            sm.params.scenarios,
            targets=sm.params.targets,
            methods=sm.params.methods,
            reps=sm.params.reps,
            n_max=sm.params.n_max,
            workers=sm.params.workers,
        )
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
    with timer.phase("plot"):
        plots.plot_sample_size(table, sm.output.png[: -len(".png")], grid_keys=sm.params.grid_keys)
    timer.log(table.to_string(index=False))
