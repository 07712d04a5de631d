"""results/summary.md: the key numbers in sentences for a protocol."""

from vtrial.pipeline import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        import pandas as pd

        from vtrial.pipeline import summary_markdown
    with timer.phase("write"):
        text = summary_markdown(
            sm.params.cfg,
            sample_size=pd.read_csv(sm.input.sample_size),
            tornado=pd.read_csv(sm.input.tornado),
            tipping_example=pd.read_csv(sm.input.tipping_example),
            tipping_design_table=pd.read_csv(sm.input.tipping_design),
            calibration=pd.read_csv(sm.input.calibration),
            replication=pd.read_csv(sm.input.replication),
        )
        with open(sm.output[0], "w", encoding="utf-8") as fh:
            fh.write(text)
    timer.log(text)
