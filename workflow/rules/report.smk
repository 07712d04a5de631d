# Provenance of the run, and the key numbers in sentences (results/summary.md,
# its HTML page for the report, and the numbers of the report's landing page).


rule provenance:
    output:
        "results/provenance.json",
    params:
        provenance=PROVENANCE,
    log:
        "results/logs/provenance.log",
    resources:
        mem_mb=200,
        runtime=1,
    run:
        write_json(params.provenance, output[0], log[0])


rule summary:
    input:
        unpack(assurance_inputs),
        unpack(sequential_inputs),
        provenance="results/provenance.json",
        power="results/power/power.csv",
        sample_size="results/sample_size/sample_size.csv",
        heatmap_effect_sd="results/sensitivity/power_effect_sd.csv",
        heatmap_dropout="results/sensitivity/power_dropout.csv",
        tornado="results/sensitivity/tornado.csv",
        tipping_example="results/tipping_point/example_trial.csv",
        tipping_design="results/tipping_point/planned_design.csv",
        calibration="results/calibration/calibration.csv",
        replication="results/replication/replication.csv",
    output:
        md="results/summary.md",
        html=report(
            "results/summary.html",
            caption="../report/summary.rst",
            category="0 Summary",
        ),
        key_numbers="results/report/key_numbers.json",
    params:
        cfg=VT,
    log:
        "results/logs/summary.log",
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/summary.py"
