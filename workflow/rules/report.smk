# The key numbers in sentences (results/summary.md).


rule summary:
    input:
        sample_size="results/sample_size/sample_size.csv",
        tornado="results/sensitivity/tornado.csv",
        tipping_example="results/tipping_point/example_trial.csv",
        tipping_design="results/tipping_point/planned_design.csv",
        calibration="results/calibration/calibration.csv",
        replication="results/replication/replication.csv",
    output:
        report(
            "results/summary.md",
            caption="../report/summary.rst",
            category="0 Summary",
        ),
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
