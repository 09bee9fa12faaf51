# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

# Before TensorFlow starts: a deterministic run gives the same bytes on another CPU (docs/benchmarks.md),
# and TensorFlow skips the optional imports no job uses (sketchback.models.startup).
from sketchback.models.startup import start_tensorflow_job

start_tensorflow_job(snakemake.config["training"]["deterministic"], snakemake.threads)

from sketchback.evaluation.hint_report import hint_figure

i, w, p = snakemake.input, snakemake.wildcards, snakemake.params
hint_figure(i.model, list(zip(i.photos, i.sketches)), snakemake.output[0], counts=p.counts,
            hint_params=p.hint_params, seed=p.seed, style=p.style, rows=p.rows, width=p.width, dpi=p.dpi,
            title=f"{w.model} model on the {w.dataset} test set ({p.style} sketches) with more and more colour hints")
