"""Monte Carlo power of one job's scenarios (vtrial.power.run_power per scenario)."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial.pipeline import run_power_scenarios
    with timer.phase("simulate"):
        table = run_power_scenarios(
            sm.params.scenarios,
            reps=sm.params.reps,
            methods=sm.params.methods,
            workers=sm.params.workers,
        )
    with timer.phase("write"):
        table.to_csv(sm.output[0], index=False, lineterminator="\n")
    timer.log(
        f"{len(sm.params.scenarios)} scenarios x {len(sm.params.methods)} methods, {sm.params.reps} reps"
    )
