from pathlib import Path

from sketchback.logs import setup_logging
from sketchback.prepare import prepare_shard

setup_logging(snakemake.log[0])
w = snakemake.wildcards
prepare_shard(snakemake.input.index, Path(snakemake.input.manifest).parent, w.split, int(w.shard),
              snakemake.output[0], size=snakemake.params.size, crop=snakemake.params.crop)
