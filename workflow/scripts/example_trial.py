"""One simulated trial (as `vtrial simulate`), its analysis by every method, and figures."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import plots
        from vtrial.analysis import read_trial_csv
        from vtrial.config import scenario_id
        from vtrial.pipeline import example_analysis
        from vtrial.streams import rng_for
        from vtrial.trial import simulate_trial, write_trial_csv
    cfg = sm.params.cfg
    with timer.phase("simulate"):
        write_trial_csv(simulate_trial(cfg, rng=rng_for(cfg["seed"], scenario_id(cfg), 0)), sm.output.trial)
        # analysed as written (rounded), so `vtrial analyze` on the CSV gives the same table
        data = read_trial_csv(sm.output.trial)
    with timer.phase("analyse"):
        table = example_analysis(data, cfg, sm.params.methods)
        table.to_csv(sm.output.analysis, index=False, lineterminator="\n")
    with timer.phase("plot"):
        plots.plot_bmd_trajectories(data, sm.output.bmd_png[: -len(".png")])
        plots.plot_hormones(data, sm.output.hormones_png[: -len(".png")])
        plots.plot_analysis(table, sm.output.analysis_png[: -len(".png")])
    timer.log(table.to_string(index=False))
