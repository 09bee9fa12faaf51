# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.train import train

p = snakemake.params
t = p.training
train(p.train_pairs, p.val_pairs, snakemake.output.model, snakemake.output.history,
      name=snakemake.wildcards.model, image_size=p.image_size, architecture=t["architecture"],
      base_filters=t["base_filters"], residual_blocks=t["residual_blocks"], **t["loss"],
      vgg_weights=t["vgg_weights"], vgg_md5=t.get("vgg_md5"), batch_size=t["batch_size"], jit_compile=t.get("jit_compile", False),
      deterministic=t.get("deterministic", True),
      epochs=p.epochs, learning_rate=p.learning_rate, seed=p.seed, init_model=p.init_model)
