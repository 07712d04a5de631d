# Monte Carlo power over the scenario grid (scattered over pipeline.power_jobs
# jobs, gathered into one table) and the sample size for each target power.


rule power_batch:
    output:
        "results/power/batches/{batch}.csv",
    params:
        scenarios=power_batch_params,
        reps=VT["simulation"]["reps"],
        methods=vp.power_methods(VT),
        workers=VT["simulation"]["workers"],
    priority: 10
    log:
        "results/logs/power/{batch}.log",
    wildcard_constraints:
        batch=r"[0-9a-z-]+",
    threads: VT["simulation"]["workers"]
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/power_batch.py"


rule power_table:
    input:
        power_batch_files,
    output:
        csv=report(
            "results/power/power.csv",
            caption="../report/power_table.rst",
            category="4 Power",
        ),
        png=report(
            "results/power/power_curves.png",
            caption="../report/power_curves.rst",
            category="4 Power",
        ),
        svg="results/power/power_curves.svg",
    params:
        grid_keys=["trial.n_per_arm", *VT["grid"]],
        target_power=VT["sensitivity"]["target_power"],
    log:
        "results/logs/power_table.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/power_table.py"


rule sample_size:
    output:
        csv=report(
            "results/sample_size/sample_size.csv",
            caption="../report/sample_size_table.rst",
            category="5 Sample size",
        ),
        png=report(
            "results/sample_size/sample_size.png",
            caption="../report/sample_size.rst",
            category="5 Sample size",
        ),
        svg="results/sample_size/sample_size.svg",
    params:
        scenarios=vp.scenario_payload(SAMPLE_SIZE_SCENARIOS),
        targets=VT["sensitivity"]["target_power"],
        methods=vp.power_methods(VT),
        reps=VT["simulation"]["reps"],
        n_max=VT["sensitivity"]["max_n_per_arm"],
        workers=VT["simulation"]["workers"],
        grid_keys=[k for k in VT["grid"] if k != "trial.n_per_arm"],
    priority: 10
    log:
        "results/logs/sample_size.log",
    threads: VT["simulation"]["workers"]
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/sample_size.py"
