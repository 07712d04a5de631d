"""results/summary.md and its HTML page: the key numbers in sentences for a protocol."""

import json

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("import"):
        import pandas as pd

        from vtrial.report import (
            design_key_numbers,
            design_summary_markdown,
            key_numbers,
            markdown_to_html,
            summary_markdown,
        )
    with timer.phase("write"):
        with open(sm.input.provenance, encoding="utf-8") as fh:
            prov = json.load(fh)
        power = pd.read_csv(sm.input.power)
        config_name = ", ".join(prov.get("config_files") or ["config/config.yaml"])
        if sm.params.omitted:  # a design other than the two-arm one: only its stages ran
            sample_size = pd.read_csv(sm.input.sample_size) if "sample_size" in sm.input.keys() else None
            text = design_summary_markdown(
                sm.params.cfg,
                power=power,
                omitted=sm.params.omitted,
                skipped_methods=sm.params.skipped_methods,
                sample_size=sample_size,
                provenance=prov,
            )
            numbers = design_key_numbers(
                sm.params.cfg, power=power, config_name=config_name, sample_size=sample_size
            )
        else:
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
            numbers = key_numbers(
                sm.params.cfg, sample_size=sample_size, power=power, config_name=config_name
            )
        with open(sm.output.md, "w", encoding="utf-8") as fh:
            fh.write(text)
        with open(sm.output.html, "w", encoding="utf-8") as fh:
            fh.write(markdown_to_html(text))
        with open(sm.output.key_numbers, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(numbers, indent=2, sort_keys=True) + "\n")
    timer.log(text)
