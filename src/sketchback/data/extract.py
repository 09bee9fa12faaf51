"""Safe archive extraction and layout checks for downloaded datasets.

``extract`` unpacks a zip or tar archive (plain, gzip, bzip2 or xz; recognised by content, not by
name) into a folder; ``verify_archive`` reads one through without writing anything (the check a
download without a pinned checksum gets). Both judge every member before anything is written:

- unsafe members are refused: absolute paths, ``..``, devices and pipes, symbolic links that lead
  outside the folder once the archive's own earlier links are followed (resolved component by
  component, as the file system would), members written through a link, hard links to anything
  but an earlier file. Where tarfile has the ``data`` filter (Python 3.10.12+, 3.11.4+) it runs as
  a second line; older Pythons extract without the archive's owner or special mode bits, as that
  filter would.
- implausible members (zip bombs) are refused: a member over 1 MiB that unpacks to more than
  ``max_ratio`` times its compressed size, declared sizes over ``max_total_bytes``, sparse tar
  members, zip members sharing compressed data, a tar whose declared size is over ``max_ratio``
  times the archive's.

``extract`` then checks that the folder's disk has room (NotEnoughSpace otherwise), unpacks into a
hidden staging folder and moves the result into place only when the whole archive was read: a
truncated or damaged archive leaves nothing behind that looks complete. ``missing_files`` /
``require_files`` check an extracted layout and say what is missing.
"""

from __future__ import annotations

import copy
import errno
import logging
import os
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

try:
    import lzma
except ImportError:  # a Python built without liblzma, which then reads no .xz archives
    lzma = None

log = logging.getLogger(__name__)

# Dataset members are JPEGs and PNGs (about 1:1) and annotation text (5-20:1); deflate reaches 1032:1.
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 1 << 20  # a member this small may compress any amount: it cannot fill a disk
# ~70x the largest archive used (CelebA, 1.4 GB), room for bigger sets (FFHQ ~90 GB); zip64 can declare 16 EiB.
MAX_TOTAL_BYTES = 100 << 30
MAX_LINK_HOPS = 40  # as Linux (ELOOP)
BLOCK = 4096  # a file's data takes whole blocks on disk; an empty file or a folder is counted as one
_FILTER_ERRORS = getattr(tarfile, "FilterError", ())  # the data filter's refusals (Python 3.10.12+, 3.11.4+)
_DAMAGE = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) + ((lzma.LZMAError,) if lzma else ())


class ArchiveError(ValueError):
    """An archive that is unsafe, implausible, truncated or damaged; the message names it and the fix."""


class NotEnoughSpace(OSError):
    """The disk cannot hold an archive's contents. Not an ArchiveError: the archive is fine, keep it."""


class LayoutError(FileNotFoundError):
    """Extracted data that lacks expected files; the message says which."""


def _unsafe_reason(name: str) -> str | None:
    """Why a member name would escape the extraction folder, or None when it stays inside."""
    if not name or "\x00" in name:
        return "has an empty or invalid name"
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if ".." in path.parts:
        return "contains '..' and would be written outside the target folder"
    return None


def _special_reason(member: tarfile.TarInfo) -> str | None:
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        return "is a device or pipe (or another special file), not a file, folder or link"
    if not PurePosixPath(member.name).parts and not member.isdir():
        return "names the target folder itself"
    return None


