"""Dataset sources: synthetic generators and the real sources fetched from a local HTTP server."""

import logging
import threading

import cv2
import pandas as pd
import pytest
from dataset_fixture import celeba_files, cuhk_files, lfw_files, source_block, zubud_files
from http_fixture import LocalServer, Route

from sketchback.data.extract import LayoutError
from sketchback.data.fetch import DownloadError, Limits
from sketchback.data.sources import check_source, cuhk_key, download, job_log, read_manifest, source_content

FAST = dict(limits=Limits(retries=1, backoff=0.01, timeout=5))


@pytest.fixture
def server():
    with LocalServer() as running:
        yield running


def serve(server, name, files):
    for file, data in files.items():
        server.routes[f"/{name}/{file}"] = Route(data)


def test_synthetic_download_writes_images_then_manifest(tmp_path):
    download(tmp_path / "faces", {"name": "synthetic_faces", "n_images": 5, "raw_size": 48}, seed=3)
    manifest = read_manifest(tmp_path / "faces")
    assert manifest["path"].tolist() == [f"images/{i:06d}.png" for i in range(5)]
    image = cv2.imread(str(tmp_path / "faces" / manifest["path"][0]))
    assert image.shape == (48, 48, 3)
    download(tmp_path / "again", {"name": "synthetic_faces", "n_images": 5, "raw_size": 48}, seed=3)
    assert (tmp_path / "again/images/000004.png").read_bytes() == (tmp_path / "faces/images/000004.png").read_bytes()


def test_missing_manifest_and_unknown_sources_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.csv"):
        read_manifest(tmp_path)
    with pytest.raises(ValueError, match="flickr"):
        download(tmp_path, {"name": "flickr"}, seed=0)


def test_celeba_is_fetched_unpacked_and_split_by_the_official_partition(server, tmp_path):
    files = celeba_files(12)
    serve(server, "celeba", files)
    source = source_block("celeba", files, server.base, n_images=12)
    download(tmp_path / "celeba", source, seed=0, **FAST)
    manifest = read_manifest(tmp_path / "celeba")
    assert manifest["path"].tolist() == [f"img_align_celeba/{i:06d}.jpg" for i in range(1, 13)]
    assert manifest["split"].value_counts().to_dict() == {"train": 8, "test": 2, "val": 2}
    assert manifest.set_index("path").loc["img_align_celeba/000012.jpg", "split"] == "test"
    image = cv2.imread(str(tmp_path / "celeba" / manifest["path"][0]))
    assert image.shape == (218, 178, 3)
    assert len(server.requests) == 2


def test_rerunning_a_complete_download_touches_nothing(server, tmp_path):
    files = celeba_files(12)
    serve(server, "celeba", files)
    source = source_block("celeba", files, server.base, n_images=12)
    manifest = download(tmp_path / "celeba", source, seed=0, **FAST)
    stamp = manifest.stat().st_mtime_ns
    requests = len(server.requests)
    moved = dict(source, files={f: dict(e, urls=["http://127.0.0.1:9/moved/" + f]) for f, e in source["files"].items()})
    assert source_content(moved) == source_content(source)  # a new URL is not a new dataset
    download(tmp_path / "celeba", moved, seed=0, **FAST)
    assert len(server.requests) == requests  # verified from disk, nothing fetched
    assert manifest.stat().st_mtime_ns == stamp  # unchanged manifest not rewritten


def test_a_missing_image_in_the_archive_is_named(server, tmp_path):
    files = celeba_files(12, missing=("000007.jpg",))
    serve(server, "celeba", files)
    with pytest.raises(LayoutError, match=r"1 of 12 CelebA images listed in list_eval_partition.txt are missing: "
                                          r"img_align_celeba/000007.jpg"):
        download(tmp_path / "celeba", source_block("celeba", files, server.base, n_images=12), seed=0, **FAST)
    assert not (tmp_path / "celeba" / "manifest.csv").exists()


def test_files_placed_by_hand_are_used_without_network(tmp_path):
    files = celeba_files(6)
    dataset = tmp_path / "celeba"
    dataset.mkdir()
    for file, data in files.items():
        (dataset / file).write_bytes(data)
    source = source_block("celeba", files, "http://127.0.0.1:9", n_images=6)  # port 9: nobody listens
    download(dataset, source, seed=0, **FAST)
    assert len(read_manifest(dataset)) == 6


def test_extracted_files_deleted_later_are_restored_from_the_archive(server, tmp_path):
    files = celeba_files(6)
    serve(server, "celeba", files)
    source = source_block("celeba", files, server.base, n_images=6)
    download(tmp_path / "celeba", source, seed=0, **FAST)
    (tmp_path / "celeba/img_align_celeba/000003.jpg").unlink()
    requests = len(server.requests)
    download(tmp_path / "celeba", source, seed=0, **FAST)
    assert (tmp_path / "celeba/img_align_celeba/000003.jpg").is_file()
    assert len(server.requests) == requests


