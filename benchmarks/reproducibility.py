"""The same numbers on any machine? Deterministic training under other CPU instruction sets and thread counts.

``training.deterministic: true`` makes TensorFlow's ops repeat themselves on one machine, but oneDNN
(TensorFlow's CPU kernels, on by default in Sketchback) picks its kernels at run time from the CPU's
instruction set (ISA), and both oneDNN and Eigen split work by the number of threads: a machine with
another ISA or core count may sum in another order and end with other weights.

Each setting runs in a fresh Python process (its environment set before TensorFlow is imported):
``sketchback.models.train.train`` trains the demo's generator (config/demo.yaml: Scribbler, 16 base
filters, 3 residual blocks, 64 px, batch 16, pixel + feature loss with seeded random VGG16 filters,
Adam 0.002, deterministic) for ``--steps`` steps on the same seeded synthetic faces and their pencil
sketches. The script prints, per setting, the sha256 of all the trained weights' bytes, the largest
|difference| of any weight from the reference setting (the first), the predictions' largest difference
on 32 held-out sketches and their PSNR (as the evaluation reports it), the same for an untrained seeded
generator (inference alone), and the training time: the median step after the first (which traces) x
steps, and the whole ``train()`` call. The settings not timed run once (their time is a rough figure);
the timed ones run ``--repeats`` rounds in alternating order, so background load hits them alike.
oneDNN's own report of the ISA it uses is checked for each cap. "mode N" is the mode of
sketchback.models.reproducible with N threads, set in the training process as a workflow job would set
it (before TensorFlow is imported). The load (uptime) is printed at the start, at each round and the end.

Usage: python benchmarks/reproducibility.py [--steps 20] [--repeats 3] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from sketchback.models.reproducible import portable_environment  # noqa: E402  -- imports no TensorFlow

# The demo's training options (config/demo.yaml and the schema's defaults): what decides the weights.
DEMO = dict(image_size=64, architecture="scribbler", base_filters=16, residual_blocks=3, pixel_weight=1.0,
            feature_weight=0.001, tv_weight=0.00001, vgg_weights="random", vgg_md5=None, batch_size=16, devices=1,
            mixed_precision=False, lr_schedule="constant", max_steps=None, epochs=1, learning_rate=0.002, seed=0)
TEST_IMAGES = 32


def setting(env=None, threads=None, cores=None, mode=None, timed=False) -> dict:
    """env: environment variables; threads: intra-op threads by tf.config (inter-op 1; None: TensorFlow's default,
    one per visible core); cores: taskset's CPU list; mode: sketchback.models.reproducible.use_portable_cpu with
    this many threads, called in the process before TensorFlow is imported; timed: run in every round."""
    return dict(env=env or {}, threads=threads, cores=cores, mode=mode, timed=timed)


# The first is the reference.
SETTINGS = {
    "default": setting(timed=True),
    "isa AVX512_CORE": setting({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}),
    "isa AVX2": setting({"ONEDNN_MAX_CPU_ISA": "AVX2"}),
    "isa SSE41": setting({"ONEDNN_MAX_CPU_ISA": "SSE41"}),
    "threads 1": setting(threads=1, timed=True),
    "threads 2": setting(threads=2),
    "taskset 1 core": setting(cores="0"),
    "isa AVX2, threads 1": setting({"ONEDNN_MAX_CPU_ISA": "AVX2"}, threads=1),
    "onednn off": setting({"TF_ENABLE_ONEDNN_OPTS": "0"}, timed=True),
    "onednn off, threads 1": setting({"TF_ENABLE_ONEDNN_OPTS": "0"}, threads=1),
    "onednn off, isa AVX2, threads 1": setting({"TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "AVX2"}, threads=1),
    "mode 1": setting(mode=1, timed=True),
    "mode 1, taskset 1 core": setting(mode=1, cores="0"),
    "mode 2": setting(mode=2, timed=True),
    "mode 2, taskset 1 core": setting(mode=2, cores="0"),
}

WORKER = r"""
import hashlib, json, os, sys, time
from pathlib import Path
spec = json.loads(sys.argv[1])
if spec["mode"] is not None:
    from sketchback.models.reproducible import use_portable_cpu
    use_portable_cpu(True, spec["mode"])
