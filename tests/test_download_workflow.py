"""The real download -> prepare path through the real Snakemake, fetching from a local mirror.

A test HTTP server on 127.0.0.1 serves tiny archives with the real layouts and names; the config
points every URL at it. Only the download, split, prepare and hand-drawn sketch jobs run.
"""

import copy
import hashlib
import os

import numpy as np
import pandas as pd
import pytest
import snakemake_run
import yaml
from dataset_fixture import celeba_files, cuhk_files, source_block, zubud_files
from http_fixture import LocalServer, Route
from snakemake_run import REPO, planned

from sketchback.io import load_npz
FILES = {"celeba": celeba_files(12), "zubud": zubud_files(4), "cuhk": cuhk_files()}


DRIVE_IDS = {"img_align_celeba.zip": "0B7EVK8r0v71pZjFTYXZWM3FlRnM", "list_eval_partition.txt": "0B7EVK8r0v71pY0NSMzRuSXJEVkk"}


def study_config(base_url):
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["image_size"] = 32
    celeba = source_block("celeba", FILES["celeba"], base_url, n_images=12)
    for file, entry in celeba["files"].items():  # CelebA from the Google Drive imitation, as config.yaml has it
        entry["urls"] = [f"{base_url}/uc?export=download&id={DRIVE_IDS[file]}"]
    config["datasets"]["faces"].update(source=celeba, crop=[40, 19, 140, 140], shards={"train": 2, "val": 1, "test": 1})
    config["datasets"]["buildings"].update(source={"name": "synthetic_buildings", "n_images": 12, "raw_size": 64},
                                           shards={"train": 1, "val": 1, "test": 1})
    config["datasets"]["zubud"] = {
        "source": source_block("zubud", FILES["zubud"], base_url, pin=False, n_images=20), "crop": None,
        "split": {"train": 0.5, "val": 0.25, "test": 0.25}, "shards": {"train": 1, "val": 1, "test": 1},
        "sketch_methods": ["pencil"]}
    config["datasets"]["cuhk"] = {
        "source": source_block("cuhk", FILES["cuhk"], base_url, n_images=8), "crop": None,
        "split": {"train": 0.8, "val": 0.2, "test": 0.0}, "shards": {"train": 1, "val": 1, "test": 1},
        "sketch_methods": ["pencil"]}
    return config


TARGETS = [f"results/prepared/{d}/{s}/000.npz" for d in ("faces", "buildings", "zubud", "cuhk") for s in ("train", "val", "test")]
TARGETS += ["results/prepared/faces/train/001.npz"] + [f"results/sketches/cuhk/handdrawn/{s}/000.npz" for s in ("train", "val", "test")]


def snakemake(workdir, config, *args):
    return snakemake_run.snakemake(workdir, config, *args, timeout=600)


@pytest.fixture(scope="module")
def mirror():
    with LocalServer() as server:
        for name, files in FILES.items():
            for file, data in files.items():
                server.routes[f"/{name}/{file}"] = Route(data)
                server.routes[f"/other-mirror/{file}"] = Route(data)
        for file, drive_id in DRIVE_IDS.items():  # the zip behind the current form flow, the list the legacy one
            server.drive(drive_id, Route(FILES["celeba"][file], drop_after=3000, drops=1, filename=file),
                         flow="form" if file.endswith(".zip") else "legacy")
        server.routes["/cuhk/CUHK_training_cropped_photos.zip"].drop_after = 2000  # one dropped connection
        server.routes["/cuhk/CUHK_training_cropped_photos.zip"].drops = 1
        yield server


