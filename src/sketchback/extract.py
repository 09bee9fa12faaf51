"""Safe archive extraction and layout checks for downloaded datasets.

``extract`` unpacks a zip or tar archive (plain, gzip, bzip2 or xz; recognised by content, not by
name) into a folder. It refuses members that would land outside that folder (absolute paths,
``..``, links pointing out, device files) before writing anything, unpacks into a hidden staging
folder, and moves the result into place only when the whole archive was read: a truncated or
damaged archive leaves nothing behind that looks complete. ``missing_files`` / ``require_files``
check an extracted layout and say what is missing.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)


class ArchiveError(ValueError):
    """An archive that is unsafe, truncated or damaged; the message names it and the fix."""


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


def _check_link(member: tarfile.TarInfo) -> str | None:
    if member.issym():
        target = PurePosixPath(member.name).parent / member.linkname
        if member.linkname.startswith("/") or ".." in PurePosixPath(os.path.normpath(str(target))).parts:
            return f"is a symbolic link to {member.linkname!r}, outside the target folder"
    if member.islnk() and _unsafe_reason(member.linkname):
        return f"is a hard link to {member.linkname!r}, outside the target folder"
    if member.isdev() or member.isfifo():
        return "is a device or pipe, not a file"
    return None


def _refuse(archive: Path, name: str, reason: str) -> ArchiveError:
    return ArchiveError(f"{archive}: member {name!r} {reason}; refusing to extract this archive (it is not the "
                        f"published file: delete it and download it again)")


def _damaged(archive: Path, error: BaseException) -> ArchiveError:
    return ArchiveError(f"{archive} is truncated or damaged ({type(error).__name__}: {error}); delete it and "
                        f"download it again")


def _extract_zip(archive: Path, staging: Path, progress_every: int) -> int:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for info in members:
            if reason := _unsafe_reason(info.filename):
                raise _refuse(archive, info.filename, reason)
        for count, info in enumerate(members, 1):
            zf.extract(info, staging)  # reads and checks each member's CRC
            if count % progress_every == 0:
                log.info("%s: extracted %d of %d members", archive.name, count, len(members))
    return len(members)


def _extract_tar(archive: Path, staging: Path, progress_every: int) -> int:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()  # reads the whole (decompressed) stream: truncation shows here
        for member in members:
            if reason := _unsafe_reason(member.name) or _check_link(member):
                raise _refuse(archive, member.name, reason)
        for count, member in enumerate(members, 1):
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: a second line of defence
                tf.extract(member, staging, filter="data")
            else:
                tf.extract(member, staging)
            if count % progress_every == 0:
                log.info("%s: extracted %d of %d members", archive.name, count, len(members))
    return len(members)


def extract(archive: str | os.PathLike, target: str | os.PathLike, progress_every: int = 10_000) -> list[str]:
    """Unpack ``archive`` into ``target`` and return the names of the top-level entries it made.

    Top-level entries of the archive replace entries of the same name in ``target``; other files in
    ``target`` are left alone. Raises ArchiveError for an unsafe, truncated or damaged archive (and
    then leaves ``target`` as it was).
    """
    archive, target = Path(archive), Path(target)
    if zipfile.is_zipfile(archive):
        unpack = _extract_zip
    elif tarfile.is_tarfile(archive):
        unpack = _extract_tar
    else:
        raise ArchiveError(f"{archive} is not a readable zip or tar archive (truncated, damaged, or not an archive "
                           f"at all, e.g. a saved web page); delete it and download it again")
    target.mkdir(parents=True, exist_ok=True)
    staging = target / f".{archive.name}.extracting"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        log.info("%s: extracting into %s", archive.name, target)
        count = unpack(archive, staging, progress_every)
        entries = sorted(p.name for p in staging.iterdir())
        for entry in entries:
            dest = target / entry
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            elif dest.exists() or dest.is_symlink():
                dest.unlink()
            os.replace(staging / entry, dest)
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise _damaged(archive, error) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("%s: %d members extracted into %s (%s)", archive.name, count, target, ", ".join(entries))
    return entries


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
