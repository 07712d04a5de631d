"""Tipping point of the example trial: delta-adjusted MI over shifts in both arms."""

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        from vtrial import plots
        from vtrial.analysis import read_trial_csv
        from vtrial.pipeline import main_method, tipping_example
    cfg = sm.params.cfg
    with timer.phase("analyse"):
        table = tipping_example(read_trial_csv(sm.input.trial), cfg)
        table.to_csv(sm.output.csv, index=False, lineterminator="\n")
    with timer.phase("plot"):
        plots.plot_tipping(
            table, sm.output.png[: -len(".png")], value="p_value", holds="holds", fmt=".3f",
            cmap="viridis", title=(
                f"Example trial, {main_method(cfg)}: P after shifting imputed values "
                "(outlined: conclusion holds; red: MAR)"
            ),
        )  # fmt: skip
    timer.log(table.to_string(index=False))
