# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

# Before TensorFlow starts: a deterministic run gives the same bytes on another CPU (docs/benchmarks.md),
# and TensorFlow skips the optional imports no job uses (sketchback.models.startup).
from sketchback.models.startup import start_tensorflow_job

start_tensorflow_job(snakemake.config["training"]["deterministic"], snakemake.threads)

from sketchback.evaluation.ablation import ablation_markdown, ablation_table, seed_csvs
from sketchback.io import atomic_path

i, p = snakemake.input, snakemake.params
keys = [(label, style) for label in p.variants for style in p.styles]
base = dict(zip(keys, i.metrics))
table = ablation_table(base, snakemake.output.table, superres_summary=i.superres[0] if i.superres else None,
                       seed=p.seed, distribution_csvs=dict(zip(keys, i.distributions)),
                       seed_csvs=seed_csvs(base, p.runs, list(i.replicates), p.seed))
with atomic_path(snakemake.output.markdown) as tmp:
    tmp.write_text(ablation_markdown(table))
