import pandas as pd

from sketchback.figures import plot_metric_bars
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])
plot_metric_bars(pd.read_csv(snakemake.input[0]), snakemake.output[0], metric="ssim")
