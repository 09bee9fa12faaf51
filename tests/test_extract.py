import errno
import io
import logging
import os
import stat
import struct
import tarfile
import types
import zipfile

import numpy as np
import pytest

import sketchback.data.extract as extract_module
from sketchback.data.extract import (ArchiveError, LayoutError, NotEnoughSpace, extract, missing_files, require_files,
                                verify_archive)

RNG = np.random.default_rng(1)


def noise(n=20_000):
    return RNG.integers(0, 256, n, dtype=np.uint8).tobytes()  # incompressible, so truncation hits data


LINK_TYPES = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}


def make_tar(path, members, mode="w:gz"):
    """members: (name, bytes) for files, (name, (kind, target)) for others: 'symlink', 'hardlink', 'fifo'."""
    with tarfile.open(path, mode) as tf:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type, info.linkname = LINK_TYPES[content[0]], content[1]
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


def celeba_zip(path, numbers=range(5)):
    return make_zip(path, [(f"img_align_celeba/{i:06d}.jpg", noise()) for i in numbers])


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
    (("png-ZuBuD/link", ("hardlink", "../../etc/passwd")), "hard link"),
    (("png-ZuBuD/pipe", ("fifo", "")), "device or pipe"),
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


@pytest.fixture
def old_tarfile(monkeypatch):
    """tarfile as on Python < 3.10.12 / 3.11.4: no data filter, members extracted as they are."""
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    if hasattr(tarfile, "fully_trusted_filter"):  # newer Pythons would fall back on data_filter, now gone
        monkeypatch.setattr(tarfile.TarFile, "extraction_filter", staticmethod(tarfile.fully_trusted_filter))


def link(target):
    return ("symlink", target)


CHAIN_OUT = [("a/b/c/up", link("../../..")), ("a/b/c/up/esc", link("../../..")), ("a/b/c/up/esc/evil.txt", b"x")]
LINK_ESCAPES = {  # each passes a lexical check of one link at a time
    "written through a link": ([("d1/d2/s", link("../..")), ("d1/d2/s/t", link("../x"))],
                               "'d1/d2/s/t' would be written at or through the symbolic link 'd1/d2/s'"),
    "written out through a chain": (CHAIN_OUT,
                                    "'a/b/c/up/esc' would be written at or through the symbolic link 'a/b/c/up'"),
    "target through a link": ([("d1/s", link("..")), ("l", link("d1/s/.."))], "'l' is a symbolic link to 'd1/s/..', "
                              "which leads outside"),
    "later link moves an earlier one": ([("d/x", link("n/../..")), ("d/n", link("."))],
                                        "'d/n' is a symbolic link in place of a folder"),
    "too many hops": ([("l0", b"x")] + [(f"l{i}", link(f"l{i - 1}")) for i in range(1, 43)],
                      "'l42' is a symbolic link to 'l41', which leads .* more than 40 links"),
    "hard link to a link": ([("f", b"x"), ("s", link("f")), ("h", ("hardlink", "s"))],
                            "'h' is a hard link to 's', which is not an earlier file"),
    "hard link to nothing": ([("h", ("hardlink", "png-ZuBuD/none.png"))], "'h' is a hard link to 'png-ZuBuD/none.png'"),
}


