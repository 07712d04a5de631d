# Group-sequential design (only when the config has a `sequential` section):
# boundaries, operating characteristics simulated with interim looks on the data
# available at each look (sensitivity.method), and their figures.


rule sequential:
    output:
        bounds=report(
            "results/sequential/bounds.csv",
            caption="../report/sequential.rst",
            category="6 Sequential design",
        ),
        oc=report(
            "results/sequential/operating_characteristics.csv",
            caption="../report/sequential.rst",
            category="6 Sequential design",
        ),
        bounds_png=report(
            "results/sequential/boundaries.png",
            caption="../report/sequential.rst",
            category="6 Sequential design",
        ),
        bounds_svg="results/sequential/boundaries.svg",
        stopping_png=report(
            "results/sequential/stopping.png",
            caption="../report/sequential.rst",
            category="6 Sequential design",
        ),
        stopping_svg="results/sequential/stopping.svg",
    params:
        cfg=VT,
        method=SEQUENTIAL_METHOD,
    log:
        "results/logs/sequential.log",
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/sequential.py"