class _TarPaths:
    """What a tar archive has made so far, to judge each member in archive order (the order tarfile writes).

    A member is refused when its path is or passes through an earlier symbolic link; a symbolic link
    when it leads outside the folder (following earlier links, at most MAX_LINK_HOPS of them) or takes
    the place of a folder that earlier members or links use; a hard link unless it names an earlier file.
    """

    def __init__(self):
        self.symlinks: dict[tuple[str, ...], str] = {}
        self.files: set[tuple[str, ...]] = set()
        self.folders: set[tuple[str, ...]] = set()  # must stay plain folders: earlier members and links use them

    def reason(self, member: tarfile.TarInfo) -> str | None:
        path = PurePosixPath(member.name).parts
        for depth in range(1, len(path) + 1):
            if path[:depth] in self.symlinks:
                return f"would be written at or through the symbolic link {'/'.join(path[:depth])!r}"
        self.folders.update(path[:depth] for depth in range(1, len(path)))
        if member.isdir():
            self.folders.add(path)
        if member.issym():
            if path in self.folders:
                return "is a symbolic link in place of a folder that earlier members or links use"
            if self._resolve(path[:-1], member.linkname) is None:
                return (f"is a symbolic link to {member.linkname!r}, which leads outside the target folder "
                        f"(following the archive's earlier links) or through more than {MAX_LINK_HOPS} links")
            self.symlinks[path] = member.linkname
            self.files.discard(path)
        elif member.islnk():
            if _unsafe_reason(member.linkname) or PurePosixPath(member.linkname).parts not in self.files:
                return f"is a hard link to {member.linkname!r}, which is not an earlier file in the archive"
            self.files.add(path)
        elif member.isreg():
            self.files.add(path)
        return None

    def _resolve(self, folder: tuple[str, ...], linkname: str) -> tuple[str, ...] | None:
        """Where ``linkname`` (relative to ``folder``) leads, following earlier links; None when outside."""
        if linkname.startswith("/"):
            return None
        place, pending, hops = list(folder), linkname.split("/")[::-1], 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if not place:
                    return None
                place.pop()
                continue
            place.append(part)
            target = self.symlinks.get(tuple(place))
            if target is None:
                self.folders.add(tuple(place))
                continue
            hops += 1
            if hops > MAX_LINK_HOPS or target.startswith("/"):
                return None
            place.pop()
            pending.extend(target.split("/")[::-1])  # the link's target replaces it, read next
        return tuple(place)


def _ratio_reason(size: int, packed: int, max_ratio: float, what: str) -> str | None:
    if size <= max(RATIO_FLOOR_BYTES, max_ratio * packed):
        return None
    return (f"{what} {size:,} bytes unpacked from {packed:,} compressed ({size / max(packed, 1):,.0f}:1, over "
            f"the max_ratio limit of {max_ratio:,}:1; dataset images are near 1:1)")


def _sparse_reason(member: tarfile.TarInfo) -> str | None:
    if not member.issparse():
        return None
    return f"is a sparse file declaring {member.size:,} bytes, most of them not in the archive; no dataset has one"


def _total_reason(total: int, max_total_bytes: int) -> str | None:
    if total <= max_total_bytes:
        return None
    return (f"brings the declared unpacked size to {total:,} bytes, over the max_total_bytes limit of "
            f"{max_total_bytes:,}")


def _shared_reason(packed: int, archive_bytes: int) -> str | None:
    if packed <= archive_bytes:
        return None
    return (f"brings the members' compressed data to {packed:,} bytes, more than the whole archive's "
            f"{archive_bytes:,}: members share compressed data")


