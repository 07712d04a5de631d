"""Sample size of each method in one scenario, for every target power (vtrial.power.sample_size)."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial.pipeline import sample_size_table
    with timer.phase("simulate"):
        table = sample_size_table(
            [sm.params.scenario],
            targets=sm.params.targets,
            methods=sm.params.methods,
            reps=sm.params.reps,
            n_max=sm.params.n_max,
            workers=sm.params.workers,
            comparison=sm.params.comparison,
        )
    with timer.phase("write"):
        table.to_csv(sm.output[0], index=False, lineterminator="\n")
    timer.log(table.to_string(index=False))
