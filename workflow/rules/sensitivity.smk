# Sensitivity of the planned design (the base case, without the grid): power
# heatmaps, the tornado plot of the n needed, and tipping-point analyses.


rule heatmap_effect_sd:
    output:
        csv="results/sensitivity/power_effect_sd.csv",
        png=report(
            "results/sensitivity/power_effect_sd.png",
            caption="../report/heatmap_effect_sd.rst",
            category="6 Sensitivity",
        ),
        svg="results/sensitivity/power_effect_sd.svg",
    params:
        scenarios=sensitivity_payload("effect_sd"),
        reps=vp.sensitivity_reps(VT),
        method=VT["sensitivity"]["method"],
        n_per_arm=BASE["trial"]["n_per_arm"],
    priority: 5
    log:
        "results/logs/heatmap_effect_sd.log",
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/heatmap.py"


rule heatmap_dropout:
    output:
        csv="results/sensitivity/power_dropout.csv",
        png=report(
            "results/sensitivity/power_dropout.png",
            caption="../report/heatmap_dropout.rst",
            category="6 Sensitivity",
        ),
        svg="results/sensitivity/power_dropout.svg",
    params:
        scenarios=sensitivity_payload("dropout"),
        reps=vp.sensitivity_reps(VT),
        method=VT["sensitivity"]["method"],
        n_per_arm=BASE["trial"]["n_per_arm"],
    log:
        "results/logs/heatmap_dropout.log",
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/heatmap.py"


rule tornado:
    output:
        csv=report(
            "results/sensitivity/tornado.csv",
            caption="../report/tornado_table.rst",
            category="6 Sensitivity",
        ),
        png=report(
            "results/sensitivity/tornado.png",
            caption="../report/tornado.rst",
            category="6 Sensitivity",
        ),
        svg="results/sensitivity/tornado.svg",
    params:
        cfg=vp.stage_config(
            VT,
            "sensitivity.tornado",
            "sensitivity.tornado_power",
            "sensitivity.method",
            "sensitivity.reps",
            "sensitivity.max_n_per_arm",
        ),
    priority: 10
    log:
        "results/logs/tornado.log",
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/tornado.py"


rule tipping_example:
    input:
        trial="results/example_trial/trial.csv",
    output:
        csv="results/tipping_point/example_trial.csv",
        png=report(
            "results/tipping_point/example_trial.png",
            caption="../report/tipping_example.rst",
            category="7 Tipping point",
        ),
        svg="results/tipping_point/example_trial.svg",
    params:
        cfg=vp.stage_config(VT, "sensitivity.tipping_delta_pct", "sensitivity.method"),
    log:
        "results/logs/tipping_example.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/tipping_example.py"


rule tipping_design:
    output:
        csv="results/tipping_point/planned_design.csv",
        png=report(
            "results/tipping_point/planned_design.png",
            caption="../report/tipping_design.rst",
            category="7 Tipping point",
        ),
        svg="results/tipping_point/planned_design.svg",
    params:
        cfg=vp.stage_config(
            VT, "sensitivity.tipping_delta_pct", "sensitivity.method", "sensitivity.tipping_reps"
        ),
    priority: 5
    log:
        "results/logs/tipping_design.log",
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/tipping_design.py"
