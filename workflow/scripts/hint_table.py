# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.evaluation.hint_report import hint_table

hint_table(snakemake.input[0], snakemake.output[0], snakemake.params.models)
