"""Time and peak memory of one training step at several image sizes, with the study's generator and loss.

For each size (``--sizes``, default 128 and 256) a separate Python process builds the generator and
the loss exactly as ``sketchback.models.train`` does (``TrainOptions`` from config/config.yaml's
``training:`` block, then ``sketchback.models.train._build``: Scribbler, 32 base filters, 5 residual
blocks, batch 32, Lt = Lp + 0.001 Lf + 1e-5 Lv with the VGG16 relu2_2 feature loss), with the
changes this CPU needs: ``vgg_weights: random`` (the ImageNet file cannot be downloaded here; the
same layers and FLOPs), float32 (mixed precision is a GPU setting) and no XLA. It runs ``--warmup``
steps (the first traces the step), then times ``--steps`` steps of ``train_on_batch`` as the
training loop calls it, on one fixed random batch (the step's cost does not depend on the pixels).
Memory: the process's peak resident set (``ru_maxrss``) and its growth over the resident set right
after the imports (the Python, TensorFlow and Keras baseline, which every job pays anyway).

It also counts the FLOPs per training image from the convolutions' shapes (``forward_flops`` of
benchmarks/train_speed.py: 3 x the generator's forward pass + 3 x the VGG16 forward pass) and
projects the step to a GPU from the H200 figures in README "Training" (the JAX pipeline at 128 px,
batch 32: 32.0 GFLOP per image at 51 TFLOP/s float32, 74 TFLOP/s mixed_float16): the time per step
at another size is the FLOP count of the step divided by that same rate. That is a projection, not
a measurement (a bigger step usually keeps a GPU busier: batch 64 reached 60 TFLOP/s there).

Evaluation memory: ``sketchback.evaluation.evaluate.evaluate`` at each size of ``--sizes`` on ``--eval-images``
synthetic test images (default 64) in ``--eval-shards`` shard pairs (default 1), with config/config.yaml's
``evaluation.batch_size``, random VGG16 filters and each generator of ``--eval-generators`` (``tiny``:
4 filters, 1 residual block, so that the metrics' own memory shows; ``study``: the study's), each in its own
process; the peak is compared with the ``evaluate`` rule's ``mem_mb`` in workflow/profiles/default/config.yaml
for that job's inputs.

Usage: python benchmarks/train_step_size.py [--sizes 128 256] [--steps 5] [--warmup 2] [--batch 32] [--model faces_adversarial]
           [--eval-images 64] [--eval-shards 1] [--eval-generators tiny study] [--no-train] [--no-eval]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
STUDY_CONFIG = REPO / "config" / "config.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
PROFILE = REPO / "workflow" / "profiles" / "default" / "config.yaml"

# README "Training", benchmarks/measured/h200-2026-11-26: the JAX pipeline on one H200, 128 px, batch 32
H200_SIZE, H200_GFLOP_PER_IMAGE = 128, 32.0
H200_TFLOPS = {"float32": 51.0, "mixed_float16": 74.0}
CELEBA_TRAIN = 162_770  # training pairs of the study's faces model (the official partition)
MIB = 1024 * 1024
# (base filters, residual blocks) of the generators evaluated: a tiny one (the cost is then all the
# metrics' own) and the study's (config/config.yaml), whose prediction adds its activations
EVAL_GENERATORS = {"tiny": (4, 1), "study": (32, 5)}


def rss_mib() -> float:
    """The process's resident set now (VmRSS), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    """The process's peak resident set so far (ru_maxrss, KiB on Linux), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def study_config(size: int, batch: int) -> dict:
    """config/config.yaml with the schema's defaults, at ``size`` px, as this CPU can train it."""
    import yaml
    from snakemake.utils import validate

    config = yaml.safe_load(STUDY_CONFIG.read_text())
    validate(config, str(SCHEMA), set_default=True)
    config["image_size"] = size
    config["training"].update(batch_size=batch, vgg_weights="random", vgg_md5=None, mixed_precision=False,
                              jit_compile=False)
    return config


# --------------------------------------------------------------------------- the child processes


def discriminator_flops(discriminator, size: int) -> int:
    """FLOPs of one forward pass of the two-input patch discriminator on one (sketch, photo) pair."""
    import keras

    from train_speed import forward_flops

    pair = keras.Input((size, size, 4))
    wrapped = keras.Model(pair, discriminator([pair[..., :1], pair[..., 1:]]))
    return forward_flops(wrapped, (1, size, size, 4))


