# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

# Before TensorFlow starts: a deterministic run gives the same bytes on another CPU (docs/benchmarks.md),
# and TensorFlow skips the optional imports no job uses (sketchback.models.startup).
from sketchback.models.startup import start_tensorflow_job

start_tensorflow_job(snakemake.config["training"]["deterministic"], snakemake.threads)

from sketchback.sketches.normalise import normalise_shard

normalise_shard(snakemake.input.sketches, snakemake.input.reference, snakemake.output[0], snakemake.params.normaliser,
                reference_images=snakemake.params.reference_images)
