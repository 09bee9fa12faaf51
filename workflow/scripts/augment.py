from sketchback.augment import augment_shard
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
# Each shard gets its own seed stream so shards are independent and reproducible.
augment_shard(snakemake.input.photos, snakemake.input.sketches, snakemake.output[0],
              copies=p.copies, seed=[p.seed, int(snakemake.wildcards.shard)], params=p.augment_params)
