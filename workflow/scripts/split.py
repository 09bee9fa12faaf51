from pathlib import Path

from sketchback.logs import setup_logging
from sketchback.prepare import write_index

setup_logging(snakemake.log[0])
p = snakemake.params
write_index(Path(snakemake.input[0]).parent, snakemake.output[0], p.fractions, p.shards, p.seed)
