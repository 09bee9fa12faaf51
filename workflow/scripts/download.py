# Log first, so messages of the libraries imported below land in the job log.
from pathlib import Path

from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.sources import download

download(Path(snakemake.output[0]).parent, snakemake.params.source, snakemake.params.seed)
