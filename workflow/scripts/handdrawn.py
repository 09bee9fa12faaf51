# Log first, so messages of the libraries imported below land in the job log.
from pathlib import Path

from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.data.prepare import handdrawn_shard

handdrawn_shard(snakemake.input.photos, Path(snakemake.input.manifest).parent, snakemake.output[0],
                size=snakemake.params.size, crop=snakemake.params.crop)