import sketchback  # the project's TensorFlow CPU settings (TF_ENABLE_ONEDNN_OPTS), before TensorFlow starts
import tensorflow as tf
if spec["threads"] is not None:
    tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(1)
import keras
import numpy as np
from sketchback.evaluation.metrics import psnr
from sketchback.io import load_npz
from sketchback.models.generators import build_generator
from sketchback.models.options import RunSettings, TrainOptions
from sketchback.models.train import train

step_seconds, train_on_batch = [], keras.Model.train_on_batch
def timed(self, *args, **kwargs):  # the loop's step; its logs come back as floats, so the step has finished
    started = time.perf_counter()
    logs = train_on_batch(self, *args, **kwargs)
    step_seconds.append(time.perf_counter() - started)
    return logs
keras.Model.train_on_batch = timed

data, out = Path(spec["data"]), Path(spec["out"])
options = TrainOptions(**spec["options"])
settings = RunSettings(deterministic=True, checkpoint_every=0, log_every=0, work_dir=out / "work")
started = time.perf_counter()
train([(str(data / "photos.npz"), str(data / "sketches.npz"))], [], out / "generator.keras", out / "history.csv",
      options, settings, name="reproducibility")
train_seconds = time.perf_counter() - started
generator = keras.models.load_model(out / "generator.keras", compile=False)
weights = [np.asarray(w) for w in generator.get_weights()]
test = load_npz(data / "test.npz")
x, y = test["sketches"].astype("float32")[..., None] / 255, test["photos"].astype("float32") / 255
pred = generator.predict(x, batch_size=32, verbose=0)
keras.utils.set_random_seed(7)  # an untrained generator, the same in every process: inference alone
untrained = build_generator(options.architecture, options.base_filters, options.residual_blocks, 1, 2)
pred0 = untrained.predict(x, batch_size=32, verbose=0)
np.savez(out / "result.npz", pred=pred, pred0=pred0, **{f"w{i:03d}": w for i, w in enumerate(weights)})
print("RESULT " + json.dumps({
    "sha": hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest(),
    "pred_sha": hashlib.sha256(pred.tobytes()).hexdigest(), "pred0_sha": hashlib.sha256(pred0.tobytes()).hexdigest(),
    "psnr": psnr(pred, y), "steps": step_seconds, "train_s": train_seconds,
    "threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                tf.config.threading.get_inter_op_parallelism_threads(), os.environ.get("TF_NUM_INTRAOP_THREADS"),
                os.environ.get("ONEDNN_MAX_CPU_ISA")]}), flush=True)
"""

ISA_PROBE = r"""
import sketchback, tensorflow as tf
@tf.function
def conv(x, w):
    return tf.nn.conv2d(x, w, 1, "SAME")
