"""Set-level scores: FID and KID of a model's predictions against its test photos.

Per-image metrics (PSNR, SSIM, the feature distance) ask how close each prediction is to its own
photo; these ask how far the set of predictions is from the set of photos, as a distribution of
feature vectors (``metrics.frechet_distance``, ``metrics.kernel_inception_distance``). The feature
network is ``evaluation.fid_network``:

* ``inception``: the reference, TTUR's inception-2015-12-05 ``pool_3`` (``sketchback.evaluation.inception``),
  the network of published FIDs;
* ``random``: a seeded stand-in for the offline demo, which cannot download that graph: the random-filter
  VGG16 of ``sketchback.vgg`` (the feature distance's, same seed), its last convolution
  (``STAND_IN_LAYER``) averaged over positions, 512-d. Its numbers measure the same kind of distance
  but on other features: they are **not comparable with published FIDs**, and say so wherever shown.

Images go in as uint8 (predictions rounded to 0..255, as if saved as PNGs). FID is biased upward
on small sets (below ``FID_RELIABLE_N`` images its 2048-d covariance is rank-deficient); KID is not:
``fid_caveats`` is the text shown next to such a number.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from sketchback.evaluation.metrics import frechet_distance, kernel_inception_distance
from sketchback.io import atomic_path

log = logging.getLogger(__name__)

STAND_IN = "random"
STAND_IN_LAYER = "block5_conv3"
# FID's covariance is D x D (2048 for Inception): on fewer images it is rank-deficient and FID biased upward.
FID_RELIABLE_N = 2048
INCEPTION_PIXELS = 299 * 299  # the size the graph resizes every image to
NETWORK_LABELS = {
    "inception": "Inception pool_3 (TTUR's inception-2015-12-05 graph)",
    STAND_IN: f"random-filter stand-in, not comparable with published FIDs (seeded VGG16 {STAND_IN_LAYER}, "
              f"average-pooled)",
}
# The set-level file next to each metrics.csv, one row.
COLUMNS = ["model", "dataset", "method", "hints", "fid_network", "n_images", "fid", "kid_mean", "kid_std",
           "kid_subsets", "kid_subset_size"]


@dataclass(frozen=True)
class DistributionOptions:
    """How an evaluation scores its set: ``evaluation.fid_network``, ``kid_subsets``, ``kid_subset_size``; the
    Inception graph file (and its pinned sha256) where the network is ``inception``; ``seed`` seeds the
    stand-in's filters and KID's subsets."""

    network: str
    kid_subsets: int
    kid_subset_size: int
    seed: int
    graph: str | Path | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class FeatureNetwork:
    """A named network: ``features(uint8 images (N, H, W, 3), batch_size) -> (N, D) float64``."""

    name: str
    features: Callable[[np.ndarray, int], np.ndarray]


def _inception(options: DistributionOptions) -> FeatureNetwork:
    from sketchback.evaluation.inception import inception_features, inception_network

    if options.graph is None:
        raise ValueError("evaluation.fid_network: inception needs the graph file "
                         "(resources/inception/classify_image_graph_def.pb, rule download_inception)")
    network = inception_network(options.graph, options.sha256)

    def features(images: np.ndarray, batch_size: int) -> np.ndarray:
        # The graph resizes every image to 299 x 299 itself: a call holds as many pixels as batch_size
        # images at their own size would (the caller's memory bound), at least one image.
        pixels = batch_size * images.shape[1] * images.shape[2]
        return inception_features(images, network, max(1, min(batch_size, pixels // INCEPTION_PIXELS)))

    return FeatureNetwork("inception", features)


def stand_in_extractor(seed: int):
    """The seeded random-filter VGG16 to ``STAND_IN_LAYER``, global-average-pooled: a Keras model taking
    ``vgg_preprocess``-ed images, giving (N, 512)."""
    import keras

    from sketchback.vgg import vgg16_notop

    vgg = vgg16_notop("random", seed=seed, config_key="evaluation.fid_network")
    pooled = keras.layers.GlobalAveragePooling2D()(vgg.get_layer(STAND_IN_LAYER).output)
    extractor = keras.Model(vgg.input, pooled, name=f"random_vgg16_{STAND_IN_LAYER}")
    extractor.trainable = False
    return extractor


def _stand_in(options: DistributionOptions) -> FeatureNetwork:
    from sketchback.vgg import vgg_preprocess

    extractor = stand_in_extractor(options.seed)

    def features(images: np.ndarray, batch_size: int) -> np.ndarray:
        parts = [np.asarray(extractor(vgg_preprocess(images[start:start + batch_size].astype(np.float32) / 255.0),
                                      training=False), dtype=np.float64)
                 for start in range(0, len(images), batch_size)]
        return np.concatenate(parts) if parts else np.empty((0, extractor.output_shape[-1]))

    return FeatureNetwork(STAND_IN, features)


NETWORKS = {"inception": _inception, STAND_IN: _stand_in}


def feature_network(options: DistributionOptions) -> FeatureNetwork:
    """The network ``options.network`` names, built; an unknown name is refused naming the key."""
    if options.network not in NETWORKS:
        raise ValueError(f"evaluation.fid_network: {options.network!r} is not a feature network "
                         f"(known: {', '.join(NETWORKS)})")
    return NETWORKS[options.network](options)


def as_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] rounded to uint8 (uint8 passes as it is)."""
    images = np.asarray(images)
    return images if images.dtype == np.uint8 else np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)


