# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.sketches.normalise import normalise_shard

normalise_shard(snakemake.input.sketches, snakemake.input.reference, snakemake.output[0], snakemake.params.normaliser,
                reference_images=snakemake.params.reference_images)
