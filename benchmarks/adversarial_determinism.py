"""Is the adversarial training step bit-reproducible on this CPU, with and without one thread per op?

For each setting (``--threads``: ``default``, TensorFlow's own thread counts; ``1``, one thread per op
but several ops at once; ``serial``, one op at a time on one thread, ``sketchback.models.train.serial_tensorflow``),
a fresh Python process builds the demo's faces_adversarial
model exactly as ``sketchback.models.train`` does (config/demo.yaml: Scribbler, 16 filters, 3 residual blocks,
64 px, batch 16, random VGG16 filters, a 3-layer patch discriminator with 32 filters), takes 64
synthetic faces and their pencil sketches, and then ``--trials`` times: puts the generator, the
discriminator and both Adam states back to the same starting values and runs ``--steps`` joint steps
on the same batches. It prints a hash of both networks' weights after each step of each trial, the
number of distinct final weight sets (1 = bit-reproducible) and the mean time of a trial's steps.

Usage: python benchmarks/adversarial_determinism.py [--threads default 1 serial] [--trials 8] [--steps 6]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"

WORKER = """
import hashlib, sys, time
import numpy as np, yaml
threads = sys.argv[1]
if threads == "serial":
    from sketchback.models.train import serial_tensorflow
    assert serial_tensorflow()
elif threads == "1":
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
from sketchback.models.options import TrainOptions
from sketchback.models.train import _build, _build_adversary, seed_everything
from sketchback.data.shards import sketch_to_input, photo_to_target
from sketchback.sketches.sketch import sketch_images
from sketchback.data.synthetic import synthetic_image
import tensorflow as tf
from snakemake.utils import validate

config = yaml.safe_load(open(sys.argv[2]))
validate(config, sys.argv[5], set_default=True)  # the schema's defaults, as the workflow reads the config
options = TrainOptions.from_config(config, "faces_adversarial")
seed_everything(options.seed, True)
generator = _build(options, None, 1000, False, "benchmark")
adversary = _build_adversary(options, generator, False, "benchmark")
photos = np.stack([synthetic_image("faces", 0, i, options.image_size) for i in range(64)])
x, y = sketch_to_input(sketch_images(photos, "pencil", config["sketch"]["pencil"])), photo_to_target(photos)
networks = [generator, adversary.discriminator]
start = [n.get_weights() for n in networks]
optimizer_vars = list(generator.optimizer.variables) + list(adversary.optimizer.variables)
optimizer_start = [v.numpy() for v in optimizer_vars]
trials, steps, finals, times = int(sys.argv[3]), int(sys.argv[4]), set(), []
print(f"intra-op threads {tf.config.threading.get_intra_op_parallelism_threads()}, inter-op threads "
      f"{tf.config.threading.get_inter_op_parallelism_threads()} (0: TensorFlow's default, one per core)", flush=True)
for trial in range(trials):
    for network, weights in zip(networks, start):
        network.set_weights(weights)
    for variable, value in zip(optimizer_vars, optimizer_start):
        variable.assign(value)
    hashes, started = [], time.perf_counter()
    for step in range(steps):
        i = (step * 16) % 64
        adversary.trainer.train_on_batch(x[i:i + 16], y[i:i + 16], return_dict=True)
        weights = b"".join(w.tobytes() for n in networks for w in n.get_weights())
        hashes.append(hashlib.md5(weights).hexdigest()[:8])
    if trial:  # the first trial traces the step
        times.append((time.perf_counter() - started) / steps)
    finals.add(hashes[-1])
    print(f"  trial {trial + 1}: {' '.join(hashes)}", flush=True)
print(f"distinct final weights: {len(finals)} of {trials} trials; {np.mean(times) * 1000:.0f} ms per step "
      f"(trials 2-{trials})", flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", nargs="+", default=["default", "1", "serial"], choices=["default", "1", "serial"])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--config", default=str(REPO / "config" / "demo.yaml"))
    args = parser.parse_args()
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    print(f"The demo's adversarial step, {args.trials} trials of {args.steps} steps from the same state "
          f"({os.cpu_count()} CPUs)")
    for threads in args.threads:
        print(f"\nthreads per op: {threads}", flush=True)
        result = subprocess.run([sys.executable, "-c", WORKER, threads, args.config, str(args.trials), str(args.steps),
                                 str(SCHEMA)],
                                env=env, text=True, capture_output=True)
        print(result.stdout, end="")
        if result.returncode:
            sys.exit(result.stderr[-3000:])


if __name__ == "__main__":
    main()
