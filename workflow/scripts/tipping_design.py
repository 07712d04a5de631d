"""Tipping point of the planned design: share of simulated trials whose conclusion holds."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import plots
        from vtrial.pipeline import main_method, tipping_design
    cfg = sm.params.cfg
    with timer.phase("simulate"):
        table = tipping_design(cfg)
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
    with timer.phase("plot"):
        plots.plot_tipping(
            table, sm.output.png[: -len(".png")], value="power", cmap="viridis",
            title=(
                f"Planned design ({cfg['trial']['n_per_arm']} per arm, {main_method(cfg)}): "
                f"share of {int(table['reps'].iloc[0])} trials still significant (red: MAR)"
            ),
        )  # fmt: skip
    timer.log(table.to_string(index=False))
