"""Training throughput: this project's pipeline against the original study's scheme, in one run.

Both train the same generator with the same loss (pixel RMS + 0.001 VGG16 relu2_2 MSE + 1e-5 TV)
on the same pairs for the same number of steps:

* original scheme: every step reads and decodes the batch's sketch and photo PNG files, computes
  the target's VGG features with a separate ``vgg.predict`` call, then ``train_on_batch`` on a
  model with two outputs (photo, VGG features of the photo), as the original sketchback.py did;
* pipeline: the shards memory-mapped where they lie (no copy), seeded batches prefetched by a
  thread, one compiled step that computes the VGG features of target and prediction in the graph
  (``sketchback.data.shards.batches`` + ``SketchInversionLoss``, the loop of ``sketchback.models.train``).

The schemes run in alternating rounds so that background load hits both alike; each line gives
the median images/s over the rounds. It also prints the FLOPs per image (the convolutions of the
forward passes, counted from their shapes; a training step is counted as 3x the generator's
forward pass plus 3x the VGG16 forward pass: target, prediction, gradient to the prediction), the
FLOP rate reached against the fp32 matrix-multiply rate (NumPy's on a CPU, the backend's on a
GPU), and where each scheme's time per image goes (input, separate VGG predict, training step).

It runs on any Keras backend (KERAS_BACKEND=tensorflow, the default here, jax or torch), so the
same script measures a GPU machine that has JAX or PyTorch but no TensorFlow, e.g.
    KERAS_BACKEND=jax python benchmarks/train_speed.py --size 128 --batch 32 --filters 32 --blocks 5
(``benchmarks/device_train_speed.sh`` runs the study's settings on JAX and PyTorch that way).
``--mixed-precision`` runs both schemes under Keras' mixed_float16 policy (the study's GPU setting).

Usage: python benchmarks/train_speed.py [--size 64] [--batch 16] [--steps 12] [--rounds 3]
           [--filters 16] [--blocks 3] [--xla] [--jit auto|on|off] [--mixed-precision]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sketchback  # noqa: E402,F401  -- the project's TensorFlow CPU settings, before keras starts TensorFlow
import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from sketchback.data.shards import batches, open_pairs  # noqa: E402
from sketchback.io import save_npz  # noqa: E402
from sketchback.models.losses import SketchInversionLoss, pixel_loss, total_variation  # noqa: E402
from sketchback.vgg import vgg_feature_extractor, vgg_preprocess  # noqa: E402
from sketchback.models.generators import build_generator  # noqa: E402
from sketchback.sketches.sketch import pencil_sketch  # noqa: E402
from sketchback.data.synthetic import synthetic_image  # noqa: E402

PIXEL, FEATURE, TV = 1.0, 1e-3, 1e-5


def make_data(folder: Path, n: int, size: int):
    """n synthetic face photos and their pencil sketches, as a shard pair and as PNG files."""
    photos = np.stack([synthetic_image("faces", 0, i, size) for i in range(n)])
    sketches = np.stack([pencil_sketch(p) for p in photos])
    save_npz(folder / "photos.npz", images=photos)
    save_npz(folder / "sketches.npz", sketches=sketches)
    (folder / "png").mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / "png" / f"{i:06d}.photo.png"), cv2.cvtColor(photos[i], cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(folder / "png" / f"{i:06d}.sketch.png"), sketches[i])
    return [(folder / "photos.npz", folder / "sketches.npz")]


def optimizer(args):
    """Adam, with loss scaling under mixed precision (as ``sketchback.models.train`` does)."""
    adam = keras.optimizers.Adam(1e-3)
    return keras.optimizers.LossScaleOptimizer(adam) if args.mixed_precision else adam


def original_scheme(folder: Path, n: int, args, extractor):
    """The original loop: decode files per step, VGG predict in NumPy land, then train_on_batch."""
    keras.utils.set_random_seed(0)
    generator = build_generator("scribbler", args.filters, args.blocks)
    sketch = keras.Input((args.size, args.size, 1))
    photo = generator(sketch)
    features = extractor(keras.layers.Lambda(vgg_preprocess)(photo))
    combined = keras.Model(sketch, [photo, features])

    def photo_loss(y_true, y_pred):
        return PIXEL * pixel_loss(y_true, y_pred) + TV * total_variation(y_pred)

    combined.compile(optimizer(args), loss=[photo_loss, "mse"], loss_weights=[1.0, FEATURE], jit_compile=args.jit)
    order = np.random.default_rng(0).permutation(n)

    def step(i):
        started = time.perf_counter()
        index = order[(i * args.batch) % (n - args.batch):][:args.batch]
        x = np.stack([cv2.imread(str(folder / "png" / f"{j:06d}.sketch.png"), cv2.IMREAD_GRAYSCALE) for j in index])
        y = np.stack([cv2.imread(str(folder / "png" / f"{j:06d}.photo.png"))[..., ::-1] for j in index])
        x = (x.astype("float32") / 255.0)[..., None]
        y = y.astype("float32") / 255.0
        decoded = time.perf_counter()
        target_features = extractor.predict(vgg_preprocess(y), batch_size=args.batch, verbose=0)
        predicted = time.perf_counter()
        combined.train_on_batch(x, [y, target_features])
        step.parts["decode"] += decoded - started
        step.parts["VGG predict"] += predicted - decoded
        step.parts["train_on_batch"] += time.perf_counter() - predicted

    step.parts = {"decode": 0.0, "VGG predict": 0.0, "train_on_batch": 0.0}
    return step


def pipeline(pairs, folder: Path, args, extractor, jit_compile):
    """This project's loop: memory-mapped shards, prefetched seeded batches, one compiled step."""
    keras.utils.set_random_seed(0)
    generator = build_generator("scribbler", args.filters, args.blocks)
    generator.compile(optimizer(args), loss=SketchInversionLoss(extractor, PIXEL, FEATURE, TV), jit_compile=jit_compile)
    sketches, photos = open_pairs(pairs)
    state = {"stream": iter(()), "epoch": 0}

    def step(i):
        started = time.perf_counter()
        try:
            _, x, y = next(state["stream"])
        except StopIteration:
            state["epoch"] += 1
            state["stream"] = batches(sketches, photos, args.batch, seed=0, epoch=state["epoch"])
            _, x, y = next(state["stream"])
        if len(x) < args.batch:  # keep every timed step the same shape
            return step(i)
        loaded = time.perf_counter()
        generator.train_on_batch(x, y)
        step.parts["wait for batch"] += loaded - started
        step.parts["compiled step"] += time.perf_counter() - loaded

    step.parts = {"wait for batch": 0.0, "compiled step": 0.0}
    return step