def test_cuhk_pairs_photos_with_their_hand_drawn_sketches_by_name(server, tmp_path):
    files = cuhk_files()
    serve(server, "cuhk", files)
    download(tmp_path / "cuhk", source_block("cuhk", files, server.base, n_images=8), seed=0, **FAST)
    manifest = read_manifest(tmp_path / "cuhk").set_index("path")
    assert manifest.loc["training_88/photos/f-005-01.jpg", "sketch"] == "training_88/sketches/F2-005-01-sz1.jpg"
    assert manifest.loc["training_88/photos/m-008-01.jpg", "sketch"] == "training_88/sketches/M2-008-01-sz1.jpg"
    assert manifest.loc["training_88/photos/m-063-01.jpg", "sketch"] == "training_88/sketches/m-063-01-sz1.jpg"
    assert manifest.loc["testing_100/photos/f1-002-01.jpg", "sketch"] == "testing_100/sketches/f1-002-01-sz1.jpg"
    assert manifest["split"].value_counts().to_dict() == {"": 5, "test": 3}  # training pairs: train/val by fractions
    assert cuhk_key("F2-005-01-sz1.jpg") == cuhk_key("f-005-01.jpg") != cuhk_key("f1-005-01.jpg")


def test_cuhk_photo_without_a_sketch_is_named(server, tmp_path):
    files = cuhk_files(drop_sketch="M2-008-01-sz1")
    serve(server, "cuhk", files)
    with pytest.raises(LayoutError, match="photo training_88/photos/m-008-01.jpg has no sketch"):
        download(tmp_path / "cuhk", source_block("cuhk", files, server.base, n_images=8), seed=0, **FAST)


def test_zubud_and_lfw_keep_groups_and_count_images(server, tmp_path):
    serve(server, "zubud", zubud_files(4))
    serve(server, "lfw", lfw_files())
    download(tmp_path / "zubud", source_block("zubud", zubud_files(4), server.base, pin=False, n_images=20), seed=0, **FAST)
    zubud = read_manifest(tmp_path / "zubud")
    assert zubud["path"][:2].tolist() == ["png-ZuBuD/object0001.view01.png", "png-ZuBuD/object0001.view02.png"]
    assert zubud.groupby("group").size().to_dict() == {f"object{o:04d}": 5 for o in range(1, 5)}
    download(tmp_path / "lfw", source_block("lfw", lfw_files(), server.base, n_images=8), seed=0, **FAST)
    lfw = read_manifest(tmp_path / "lfw")
    assert lfw.groupby("group").size().to_dict() == {"Aaron_Eckhart": 1, "George_W_Bush": 4, "Tony_Blair": 3}
    with pytest.raises(LayoutError, match="found 8 images in person folders under lfw/, expected 13,233"):
        download(tmp_path / "lfw2", source_block("lfw", lfw_files(), server.base), seed=0, **FAST)


def test_a_truncated_unpinned_archive_is_tested_before_it_is_kept(server, tmp_path, caplog):
    data = zubud_files(4)["ZuBuD.tar.gz"]
    server.routes["/zubud/ZuBuD.tar.gz"] = Route(data[: len(data) // 2])  # server itself has a broken copy
    with caplog.at_level("INFO", logger="sketchback"), \
            pytest.raises(DownloadError, match="ZuBuD.tar.gz.part is truncated or damaged") as error:
        download(tmp_path / "zubud", source_block("zubud", {"ZuBuD.tar.gz": data}, server.base, pin=False), seed=0, **FAST)
    assert "the file was deleted" in str(error.value)
    assert sorted(p.name for p in (tmp_path / "zubud").iterdir()) == []  # no archive, manifest or folder kept
    assert "pin it" not in caplog.text  # a file that failed is never recommended for pinning


@pytest.mark.parametrize("source, says", [
    ({"name": "celeba", "files": {"img_align_celeba.zip": {"md5": "0" * 32}}}, "files: list_eval_partition.txt is missing"),
    ({"name": "zubud", "files": {"ZuBuD.tar.gz": None, "ZuBuD.zip": {}}}, "files.ZuBuD.zip: source zubud has no such file"),
    ({"name": "synthetic_faces", "n_images": 10}, "raw_size: required"),
    ({"name": "synthetic_faces", "n_images": 10, "raw_size": 32, "mirrors": []}, "mirrors: source synthetic_faces generates"),
])
def test_source_blocks_that_cannot_work_name_the_key(source, says):
    with pytest.raises(ValueError, match=f"datasets.data.source.{says}"):
        check_source("data", source)
    check_source("data", {"name": "zubud", "files": {"ZuBuD.tar.gz": None}})  # to be placed by hand: fine


def test_manifest_columns_round_trip_as_text(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,sketch,split\na.jpg,a-sz1.jpg,\nb.jpg,b-sz1.jpg,test\n")
    frame = read_manifest(tmp_path)
    pd.testing.assert_series_equal(frame["split"], pd.Series(["", "test"], name="split"))


def test_job_log_keeps_concurrent_jobs_apart(tmp_path):
    # Snakemake may run the download rules in threads of its own process (cluster executors).
    log = logging.getLogger("sketchback.data.sources")
    started, finish_first = threading.Barrier(2), threading.Event()

    def job(name, hold):
        with job_log(tmp_path / f"{name}.log"):
            started.wait()
            log.info("%s: first", name)
            if hold:
                finish_first.wait(5)  # still running after the other job has finished
            else:
                finish_first.set()
            log.info("%s: second", name)

    threads = [threading.Thread(target=job, args=("celeba", True)), threading.Thread(target=job, args=("zubud", False))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in ("celeba", "zubud"):
        lines = (tmp_path / f"{name}.log").read_text().splitlines()
        assert [line.split(": ", 1)[1] for line in lines] == [f"{name}: first", f"{name}: second"]
    assert logging.getLogger("sketchback").level == logging.NOTSET  # restored after the last job
