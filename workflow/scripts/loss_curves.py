import pandas as pd

from sketchback.figures import plot_loss_curves
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])
histories = {name: pd.read_csv(path) for name, path in zip(snakemake.params.models, snakemake.input)}
plot_loss_curves(histories, snakemake.output[0], title="Training and validation loss per model")
