"""Touching a manifest or index of more than 1 MB reruns nothing (CelebA's are 6.7 and 8 MB).

Snakemake compares the content of an input that is newer than its job's outputs only for files up
to --max-checksum-file-size (1 MB by default); bigger ones are judged by their modification time,
so a `touch` of CelebA's manifest.csv would rerun its split, all 72 prepare jobs and what follows.
workflow/profiles/default raises the limit. A real Snakemake run of a tiny LFW-layout source
served on 127.0.0.1, whose long person names make its manifest and index bigger than 1 MB.
"""

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from dataset_fixture import encode, tar_bytes
from http_fixture import LocalServer, Route
from snakemake_run import planned
from snakemake_run import snakemake as run_snakemake

REPO = Path(__file__).resolve().parents[1]
PEOPLE, PHOTOS = 300, 10  # 3,000 images
TARGETS = [f"results/prepared/lfw/{split}/000.npz" for split in ("train", "val", "test")]


def lfw_archive() -> bytes:
    """lfw.tgz with the real layout lfw/<Name>/<Name>_NNNN.jpg; names of 200 characters, images of 16 px."""
    image = encode((16, 16), 0)
    members = []
    for p in range(PEOPLE):
        name = f"Person_{p:03d}_" + "x" * 189
        members += [(f"lfw/{name}/{name}_{i:04d}.jpg", image) for i in range(1, PHOTOS + 1)]
    return tar_bytes(members)


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, None, "--cores", "2", *args, *TARGETS, timeout=600)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    archive = lfw_archive()
    workdir = tmp_path_factory.mktemp("large_manifest")
    with LocalServer() as server:
        server.routes["/lfw.tgz"] = Route(archive)
        config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
        config["image_size"] = 16
        config["superres"]["enabled"] = False  # its 48 px patches need image_size >= 24; not what this test is about
        config["datasets"]["lfw"] = {
            "source": {"name": "lfw", "n_images": PEOPLE * PHOTOS,
                       "files": {"lfw.tgz": {"urls": [server.url("/lfw.tgz")], "md5": hashlib.md5(archive).hexdigest()}}},
            "crop": None, "split": {"train": 0.8, "val": 0.1, "test": 0.1},
            "shards": {"train": 1, "val": 1, "test": 1}, "sketch_methods": ["pencil"]}
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        result = snakemake(workdir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return workdir


def test_touching_a_manifest_and_index_over_1_mb_reruns_nothing(study):
    manifest, index = study / "resources/lfw/manifest.csv", study / "results/prepared/lfw/index.csv"
    assert manifest.stat().st_size > 1_000_000 and index.stat().st_size > 1_000_000
    assert planned(snakemake(study, "-n")) == {}
    later = time.time() + 60
    for path in (manifest, index):
        os.utime(path, (later, later))  # copied, restored from a backup, or touched
    assert planned(snakemake(study, "-n")) == {}


def test_a_changed_index_still_reruns_what_reads_it(study):
    index = study / "results/prepared/lfw/index.csv"
    original = index.read_bytes()
    try:
        index.write_bytes(original + b"\n")
        assert planned(snakemake(study, "-n")) == {"prepare": 3}
    finally:
        index.write_bytes(original)
