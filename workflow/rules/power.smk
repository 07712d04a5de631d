# Monte Carlo power over the scenario grid (scattered over pipeline.power_jobs
# jobs, gathered into one table) and the sample size for each target power
# (one job per scenario, every method, gathered into one table; a design's search
# drives the power row pipeline.sample_size_comparison, default each comparison).


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
        html=report(
            "results/power/power.html",
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
        note=vp.power_table_note(VT),
        words=WORDS,
        planned_n=VT["trial"]["n_per_arm"],
    log:
        "results/logs/power_table.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/power_table.py"


rule sample_size_job:
    output:
        "results/sample_size/jobs/{scenario}.csv",
    params:
        scenario=lambda wildcards: sample_size_job(wildcards)["scenario"],
        methods=lambda wildcards: sample_size_job(wildcards)["methods"],
        targets=VT["sensitivity"]["target_power"],
        reps=VT["simulation"]["reps"],
        n_max=VT["sensitivity"]["max_n_per_arm"],
        workers=VT["simulation"]["workers"],
        comparison=vp.sample_size_comparison(VT),
    priority: 10
    log:
        "results/logs/sample_size/{scenario}.log",
    wildcard_constraints:
        scenario=r"[0-9a-f]+(-[0-9a-f]+)?",
    threads: VT["simulation"]["workers"]
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/sample_size_job.py"


rule sample_size:
    input:
        sample_size_files,
    output:
        csv=report(
            "results/sample_size/sample_size.csv",
            caption="../report/sample_size_table.rst",
            category="5 Sample size",
        ),
        html=report(
            "results/sample_size/sample_size.html",
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
        grid_keys=GRID_KEYS,
        note=vp.sample_size_note(VT),
        control=WORDS["control"],
        title=vp.sample_size_title(VT),
    log:
        "results/logs/sample_size.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/sample_size.py"