conv(tf.ones([1, 16, 16, 16]), tf.ones([3, 3, 16, 16]))
"""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def make_data(folder: Path, n_train: int, seed: int = 0) -> None:
    """Seeded synthetic faces and their pencil sketches: n_train training pairs and TEST_IMAGES held out."""
    import numpy as np

    from sketchback.data.synthetic import synthetic_image
    from sketchback.io import save_npz
    from sketchback.sketches.sketch import sketch_images

    photos = np.stack([synthetic_image("faces", seed, i, DEMO["image_size"]) for i in range(n_train + TEST_IMAGES)])
    sketches = sketch_images(photos, "pencil", {"blur_ksize": 21})
    save_npz(folder / "photos.npz", images=photos[:n_train], names=np.array([str(i) for i in range(n_train)]))
    save_npz(folder / "sketches.npz", sketches=sketches[:n_train])
    save_npz(folder / "test.npz", photos=photos[n_train:], sketches=sketches[n_train:])


def environment(extra: dict) -> dict:
    unset = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
             "TF_NUM_INTEROP_THREADS", "ONEDNN_VERBOSE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    env.update(extra)
    return env


def onednn_isa(extra: dict) -> str:
    """The ISA oneDNN says it dispatches to, and the implementation it picks for a 3x3 convolution."""
    result = subprocess.run([sys.executable, "-c", ISA_PROBE], capture_output=True, text=True, timeout=300,
                            env=environment({**extra, "ONEDNN_VERBOSE": "1"}))
    lines = result.stdout.splitlines() + result.stderr.splitlines()
    isa = next((line.split("isa:", 1)[1] for line in lines if "isa:" in line), "no oneDNN report (oneDNN off)")
    conv = next((":".join(line.split(",")[5:7]) for line in lines
                 if ",primitive,exec," in line and "convolution" in line), None)
    return isa + (f"; 3x3 convolution: {conv}" if conv else "")


def run_setting(name: str, data: Path, out: Path, steps: int) -> dict:
    chosen = SETTINGS[name]
    spec = {"data": str(data), "out": str(out), "threads": chosen["threads"], "mode": chosen["mode"], "options": DEMO}
    command = [sys.executable, "-c", WORKER, json.dumps(spec)]
    if chosen["cores"] is not None:
        command = ["taskset", "-c", chosen["cores"]] + command
    result = subprocess.run(command, capture_output=True, text=True, env=environment(chosen["env"]), timeout=900)
    if result.returncode:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    found = json.loads(next(line[7:] for line in result.stdout.splitlines() if line.startswith("RESULT ")))
    assert len(found["steps"]) == steps, found["steps"]
    return found


def max_diff(a: Path, b: Path, keys) -> float:
    import numpy as np

    with np.load(a) as x, np.load(b) as y:
        return max(float(np.max(np.abs(x[k].astype("float64") - y[k].astype("float64")))) for k in keys(x))


def step_time(found: dict, steps: int) -> float:
    """The training time of ``steps`` steps, from the median step after the first (which traces the step)."""
    return statistics.median(found["steps"][1:]) * steps


def run_rounds(names: list, data: Path, tmp: Path, steps: int, repeats: int) -> dict:
    """name -> its runs: one identity run of each untimed setting, then ``repeats`` rounds of the timed ones, in
    alternating order, so that each round's runs are minutes apart at most and background load hits them alike."""
    timed = [n for n in names if SETTINGS[n]["timed"]]
    rounds = [[n for n in names if n not in timed]] + [timed if r % 2 == 0 else timed[::-1] for r in range(repeats)]
    results = {n: [] for n in names}
    for r, order in enumerate(rounds):
        print(f" {'identity runs' if r == 0 else f'timing round {r}'} ({uptime().split('load ')[-1]})", flush=True)
        for name in order:
            out = tmp / f"{name.replace(' ', '_').replace(',', '')}-{r}"
            found = dict(run_setting(name, data, out, steps), dir=out, round=r)
            results[name].append(found)
            print(f"  {name}: {found['sha'][:12]} step {statistics.median(found['steps'][1:]):.3f} s, train() "
                  f"{found['train_s']:.1f} s, [intra, inter, TF_NUM_INTRAOP_THREADS, ONEDNN_MAX_CPU_ISA] "
                  f"{found['threads']}", flush=True)
    return results


def differs(found: dict, reference: dict, sha: str, keys) -> str:
    """'identical' when the hashes agree, else the largest |difference| of the arrays ``keys`` picks."""
    if found[sha] == reference[sha]:
        return "identical"
    return f"{max_diff(found['dir'] / 'result.npz', reference['dir'] / 'result.npz', keys):.2e}"


def paired_ratios(results: dict, name: str, base: str, steps: int) -> list[float]:
    """Time of ``name`` over that of ``base`` in the same timing round, sorted."""
    base_time = {f["round"]: step_time(f, steps) for f in results[base]}
    return sorted(step_time(f, steps) / base_time[f["round"]] for f in results[name] if f["round"] in base_time)


