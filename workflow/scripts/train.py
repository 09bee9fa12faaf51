# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

# Before TensorFlow starts: a deterministic run gives the same bytes on another CPU (docs/benchmarks.md),
# and TensorFlow skips the optional imports no job uses (sketchback.models.startup).
from sketchback.models.startup import start_tensorflow_job

start_tensorflow_job(snakemake.config["training"]["deterministic"], snakemake.config["training"]["threads"])

from sketchback.models.options import RunSettings, TrainOptions
from sketchback.models.train import train

i, p = snakemake.input, snakemake.params
train(list(zip(i.train_photos, i.train_sketches)), list(zip(i.val_photos, i.val_sketches)),
      snakemake.output.model, snakemake.output.history, TrainOptions(**p.options),
      RunSettings.from_config(snakemake.config, work_dir=p.work_dir, tensorboard_dir=p.tensorboard_dir),
      name=snakemake.wildcards.model, init_model=i.init[0] if i.init else None)
