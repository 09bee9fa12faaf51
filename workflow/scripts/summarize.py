from sketchback.evaluate import summarize
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])
summarize(list(snakemake.input), snakemake.output[0], seed=snakemake.params.seed)
