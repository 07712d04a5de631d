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
        unpack(summary_inputs),
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
        omitted=OMITTED,
        skipped_methods=vp.skipped_methods(VT),
    log:
        "results/logs/summary.log",
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/summary.py"