def forward_flops(model: keras.Model, shape) -> int:
    """Multiply-add FLOPs (2 per multiply-add) of the convolutions in one forward pass of ``model`` on
    a zero batch of ``shape``: every Conv2D / Conv2DTranspose call is recorded with its shapes. The
    convolutions are nearly all of the work; normalisation, activations and additions are left out.
    Works on every Keras backend (no TensorFlow profiler)."""
    records = []
    originals = {cls: cls.call for cls in (keras.layers.Conv2D, keras.layers.Conv2DTranspose)}

    def recorder(cls):
        def call(layer, inputs, *a, **k):
            out = originals[cls](layer, inputs, *a, **k)
            records.append((cls, tuple(inputs.shape), tuple(out.shape), tuple(layer.kernel.shape)))
            return out
        return call

    try:
        for cls in originals:
            cls.call = recorder(cls)
        model(np.zeros(shape, "float32"), training=False)
    finally:
        for cls, call in originals.items():
            cls.call = call
    flops = 0
    for cls, in_shape, out_shape, kernel in records:
        kh, kw = kernel[:2]
        if cls is keras.layers.Conv2D:  # kernel (kh, kw, cin/groups, cout)
            flops += 2 * int(np.prod(out_shape)) * kh * kw * kernel[2]
        else:  # Conv2DTranspose, kernel (kh, kw, cout, cin): every input value spreads over kh*kw*cout outputs
            flops += 2 * int(np.prod(in_shape)) * kh * kw * kernel[2]
    return flops


