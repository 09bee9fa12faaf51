"""Does the original's network (``architecture: original``) train the same weights twice on one CPU?

The demo's faces_original is the one content-only model whose deterministic training has differed
between two demo runs. This trains it as the demo does (config/demo.yaml's faces_original options,
random VGG16 filters, deterministic ops) on synthetic faces and their pencil sketches, for one epoch,
``--runs`` times per setting, each run in a fresh process, and prints the number of distinct weight
sets (1 = bit-reproducible), the first run's epoch loss and each run's weight hash:

- ``default``: TensorFlow's own thread counts (one per core for both pools);
- ``intra2``: 2 intra-op threads, 1 inter-op thread (one op at a time, each op on 2 threads);
- ``inter2``: 1 intra-op thread, 2 inter-op threads (ops at the same time, each on one thread);
- ``portable``: the reproducible mode every deterministic workflow job now sets
  (``sketchback.models.reproducible.use_portable_cpu``: oneDNN capped at AVX2, 1 + 1 threads).
- ``serial``: one op at a time on one thread, set through ``tf.config`` after TensorFlow starts
  (``sketchback.models.train.serial_tensorflow``, what a deterministic adversarial run uses).

Usage: python benchmarks/original_determinism.py [--settings default intra2 inter2 portable serial] [--runs 2] [--images 96]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SETTINGS = {
    "default": {},
    "intra2": {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "1"},
    "inter2": {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "2"},
    "portable": "use_portable_cpu",
    # the mode, and the same thread counts given to tf.config too (TensorFlow's getters then report them)
    "portable_config": "use_portable_cpu+config",
    # one op at a time on one thread, set through tf.config (sketchback.models.train.serial_tensorflow)
    "serial": "serial_tensorflow",
}

PREPARE = """
import sys
from sketchback.data.prepare import prepare_shard, write_index
from sketchback.data.sources import download
from sketchback.sketches.sketch import sketch_shard
import yaml
root, n = sys.argv[1], int(sys.argv[2])
config = yaml.safe_load(open(sys.argv[3]))
download(f"{root}/raw", {"name": "synthetic_faces", "n_images": n, "raw_size": 128}, seed=0)
write_index(f"{root}/raw", f"{root}/index.csv", {"train": 0.7, "val": 0.2, "test": 0.1},
            {"train": 1, "val": 1, "test": 1}, seed=0)
for split in ("train", "val"):
    prepare_shard(f"{root}/index.csv", f"{root}/raw", split, 0, f"{root}/{split}.npz", size=config["image_size"],
                  max_rejected=0)
    sketch_shard(f"{root}/{split}.npz", f"{root}/{split}_pencil.npz", "pencil", config["sketch"]["pencil"], seed=0)
"""

WORKER = """
import hashlib, sys
root, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
if mode.startswith("use_portable_cpu"):
    from sketchback.models.reproducible import use_portable_cpu
    use_portable_cpu(True, 1)
    if mode.endswith("+config"):
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
elif mode == "serial_tensorflow":
    from sketchback.models.train import serial_tensorflow
    assert serial_tensorflow()
import numpy as np, yaml
from snakemake.utils import validate
from sketchback.models.options import RunSettings, TrainOptions
from sketchback.models.train import train
from sketchback.evaluation.evaluate import load_generator
import pandas as pd
config = yaml.safe_load(open(sys.argv[4]))
validate(config, sys.argv[5], set_default=True)
config["models"]["faces_original"]["epochs"] = 1
options = TrainOptions.from_config(config, "faces_original")
settings = RunSettings.from_config(config, work_dir=f"{out}_work", tensorboard_dir=None)
pairs = {s: [(f"{root}/{s}.npz", f"{root}/{s}_pencil.npz")] for s in ("train", "val")}
train(pairs["train"], pairs["val"], f"{out}.keras", f"{out}.csv", options, settings, name="faces_original")
weights = load_generator(f"{out}.keras").get_weights()
digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in weights)).hexdigest()[:16]
print(f"RESULT {pd.read_csv(out + '.csv')['loss'].iloc[0]:.9f} {digest}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--runs", type=int, default=2, help="fresh processes per setting")
    parser.add_argument("--images", type=int, default=96, help="synthetic faces (70% train, 20% val)")
    args = parser.parse_args()
    demo, schema = REPO / "config" / "demo.yaml", REPO / "workflow" / "schemas" / "config.schema.yaml"
    with tempfile.TemporaryDirectory() as root:
        subprocess.run([sys.executable, "-c", PREPARE, root, str(args.images), str(demo)], check=True)
        print(f"{'setting':<10} {'runs':>4} {'distinct weights':>16}  first run's epoch loss, weight hashes")
        for name in args.settings:
            setting = SETTINGS[name]
            env = {k: v for k, v in os.environ.items() if k not in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
                                                                  "ONEDNN_MAX_CPU_ISA")}
            env.update(setting if isinstance(setting, dict) else {})
            mode = setting if isinstance(setting, str) else "-"
            results = []
            for run in range(1, args.runs + 1):
                done = subprocess.run([sys.executable, "-c", WORKER, root, f"{root}/{name}{run}", mode, str(demo),
                                       str(schema)], env=env, capture_output=True, text=True)
                line = [l for l in done.stdout.splitlines() if l.startswith("RESULT")]
                if done.returncode or not line:
                    sys.exit(f"{name} run {run} failed:\n{done.stderr[-3000:]}")
                results.append(line[0].split()[1:])
            distinct = len({digest for _, digest in results})
            print(f"{name:<10} {args.runs:>4} {distinct:>16}  {results[0][0]}, {' '.join(d for _, d in results)}",
                  flush=True)


if __name__ == "__main__":
    main()
