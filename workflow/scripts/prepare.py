# Log first, so messages of the libraries imported below land in the job log.
from pathlib import Path

from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.data.prepare import prepare_shard

w = snakemake.wildcards
p = snakemake.params
prepare_shard(snakemake.input.index, Path(snakemake.input.manifest).parent, w.split, int(w.shard),
              snakemake.output.shard, size=p.size, crop=p.crop, rejected_csv=snakemake.output.rejected,
              max_rejected=p.max_rejected)
