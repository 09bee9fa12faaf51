"""Dataset sources: how raw images arrive under ``resources/{dataset}/``.

Every source writes its files and then a ``manifest.csv`` (columns ``path`` relative to the
dataset folder, optional ``split`` when the dataset has an official partition). The manifest is
written last and atomically, so its presence means the download is complete.

``synthetic_faces`` / ``synthetic_buildings`` generate seeded stand-ins for CelebA and ZuBuD so
the whole study runs offline. The real sources are registered with their published locations;
their downloaders arrive with the real-data stage (see README, "Real datasets").
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import pandas as pd

from sketchback.io import atomic_path
from sketchback.synthetic import synthetic_image

log = logging.getLogger(__name__)

MANIFEST = "manifest.csv"

# Published locations of the study's real data (see README and DESIGN notes).
REAL_SOURCES = {
    "celeba": "CelebA aligned faces, img_align_celeba.zip + list_eval_partition.txt (Google Drive)",
    "zubud": "ZuBuD buildings, ZuBuD.tar.gz + qimages.tar.gz (ETH Zurich)",
    "cuhk": "CUHK CUFS student photo/sketch pairs (CUHK MMLab)",
    "lfw": "LFW faces, lfw.tgz (figshare)",
}


def write_manifest(dataset_dir: Path, frame: pd.DataFrame) -> Path:
    path = Path(dataset_dir) / MANIFEST
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def download_synthetic(dataset_dir: str | Path, kind: str, n_images: int, raw_size: int, seed: int) -> Path:
    """Generate ``n_images`` synthetic ``kind`` images (PNG, raw_size px) and their manifest."""
    dataset_dir = Path(dataset_dir)
    (dataset_dir / "images").mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(n_images):
        rel = f"images/{index:06d}.png"
        image = synthetic_image(kind, seed, index, raw_size)
        with atomic_path(dataset_dir / rel) as tmp:
            cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        paths.append(rel)
        if (index + 1) % 500 == 0 or index + 1 == n_images:
            log.info("%s: generated %d/%d %s images", dataset_dir.name, index + 1, n_images, kind)
    return write_manifest(dataset_dir, pd.DataFrame({"path": paths}))


def download(dataset_dir: str | Path, source: dict, seed: int) -> Path:
    """Fetch one dataset described by its config ``source`` block into ``dataset_dir``."""
    name = source["name"]
    if name in ("synthetic_faces", "synthetic_buildings"):
        return download_synthetic(dataset_dir, name.removeprefix("synthetic_"), source["n_images"], source["raw_size"], seed)
    if name in REAL_SOURCES:
        raise NotImplementedError(
            f"automatic download of source {name!r} ({REAL_SOURCES[name]}) is not available in this "
            f"version; run the demo (config/demo.yaml) or see the README section 'Real datasets'"
        )
    raise ValueError(f"unknown dataset source {name!r}; known sources: synthetic_faces, synthetic_buildings, {', '.join(REAL_SOURCES)}")


def read_manifest(dataset_dir: str | Path) -> pd.DataFrame:
    path = Path(dataset_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the dataset was not downloaded completely; rerun its download rule")
    frame = pd.read_csv(path)
    if "path" not in frame.columns:
        raise ValueError(f"{path} has no 'path' column; delete the folder {path.parent} and download again")
    return frame
