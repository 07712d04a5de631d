"""results/assurance/: assurance and power at the prior's point by n per arm, and the figure."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial.assurance import run_assurance
        from vtrial.assurance_plots import plot_assurance
    with timer.phase("simulate"):
        cfg = sm.params.cfg
        table = run_assurance(cfg, workers=sm.threads)
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
    with timer.phase("plot"):
        plot_assurance(table, sm.output.png[: -len(".png")], planned_n=cfg["trial"]["n_per_arm"])
    timer.log(table.to_string(index=False))