@pytest.fixture(scope="module")
def prepared(mirror, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("downloads")
    config = study_config(mirror.base)
    result = snakemake(workdir, config, "--cores", "2", *TARGETS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return workdir, config


def test_download_to_prepare_runs_end_to_end_from_a_local_mirror(prepared, mirror):
    workdir, _ = prepared
    faces = load_npz(workdir / "results/prepared/faces/test/000.npz")
    assert faces["images"].shape == (2, 32, 32, 3)  # CelebA's official partition: 000011-000012 are test
    assert faces["names"].tolist() == ["img_align_celeba/000011.jpg", "img_align_celeba/000012.jpg"]
    zubud = pd.read_csv(workdir / "results/prepared/zubud/index.csv")
    assert zubud.assign(group=zubud.path.str[10:20]).groupby("group").split.nunique().max() == 1
    for split, n in (("train", 4), ("val", 1), ("test", 3)):
        photos = load_npz(workdir / f"results/prepared/cuhk/{split}/000.npz")
        sketches = load_npz(workdir / f"results/sketches/cuhk/handdrawn/{split}/000.npz")
        assert sketches["names"].tolist() == photos["names"].tolist() and len(photos["names"]) == n
        assert sketches["sketches"].shape == (n, 32, 32) and sketches["sketches"].dtype == np.uint8
    assert pd.read_csv(workdir / "results/prepared/faces/train/000.rejected.csv").empty
    log = (workdir / "results/logs/download/cuhk.log").read_text()
    assert "resuming at" in log and "md5 verified" in log
    assert "WITHOUT a pinned checksum" in (workdir / "results/logs/download/zubud.log").read_text()
    ranged = [r for r in mirror.requests if r.path == "/cuhk/CUHK_training_cropped_photos.zip"]
    assert [r.headers.get("Range") for r in ranged] == [None, "bytes=2000-"]
    # CelebA came through Google Drive's warning pages unattended, resumed after a cut and verified.
    celeba_log = (workdir / "results/logs/download/faces.log").read_text()
    assert celeba_log.count("virus-scan warning page") >= 3 and celeba_log.count("md5 verified") == 2
    drive = [(r.path.split("?")[0], r.status, r.headers.get("Range")) for r in mirror.requests
             if f"id={DRIVE_IDS['img_align_celeba.zip']}" in r.path]
    assert drive == [("/uc", 200, None), ("/download", 200, None), ("/uc", 200, "bytes=3000-"),
                     ("/download", 206, "bytes=3000-")]
    assert not list(workdir.glob("resources/**/.*.part"))


def test_reverified_or_touched_downloads_do_not_rerun_the_study(prepared, mirror):
    workdir, config = prepared
    assert planned(snakemake(workdir, config, "-n", *TARGETS)) == {}
    for path in (workdir / "resources").rglob("*"):
        path.touch()  # e.g. copied without preserving times
    assert planned(snakemake(workdir, config, "-n", *TARGETS)) == {}
    moved = copy.deepcopy(config)
    for dataset in ("faces", "zubud", "cuhk"):
        source = moved["datasets"][dataset]["source"]
        source["mirrors"] = [mirror.url("/other-mirror")]
        for entry in source["files"].values():
            entry["urls"] = ["https://example.invalid/never-used"]
    assert planned(snakemake(workdir, moved, "-n", *TARGETS)) == {}
    # How hard downloads try is operational: it reruns nothing.
    patient = copy.deepcopy(config)
    patient["download"] = {"retries": 9, "backoff": 0.5, "timeout": 5, "deadline": 60, "min_speed": 1, "speed_window": 5}
    assert planned(snakemake(workdir, patient, "-n", *TARGETS)) == {}
    # The full study's DAG now needs only the later stages.
    jobs = planned(snakemake(workdir, moved, "-n"))
    runs = sum(1 + len(spec.get("replicates", [])) for spec in moved["models"].values())  # each extra training seed too
    assert not {"download", "split", "prepare"} & set(jobs) and jobs["train"] == runs
    # Pinning a different checksum is a different dataset: that download and what follows rerun.
    changed = copy.deepcopy(config)
    changed["datasets"]["cuhk"]["source"]["files"]["CUHK_testing_cropped_photos.zip"]["md5"] = "0" * 32
    jobs = planned(snakemake(workdir, changed, "-n", *TARGETS))
    assert jobs["download"] == 1 and jobs["prepare"] == 3 and jobs["handdrawn_sketches"] == 3


def test_vgg_weights_are_a_download_and_a_file_placed_by_hand_is_kept(mirror, tmp_path):
    weights = np.random.default_rng(5).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    mirror.routes["/vgg/weights.h5"] = Route(weights)
    config = study_config(mirror.base)
    target = "resources/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    config["training"].update(vgg_weights=target, vgg_md5=hashlib.md5(weights).hexdigest())
    config["vgg_weights_urls"] = [mirror.url("/vgg/weights.h5")]
    fetched, by_hand = tmp_path / "fetched", tmp_path / "by_hand"
    fetched.mkdir()
    assert planned(snakemake(fetched, config, "-n", "results/models/faces/generator.keras"))["download_weights"] == 1
    assert snakemake(fetched, config, "--cores", "1", target).returncode == 0
    assert (fetched / target).read_bytes() == weights
    (by_hand / target).parent.mkdir(parents=True)
    (by_hand / target).write_bytes(weights)
    os.utime(by_hand / target, (1_450_000_000, 1_450_000_000))  # copied with its 2015 date kept
    jobs = planned(snakemake(by_hand, config, "-n", "results/models/faces/generator.keras"))
    assert "download_weights" not in jobs and jobs["train"] == 1
    assert (by_hand / target).read_bytes() == weights
