# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.sketches.sketch import sketch_shard

sketch_shard(snakemake.input.photos, snakemake.output[0], snakemake.wildcards.method, snakemake.params.method_params,
             seed=snakemake.params.seed, threads=snakemake.threads)
