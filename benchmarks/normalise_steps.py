"""Which steps of the sketch normaliser help: each demo model on its test set in each style, raw and
normalised with each combination of steps, SSIM and PSNR of the prediction with the paired change
(normalised - raw, 95% bootstrap CI); pencil sketches on shaded, tinted paper and normalised back;
the normaliser's time per image at 64, 128 and 256 px.

Usage: python benchmarks/normalise_steps.py RESULTS   (RESULTS: the results/ folder of a finished demo)
Prints a Markdown table (README, "The cross-style matrix").
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sketchback.data.shards import sketch_to_input
from sketchback.evaluation.evaluate import load_generator, predict
from sketchback.evaluation.metrics import image_metrics, ssim
from sketchback.sketches.normalise import builtin_reference, measure_style, normalise_sketch
from sketchback.evaluation.normalise_effect import paired_change
from sketchback.sketches.sketch import xdog
from sketchback.data.synthetic import synthetic_image

STEPS = {
    "paper": {"paper": True, "contrast": False, "width": False},
    "paper+contrast": {"paper": True, "contrast": True, "width": False},
    "paper+width": {"paper": True, "contrast": False, "width": True},
    "all three": {"paper": True, "contrast": True, "width": True},
}


def scores(generator, sketches, photos, style):
    m = image_metrics(predict(generator, sketch_to_input(sketches), 32), photos.astype(np.float32) / 255.0)
    return pd.DataFrame({"image": np.arange(len(sketches)), "ssim_prediction": m["ssim"],
                         "psnr_prediction": m["psnr"], "feature_distance_prediction": 0.0, "method": style})


def ablation(results: Path) -> None:
    print("| model | style | n | raw SSIM / PSNR | " + " | ".join(f"{name}: SSIM change" for name in STEPS) + " |")
    print("|---|---|---|---|" + "---|" * len(STEPS))
    for model in ("faces", "buildings"):
        generator = load_generator(results / "models" / model / "generator.keras")
        target = measure_style(np.load(results / "sketches" / model / "pencil" / "train" / "000.npz")["sketches"][:256])
        for style in ("pencil", "xdog", "style"):
            shard = np.load(results / "sketches" / model / style / "test" / "000.npz")
            photos = shard["images"] if "images" in shard.files else np.load(
                results / "prepared" / model / "test" / "000.npz")["images"]
            raw = scores(generator, shard["sketches"], photos, style)
            cells = []
            for params in STEPS.values():
                normalised = np.stack([normalise_sketch(g, target, params) for g in shard["sketches"]])
                c = paired_change(raw, scores(generator, normalised, photos, style), seed=0)
                cells.append(f"{c['ssim_change']:+.3f} [{c['ssim_change_lo']:+.3f}, {c['ssim_change_hi']:+.3f}], "
                             f"{c['psnr_change']:+.2f} dB")
            print(f"| {model} | {style} | {len(raw)} | {raw.ssim_prediction.mean():.3f} / "
                  f"{raw.psnr_prediction.mean():.1f} | " + " | ".join(cells) + " |", flush=True)


def shaded_paper(results: Path) -> None:
    """The faces test set's pencil sketches put on cream paper (grey 225) that darkens to 60%
    toward one corner, and normalised (paper step) back: how far from the originals."""
    target = measure_style(np.load(results / "sketches" / "faces" / "pencil" / "train" / "000.npz")["sketches"][:256])
    pencil = np.load(results / "sketches" / "faces" / "pencil" / "test" / "000.npz")["sketches"]
    yy, xx = np.mgrid[:pencil.shape[1], :pencil.shape[2]] / (pencil.shape[1] - 1.0)
    paper = 225.0 * (1.0 - 0.4 * (xx + yy) / 2.0)
    shaded = np.clip(np.rint(pencil / 255.0 * paper), 0, 255).astype(np.uint8)
    for name, sketches in (("shaded", shaded), ("normalised", [normalise_sketch(g, target) for g in shaded])):
        sketches = np.asarray(sketches)
        similarity = np.mean([ssim(a / 255.0, b / 255.0) for a, b in zip(sketches, pencil)])
        print(f"{name}: {np.abs(sketches.astype(int) - pencil).mean():.1f} grey levels from the pencil sketches, "
              f"SSIM {similarity:.3f} ({len(pencil)} sketches)")


def speed() -> None:
    target = builtin_reference()
    for size in (64, 128, 256):
        sketches = [xdog(synthetic_image("faces", 0, i, size)) for i in range(32)]
        for name, params in (("paper", STEPS["paper"]), ("all three", STEPS["all three"])):
            normalise_sketch(sketches[0], target, params)
            start = time.perf_counter()
            for g in sketches:
                normalise_sketch(g, target, params)
            ms = (time.perf_counter() - start) / len(sketches) * 1e3
            print(f"{size} px, {name}: {ms:.2f} ms per image")


if __name__ == "__main__":
    ablation(Path(sys.argv[1]))
    shaded_paper(Path(sys.argv[1]))
    speed()
