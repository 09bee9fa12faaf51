"""Dataset sources: how raw images arrive under ``resources/{dataset}/``.

Every source writes its files and then a ``manifest.csv``: column ``path`` (relative to the
dataset folder), and where the source has them ``split`` (an official partition: train, val or
test; empty where the images are to be split by the configured fractions), ``group`` (images that
must stay in one split, e.g. the five views of one building) and ``sketch`` (the hand-drawn sketch
of the image). The manifest is written last and atomically, so its presence means the download is
complete; it is not rewritten when its content is unchanged.

``synthetic_faces`` / ``synthetic_buildings`` generate seeded stand-ins for CelebA and ZuBuD so the
whole study runs offline. The real sources (``REAL_SOURCES``) fetch their published files with
``sketchback.data.fetch`` (a file placed by hand at ``resources/{dataset}/{file}`` is verified and used),
unpack archives with ``sketchback.data.extract`` and verify the layout before writing the manifest.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import pandas as pd

from sketchback.data.extract import LayoutError, extract, require_files, verify_archive
from sketchback.data.fetch import Limits, fetch, pinned
from sketchback.io import atomic_path
from sketchback.logs import job_log
from sketchback.data.synthetic import synthetic_image

log = logging.getLogger(__name__)

MANIFEST = "manifest.csv"
HANDDRAWN = "handdrawn"  # the artists' sketches of a source that ships them (CUHK), not a simulation
SYNTHETIC_SOURCES = ("synthetic_faces", "synthetic_buildings")
# Keys of a source block that say where files come from, not what they are (see source_content).
LOCATION_KEYS = ("urls", "mirrors")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class RealSource:
    """A published dataset: the files to fetch and how to turn their layout into a manifest."""

    description: str
    files: tuple[str, ...]  # file names under resources/{dataset}/, as published
    archives: dict[str, str]  # archive file -> folder (relative to the dataset folder) it unpacks into
    n_images: int  # the published number of images (or of photo/sketch pairs)
    index: Callable[[Path, int], pd.DataFrame]  # (dataset folder, n_images) -> verified manifest
    handdrawn: bool = False  # the manifest has a `sketch` column of hand-drawn sketches


def _fix(dataset_dir: Path) -> str:
    return (f"If an archive in {dataset_dir} is incomplete or another version, delete it and what was unpacked "
            f"from it, then run the download again (or place the published file there by hand)")


def _locate(root: Path, folder: str, depth: int = 2) -> Path:
    """``root/folder`` or the first ``folder`` found up to ``depth`` levels below ``root``."""
    candidates = [root / folder]
    for level in range(1, depth + 1):
        candidates += sorted(root.glob("/".join(["*"] * level) + f"/{folder}"))
    for candidate in candidates:
        if candidate.is_dir() and not candidate.name.startswith("."):
            return candidate
    raise LayoutError(f"{root}: folder {folder}/ not found after extraction. {_fix(root)}")


def _images_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _check_count(root: Path, found: int, expected: int, what: str) -> None:
    if found != expected:
        raise LayoutError(f"{root}: found {found:,} {what}, expected {expected:,}. {_fix(root)} (or set "
                          f"source.n_images if you use a deliberately different version)")


# CelebA ------------------------------------------------------------------------------------------
CELEBA_PARTITION = "list_eval_partition.txt"
CELEBA_SPLITS = {"0": "train", "1": "val", "2": "test"}


def read_celeba_partition(path: Path) -> pd.DataFrame:
    """The official partition: lines ``000001.jpg 0`` (0 train, 1 val, 2 test) -> columns name, split."""
    names, splits = [], []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or fields[1] not in CELEBA_SPLITS or not fields[0].lower().endswith(".jpg"):
            raise ValueError(f"{path}, line {number}: {line.strip()!r} is not '<image>.jpg <0|1|2>'; the file is "
                             f"damaged: delete it and download it again")
        names.append(fields[0])
        splits.append(CELEBA_SPLITS[fields[1]])
    return pd.DataFrame({"name": names, "split": splits})


def index_celeba(dataset_dir: Path, n_images: int) -> pd.DataFrame:
    """Aligned faces img_align_celeba/NNNNNN.jpg, split by the official partition file."""
    partition = read_celeba_partition(dataset_dir / CELEBA_PARTITION)
    _check_count(dataset_dir, len(partition), n_images, f"entries in {CELEBA_PARTITION}")
    folder = _locate(dataset_dir, "img_align_celeba")
    paths = [(folder / name).relative_to(dataset_dir).as_posix() for name in partition["name"]]
    require_files(dataset_dir, paths, f"CelebA images listed in {CELEBA_PARTITION}", _fix(dataset_dir))
    return pd.DataFrame({"path": paths, "split": partition["split"]})


# ZuBuD -------------------------------------------------------------------------------------------
ZUBUD_VIEWS = 5


def index_zubud(dataset_dir: Path, n_images: int) -> pd.DataFrame:
    """Buildings png-ZuBuD/objectNNNN.viewNN.png (5 views each); the views of a building form a group."""
    if n_images % ZUBUD_VIEWS:
        raise ValueError(f"ZuBuD has {ZUBUD_VIEWS} views per building; source.n_images {n_images} is not a multiple")
    folder = _locate(dataset_dir, "png-ZuBuD")
    objects = [f"object{o:04d}" for o in range(1, n_images // ZUBUD_VIEWS + 1)]
    paths = [(folder / f"{obj}.view{v:02d}.png").relative_to(dataset_dir).as_posix()
             for obj in objects for v in range(1, ZUBUD_VIEWS + 1)]
    require_files(dataset_dir, paths, "ZuBuD building photos", _fix(dataset_dir))
    return pd.DataFrame({"path": paths, "group": [obj for obj in objects for _ in range(ZUBUD_VIEWS)]})


# CUHK CUFS (student set) -------------------------------------------------------------------------
CUHK_FOLDERS = {"training_88": None, "testing_100": "test"}  # folder -> official split (None: train/val by fractions)


def cuhk_key(path: str | Path) -> str:
    """The pairing key of a CUHK photo or sketch name.

    Photos are named like f-005-01.jpg, f1-001-01.jpg, m-063-01.jpg; their sketches add ``-sz1``
    and for some persons a ``2`` after the sex letter, in either case: F2-005-01-sz1.jpg.
    """
    stem = Path(path).stem.lower()
    if stem.endswith("-sz1"):
        stem = stem[: -len("-sz1")]
        stem = re.sub(r"^([fm])2-", r"\1-", stem)
    return stem


def index_cuhk(dataset_dir: Path, n_images: int) -> pd.DataFrame:
    """Photo/hand-drawn sketch pairs matched by name within training_88/ and testing_100/.

    The 100 testing pairs are the test split; the 88 training pairs are split into train and val by
    the configured fractions.
    """
    rows, problems = [], []
    for folder_name, split in CUHK_FOLDERS.items():
        folder = dataset_dir / folder_name
        if not folder.is_dir():
            raise LayoutError(f"{folder} is missing. {_fix(dataset_dir)}")
        photos, sketches = {}, {}
        for image in _images_below(folder):
            side = sketches if image.stem.lower().endswith("-sz1") else photos
            side[cuhk_key(image)] = image.relative_to(dataset_dir).as_posix()
        problems += [f"photo {photos[k]} has no sketch" for k in sorted(set(photos) - set(sketches))]
        problems += [f"sketch {sketches[k]} has no photo" for k in sorted(set(sketches) - set(photos))]
        rows += [(photos[k], sketches[k], split) for k in sorted(set(photos) & set(sketches))]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise LayoutError(f"{dataset_dir}: {len(problems)} CUHK images cannot be paired by name: {shown}. "
                          f"{_fix(dataset_dir)}")
    _check_count(dataset_dir, len(rows), n_images, "CUHK photo/sketch pairs")
    return pd.DataFrame(rows, columns=["path", "sketch", "split"])


# LFW ---------------------------------------------------------------------------------------------
def index_lfw(dataset_dir: Path, n_images: int) -> pd.DataFrame:
    """Faces lfw/<Person_Name>/<Person_Name>_NNNN.jpg; the images of one person form a group."""
    folder = _locate(dataset_dir, "lfw")
    images = [p for p in _images_below(folder) if p.parent.parent == folder]
    _check_count(dataset_dir, len(images), n_images, f"images in person folders under {folder.relative_to(dataset_dir)}/")
    return pd.DataFrame({"path": [p.relative_to(dataset_dir).as_posix() for p in images],
                         "group": [p.parent.name for p in images]})


REAL_SOURCES: dict[str, RealSource] = {
    "celeba": RealSource(
        "CelebA aligned faces (MMLAB, CUHK): img_align_celeba.zip + list_eval_partition.txt",
        files=("img_align_celeba.zip", CELEBA_PARTITION), archives={"img_align_celeba.zip": ""},
        n_images=202_599, index=index_celeba),
    "zubud": RealSource(
        "ZuBuD Zurich buildings (ETH Zurich): ZuBuD.tar.gz, 201 buildings x 5 views",
        files=("ZuBuD.tar.gz",), archives={"ZuBuD.tar.gz": ""}, n_images=1005, index=index_zubud),
    "cuhk": RealSource(
        "CUHK CUFS student set (MMLAB, CUHK): cropped photos and hand-drawn sketches, 88 training + 100 testing",
        files=("CUHK_training_cropped_photos.zip", "CUHK_training_cropped_sketches.zip",
               "CUHK_testing_cropped_photos.zip", "CUHK_testing_cropped_sketches.zip"),
        archives={"CUHK_training_cropped_photos.zip": "training_88", "CUHK_training_cropped_sketches.zip": "training_88",
                  "CUHK_testing_cropped_photos.zip": "testing_100", "CUHK_testing_cropped_sketches.zip": "testing_100"},
        n_images=188, index=index_cuhk, handdrawn=True),
    "lfw": RealSource(
        "Labeled Faces in the Wild (UMass Amherst), lfw.tgz: 13,233 faces of 5,749 people",
        files=("lfw.tgz",), archives={"lfw.tgz": ""}, n_images=13_233, index=index_lfw),
}


def has_handdrawn_sketches(source_name: str) -> bool:
    """Whether a source ships hand-drawn sketches (a ``sketch`` column in its manifest)."""
    return source_name in REAL_SOURCES and REAL_SOURCES[source_name].handdrawn


def check_source(dataset: str, source: dict) -> None:
    """Raise ValueError naming the config key when a dataset's source block cannot work."""
    name, key = source["name"], f"datasets.{dataset}.source"
    if name in SYNTHETIC_SOURCES:
        for required in ("n_images", "raw_size"):
            if required not in source:
                raise ValueError(f"{key}.{required}: required by source {name}")
        for extra in ("files", "mirrors"):
            if extra in source:
                raise ValueError(f"{key}.{extra}: source {name} generates its images and downloads nothing")
        return
    if name not in REAL_SOURCES:
        raise ValueError(f"{key}.name: unknown source {name!r} (known: {', '.join(SYNTHETIC_SOURCES + tuple(REAL_SOURCES))})")
    if "raw_size" in source:
        raise ValueError(f"{key}.raw_size: only synthetic sources have it")
    spec, files = REAL_SOURCES[name], source.get("files") or {}
    for file in files:
        if file not in spec.files:
            raise ValueError(f"{key}.files.{file}: source {name} has no such file (its files: {', '.join(spec.files)})")
    for file in spec.files:
        if file not in files:
            raise ValueError(f"{key}.files: {file} is missing (source {name} needs {', '.join(spec.files)}; give each "
                             f"its urls and md5 or sha256, or an empty entry if you place it in resources/{dataset}/ "
                             f"by hand)")
        try:
            pinned({k: v for k, v in (files[file] or {}).items() if k not in LOCATION_KEYS})
        except ValueError as error:
            raise ValueError(f"{key}.files.{file}: {error}") from None


