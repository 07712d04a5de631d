"""Tipping point of the planned design: share of simulated trials whose conclusion holds."""

from vtrial.pipeline import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import plots
        from vtrial.pipeline import tipping_design
    cfg = sm.params.cfg
    with timer.phase("simulate"):
        from vtrial.config import scenario_id
        from vtrial.streams import rng_for

        rng = rng_for(cfg["seed"], scenario_id(cfg), 2)
        table = tipping_design(cfg, reps=cfg["sensitivity"]["tipping_reps"], rng=rng)
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
    with timer.phase("plot"):
        plots.plot_tipping(
            table, sm.output.png[: -len(".png")], value="power", cmap="viridis",
            title=(
                f"Planned design ({cfg['trial']['n_per_arm']} per arm, {cfg['sensitivity']['method']}): "
                f"share of {int(table['reps'].iloc[0])} trials still significant (red: MAR)"
            ),
        )  # fmt: skip
    timer.log(table.to_string(index=False))
