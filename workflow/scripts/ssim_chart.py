# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

import pandas as pd
from sketchback.evaluation.figures import plot_metric_bars

summary = pd.read_csv(snakemake.input[0])
# the sketch alone: evaluations of hint models with colour hints are in the hint table (rule hint_table)
plot_metric_bars(summary[summary["hints"] == 0], snakemake.output[0], metric="ssim")