@pytest.mark.parametrize("filtered", [True, False], ids=["data filter", "no data filter"])
@pytest.mark.parametrize("case", LINK_ESCAPES)
def test_links_are_resolved_through_the_archives_own_links_before_anything_is_written(tmp_path, request, case,
                                                                                     filtered):
    if not filtered:
        request.getfixturevalue("old_tarfile")
    members, says = LINK_ESCAPES[case]
    archive = make_tar(tmp_path / "ZuBuD.tar.gz", zubud_members(1) + members)
    target = tmp_path / "data" / "zubud"
    with pytest.raises(ArchiveError, match=f"unsafe member {says}") as error:
        extract(archive, target)
    assert "truncated" not in str(error.value) and "download it again" in str(error.value)
    assert list(target.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["ZuBuD.tar.gz", "data"]
    with pytest.raises(ArchiveError, match=f"unsafe member {says}"):
        verify_archive(archive)


@pytest.mark.skipif(not hasattr(tarfile, "data_filter"), reason="tarfile has no data filter before 3.10.12/3.11.4")
def test_a_member_the_data_filter_refuses_is_reported_as_unsafe(tmp_path, monkeypatch):
    monkeypatch.setattr(extract_module._TarPaths, "reason", lambda self, member: None)  # only the filter is left
    archive = make_tar(tmp_path / "ZuBuD.tar.gz", CHAIN_OUT)
    says = "unsafe member 'a/b/c/up/esc' was refused by tarfile's data filter"
    with pytest.raises(ArchiveError, match=says) as error:
        extract(archive, tmp_path / "data" / "zubud")
    assert "truncated" not in str(error.value) and not (tmp_path / "evil.txt").exists()


def test_without_the_data_filter_members_get_no_owner_or_special_mode_bits(tmp_path, old_tarfile, monkeypatch):
    owners = []
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # as root, tarfile applies the owner the archive names
    monkeypatch.setattr(os, "chown", lambda path, uid, gid, **kw: owners.append((uid, gid)))
    monkeypatch.setattr(os, "lchown", lambda path, uid, gid: owners.append((uid, gid)), raising=False)
    archive, content = tmp_path / "ZuBuD.tar.gz", noise(1000)
    with tarfile.open(archive, "w:gz") as tf:
        for name, kind, mode in [("png-ZuBuD", tarfile.DIRTYPE, 0o777), ("png-ZuBuD/a.png", tarfile.REGTYPE, 0o4777),
                                 ("png-ZuBuD/b.png", tarfile.REGTYPE, 0o666)]:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid, info.uname, info.gname = kind, mode, 1234, 5678, "x", "y"
            info.size = len(content) if kind == tarfile.REGTYPE else 0
            tf.addfile(info, io.BytesIO(content) if info.size else None)
    extract(archive, tmp_path / "zubud")
    folder = tmp_path / "zubud" / "png-ZuBuD"
    assert owners and set(owners) == {(-1, -1)}
    modes = [stat.S_IMODE(p.stat().st_mode) for p in (folder, folder / "a.png", folder / "b.png")]
    assert modes == [0o755, 0o755, 0o644]  # no setuid, no group or world write
    assert (folder / "a.png").read_bytes() == content


def zeros_zip(path, name, size=20_000_000):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("img_align_celeba/000001.jpg", noise())
        zf.writestr("list_attr_celeba.txt", b"000001.jpg -1  1  1 -1\n" * 30_000)  # 690 kB of text, ~1000:1
        zf.writestr(name, bytes(size))
    return path


def shared_data_zip(path, copies=10):
    """A zip whose central directory lists one member ``copies`` times, all reading the same data."""
    data = make_zip(path, [("img_align_celeba/000001.jpg", noise(300_000))]).read_bytes()
    entries, size, offset = struct.unpack("<10xHLL2x", data[-22:])
    directory = data[offset:offset + size]
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, copies, copies, size * copies, offset, 0)
    path.write_bytes(data[:offset] + directory * copies + end)
    return path


def sparse_tar(path, declared=50_000_000):
    info = tarfile.TarInfo("png-ZuBuD/object0001.view01.png")
    info.size, info.pax_headers = 512, {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.realsize":
                                        str(declared), "GNU.sparse.name": "png-ZuBuD/object0001.view01.png"}
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(info, io.BytesIO(b"1\n0\n1\n".ljust(512, b"\0")))  # one byte of data, the rest a hole
    return path


BOMBS = {
    "zip member 1000:1": (lambda p: zeros_zip(p / "img_align_celeba.zip", "img_align_celeba/000002.jpg"), {},
                          r"'img_align_celeba/000002\.jpg' declares 20,000,000 bytes unpacked from [\d,]+ compressed"),
    "zip over the total": (lambda p: celeba_zip(p / "img_align_celeba.zip", range(1, 4)), {"max_total_bytes": 50_000},
                           "'img_align_celeba/000003.jpg' brings the declared unpacked size to 60,000 bytes, over the "
                           "max_total_bytes limit of 50,000"),
    "zip members sharing data": (lambda p: shared_data_zip(p / "img_align_celeba.zip"), {},
                                 "'img_align_celeba/000001.jpg' brings the members' compressed data to 600,000 "
                                 "bytes, more than the whole archive"),
    "tar.gz 1000:1": (lambda p: make_tar(p / "ZuBuD.tar.gz", [("png-ZuBuD/a.png", noise()),
                                                              ("png-ZuBuD/b.png", bytes(20_000_000))]), {},
                      r"'png-ZuBuD/b\.png' brings the archive to 20,020,000 bytes unpacked from [\d,]+ compressed"),
    "tar over the total": (lambda p: make_tar(p / "ZuBuD.tar.gz", zubud_members(1)), {"max_total_bytes": 50_000},
                           "'png-ZuBuD/object0001.view03.png' brings the declared unpacked size to 60,000 bytes"),
    "sparse tar member": (lambda p: sparse_tar(p / "ZuBuD.tar.gz"), {},
                          "'png-ZuBuD/object0001.view01.png' is a sparse file declaring 50,000,000 bytes"),
}


@pytest.mark.parametrize("case", BOMBS)
def test_implausible_members_are_refused_before_anything_is_written(tmp_path, case):
    make, limits, says = BOMBS[case]
    archive = make(tmp_path)
    with pytest.raises(ArchiveError, match=f"implausible member {says}") as error:
        extract(archive, tmp_path / "data", **limits)
    assert "download it again" in str(error.value) and list((tmp_path / "data").iterdir()) == []
    with pytest.raises(ArchiveError, match=f"implausible member {says}"):
        verify_archive(archive, **limits)


