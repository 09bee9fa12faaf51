"""Tiny stand-ins for the published dataset files, with each source's real layout and file names.

Each function returns {published file name: bytes}. Images are real JPEG/PNG files (small, seeded).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile

import cv2
import numpy as np


def encode(shape, seed, ext=".jpg"):
    """A seeded smooth colour image (H, W, 3) encoded as ext."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    image = cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def zip_bytes(members):
    """A .zip, byte-identical on every call (member dates fixed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2015, 1, 1, 0, 0, 0)), content)
    return buffer.getvalue()


def tar_bytes(members):
    """A .tar.gz, byte-identical on every call (gzip header time fixed at 0)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tf:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def md5(data):
    return hashlib.md5(data).hexdigest()


def celeba_files(n=12, missing=()):
    """img_align_celeba.zip (178x218 JPEGs 000001.jpg...) and list_eval_partition.txt (0/1/2)."""
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    parts = ["0"] * (n - n // 3) + ["1"] * (n // 6) + ["2"] * (n // 3 - n // 6)
    archive = zip_bytes([(f"img_align_celeba/{name}", encode((218, 178), i))
                         for i, name in enumerate(names) if name not in missing])
    partition = "".join(f"{name} {part}\r\n" for name, part in zip(names, parts)).encode()  # CRLF, as published
    return {"img_align_celeba.zip": archive, "list_eval_partition.txt": partition}


def zubud_files(n_objects=4):
    """ZuBuD.tar.gz: png-ZuBuD/objectNNNN.viewNN.png, 5 views per building."""
    members = [(f"png-ZuBuD/object{o:04d}.view{v:02d}.png", encode((60, 80), 100 * o + v, ".png"))
               for o in range(1, n_objects + 1) for v in range(1, 6)]
    return {"ZuBuD.tar.gz": tar_bytes(members)}


# Real CUHK names: photos f-005-01 / f1-001-01 / m-063-01 / m1-001-01, sketches F2-005-01-sz1,
# f1-001-01-sz1, m-063-01-sz1, M2-008-01-sz1 (the "2" marks a second sitting of the same person).
CUHK_TRAIN = [("f-005-01", "F2-005-01-sz1"), ("f-006-01", "F2-006-01-sz1"), ("m-008-01", "M2-008-01-sz1"),
              ("m-063-01", "m-063-01-sz1"), ("f-039-01", "f-039-01-sz1")]
CUHK_TEST = [("f1-001-01", "f1-001-01-sz1"), ("f1-002-01", "f1-002-01-sz1"), ("m1-001-01", "m1-001-01-sz1")]


def cuhk_files(drop_sketch=None):
    """The four cropped zips: photos/<name>.jpg and sketches/<name>-sz1.jpg, 200x250."""
    out = {}
    for split, pairs in (("training", CUHK_TRAIN), ("testing", CUHK_TEST)):
        out[f"CUHK_{split}_cropped_photos.zip"] = zip_bytes(
            [(f"photos/{photo}.jpg", encode((250, 200), i)) for i, (photo, _) in enumerate(pairs)])
        out[f"CUHK_{split}_cropped_sketches.zip"] = zip_bytes(
            [(f"sketches/{sketch}.jpg", encode((250, 200), 50 + i)) for i, (_, sketch) in enumerate(pairs)
             if sketch != drop_sketch])
    return out


def lfw_files():
    """lfw.tgz: lfw/<Person_Name>/<Person_Name>_NNNN.jpg."""
    people = {"Aaron_Eckhart": 1, "George_W_Bush": 4, "Tony_Blair": 3}
    members = [(f"lfw/{p}/{p}_{i:04d}.jpg", encode((250, 250), 7 * i + len(p))) for p, n in people.items()
               for i in range(1, n + 1)]
    return {"lfw.tgz": tar_bytes(members)}


def source_block(name, files, base_url, pin=True, **extra):
    """A config source block whose URLs point at the local server's /<name>/<file>."""
    block = {"name": name, "files": {}, **extra}
    for file, data in files.items():
        entry = {"urls": [f"{base_url}/{name}/{file}"]}
        if pin:
            entry["md5"] = md5(data)
        block["files"][file] = entry
    return block