class SetFeatures:
    """The features of a set of predictions and of their photos, added shard by shard."""

    def __init__(self, network: FeatureNetwork):
        self.network = network
        self.predictions: list[np.ndarray] = []
        self.truths: list[np.ndarray] = []

    def add(self, predictions: np.ndarray, truths: np.ndarray, batch_size: int) -> None:
        """predictions, truths: (N, H, W, 3), floats in [0, 1] or uint8; ``batch_size`` images per network call."""
        self.predictions.append(self.network.features(as_uint8(predictions), batch_size))
        self.truths.append(self.network.features(as_uint8(truths), batch_size))

    def scores(self, subsets: int, subset_size: int, seed: int) -> dict:
        return distribution_scores(np.concatenate(self.predictions), np.concatenate(self.truths),
                                   network=self.network.name, subsets=subsets, subset_size=subset_size, seed=seed)

    def write(self, path: str | Path, options: DistributionOptions, **keys) -> pd.DataFrame:
        """Score the set with KID's ``options`` and write it to ``path`` (keys: model, dataset, method, hints)."""
        return write_distribution(path, self.scores(options.kid_subsets, options.kid_subset_size, options.seed), **keys)


def distribution_scores(predictions: np.ndarray, truths: np.ndarray, *, network: str, subsets: int,
                        subset_size: int, seed: int) -> dict:
    """FID and KID of two feature sets (N, D): {fid_network, n_images, fid, kid_mean, kid_std, kid_subsets,
    kid_subset_size}, the subset size as used (capped by the smaller set, as clean-fid does). A set of fewer
    than 2 images has no covariance: its scores are NaN (logged), not an error that stops the evaluation."""
    n = min(len(predictions), len(truths))
    scores = {"fid_network": network, "n_images": n, "kid_subsets": subsets, "kid_subset_size": min(subset_size, n)}
    if n < 2:
        log.warning("FID and KID need at least 2 images per set, this one has %d: written as NaN", n)
        return {**scores, "fid": math.nan, "kid_mean": math.nan, "kid_std": math.nan}
    kid_mean, kid_std = kernel_inception_distance(predictions, truths, subsets, subset_size, seed)
    return {**scores, "fid": frechet_distance(predictions, truths), "kid_mean": kid_mean, "kid_std": kid_std}


def write_distribution(path: str | Path, scores: dict, **keys) -> pd.DataFrame:
    """Write one evaluation's set-level scores (``COLUMNS``; keys: model, dataset, method, hints)."""
    frame = pd.DataFrame([{**keys, **scores}], columns=COLUMNS)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    row = frame.iloc[0]
    log.info("%s/%s/%s: FID %.4g, KID %.4g ± %.2g on %d images (%s)%s", row["model"], row["dataset"], row["method"],
             row["fid"], row["kid_mean"], row["kid_std"], row["n_images"], row["fid_network"],
             "".join(f"; {note}" for note in fid_caveats(row["n_images"], row["fid_network"])))
    return frame


def read_distributions(paths: list[str | Path]) -> pd.DataFrame:
    """The set-level files of several evaluations as one table, keyed by model, dataset, method, hints."""
    frames = [pd.read_csv(path) for path in paths]
    for path, frame in zip(paths, frames):
        missing = [c for c in COLUMNS if c not in frame]
        if missing:
            raise ValueError(f"{path} lacks {', '.join(missing)}; rerun the evaluate rule that makes it")
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    table["hints"] = table["hints"].fillna(0).astype(int)
    return table


# --------------------------------------------------------------------------- what people read next to a score


def small_set_warning(n_images: int) -> str | None:
    """The warning shown next to an FID on fewer than ``FID_RELIABLE_N`` images, else None."""
    if n_images is None or (isinstance(n_images, float) and math.isnan(n_images)) or n_images >= FID_RELIABLE_N:
        return None
    return (f"FID on n={int(n_images)} images: biased upward at this size, compare only at equal n; "
            f"KID is unbiased")


def fid_caveats(n_images: int, network: str) -> list[str]:
    """What a reader must know about an FID/KID: the small-set warning, the stand-in's label."""
    notes = [small_set_warning(n_images)]
    if network == STAND_IN:
        notes.append(f"features: {NETWORK_LABELS[STAND_IN]}")
    return [note for note in notes if note]


def fid_note(n_images: int, network: str) -> str:
    """``fid_caveats`` as one line for a table's ``fid_note`` column ("" when there is nothing to say)."""
    if not isinstance(network, str):  # no set-level scores for this row
        return ""
    return "; ".join(fid_caveats(n_images, network))
