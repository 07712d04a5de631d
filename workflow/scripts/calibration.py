"""Calibration: published figures of the 2009 trial against simulated trials (vtrial calibrate)."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial.calibration import calibrate, plot_calibration
    with timer.phase("simulate"):
        table = calibrate(sm.params.cfg, reps=sm.params.reps)
    with timer.phase("write"):
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
    with timer.phase("plot"):
        plot_calibration(table, sm.output.png[: -len(".png")])
    timer.log(f"{int(table['inside'].sum())} of {len(table)} published figures inside their 95% range")