def test_small_members_may_compress_well(tmp_path):
    archive = zeros_zip(tmp_path / "img_align_celeba.zip", "img_align_celeba/000002.jpg", size=1 << 20)
    assert extract(archive, tmp_path / "celeba") == ["img_align_celeba", "list_attr_celeba.txt"]
    assert verify_archive(archive) == 3


def test_extraction_needs_room_for_the_unpacked_archive(tmp_path, monkeypatch):
    archive = celeba_zip(tmp_path / "img_align_celeba.zip")
    target = tmp_path / "celeba"
    free = types.SimpleNamespace(total=10**12, used=10**12 - 50_000, free=50_000)
    monkeypatch.setattr(extract_module.shutil, "disk_usage", lambda path: free)
    with pytest.raises(NotEnoughSpace) as error:
        extract(archive, target)
    message = str(error.value)
    for part in (str(archive), "unpacks to 0.00 GB (102,400 bytes)", f"{target} has only 0.00 GB (50,000 bytes) free",
                 "free at least", "larger disk"):
        assert part in message
    assert not isinstance(error.value, ArchiveError) and list(target.iterdir()) == []
    monkeypatch.undo()

    def disk_full(source, dest, *args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zipfile.shutil, "copyfileobj", disk_full)  # the disk fills up while extracting
    with pytest.raises(NotEnoughSpace, match=f"the disk holding {target} filled up while extracting {archive}"):
        extract(archive, target)
    assert list(target.iterdir()) == []


def test_verify_archive_counts_the_members_of_good_archives_and_writes_nothing(tmp_path, caplog):
    zipped = celeba_zip(tmp_path / "img_align_celeba.zip")
    with caplog.at_level(logging.INFO, logger="sketchback.data.extract"):
        assert verify_archive(zipped, progress_every=2) == 5
    assert "img_align_celeba.zip: verified 4 of 5 members" in caplog.text
    for mode in ("w", "w:gz", "w:bz2", "w:xz"):
        tarred = make_tar(tmp_path / f"ZuBuD.{mode[2:] or 'plain'}.tar", zubud_members(2), mode)
        assert verify_archive(tarred) == 10
        assert extract(tarred, tmp_path / "data" / mode[2:]) == ["png-ZuBuD"]
    assert len(list(tmp_path.iterdir())) == 6  # the five archives and data/


def cut(data):
    return data[: len(data) // 2]


def flip(at):
    def damage(data):
        data = bytearray(data)
        data[at] ^= 0xFF
        return bytes(data)
    return damage


DAMAGED = {
    "truncated zip": ("img_align_celeba.zip", cut, "not a readable zip or tar archive: it is truncated or damaged"),
    "zip member CRC": ("img_align_celeba.zip", flip(2000), "truncated or damaged: .*Bad CRC-32 .*'img_align_celeba/"
                                                           "000000.jpg'"),
    "truncated tar.gz": ("ZuBuD.tar.gz", cut, "truncated or damaged"),
    "tar.gz checksum": ("ZuBuD.tar.gz", flip(-8), "truncated or damaged .*CRC check failed"),
    "truncated tar.xz": ("ZuBuD.tar.xz", cut, "truncated or damaged"),
}


@pytest.mark.parametrize("case", DAMAGED)
def test_truncated_or_damaged_archives_are_reported_by_verify_and_extract(tmp_path, case):
    name, damage, says = DAMAGED[case]
    if name.endswith(".zip"):
        good = celeba_zip(tmp_path / "good")
    else:
        good = make_tar(tmp_path / "good", zubud_members(2), "w:" + name.rsplit(".", 1)[1])
    archive = tmp_path / name
    archive.write_bytes(damage(good.read_bytes()))
    with pytest.raises(ArchiveError, match=f"{name} is {says}") as error:
        verify_archive(archive)
    assert "download it again" in str(error.value)
    with pytest.raises(ArchiveError, match=f"{name} is {says}"):
        extract(archive, tmp_path / "data")
    assert list((tmp_path / "data").iterdir()) == []


@pytest.mark.parametrize("filtered", [True, False], ids=["data filter", "no data filter"])
def test_links_that_stay_inside_the_folder_are_kept(tmp_path, request, filtered):
    if not filtered:
        request.getfixturevalue("old_tarfile")
    first = "png-ZuBuD/object0001.view01.png"
    archive = make_tar(tmp_path / "ZuBuD.tar.gz", zubud_members(1) + [
        ("png-ZuBuD/latest.png", link("object0001.view01.png")), ("png-ZuBuD/copy.png", ("hardlink", first)),
        ("views/first.png", link(f"../{first}"))])
    assert verify_archive(archive) == 8
    extract(archive, tmp_path / "zubud")
    content = (tmp_path / "zubud" / first).read_bytes()
    for name in ("png-ZuBuD/latest.png", "png-ZuBuD/copy.png", "views/first.png"):
        assert (tmp_path / "zubud" / name).read_bytes() == content
    assert (tmp_path / "zubud/views/first.png").is_symlink()
    assert not (tmp_path / "zubud/png-ZuBuD/copy.png").is_symlink()
