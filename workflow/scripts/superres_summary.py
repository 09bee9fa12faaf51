# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.evaluation.superres import summarize_superres

summarize_superres(list(snakemake.input), snakemake.output.table, snakemake.output.chart, seed=snakemake.params.seed)