def measure_training(size: int, batch: int, warmup: int, steps: int, model: str = "faces") -> dict:
    import sketchback  # noqa: F401  -- the project's TensorFlow CPU settings, before keras starts TensorFlow
    import keras
    import numpy as np

    from sketchback.data.shards import photo_to_target, sketch_to_input
    from sketchback.models.options import RunSettings, TrainOptions
    from sketchback.models.train import _build, _build_adversary, _compile_setting
    from train_speed import forward_flops

    baseline = rss_mib()
    config = study_config(size, batch)
    options = TrainOptions.from_config(config, model)
    settings = RunSettings.from_config(config)
    name = f"{size}px"
    jit_compile = _compile_setting(options, settings, name)
    generator = _build(options, None, 1000, jit_compile, name)
    adversary = _build_adversary(options, generator, jit_compile, name)
    train_on_batch = (adversary.trainer if adversary else generator).train_on_batch
    built = rss_mib()
    rng = np.random.default_rng(0)
    x = sketch_to_input(rng.integers(0, 256, (batch, size, size), dtype=np.uint8))
    y = photo_to_target(rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8))
    seconds = []
    for _ in range(warmup + steps):
        started = time.perf_counter()
        logs = train_on_batch(x, y, return_dict=True)
        float(logs["loss"])
        seconds.append(time.perf_counter() - started)
    peak = peak_rss_mib()
    extractor = generator.loss.extractor
    flops = 3 * forward_flops(generator, (1, size, size, 1)) + 3 * forward_flops(extractor, (1, size, size, 3))
    if adversary:  # the discriminator on (sketch, photo) and (sketch, prediction), each forward and backward
        flops += 6 * discriminator_flops(adversary.discriminator, size)
    return {"size": size, "batch": batch, "model": model, "adversarial": options.adversarial,
            "warmup": seconds[:warmup], "timed": seconds[warmup:],
            "baseline_mib": baseline, "built_mib": built, "peak_mib": peak, "gflop_per_image": flops / 1e9,
            "activation_mib": {"generator": layer_outputs(generator, (size, size, 1)) * batch * 4 / MIB,
                               "vgg": layer_outputs(extractor, (size, size, 3)) * batch * 4 / MIB},
            "parameters": generator.count_params(), "options": options.as_params(),
            "keras": keras.__version__, "backend": keras.backend.backend(), "cpus": os.cpu_count(),
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}


def layer_outputs(model, shape) -> int:
    """Values in every layer's output for one image of ``shape``: what a forward pass produces (and
    what the backward pass mostly keeps), counted by running the layers on a zero image."""
    import keras
    import numpy as np

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    outputs = probe(np.zeros((1, *shape), "float32"), training=False)
    return sum(int(np.prod(out.shape)) for out in outputs)


def measure_evaluation(size: int, images: int, batch: int, generator: str, shards: int) -> dict:
    import sketchback  # noqa: F401
    import keras
    import numpy as np
    import tensorflow  # noqa: F401  -- imported before the baseline, as evaluate() imports it anyway

    import sketchback.evaluation.figures  # noqa: F401
    from sketchback.evaluation.evaluate import evaluate
    from sketchback.io import save_npz
    from sketchback.models.generators import build_generator

    baseline = rss_mib()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        keras.utils.set_random_seed(0)
        filters, blocks = EVAL_GENERATORS[generator]
        build_generator("scribbler", filters, blocks).save(folder / "generator.keras")
        rng = np.random.default_rng(0)
        pairs = []
        for k, rows in enumerate(np.array_split(np.arange(images), shards)):
            names = np.array([f"{i:06d}" for i in rows])
            photos = rng.integers(0, 256, (len(rows), size, size, 3), dtype=np.uint8)
            pairs.append((folder / f"photos{k}.npz", folder / f"sketches{k}.npz"))
            save_npz(pairs[-1][0], images=photos, names=names)
            save_npz(pairs[-1][1], sketches=rng.integers(0, 256, (len(rows), size, size), dtype=np.uint8), names=names)
        np.save(folder / "mean.npy", photos.mean(axis=0))
        del photos
        inputs = [folder / "generator.keras", folder / "mean.npy", *(path for pair in pairs for path in pair)]
        input_mib = sum(path.stat().st_size for path in inputs) / MIB
        before = rss_mib()
        started = time.perf_counter()
        evaluate(folder / "generator.keras", pairs, folder / "mean.npy",
                 folder / "metrics.csv", folder / "grid.png", model_name="tiny", dataset="synthetic",
                 method="pencil", grid_rows=12, batch_size=batch, vgg_weights="random")
        seconds = time.perf_counter() - started
    return {"size": size, "images": images, "shards": shards, "batch": batch, "generator": generator,
            "baseline_mib": baseline,
            "before_mib": before,
            "peak_mib": peak_rss_mib(), "input_mib": input_mib, "seconds": seconds}


# --------------------------------------------------------------------------- the parent: one process per measurement


