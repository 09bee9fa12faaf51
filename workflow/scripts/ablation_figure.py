# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

# Before TensorFlow starts: a deterministic run gives the same bytes on another CPU (docs/benchmarks.md),
# and TensorFlow skips the optional imports no job uses (sketchback.models.startup).
from sketchback.models.startup import start_tensorflow_job

start_tensorflow_job(snakemake.config["training"]["deterministic"], snakemake.threads)

from sketchback.evaluation.ablation import ablation_figure

i, p = snakemake.input, snakemake.params
style_pairs = {s: list(zip(getattr(i, f"photos_{s}"), getattr(i, f"sketches_{s}"))) for s in p.styles}
ablation_figure(dict(zip(p.variants, i.models)), style_pairs, snakemake.output[0], rows=p.rows, width=p.width,
                dpi=p.dpi, title=f"Ablation on the {p.test_set} test set: the same images through every variant")
