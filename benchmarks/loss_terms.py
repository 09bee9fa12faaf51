"""The loss terms' sizes at the first training step: what the feature term's form (RMS or MSE) does.

For each config and model (``--models``, default the demo's faces and faces_original and the full
study's faces and poster_faces) it builds the generator and the loss as ``sketchback.models.train`` does
(``TrainOptions.from_config``, fresh seeded weights), with ``vgg_weights: random`` wherever the
config names the ImageNet file (it cannot be downloaded here: seeded random VGG16 filters of the
same layers), and evaluates, on one batch of synthetic faces and their pencil sketches at the
config's image size, the per-batch means of Lp (RMS pixel error), Lf as the poster's RMS of the
relu2_2 feature difference (the loss trained now), Lf² (the mean squared difference trained
before the correction), Lv, and each term times its weight. The untrained generator's output is
what the first step sees; the ratio wf*Lf / wp*Lp says how the feature term is weighed against the
pixel term. With the ImageNet filters the features are larger (their activations on VGG's 0-255
input are not those of random filters), so read those rows as the form's effect, not the study's
exact numbers.

Usage: python benchmarks/loss_terms.py [--batch 8] [--models config/demo.yaml:faces ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT = ["config/demo.yaml:faces", "config/demo.yaml:faces_original", "config/config.yaml:faces",
           "config/poster.yaml:poster_faces"]


def options_of(config_path: str, model: str):
    import yaml
    from snakemake.utils import validate

    from sketchback.models.options import TrainOptions

    config = yaml.safe_load((REPO / config_path).read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    options = TrainOptions.from_config(config, model)
    return dataclasses.replace(options, vgg_weights="random", vgg_md5=None, mixed_precision=False)


def batch(size: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic faces (float32 RGB in [0, 1]) and their pencil sketches (float32 grey in [0, 1])."""
    from sketchback.data.shards import photo_to_target, sketch_to_input
    from sketchback.sketches.sketch import sketch_images
    from sketchback.data.synthetic import synthetic_image

    photos = np.stack([synthetic_image("faces", seed, i, size) for i in range(n)])
    return sketch_to_input(sketch_images(photos, "pencil", seed=seed)), photo_to_target(photos)


def terms(options, sketches: np.ndarray, photos: np.ndarray) -> dict[str, float]:
    import keras

    from sketchback.models.losses import feature_loss, pixel_loss, total_variation
    from sketchback.vgg import vgg_feature_extractor
    from sketchback.models.generators import build_generator

    keras.utils.set_random_seed(options.seed)
    generator = build_generator(options.architecture, options.base_filters, options.residual_blocks, 1,
                                options.downsamplings)
    extractor = vgg_feature_extractor("random", None, options.seed)
    pred = generator(sketches, training=False)
    lp = float(np.mean(pixel_loss(photos, pred)))
    lf = np.asarray(feature_loss(extractor, photos, pred))
    lv = float(np.mean(total_variation(pred)))
    rms, mse = float(np.mean(lf)), float(np.mean(lf ** 2))
    return {"Lp": lp, "Lf_rms": rms, "Lf_mse": mse, "Lv": lv,
            "wp*Lp": options.pixel_weight * lp, "wf*Lf_rms": options.feature_weight * rms,
            "wf*Lf_mse": options.feature_weight * mse, "wv*Lv": options.tv_weight * lv}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--models", nargs="+", default=DEFAULT, help="config.yaml:model pairs")
    args = parser.parse_args(argv)
    print("| config:model | architecture | size | Lp | Lf (RMS) | Lf² (MSE) | Lv | wp·Lp | wf·Lf (RMS) | "
          "wf·Lf² (MSE) | wv·Lv | wf·Lf/wp·Lp RMS | MSE |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for spec in args.models:
        config_path, model = spec.split(":")
        options = options_of(config_path, model)
        t = terms(options, *batch(options.image_size, args.batch))
        print(f"| {spec} | {options.architecture} | {options.image_size} | {t['Lp']:.4f} | {t['Lf_rms']:.4g} | "
              f"{t['Lf_mse']:.4g} | {t['Lv']:.4g} | {t['wp*Lp']:.4f} | {t['wf*Lf_rms']:.4g} | {t['wf*Lf_mse']:.4g} | "
              f"{t['wv*Lv']:.3g} | {t['wf*Lf_rms'] / t['wp*Lp']:.3g} | {t['wf*Lf_mse'] / t['wp*Lp']:.3g} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
