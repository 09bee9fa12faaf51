"""Full-size stand-ins for the published dataset files, with each source's real layout and counts.

Used by benchmarks/full_scale.py. The files cannot match the published checksums; their own md5s
are recorded in ``standins.json`` next to them, written last (its presence means the set is
complete, so a later run reuses the set as it is).

- ``celeba/img_align_celeba.zip``: 202,599 JPEGs of 178x218 px, ``img_align_celeba/000001.jpg`` ...,
  about 7.5 KB each (the real zip averages 7.1 KB); ``celeba/list_eval_partition.txt``: the
  official 162,770 / 19,867 / 19,962 split (``000001.jpg 0``, CRLF as published).
- ``zubud/ZuBuD.tar.gz``: 1,005 PNGs of 640x480, ``png-ZuBuD/objectNNNN.viewNN.png`` (about
  500 KB each; the real archive is about 486 MB).
- ``cuhk/CUHK_{training,testing}_cropped_{photos,sketches}.zip``: 88 + 100 photo/sketch pairs of
  200x250 px named as published (``f-005-01.jpg`` / ``F2-005-01-sz1.jpg``, ``f1-001-01-sz1.jpg``).
- ``lfw/lfw.tgz``: 13,233 JPEGs of 250x250 in 5,749 person folders ``lfw/<Name>/<Name>_NNNN.jpg``.

Images are ``sketchback.data.synthetic`` faces and buildings: a pool of distinct images, each file a
cheap per-index variation of one of them (a brightness shift and a small shift of the content),
JPEG-encoded afresh, so every file decodes like a real one. ``fraction`` scales the CelebA and
LFW counts (layouts kept) for quick development runs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import multiprocessing
import os
import tarfile
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np

from sketchback.data.synthetic import synthetic_image

CELEBA_SPLIT = (162_770, 19_867, 19_962)  # official partition: train, val, test
LFW_IMAGES, LFW_PEOPLE, LFW_SINGLETONS = 13_233, 5_749, 4_069  # 4,069 people have one photo
ZUBUD_OBJECTS, ZUBUD_VIEWS = 201, 5
CUHK_TRAIN, CUHK_TEST = 88, 100
POOL = 2_000  # distinct base faces
CHUNK = 2_000  # images per worker task
JPEG_QUALITY = 86  # ~7 KB per CelebA-sized synthetic face, like the real 7.1 KB

_pool: list[np.ndarray] = []  # base images, filled before the worker processes fork


def _vary(base: np.ndarray, index: int) -> np.ndarray:
    """A cheap, deterministic per-index variation of a base image: brightness and a small shift."""
    shift = (index // len(_pool)) % 9 - 4
    image = np.roll(base, shift, axis=1) if shift else base
    return cv2.add(image, (index % 13) * 2 - 12)


def _jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def _face_base(args) -> np.ndarray:
    seed, index, height, width = args
    side = max(height, width)
    image = synthetic_image("faces", seed, index, side)
    top, left = (side - height) // 2, (side - width) // 2
    return cv2.cvtColor(image[top:top + height, left:left + width], cv2.COLOR_RGB2BGR)


def _encode_chunk(indices: range) -> list[bytes]:
    return [_jpeg(_vary(_pool[i % len(_pool)], i)) for i in indices]


def _building(args) -> list[bytes]:
    seed, obj = args
    base = cv2.cvtColor(synthetic_image("buildings", seed, obj, 640), cv2.COLOR_RGB2BGR)
    views = []
    for view in range(ZUBUD_VIEWS):
        top = 40 + 20 * view  # each view sees the building from a little higher
        image = cv2.add(base[top:top + 480], view * 3)
        ok, data = cv2.imencode(".png", image)
        assert ok
        views.append(data.tobytes())
    return views


def _chunks(n: int) -> list[range]:
    return [range(lo, min(lo + CHUNK, n)) for lo in range(0, n, CHUNK)]


def _progress(what: str, done: int, total: int, start: float) -> None:
    rate = done / max(time.perf_counter() - start, 1e-9)
    print(f"  {what}: {done:,}/{total:,} ({rate:,.0f}/s)", flush=True)


def _faces(processes: int, seed: int, n: int, height: int, width: int, members, write, what: str) -> None:
    """Encode n face JPEGs in worker processes, handing (member name, bytes) to ``write`` in order."""
    global _pool
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        _pool = pool.map(_face_base, [(seed, i, height, width) for i in range(min(POOL, n))], chunksize=50)
    print(f"  {what}: {len(_pool):,} base faces in {time.perf_counter() - start:.0f} s", flush=True)
    start, done = time.perf_counter(), 0
    with multiprocessing.get_context("fork").Pool(processes) as pool:  # forked after _pool exists
        for chunk, encoded in zip(_chunks(n), pool.imap(_encode_chunk, _chunks(n))):
            for i, data in zip(chunk, encoded):
                write(members(i), data)
            done += len(chunk)
            if done % (10 * CHUNK) == 0 or done == n:
                _progress(what, done, n, start)
    _pool = []


def _zip_writer(zf: zipfile.ZipFile):
    def write(name: str, data: bytes) -> None:
        zf.writestr(zipfile.ZipInfo(name, date_time=(2015, 9, 28, 12, 0, 0)), data, compress_type=zipfile.ZIP_DEFLATED,
                    compresslevel=1)
    return write


def _tar_writer(tf: tarfile.TarFile):
    def write(name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 1_190_000_000, 0o644
        tf.addfile(info, io.BytesIO(data))
    return write


def _tar_gz(path: Path):
    raw = open(path, "wb")
    gz = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
    return raw, gz, tarfile.open(fileobj=gz, mode="w")


def celeba_split(n: int) -> tuple[int, int, int]:
    """The official partition's train/val/test counts, scaled to n images."""
    train = round(CELEBA_SPLIT[0] * n / sum(CELEBA_SPLIT))
    val = round(CELEBA_SPLIT[1] * n / sum(CELEBA_SPLIT))
    return train, val, n - train - val


