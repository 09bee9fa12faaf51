# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.sketches.augment import augment_shard

p = snakemake.params
augment_shard(snakemake.input.photos, snakemake.input.sketches, snakemake.output[0],
              copies=p.copies, seed=p.seed, params=p.augment_params)
