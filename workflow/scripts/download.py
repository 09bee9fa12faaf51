from pathlib import Path

from sketchback.logs import setup_logging
from sketchback.sources import download

setup_logging(snakemake.log[0])
download(Path(snakemake.output[0]).parent, snakemake.params.source, snakemake.params.seed)
