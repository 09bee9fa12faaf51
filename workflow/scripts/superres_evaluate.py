# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

# Before TensorFlow starts: a deterministic run gives the same bytes on another CPU (docs/benchmarks.md),
# and TensorFlow skips the optional imports no job uses (sketchback.models.startup).
from sketchback.models.startup import start_tensorflow_job

start_tensorflow_job(snakemake.config["training"]["deterministic"], snakemake.config["evaluation"]["threads"])

from sketchback.evaluation.superres import evaluate_superres

i, p = snakemake.input, snakemake.params
models = {model: {"generator": i[f"generator_{model}"], "method": method,
                  "pairs": list(zip(i[f"photos_{model}"], i[f"sketches_{model}"]))}
          for model, method in p.methods.items()}
evaluate_superres(i.upsampler, list(i.photos), list(i.truths), models, snakemake.output.metrics,
                  snakemake.output.examples, dataset=snakemake.wildcards.dataset, factor=p.factor, rows=p.rows,
                  vgg_weights=p.vgg_weights, vgg_md5=p.vgg_md5, seed=p.seed,
                  batch_size=snakemake.config["evaluation"]["batch_size"])
