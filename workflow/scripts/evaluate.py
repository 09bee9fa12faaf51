from sketchback.evaluate import evaluate
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
evaluate(snakemake.input.model, p.test_pairs, snakemake.input.mean, snakemake.output.metrics,
         snakemake.output.grid, model_name=w.model, dataset=w.dataset, method=w.method,
         grid_rows=p.grid_rows, batch_size=p.batch_size)