def _on_disk(size: int) -> int:
    return -(-size // BLOCK) * BLOCK if size else BLOCK


def _refuse(archive: Path, name: str, reason: str) -> ArchiveError:
    return ArchiveError(f"{archive}: unsafe member {name!r} {reason}; refusing to extract this archive (it is not "
                        f"the published file: delete it and download it again)")


def _implausible(archive: Path, name: str, reason: str) -> ArchiveError:
    return ArchiveError(f"{archive}: implausible member {name!r} {reason}; refusing to extract this archive (a zip "
                        f"bomb or a damaged download, not the published file: delete it and download it again)")


def _damaged(archive: Path, member: str | None, error: BaseException) -> ArchiveError:
    where = f": reading member {member!r} failed" if member else ""
    return ArchiveError(f"{archive} is truncated or damaged{where} ({type(error).__name__}: {error}); delete it "
                        f"and download it again")


def _size(n: int) -> str:
    return f"{n / 1e9:,.2f} GB ({n:,} bytes)"


class _Reading:
    """Turns the errors of reading ``archive`` (into ``target``) into ArchiveError or NotEnoughSpace.

    ``member`` is set by the loops to the member being read, so the message can name it.
    """

    def __init__(self, archive: Path, target: Path | None = None):
        self.archive, self.target, self.member = archive, target, None

    def __enter__(self) -> _Reading:
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or isinstance(error, (ArchiveError, NotEnoughSpace)):
            return False
        if isinstance(error, _FILTER_ERRORS):
            name = getattr(getattr(error, "tarinfo", None), "name", self.member)
            raise _refuse(self.archive, name, f"was refused by tarfile's data filter ({error})") from error
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NotEnoughSpace(f"the disk holding {self.target} filled up while extracting {self.archive} "
                                 f"({error}); free space there, or move {self.target} to a larger disk (leaving "
                                 f"a symbolic link in its place), and run again") from error
        if isinstance(error, OSError) and error.filename is not None:
            return False  # the file system's own error (permissions, names): it names its file
        if isinstance(error, _DAMAGE):
            raise _damaged(self.archive, self.member, error) from error
        return False


def _open(archive: Path) -> zipfile.ZipFile | tarfile.TarFile:
    if zipfile.is_zipfile(archive):
        return zipfile.ZipFile(archive)
    if tarfile.is_tarfile(archive):
        return tarfile.open(archive)
    raise ArchiveError(f"{archive} is not a readable zip or tar archive: it is truncated or damaged, or not an "
                       f"archive at all (e.g. a saved web page); delete it and download it again")


def _progress(archive: Path, doing: str, count: int, total: int | None, every: int) -> None:
    if count % every == 0:
        log.info("%s: %s %d%s members", archive.name, doing, count, f" of {total}" if total else "")


def _scan_zip(archive: Path, zf: zipfile.ZipFile, reading: _Reading, max_ratio: float, max_total_bytes: int) -> int:
    """Check every member's name and declared sizes; return the bytes the members need on disk."""
    total = packed = disk = 0
    archive_bytes = archive.stat().st_size
    for info in zf.infolist():
        reading.member = info.filename
        if reason := _unsafe_reason(info.filename):
            raise _refuse(archive, info.filename, reason)
        total, packed = total + info.file_size, packed + info.compress_size
        reason = (_ratio_reason(info.file_size, info.compress_size, max_ratio, "declares")
                  or _total_reason(total, max_total_bytes)
                  or _shared_reason(packed, archive_bytes))
        if reason:
            raise _implausible(archive, info.filename, reason)
        disk += _on_disk(info.file_size)
    return disk


def _scan_tar(archive: Path, tf: tarfile.TarFile, reading: _Reading, max_ratio: float, max_total_bytes: int,
              every: int) -> int:
    """Check every member (reading, for a compressed tar, the whole stream and its checksum); return the
    bytes the members need on disk."""
    paths, total, disk = _TarPaths(), 0, 0
    archive_bytes = archive.stat().st_size
    for count, member in enumerate(tf, 1):  # headers are checked as they come, before the next is read
        reading.member = member.name
        if reason := _unsafe_reason(member.name) or _special_reason(member) or paths.reason(member):
            raise _refuse(archive, member.name, reason)
        total += member.size if member.isreg() else 0
        reason = (_sparse_reason(member)
                  or _ratio_reason(total, archive_bytes, max_ratio, "brings the archive to")
                  or _total_reason(total, max_total_bytes))
        if reason:
            raise _implausible(archive, member.name, reason)
        disk += _on_disk(member.size) if member.isreg() or member.isdir() else 0
        _progress(archive, "checked", count, None, every)
    reading.member = None
    while tf.fileobj.read(1 << 20):  # to the end: the decompressor checks its checksum there, tarfile stops short
        pass
    return disk


def _read_zip(archive: Path, zf: zipfile.ZipFile, reading: _Reading, every: int) -> None:
    """Read every member's data through, which checks its CRC."""
    members = zf.infolist()
    for count, info in enumerate(members, 1):
        reading.member = info.filename
        with zf.open(info) as data:
            while data.read(1 << 20):
                pass
        _progress(archive, "verified", count, len(members), every)


def _unpack_zip(archive: Path, zf: zipfile.ZipFile, staging: Path, reading: _Reading, every: int) -> int:
    members = zf.infolist()
    for count, info in enumerate(members, 1):
        reading.member = info.filename
        zf.extract(info, staging)  # reads and checks each member's CRC
        _progress(archive, "extracted", count, len(members), every)
    return len(members)


def _without_owner(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """A copy of ``member`` that extracts as the ``data`` filter would: owner unchanged, plain mode bits."""
    member = copy.copy(member)
    member.uid = member.gid = -1  # with numeric_owner, chown(path, -1, -1) changes nothing
    if member.isdir():
        member.mode = 0o755
    else:
        member.mode = member.mode & 0o755 | 0o600
        if not member.mode & 0o100:
            member.mode &= ~0o111
    return member


def _unpack_tar(archive: Path, tf: tarfile.TarFile, staging: Path, reading: _Reading, every: int) -> int:
    members = tf.getmembers()  # read (and checked) by _scan_tar
    for count, member in enumerate(members, 1):
        reading.member = member.name
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: a second line of defence
            tf.extract(member, staging, filter="data")
        else:  # older Pythons would apply the archive's owner (as root) and mode bits as they stand
            tf.extract(_without_owner(member), staging, numeric_owner=True)
        _progress(archive, "extracted", count, len(members), every)
    return len(members)


def _require_space(archive: Path, target: Path, needed: int) -> None:
    free = shutil.disk_usage(target).free
    if needed > free:
        raise NotEnoughSpace(f"{archive} unpacks to {_size(needed)} but {target} has only {_size(free)} free: free "
                             f"at least {_size(needed - free)} there, or move {target} to a larger disk (leaving a "
                             f"symbolic link in its place), and run again")


def _move_into_place(staging: Path, target: Path) -> list[str]:
    entries = sorted(p.name for p in staging.iterdir())
    for entry in entries:
        dest = target / entry
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        elif dest.exists() or dest.is_symlink():
            dest.unlink()
        os.replace(staging / entry, dest)
    return entries


def extract(archive: str | os.PathLike, target: str | os.PathLike, progress_every: int = 10_000, *,
            max_ratio: float = MAX_RATIO, max_total_bytes: int = MAX_TOTAL_BYTES) -> list[str]:
    """Unpack ``archive`` into ``target`` and return the names of the top-level entries it made.

    Top-level entries of the archive replace entries of the same name in ``target``; other files in
    ``target`` are left alone. Raises ArchiveError for an unsafe, implausible (see the module
    docstring for ``max_ratio`` and ``max_total_bytes``), truncated or damaged archive, and
    NotEnoughSpace when ``target``'s disk cannot hold its contents; ``target`` is then left as it was.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    staging = target / f".{archive.name}.extracting"
    with _Reading(archive, target) as reading, _open(archive) as handle:
        if isinstance(handle, zipfile.ZipFile):
            needed, unpack = _scan_zip(archive, handle, reading, max_ratio, max_total_bytes), _unpack_zip
        else:
            needed = _scan_tar(archive, handle, reading, max_ratio, max_total_bytes, progress_every)
            unpack = _unpack_tar
        _require_space(archive, target, needed)
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        try:
            log.info("%s: extracting into %s", archive.name, target)
            count = unpack(archive, handle, staging, reading, progress_every)
            entries = _move_into_place(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("%s: %d members extracted into %s (%s)", archive.name, count, target, ", ".join(entries))
    return entries


def verify_archive(archive: str | os.PathLike, progress_every: int = 10_000, *, max_ratio: float = MAX_RATIO,
                   max_total_bytes: int = MAX_TOTAL_BYTES) -> int:
    """Read ``archive`` through without writing anything and return its number of members.

    Runs the checks ``extract`` runs before writing, then reads all data: every zip member (its CRC is
    checked), every tar header and, for a compressed tar, the whole stream up to its checksum (tar
    itself has no checksum of member data). Streams in constant memory apart from the member list.
    Raises ArchiveError for an unsafe, implausible, truncated or damaged archive.
    """
    archive = Path(archive)
    with _Reading(archive) as reading, _open(archive) as handle:
        if isinstance(handle, zipfile.ZipFile):
            _scan_zip(archive, handle, reading, max_ratio, max_total_bytes)
            _read_zip(archive, handle, reading, progress_every)
            count = len(handle.infolist())
        else:
            _scan_tar(archive, handle, reading, max_ratio, max_total_bytes, progress_every)
            count = len(handle.getmembers())
    log.info("%s: %d members verified", archive.name, count)
    return count


def missing_files(root: str | os.PathLike, expected) -> list[str]:
    """The paths of ``expected`` (relative to ``root``) that are not files."""
    root = Path(root)
    return [rel for rel in expected if not (root / rel).is_file()]


def require_files(root: str | os.PathLike, expected, what: str, fix: str) -> None:
    """Raise LayoutError naming the missing files of ``expected`` (paths relative to ``root``).

    what: what the files are ("CelebA images"); fix: the sentence telling the user what to do.
    """
    expected = list(expected)
    missing = missing_files(root, expected)
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise LayoutError(f"{root}: {len(missing)} of {len(expected)} {what} are missing: {shown}. {fix}")
