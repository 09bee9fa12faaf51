# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

# Before TensorFlow starts: a deterministic run gives the same bytes on another CPU (docs/benchmarks.md),
# and TensorFlow skips the optional imports no job uses (sketchback.models.startup).
from sketchback.models.startup import start_tensorflow_job

start_tensorflow_job(snakemake.config["training"]["deterministic"], snakemake.config["training"]["threads"])

from sketchback.models.superres import SuperresOptions, train_upsampler

i, p = snakemake.input, snakemake.params
training = snakemake.config["training"]  # how the run is carried out: read at run time, reruns nothing
train_upsampler({dataset: list(i[f"photos_{dataset}"]) for dataset in p.datasets}, snakemake.output.model,
                snakemake.output.history, SuperresOptions(**p.options), deterministic=training["deterministic"],
                log_every=training["log_every"], allow_cpu=training["allow_cpu"])
