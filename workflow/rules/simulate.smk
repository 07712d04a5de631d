# Single trials and replications of the base design: calibration against the
# published 2009 figures, one example trial (the teacher's view), and the
# distribution of the between-group P over replications.


rule calibration:
    output:
        csv=report(
            "results/calibration/calibration.csv",
            caption="../report/calibration_table.rst",
            category="1 Calibration",
        ),
        png=report(
            "results/calibration/calibration.png",
            caption="../report/calibration.rst",
            category="1 Calibration",
        ),
        svg="results/calibration/calibration.svg",
    params:
        cfg=BASE,
        reps=VT["pipeline"]["calibration_reps"],
    log:
        "results/logs/calibration.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/calibration.py"


rule example_trial:
    output:
        trial=report(
            "results/example_trial/trial.csv",
            caption="../report/example_trial_data.rst",
            category="2 Example trial",
        ),
        analysis=report(
            "results/example_trial/analysis.csv",
            caption="../report/example_analysis_table.rst",
            category="2 Example trial",
        ),
        bmd_png=report(
            "results/example_trial/bmd_trajectories.png",
            caption="../report/bmd_trajectories.rst",
            category="2 Example trial",
        ),
        bmd_svg="results/example_trial/bmd_trajectories.svg",
        hormones_png=report(
            "results/example_trial/hormones.png",
            caption="../report/hormones.rst",
            category="2 Example trial",
        ),
        hormones_svg="results/example_trial/hormones.svg",
        analysis_png=report(
            "results/example_trial/analysis.png",
            caption="../report/example_analysis.rst",
            category="2 Example trial",
        ),
        analysis_svg="results/example_trial/analysis.svg",
    params:
        cfg=vp.stage_config(VT, "sensitivity.method"),
        methods=VT["pipeline"]["example_methods"],
    # early, with the long jobs: tipping_example waits for it, and would
    # otherwise run alone on one core at the end of the run
    priority: 10
    log:
        "results/logs/example_trial.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/example_trial.py"


rule replication:
    output:
        csv="results/replication/replication.csv",
        png=report(
            "results/replication/replication.png",
            caption="../report/replication.rst",
            category="3 Replication",
        ),
        svg="results/replication/replication.svg",
    params:
        cfg=BASE,
        reps=VT["pipeline"]["replication_reps"],
    log:
        "results/logs/replication.log",
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/replication.py"