def print_table(results: dict, names: list, steps: int) -> None:
    reference = results[names[0]][0]
    ref_median = statistics.median(step_time(f, steps) for f in results[names[0]])
    print(f"\nreference: {names[0]}, weights sha256 {reference['sha'][:16]}")
    print("weights: 'identical' (byte for byte) or the largest |difference| of any weight from the reference; "
          "predictions: the trained model's on the 32 held-out sketches, likewise, and their PSNR (dB); inference: "
          "an untrained seeded generator's predictions; repeat: whether all runs of a setting gave the same weights; "
          f"time: {steps} steps (median step after the first x {steps}), median [min-max] over the runs; ratio: to "
          "the reference in the same timing round, median [min-max]; one run (untimed): to the reference's median, "
          "a rough figure")
    print(f"{'setting':30} {'runs':>4} {'repeat':>6} {'weights':>10} {'predictions':>11} {'PSNR':>10} "
          f"{'inference':>10} {'time s':>18} {'ratio':>16} {'train() s':>9}")
    for name in names:
        runs, first = results[name], results[name][0]
        times = [step_time(f, steps) for f in runs]
        if SETTINGS[name]["timed"]:
            ratios = paired_ratios(results, name, names[0], steps)
            ratio = f"{statistics.median(ratios):.2f} [{ratios[0]:.2f}-{ratios[-1]:.2f}]"
        else:
            ratio = f"~{times[0] / ref_median:.2f} (1 run)"
        repeat = "-" if len(runs) == 1 else "same" if len({f["sha"] for f in runs}) == 1 else "DIFFER"
        print(f"{name:30} {len(runs):>4} {repeat:>6} "
              f"{differs(first, reference, 'sha', lambda a: [k for k in a.files if k.startswith('w')]):>10} "
              f"{differs(first, reference, 'pred_sha', lambda a: ['pred']):>11} {first['psnr']:>10.6f} "
              f"{differs(first, reference, 'pred0_sha', lambda a: ['pred0']):>10} "
              f"{statistics.median(times):>6.1f} [{min(times):.1f}-{max(times):.1f}] {ratio:>16} "
              f"{statistics.median(f['train_s'] for f in runs):>9.1f}")


def print_agreement(results: dict, names: list, steps: int) -> None:
    groups = {}
    for name in names:
        groups.setdefault(results[name][0]["sha"], []).append(name)
    print("\nsettings that agree byte for byte:")
    for sha, members in groups.items():
        print(f"  {sha[:12]}: {', '.join(members)}")
    timed = [n for n in names if SETTINGS[n]["timed"]]
    print("\ntime ratios paired by timing round, median [min-max]:")
    for name, base in [("mode 1", "threads 1"), ("mode 2", "default"), ("mode 1", "default"),
                       ("threads 1", "default"), ("onednn off", "default")]:
        if name in timed and base in timed:
            ratios = paired_ratios(results, name, base, steps)
            print(f"  {name} / {base}: {statistics.median(ratios):.2f} [{ratios[0]:.2f}-{ratios[-1]:.2f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="setting names (the first, a timed one, is the reference)")
    args = parser.parse_args()
    names = args.only or list(SETTINGS)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"start: {uptime()}")
    print(f"CPU: {os.cpu_count()} cores visible; python {sys.version.split()[0]}; commit {commit.stdout.strip()}")
    print(f"model: {DEMO['architecture']} {DEMO['base_filters']} filters, {DEMO['residual_blocks']} residual blocks, "
          f"{DEMO['image_size']} px, batch {DEMO['batch_size']}, feature loss with {DEMO['vgg_weights']} VGG16 "
          f"filters; "
          f"{args.steps} steps, deterministic")
    for cap in ("", "AVX512_CORE", "AVX2", "SSE41"):
        report = onednn_isa({"ONEDNN_MAX_CPU_ISA": cap} if cap else {})
        print(f"  oneDNN with ONEDNN_MAX_CPU_ISA={cap or '(unset)'}: {report}")
    print(f"  oneDNN in the reproducible mode ({portable_environment(True, 1)}): "
          f"{onednn_isa(portable_environment(True, 1))}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "data").mkdir()
        make_data(tmp / "data", args.steps * DEMO["batch_size"])
        results = run_rounds(names, tmp / "data", tmp, args.steps, args.repeats)
        print_table(results, names, args.steps)
        print_agreement(results, names, args.steps)
    print(f"end: {uptime()}")


if __name__ == "__main__":
    main()