def source_content(source: dict) -> dict:
    """The part of a source block that decides the downloaded content: without URLs and mirrors.

    The download rule's parameters are this, so adding a mirror or changing a URL does not make
    Snakemake rerun the download and, after it, the whole study; the pinned checksums guard the
    content whichever URL it comes from.
    """
    out = {k: v for k, v in source.items() if k not in LOCATION_KEYS}
    if "files" in out:
        out["files"] = {f: {k: v for k, v in (e or {}).items() if k not in LOCATION_KEYS}
                        for f, e in out["files"].items()}
    return out


def file_urls(source: dict, file: str) -> list[str]:
    """Where to fetch one file from, in order: each of the source's mirrors + /file, then its own urls."""
    entry = (source.get("files") or {}).get(file) or {}
    return [f"{m.rstrip('/')}/{file}" for m in source.get("mirrors") or []] + list(entry.get("urls") or [])


def file_checksums(source: dict, file: str) -> dict[str, str]:
    entry = (source.get("files") or {}).get(file) or {}
    return pinned({k: v for k, v in entry.items() if k not in LOCATION_KEYS})


def manifest_text(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def write_manifest(dataset_dir: Path, frame: pd.DataFrame) -> Path:
    """Write ``manifest.csv`` atomically; an identical existing manifest is left untouched (same mtime)."""
    path = Path(dataset_dir) / MANIFEST
    text = manifest_text(frame)
    if path.is_file() and path.read_text() == text:
        log.info("%s: unchanged (%d images)", path, len(frame))
        return path
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    log.info("%s: %d images", path, len(frame))
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


def _marker(dataset_dir: Path, archive: str) -> Path:
    return dataset_dir / f".{archive}.extracted"


def _archive_stamp(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size} {stat.st_mtime_ns}\n"


def _extraction_recorded(dataset_dir: Path, archive: str) -> bool:
    """True when this archive was extracted by an earlier run and has not changed since.

    The archive may have been deleted after extraction (to save space): the extracted files count.
    """
    marker, path = _marker(dataset_dir, archive), dataset_dir / archive
    if not marker.is_file():
        return False
    return not path.exists() or marker.read_text() == _archive_stamp(path)


def download_real(dataset_dir: str | Path, source: dict, limits: Limits = Limits()) -> Path:
    """Fetch, verify and unpack a real source into ``dataset_dir``, then write its manifest.

    An archive without a pinned checksum is tested whole (``verify_archive``) before it is kept.
    Archives already unpacked by an earlier run are not fetched or unpacked again; if the layout
    check then finds files missing, they are unpacked (and if need be fetched) again once.
    """
    dataset_dir = Path(dataset_dir)
    spec = REAL_SOURCES[source["name"]]
    n_images = source.get("n_images", spec.n_images)
    dataset_dir.mkdir(parents=True, exist_ok=True)

    def obtain(trust_markers: bool) -> bool:
        trusted = False
        for file in spec.files:
            if file in spec.archives and trust_markers and _extraction_recorded(dataset_dir, file):
                log.info("%s: already extracted (%s)", file, _marker(dataset_dir, file).name)
                trusted = True
                continue
            path = fetch(file_urls(source, file), dataset_dir / file, file_checksums(source, file),
                         verify=verify_archive if file in spec.archives else None, limits=limits)
            if file in spec.archives:
                _marker(dataset_dir, file).unlink(missing_ok=True)
                extract(path, dataset_dir / spec.archives[file])
                _marker(dataset_dir, file).write_text(_archive_stamp(path))
        return trusted

    trusted = obtain(trust_markers=True)
    try:
        frame = spec.index(dataset_dir, n_images)
    except LayoutError as error:
        if not trusted:
            raise
        log.warning("%s; extracting the archives again", error)
        obtain(trust_markers=False)
        frame = spec.index(dataset_dir, n_images)
    return write_manifest(dataset_dir, frame)


def download(dataset_dir: str | Path, source: dict, seed: int, limits: Limits = Limits()) -> Path:
    """Fetch one dataset described by its config ``source`` block into ``dataset_dir``.

    limits (the config's ``download:`` block) say how hard ``sketchback.data.fetch.fetch`` tries, for real sources.
    """
    name = source["name"]
    if name in SYNTHETIC_SOURCES:
        return download_synthetic(dataset_dir, name.removeprefix("synthetic_"), source["n_images"], source["raw_size"], seed)
    if name in REAL_SOURCES:
        return download_real(dataset_dir, source, limits)
    raise ValueError(f"unknown dataset source {name!r}; known sources: {', '.join(SYNTHETIC_SOURCES + tuple(REAL_SOURCES))}")


def download_file(dest: str | Path, urls: list[str], md5: str | None = None, sha256: str | None = None,
                  limits: Limits = Limits(), verify: Callable[[Path], object] | None = None) -> Path:
    """Fetch one verified file (e.g. the VGG16 weights) to ``dest``; see ``sketchback.data.fetch.fetch``
    (``verify``: the check of a file without a pinned checksum)."""
    return fetch(urls, dest, {"md5": md5, "sha256": sha256}, limits=limits, verify=verify)


def run_download(manifest: str | Path, source: dict, seed: int, limits: dict, log_path: str | Path) -> Path:
    """Body of the download rule: ``download`` into the manifest's folder, logging to ``log_path``.

    limits: the config's ``download:`` block (fields of ``sketchback.data.fetch.Limits``).
    """
    with job_log(log_path):
        return download(Path(manifest).parent, source, seed, Limits(**limits))


def run_download_file(dest: str | Path, urls: list[str], md5: str | None, limits: dict, log_path: str | Path,
                      sha256: str | None = None, verify: Callable[[Path], object] | None = None) -> Path:
    """Body of the download_weights, download_released and download_original_example rules:
    ``download_file``, logging to ``log_path``."""
    with job_log(log_path):
        return download_file(dest, urls, md5=md5, sha256=sha256, limits=Limits(**limits), verify=verify)


def read_manifest(dataset_dir: str | Path) -> pd.DataFrame:
    path = Path(dataset_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the dataset was not downloaded completely; rerun its download rule")
    frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    if "path" not in frame.columns:
        raise ValueError(f"{path} has no 'path' column; delete the folder {path.parent} and download again")
    return frame
