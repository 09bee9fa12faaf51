# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.prepare import write_index

from pathlib import Path


p = snakemake.params
write_index(Path(snakemake.input[0]).parent, snakemake.output[0], p.fractions, p.shards, p.seed)
