# Log first, so messages of the libraries imported below land in the job log.
from pathlib import Path

from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.data.prepare import write_index

p = snakemake.params
write_index(Path(snakemake.input[0]).parent, snakemake.output[0], p.fractions, p.shards, p.seed)
