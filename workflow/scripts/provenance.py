"""results/provenance.json: version, config hash, seed and replicates of this run."""

import json

from _log import job_log

with job_log(snakemake.log[0]) as timer:  # noqa: F821
    sm = snakemake  # noqa: F821
    with timer.phase("write"), open(sm.output[0], "w", encoding="utf-8") as fh:
        fh.write(json.dumps(dict(sm.params.provenance), indent=2, sort_keys=True) + "\n")
    timer.log(json.dumps(dict(sm.params.provenance), sort_keys=True))
