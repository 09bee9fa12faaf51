from sketchback.logs import setup_logging
from sketchback.prepare import mean_image

setup_logging(snakemake.log[0])
mean_image(list(snakemake.input), snakemake.output[0])
