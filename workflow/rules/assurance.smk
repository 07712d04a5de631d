# Assurance: power averaged over the design prior (the config's `prior`
# section, or the 2009 estimate and its standard error), by n per arm, beside
# the power at the prior's point; and the winner's-curse-adjusted estimate.


rule assurance:
    output:
        csv=report(
            "results/assurance/assurance.csv",
            caption="../report/assurance.rst",
            category="5 Assurance",
        ),
        png=report(
            "results/assurance/assurance.png",
            caption="../report/assurance.rst",
            category="5 Assurance",
        ),
        svg="results/assurance/assurance.svg",
    params:
        cfg=ASSURANCE_CFG,
        workers=VT["simulation"]["workers"],
    log:
        "results/logs/assurance.log",
    threads: VT["simulation"]["workers"]
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/vtrial.yaml"
    script:
        "../scripts/assurance.py"