def matmul_rate(n: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n ** 3 / best


def backend_matmul_rate(n: int = 4096, repeats: int = 10) -> tuple[float, str]:
    """fp32 matrix-multiply rate of the Keras backend on its default device (a GPU where there is
    one), and that device's name. The product is read back to the host to end each timing."""
    a = keras.ops.convert_to_tensor(np.random.default_rng(0).random((n, n), dtype=np.float32))
    keras.ops.convert_to_numpy(keras.ops.matmul(a, a)[0, 0])

    def run():
        b = a
        for _ in range(repeats):
            b = keras.ops.matmul(a, b) * (1.0 / n)  # chained, so no product can be skipped
        keras.ops.convert_to_numpy(b[0, 0])

    best = min(_timed(run) for _ in range(3))
    return 2 * n ** 3 * repeats / best, str(getattr(a, "device", None) or "cpu")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per scheme per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--xla", action="store_true", help="also time the pipeline with jit_compile=True (XLA)")
    parser.add_argument("--jit", choices=["auto", "on", "off"], default="auto",
                        help="jit_compile of both schemes: auto (Keras' default: XLA on JAX and on TensorFlow with a "
                             "GPU, none on a TensorFlow CPU or PyTorch), on, off")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="both schemes under the mixed_float16 policy with loss scaling (the study's GPU setting)")
    args = parser.parse_args()
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    args.jit = {"auto": "auto", "on": True, "off": False}[args.jit]

    n = args.batch * (args.steps + 2)
    print(f"{args.size}x{args.size} px, batch {args.batch}, generator scribbler f{args.filters} r{args.blocks}, "
          f"{args.steps} steps x {args.rounds} rounds per scheme, {os.cpu_count()} CPU cores, Keras {keras.__version__} "
          f"on {keras.backend.backend()}, jit_compile {args.jit}, policy {keras.mixed_precision.global_policy().name}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pairs = make_data(folder, n, args.size)
        extractor = vgg_feature_extractor("random", None, 0)
        schemes = {"original scheme": original_scheme(folder, n, args, extractor),
                   "pipeline": pipeline(pairs, folder, args, extractor, jit_compile=args.jit)}
        if args.xla:
            schemes["pipeline + XLA"] = pipeline(pairs, folder, args, extractor, jit_compile=True)
        for step in schemes.values():  # trace and warm up
            step(0)
            step(1)
        for step in schemes.values():
            step.parts = dict.fromkeys(step.parts, 0.0)
        rates = {name: [] for name in schemes}
        for _ in range(args.rounds):
            for name, step in schemes.items():
                seconds = _timed(lambda: [step(i) for i in range(args.steps)])
                rates[name].append(args.steps * args.batch / seconds)

        generator = build_generator("scribbler", args.filters, args.blocks)
        per_image = (3 * forward_flops(generator, (1, args.size, args.size, 1))
                     + 3 * forward_flops(extractor, (1, args.size, args.size, 3)))
    peak = matmul_rate()
    base = statistics.median(rates["original scheme"])
    print(f"training FLOPs per image: {per_image / 1e9:.2f} GFLOP; NumPy fp32 matmul (2048^2): {peak / 1e9:.1f} GFLOP/s")
    device_peak, device = backend_matmul_rate()
    print(f"{keras.backend.backend()} fp32 matmul (4096^2) on {device}: {device_peak / 1e9:.1f} GFLOP/s")
    # on a CPU, NumPy's rate is the machine's; on a GPU only the backend's own rate there means anything
    reference, source = (peak, "NumPy") if "cpu" in device.lower() else (device_peak, keras.backend.backend())
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name:16s} {rate:7.1f} img/s (rounds: {', '.join(f'{v:.1f}' for v in values)})  "
              f"{rate * per_image / 1e9:8.1f} GFLOP/s = {rate * per_image / reference:4.0%} of "
              f"{source}'s matmul  ratio to original {rate / base:.2f}x")
    print("time per image in each part of a step (ms):")
    images = args.steps * args.batch * args.rounds
    for name, step in schemes.items():
        print(f"  {name:16s} " + ", ".join(f"{part} {1000 * seconds / images:.2f}" for part, seconds in step.parts.items()))


if __name__ == "__main__":
    main()
