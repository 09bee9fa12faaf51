# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

import pandas as pd
from sketchback.evaluation.figures import plot_loss_curves

p = snakemake.params
histories = {name: pd.read_csv(path) for name, path in zip(p.models, snakemake.input)}
plot_loss_curves(histories, snakemake.output[0], title="Loss per epoch, one row per training stage",
                 subtitles=p.subtitles, dpi=p.dpi)
