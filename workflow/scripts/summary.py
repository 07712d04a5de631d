"""results/summary.md and its HTML page: the key numbers in sentences for a protocol."""

import json

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        import pandas as pd

        from vtrial.report import key_numbers, markdown_to_html, summary_markdown
    with timer.phase("write"):
        with open(sm.input.provenance, encoding="utf-8") as fh:
            prov = json.load(fh)
        power = pd.read_csv(sm.input.power)
        sample_size = pd.read_csv(sm.input.sample_size)
        text = summary_markdown(
            sm.params.cfg,
            sample_size=sample_size,
            tornado=pd.read_csv(sm.input.tornado),
            tipping_example=pd.read_csv(sm.input.tipping_example),
            tipping_design_table=pd.read_csv(sm.input.tipping_design),
            calibration=pd.read_csv(sm.input.calibration),
            replication=pd.read_csv(sm.input.replication),
            power_tables={
                "power curves": power,
                "effect x SD heatmap": pd.read_csv(sm.input.heatmap_effect_sd),
                "dropout heatmap": pd.read_csv(sm.input.heatmap_dropout),
            },
            provenance=prov,
            assurance=pd.read_csv(sm.input.assurance) if "assurance" in sm.input.keys() else None,
        )
        if "sequential" in sm.input.keys():
            from vtrial.report import sequential_lines

            oc = pd.read_csv(sm.input.sequential, keep_default_na=False, na_values=[""])
            text = text.rstrip("\n") + "\n\n" + "\n".join(sequential_lines(sm.params.cfg, oc)) + "\n"
        with open(sm.output.md, "w", encoding="utf-8") as fh:
            fh.write(text)
        with open(sm.output.html, "w", encoding="utf-8") as fh:
            fh.write(markdown_to_html(text))
        numbers = key_numbers(
            sm.params.cfg, sample_size=sample_size, power=power,
            config_name=", ".join(prov.get("config_files") or ["config/config.yaml"]),
        )  # fmt: skip
        with open(sm.output.key_numbers, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(numbers, indent=2, sort_keys=True) + "\n")
    timer.log(text)
