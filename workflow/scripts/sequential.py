"""results/sequential/: boundaries, simulated operating characteristics and their figures."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import sequential_sim
        from vtrial.boundaries import boundaries_table
        from vtrial.config import scenario_id
        from vtrial.sequential_looks import planned_section
        from vtrial.sequential_plots import plot_boundaries, plot_stopping
    with timer.phase("bounds"):
        cfg = sm.params.cfg
        bounds = boundaries_table(planned_section(cfg))
        bounds.to_csv(sm.output.bounds, index=False, lineterminator="\n")
    with timer.phase("simulate"):
        oc = sequential_sim.operating_characteristics(cfg, [sm.params.method])
        oc.to_csv(sm.output.oc, index=False, lineterminator="\n")
    with timer.phase("plot"):
        paths = sequential_sim.simulate_decisions(cfg, scenario_id(cfg), 12, sm.params.method, adjusted=False)
        plot_boundaries(bounds, paths, sm.output.bounds_png[: -len(".png")])
        plot_stopping(oc, sm.output.stopping_png[: -len(".png")])
    timer.log(oc.to_string(index=False))
