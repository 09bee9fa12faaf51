from sketchback.logs import setup_logging
from sketchback.sketch import sketch_shard

setup_logging(snakemake.log[0])
sketch_shard(snakemake.input[0], snakemake.output[0], snakemake.wildcards.method, snakemake.params.method_params)