def child(*args: str) -> dict:
    """Run this script with ``args`` in a fresh Python; its last stdout line is the result as JSON."""
    result = subprocess.run([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, check=True,
                            cwd=REPO)
    return json.loads(result.stdout.strip().splitlines()[-1])


def print_training(results: list[dict]) -> None:
    r0 = results[0]
    adversarial = f", adversarial stage {r0['adversarial']}" if r0.get("adversarial") else ""
    print(f"\nTraining step of models.{r0.get('model', 'faces')}{adversarial} on this CPU ({r0['cpus']} cores, Keras {r0['keras']} on {r0['backend']}, "
          f"TF_ENABLE_ONEDNN_OPTS={r0['onednn']}): scribbler f{r0['options']['base_filters']} "
          f"r{r0['options']['residual_blocks']} ({r0['parameters']:,} parameters), batch {r0['batch']}, float32, "
          f"no XLA, VGG16 feature loss with random filters; median and range of {len(r0['timed'])} timed steps "
          f"after {len(r0['warmup'])} warm-up steps, each size in its own process")
    print("| size | GFLOP/image | first step (traces) | step: median (range) | img/s | CPU GFLOP/s | "
          "peak RSS | growth over import baseline | baseline |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        median = statistics.median(r["timed"])
        print(f"| {r['size']} | {r['gflop_per_image']:.1f} | {r['warmup'][0]:.1f} s | {median:.1f} s "
              f"({min(r['timed']):.1f}-{max(r['timed']):.1f}) | {r['batch'] / median:.2f} | "
              f"{r['batch'] * r['gflop_per_image'] / median:.0f} | {r['peak_mib']:,.0f} MiB | "
              f"{r['peak_mib'] - r['baseline_mib']:,.0f} MiB | {r['baseline_mib']:,.0f} MiB |")
    if len(results) > 1:
        a, b = results[0], results[-1]
        print(f"{b['size']} px against {a['size']} px: pixels x{(b['size'] / a['size']) ** 2:.2f}, FLOPs "
              f"x{b['gflop_per_image'] / a['gflop_per_image']:.2f}, step time "
              f"x{statistics.median(b['timed']) / statistics.median(a['timed']):.2f}, memory growth "
              f"x{(b['peak_mib'] - b['baseline_mib']) / (a['peak_mib'] - a['baseline_mib']):.2f}")


def print_gpu_projection(results: list[dict]) -> None:
    print(f"\nProjected for one H200 (NOT measured at these sizes): the step's FLOPs (batch x GFLOP/image) at the "
          f"FLOP rates the JAX pipeline reached there at {H200_SIZE} px, batch 32 ({H200_GFLOP_PER_IMAGE} GFLOP/image "
          f"at {H200_TFLOPS['float32']:.0f} TFLOP/s float32, {H200_TFLOPS['mixed_float16']:.0f} TFLOP/s "
          f"mixed_float16). Memory: the activations scale with the pixels; 'layer outputs' counts every layer's output "
          f"of the generator and of the VGG16 part (x2: prediction and target) for the batch in float32 (about "
          f"half under mixed_float16); 'CPU growth' is the measured growth of the CPU process, which holds the same "
          f"tensors (less what TensorFlow frees or computes in place) plus its workspace. The GPU estimate is the "
          f"larger of the two in float32, half of it under mixed_float16 (weights, gradients and Adam's slots are "
          f"float32 either way: 4 x {results[0]['parameters'] * 4 / MIB:.0f} MiB), plus the CUDA/XLA context "
          f"(about 0.5-1 GiB); XLA's fusion of element-wise layers can only lower it.")
    print("| size | GFLOP/step | float32: ms/step | img/s | CelebA epoch | mixed: ms/step | img/s | CelebA epoch | "
          "layer outputs | CPU growth | GPU estimate float32 | mixed |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        step_gflop = r["batch"] * r["gflop_per_image"]
        cells = []
        for tflops in H200_TFLOPS.values():
            seconds = step_gflop / (tflops * 1e3)
            cells += [f"{1e3 * seconds:.0f}", f"{r['batch'] / seconds:,.0f}",
                      f"{CELEBA_TRAIN / r['batch'] * seconds / 60:.1f} min"]
        act = r["activation_mib"]["generator"] + 2 * r["activation_mib"]["vgg"]
        growth = r["peak_mib"] - r["baseline_mib"]
        estimate = max(act, growth)
        print(f"| {r['size']} | {step_gflop:,.0f} | " + " | ".join(cells) +
              f" | {act / 1024:.1f} GiB | {growth / 1024:.1f} GiB | {estimate / 1024:.1f} GiB | "
              f"{estimate / 2048:.1f} GiB |")


def print_evaluation(results: list[dict]) -> None:
    print(f"\nEvaluation: sketchback.evaluation.evaluate.evaluate on one synthetic test shard pair, batch "
          f"{results[0]['batch']}, random VGG16 filters, each in its own process; generators "
          + ", ".join(f"{k} = scribbler f{f} r{b}" for k, (f, b) in EVAL_GENERATORS.items())
          + f"; the profile's declaration for these inputs is {EVALUATE_MEM}")
    print("| size | generator | images | shards | input.size_mb | time | peak RSS | growth over import baseline | "
          "declared |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['size']} | {r['generator']} | {r['images']} | {r['shards']} | {r['input_mib']:.1f} | "
              f"{r['seconds']:.0f} s | {r['peak_mib']:,.0f} MiB | {r['peak_mib'] - r['baseline_mib']:,.0f} MiB | "
              f"{evaluate_declared(r['input_mib'], r['shards']):,.0f} |")


def _profile_evaluate_mem() -> str:
    import yaml

    return str(yaml.safe_load(PROFILE.read_text())["set-resources"]["evaluate"]["mem_mb"])


EVALUATE_MEM = _profile_evaluate_mem()


def evaluate_declared(input_mib: float, shards: int) -> float:
    """The profile's evaluate mem_mb for a job whose inputs take ``input_mib`` in ``shards`` shard pairs."""
    return eval(EVALUATE_MEM, {"input": argparse.Namespace(size_mb=input_mib, photos=[None] * shards)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per size")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (the first traces the step)")
    parser.add_argument("--batch", type=int, default=None, help="default: config/config.yaml's training.batch_size")
    parser.add_argument("--eval-images", type=int, default=64, help="images in the evaluated test shard")
    parser.add_argument("--eval-shards", type=int, default=1, help="shards the evaluated test images are split into")
    parser.add_argument("--eval-batch", type=int, default=None,
                        help="default: config/config.yaml's evaluation.batch_size")
    parser.add_argument("--eval-generators", nargs="+", choices=list(EVAL_GENERATORS), default=["tiny"],
                        help="generators to evaluate with (at every size of --sizes)")
    parser.add_argument("--model", default="faces", help="the config/config.yaml model whose options are timed "
                        "(faces_adversarial: the generator and discriminator's joint step)")
    parser.add_argument("--no-eval", action="store_true", help="skip the evaluation measurements")
    parser.add_argument("--no-train", action="store_true", help="skip the training measurements")
    parser.add_argument("--child", choices=["train", "evaluate"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        # a measurement that runs out of memory should be the process the kernel ends, not a neighbour
        Path("/proc/self/oom_score_adj").write_text("1000")
        # forward_flops calls the functional models on a bare tensor; Keras warns that it expected a list
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
    if args.child == "train":
        print(json.dumps(measure_training(args.sizes[0], args.batch, args.warmup, args.steps, args.model)))
        return
    if args.child == "evaluate":
        print(json.dumps(measure_evaluation(args.sizes[0], args.eval_images, args.eval_batch,
                                            args.eval_generators[0], args.eval_shards)))
        return

    import yaml

    study = yaml.safe_load(STUDY_CONFIG.read_text())
    batch = args.batch or study["training"]["batch_size"]
    eval_batch = args.eval_batch or study["evaluation"]["batch_size"]
    print(f"{time.strftime('%Y-%m-%d %H:%M')}: sizes {args.sizes}"
          + ("" if args.no_train else f", training batch {batch}, {args.warmup} warm-up + {args.steps} timed steps")
          + ("" if args.no_eval else f", evaluation of {args.eval_images} images, batch {eval_batch}, generators "
                                     f"{' '.join(args.eval_generators)}")
          + f"; load average {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    for size in [] if args.no_train else args.sizes:
        results.append(child("--child", "train", "--sizes", str(size), "--batch", str(batch), "--warmup",
                             str(args.warmup), "--steps", str(args.steps), "--model", args.model))
        r = results[-1]
        print(f"{size} px: steps {', '.join(f'{s:.2f}' for s in r['warmup'] + r['timed'])} s; peak "
              f"{r['peak_mib']:,.0f} MiB; load average {os.getloadavg()[0]:.1f}", flush=True)
    if results:
        print_training(results)
        print_gpu_projection(results)
    evaluations = []
    for generator in [] if args.no_eval else args.eval_generators:
        for size in args.sizes:
            evaluations.append(child("--child", "evaluate", "--sizes", str(size), "--eval-images",
                                     str(args.eval_images), "--eval-batch", str(eval_batch), "--eval-generators",
                                     generator, "--eval-shards", str(args.eval_shards)))
            print(f"evaluation {size} px, {generator} generator: peak {evaluations[-1]['peak_mib']:,.0f} MiB",
                  flush=True)
    if evaluations:
        print_evaluation(evaluations)
    print("\nraw: " + json.dumps({"training": results, "evaluation": evaluations}))


if __name__ == "__main__":
    main()
