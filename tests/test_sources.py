import cv2
import pytest

from sketchback.sources import download, read_manifest


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
    with pytest.raises(NotImplementedError, match="celeba"):
        download(tmp_path, {"name": "celeba"}, seed=0)
