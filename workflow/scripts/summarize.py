# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

# Before TensorFlow starts: a deterministic run gives the same bytes on another CPU (docs/benchmarks.md).
from sketchback.models.reproducible import use_portable_cpu

use_portable_cpu(snakemake.config["training"]["deterministic"], snakemake.threads)

from sketchback.evaluation.evaluate import summarize

i = snakemake.input
summarize(list(i.metrics), snakemake.output[0], seed=snakemake.params.seed, distribution_csvs=list(i.distributions))
