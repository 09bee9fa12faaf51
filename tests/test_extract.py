import io
import tarfile
import zipfile

import numpy as np
import pytest

from sketchback.extract import ArchiveError, LayoutError, extract, missing_files, require_files

RNG = np.random.default_rng(1)


def noise(n=20_000):
    return RNG.integers(0, 256, n, dtype=np.uint8).tobytes()  # incompressible, so truncation hits data


def make_tar(path, members, mode="w:gz"):
    """members: (name, bytes) for files, (name, ('symlink', target)) for links."""
    with tarfile.open(path, mode) as tf:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                tf.addfile(info)
            else:
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
    return path


def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members:
            zf.writestr(name, content)
    return path


def zubud_members(n_objects=2):
    return [(f"png-ZuBuD/object{o:04d}.view{v:02d}.png", noise()) for o in range(1, n_objects + 1) for v in range(1, 6)]


def test_good_archives_unpack_and_replace_only_their_own_entries(tmp_path):
    target = tmp_path / "zubud"
    archive = make_tar(tmp_path / "ZuBuD.tar.gz", zubud_members())
    assert extract(archive, target) == ["png-ZuBuD"]
    assert len(list((target / "png-ZuBuD").iterdir())) == 10
    (target / "png-ZuBuD" / "stray.png").write_bytes(b"old")  # from an earlier extraction
    (target / "keep.txt").write_text("not from this archive")
    extract(archive, target)
    assert not (target / "png-ZuBuD" / "stray.png").exists() and (target / "keep.txt").exists()
    zipped = make_zip(tmp_path / "img_align_celeba.zip", [("img_align_celeba/000001.jpg", b"a"), ("img_align_celeba/000002.jpg", b"b")])
    assert extract(zipped, tmp_path / "celeba") == ["img_align_celeba"]
    assert (tmp_path / "celeba/img_align_celeba/000002.jpg").read_bytes() == b"b"
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt", "png-ZuBuD"]  # no staging folder left


@pytest.mark.parametrize("member, says", [
    (("../evil.txt", b"x"), "contains '..'"),
    (("png-ZuBuD/../../evil.txt", b"x"), "contains '..'"),
    (("/tmp/evil.txt", b"x"), "absolute path"),
    (("png-ZuBuD/link", ("symlink", "../../../etc/passwd")), "symbolic link"),
])
def test_members_escaping_the_target_are_refused_before_anything_is_written(tmp_path, member, says):
    archive = make_tar(tmp_path / "ZuBuD.tar.gz", zubud_members(1) + [member])
    target = tmp_path / "data" / "zubud"
    with pytest.raises(ArchiveError, match=says) as error:
        extract(archive, target)
    assert repr(member[0]) in str(error.value) and "refusing" in str(error.value)
    assert list(target.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "data" / "evil.txt").exists()


def test_zip_member_with_dotdot_is_refused(tmp_path):
    archive = make_zip(tmp_path / "CUHK_testing_cropped_photos.zip", [("photos/f1-001-01.jpg", b"a"), ("../../f.jpg", b"b")])
    with pytest.raises(ArchiveError, match=r"'\.\./\.\./f\.jpg' contains '\.\.'"):
        extract(archive, tmp_path / "cuhk")
    assert list((tmp_path / "cuhk").iterdir()) == []


def test_truncated_archives_are_reported_and_leave_nothing_behind(tmp_path):
    full = make_tar(tmp_path / "full.tar.gz", zubud_members(3)).read_bytes()
    truncated = tmp_path / "ZuBuD.tar.gz"
    truncated.write_bytes(full[: len(full) // 2])
    with pytest.raises(ArchiveError, match="ZuBuD.tar.gz is truncated or damaged") as error:
        extract(truncated, tmp_path / "zubud")
    assert "download it again" in str(error.value)
    assert list((tmp_path / "zubud").iterdir()) == []
    zipped = make_zip(tmp_path / "full.zip", [(f"img_align_celeba/{i:06d}.jpg", noise()) for i in range(1, 6)]).read_bytes()
    cut = tmp_path / "img_align_celeba.zip"
    cut.write_bytes(zipped[: len(zipped) // 2])
    with pytest.raises(ArchiveError, match="not a readable zip or tar archive"):
        extract(cut, tmp_path / "celeba")


def test_corrupted_zip_member_fails_its_crc_check(tmp_path):
    data = bytearray(make_zip(tmp_path / "ok.zip", [("photos/f-005-01.jpg", noise(5000))]).read_bytes())
    data[2000] ^= 0xFF  # flip a byte inside the stored member
    bad = tmp_path / "CUHK_training_cropped_photos.zip"
    bad.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="truncated or damaged.*CRC"):
        extract(bad, tmp_path / "cuhk")
    assert list((tmp_path / "cuhk").iterdir()) == []


def test_missing_layout_files_are_named(tmp_path):
    (tmp_path / "img_align_celeba").mkdir()
    for name in ("000001.jpg", "000003.jpg"):
        (tmp_path / "img_align_celeba" / name).write_bytes(b"x")
    expected = [f"img_align_celeba/{i:06d}.jpg" for i in range(1, 5)]
    assert missing_files(tmp_path, expected) == ["img_align_celeba/000002.jpg", "img_align_celeba/000004.jpg"]
    with pytest.raises(LayoutError, match=r"2 of 4 CelebA images are missing: img_align_celeba/000002.jpg, "
                                          r"img_align_celeba/000004.jpg\. Download again"):
        require_files(tmp_path, expected, "CelebA images", "Download again")
    require_files(tmp_path, expected[:1], "CelebA images", "unused")
