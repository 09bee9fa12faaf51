# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

# Before TensorFlow starts: a deterministic run gives the same bytes on another CPU (docs/benchmarks.md),
# and TensorFlow skips the optional imports no job uses (sketchback.models.startup).
from sketchback.models.startup import start_tensorflow_job

start_tensorflow_job(snakemake.config["training"]["deterministic"], snakemake.config["evaluation"]["threads"])

from sketchback.evaluation.distribution import DistributionOptions
from sketchback.evaluation.evaluate import Evaluator

i, w, p, out = snakemake.input, snakemake.wildcards, snakemake.params, snakemake.output
fid = DistributionOptions(p.fid_network, p.kid_subsets, p.kid_subset_size, p.seed, *i.fid_graph[:1],
                          sha256=snakemake.config["evaluation"]["inception_sha256"])
evaluator = Evaluator(i.model, i.mean, model_name=w.model, dataset=w.dataset, grid_rows=p.grid_rows,
                      batch_size=snakemake.config["evaluation"]["batch_size"], vgg_weights=p.vgg_weights,
                      vgg_md5=p.vgg_md5, seed=p.seed, hint_params=p.hint_params, distribution=fid)
for count, metrics, grid, distribution in zip(p.counts, out.metrics, out.grids, out.distributions):
    evaluator(list(zip(i.photos, i.sketches)), metrics, grid, method=w.method, hint_strokes=count,
              out_distribution=distribution)
