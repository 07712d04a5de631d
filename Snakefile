# vtrial: virtual trials of anastrozole versus placebo on PA spine BMD.
#
#   snakemake --cores 2                                # default study (config/config.yaml)
#   snakemake --cores 2 --configfile config/examples/teaching.yaml
#   snakemake --report results/report.html             # after a run
#
# The workflow itself is in workflow/; this file only names the default target
# (an included Snakefile's first rule is not the default target).


include: "workflow/Snakefile"


rule default:
    default_target: True
    input:
        rules.all.input,