def build_celeba(folder: Path, n: int, processes: int, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    train, val, test = celeba_split(n)
    lines = [f"{i:06d}.jpg {part}\r\n" for i, part in zip(range(1, n + 1), ["0"] * train + ["1"] * val + ["2"] * test)]
    (folder / "list_eval_partition.txt").write_text("".join(lines), newline="")
    tmp = folder / ".img_align_celeba.zip.part"
    with zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr(zipfile.ZipInfo("img_align_celeba/", date_time=(2015, 9, 28, 12, 0, 0)), b"")
        _faces(processes, seed, n, 218, 178, lambda i: f"img_align_celeba/{i + 1:06d}.jpg", _zip_writer(zf),
               "celeba img_align_celeba.zip")
    tmp.rename(folder / "img_align_celeba.zip")


def lfw_people(n_images: int, n_people: int, n_singletons: int) -> list[int]:
    """Photos per person: n_singletons with one, the rest spread with a long tail (like LFW's 530 of G. W. Bush)."""
    counts = [1] * n_singletons
    rest, extra = n_people - n_singletons, n_images - n_singletons
    weights = 1.0 / np.arange(1, rest + 1) ** 1.1
    share = np.maximum(2, np.floor(weights / weights.sum() * extra)).astype(int)
    share[-1] += extra - share.sum()  # exact total
    order = np.argsort(share, kind="stable")
    share = share[order]  # ascending: fix up a negative remainder on the smallest
    while share.min() < 2:
        low, high = share.argmin(), share.argmax()
        share[high] -= 2 - share[low]
        share[low] = 2
    return counts + sorted(share.tolist(), reverse=True)


def build_lfw(folder: Path, n: int, people: int, singletons: int, processes: int, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    counts = lfw_people(n, people, singletons)
    names = [f"Person_{p:04d}" for p in range(len(counts))]
    members = [f"lfw/{name}/{name}_{k:04d}.jpg" for name, count in zip(names, counts) for k in range(1, count + 1)]
    assert len(members) == n, (len(members), n)
    tmp = folder / ".lfw.tgz.part"
    raw, gz, tf = _tar_gz(tmp)
    with raw, gz, tf:
        _faces(processes, seed + 1, n, 250, 250, members.__getitem__, _tar_writer(tf), "lfw lfw.tgz")
    tmp.rename(folder / "lfw.tgz")


def build_zubud(folder: Path, processes: int, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".ZuBuD.tar.gz.part"
    raw, gz, tf = _tar_gz(tmp)
    start = time.perf_counter()
    with raw, gz, tf, multiprocessing.get_context("fork").Pool(processes) as pool:
        write = _tar_writer(tf)
        for obj, views in enumerate(pool.imap(_building, [(seed, o) for o in range(1, ZUBUD_OBJECTS + 1)]), 1):
            for view, data in enumerate(views, 1):
                write(f"png-ZuBuD/object{obj:04d}.view{view:02d}.png", data)
            if obj % 50 == 0 or obj == ZUBUD_OBJECTS:
                _progress("zubud ZuBuD.tar.gz", obj * ZUBUD_VIEWS, ZUBUD_OBJECTS * ZUBUD_VIEWS, start)
    tmp.rename(folder / "ZuBuD.tar.gz")


def cuhk_names(split: str, n: int) -> list[tuple[str, str]]:
    """(photo, sketch) stems as published: training f-005-01 / F2-005-01-sz1 or m-063-01 / m-063-01-sz1;
    testing f1-001-01 / f1-001-01-sz1."""
    pairs = []
    for i in range(1, n + 1):
        sex = "f" if i % 3 else "m"
        if split == "training":
            photo = f"{sex}-{i:03d}-01"
            sketch = f"{sex.upper()}2-{i:03d}-01-sz1" if i % 2 else f"{photo}-sz1"
        else:
            photo = f"{sex}1-{i:03d}-01"
            sketch = f"{photo}-sz1"
        pairs.append((photo, sketch))
    return pairs


def _pencil(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    blur = cv2.GaussianBlur(255 - grey, (21, 21), 0)
    return cv2.divide(grey, 255 - blur, scale=256)


def build_cuhk(folder: Path, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("training", CUHK_TRAIN), ("testing", CUHK_TEST)):
        photos, sketches = [], []
        for i, (photo, sketch) in enumerate(cuhk_names(split, n)):
            image = _face_base((seed + 2, i + (0 if split == "training" else CUHK_TRAIN), 250, 200))
            photos.append((f"photos/{photo}.jpg", _jpeg(image)))
            sketches.append((f"sketches/{sketch}.jpg", _jpeg(_pencil(image))))
        for kind, members in (("photos", photos), ("sketches", sketches)):
            with zipfile.ZipFile(folder / f"CUHK_{split}_cropped_{kind}.zip", "w") as zf:
                write = _zip_writer(zf)
                for name, data in members:
                    write(name, data)
    print(f"  cuhk: {CUHK_TRAIN} + {CUHK_TEST} photo/sketch pairs", flush=True)


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def counts(fraction: float) -> dict:
    """Images per source at this fraction (CelebA and LFW scale; ZuBuD and CUHK are small and stay whole)."""
    celeba = max(30, round(sum(CELEBA_SPLIT) * fraction))
    people = max(3, round(LFW_PEOPLE * fraction))
    return {"celeba": celeba, "zubud": ZUBUD_OBJECTS * ZUBUD_VIEWS, "cuhk": CUHK_TRAIN + CUHK_TEST,
            "lfw": max(people + 2, round(LFW_IMAGES * fraction)), "lfw_people": people,
            "lfw_singletons": round(people * LFW_SINGLETONS / LFW_PEOPLE)}


def build(root: str | Path, fraction: float = 1.0, processes: int | None = None, seed: int = 0,
          lfw: bool = True) -> dict:
    """Build (or reuse) the stand-ins under ``root/<full|fraction-F>/``; returns the recorded description:
    ``{"folder", "fraction", "counts", "files": {dataset: {file: {"path", "md5", "bytes"}}}}``."""
    folder = Path(root) / ("full" if fraction >= 1 else f"fraction-{fraction:g}")
    record = folder / "standins.json"
    if record.is_file():
        described = json.loads(record.read_text())
        if lfw <= ("lfw" in described["files"]):
            print(f"stand-ins: reusing {folder}", flush=True)
            return described
    processes = processes or os.cpu_count() or 1
    n = counts(fraction)
    print(f"stand-ins: building in {folder} with {processes} processes: {n}", flush=True)
    start = time.perf_counter()
    builders = {
        "celeba": lambda d: build_celeba(d, n["celeba"], processes, seed),
        "zubud": lambda d: build_zubud(d, processes, seed),
        "cuhk": lambda d: build_cuhk(d, seed),
    }
    if lfw:
        builders["lfw"] = lambda d: build_lfw(d, n["lfw"], n["lfw_people"], n["lfw_singletons"], processes, seed)
    files = {}
    for dataset, make in builders.items():
        directory = folder / dataset
        if not directory.is_dir() or not any(p.name.endswith((".zip", ".gz", ".tgz")) for p in directory.iterdir()):
            make(directory)
        files[dataset] = {p.name: {"path": str(p), "md5": md5(p), "bytes": p.stat().st_size}
                          for p in sorted(directory.iterdir()) if not p.name.startswith(".")}
    described = {"folder": str(folder), "fraction": fraction, "counts": n, "files": files}
    record.write_text(json.dumps(described, indent=1))
    print(f"stand-ins: built in {time.perf_counter() - start:.0f} s", flush=True)
    return described


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/work/fullscale/standins")
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args()
    print(json.dumps(build(args.workdir, args.fraction, args.processes), indent=1))
