# Log first, so messages of the libraries imported below land in the job log.
from pathlib import Path

from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

# Before TensorFlow starts: a deterministic run gives the same bytes on another CPU (docs/benchmarks.md),
# and TensorFlow skips the optional imports no job uses (sketchback.models.startup).
from sketchback.models.startup import start_tensorflow_job

start_tensorflow_job(snakemake.config["training"]["deterministic"], snakemake.threads)

from sketchback.evaluation.examples import compare_with_original

i, o = snakemake.input, snakemake.output
figures = {Path(path).stem: path for path in i.figures}
models = {name.removeprefix("model_"): path for name, path in i.items() if name.startswith("model_")}
compare_with_original(figures, models, o.table, o.summary, o.figure, out_markdown=o.get("markdown"),
                      batch_size=snakemake.params.batch_size)
