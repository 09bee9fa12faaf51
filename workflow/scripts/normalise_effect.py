# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.evaluation.normalise_effect import normalise_effect

normalise_effect(snakemake.input.raw, snakemake.input.normalised, snakemake.output[0], seed=snakemake.params.seed)
