# Log first, so messages of the libraries imported below land in the job log.
from sketchback.logs import setup_logging

setup_logging(snakemake.log[0])

from sketchback.train import train

p = snakemake.params
t = p.training
train(p.train_pairs, p.val_pairs, snakemake.output.model, snakemake.output.history,
      name=snakemake.wildcards.model, image_size=p.image_size, architecture=t["architecture"],
      base_filters=t["base_filters"], residual_blocks=t["residual_blocks"], **t["loss"],
      vgg_weights=t["vgg_weights"], vgg_md5=t.get("vgg_md5"), batch_size=t["batch_size"],
      jit_compile=t["jit_compile"], deterministic=t["deterministic"], mixed_precision=t["mixed_precision"],
      lr_schedule=t["lr_schedule"], checkpoint_every=t["checkpoint_every"], log_every=t["log_every"],
      epochs=p.epochs, learning_rate=p.learning_rate, seed=p.seed, init_model=p.init_model,
      work_dir=p.work_dir, tensorboard_dir=p.tensorboard_dir, max_steps=t["max_steps"])
