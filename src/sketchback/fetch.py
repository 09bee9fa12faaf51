"""HTTP downloads a cluster user can trust.

``fetch`` streams a file to a hidden partial file next to its destination, resumes that partial
file with an HTTP Range request after a dropped connection, retries with exponential back-off,
tries the given URLs (mirrors) in order, recognises an HTML page served instead of the file
(Google Drive's quota and virus-scan pages, login and error pages) and renames the partial file
onto its destination only after its checksum matches. A file already at the destination (placed
there by hand, or by an earlier run) is verified and used without any network access.

Only the standard library's ``urllib`` is used.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from sketchback.io import file_digest

log = logging.getLogger(__name__)

USER_AGENT = "sketchback-downloader/0.1"
CHECKSUM_ALGORITHMS = ("md5", "sha256")
# Status codes worth asking again for: the server is busy, rate-limits us or timed out.
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """A file could not be obtained; the message names the file, what went wrong and the fix."""


class ChecksumMismatch(DownloadError):
    """A file's content differs from its pinned checksum."""


class _HTMLPage(Exception):
    """The server answered with an HTML page instead of the file (not worth retrying)."""


class _Incomplete(Exception):
    """The connection ended before the whole file arrived (worth resuming)."""


def pinned(checksums: dict | None) -> dict[str, str]:
    """The checksums that are set (``{"md5": ..., "sha256": None}`` -> ``{"md5": ...}``), lower-case."""
    out = {}
    for algorithm, value in (checksums or {}).items():
        if algorithm not in CHECKSUM_ALGORITHMS:
            raise ValueError(f"unknown checksum {algorithm!r}; use one of {', '.join(CHECKSUM_ALGORITHMS)}")
        if value:
            out[algorithm] = str(value).strip().lower()
    return out


def checksum_problem(path: Path, checksums: dict[str, str]) -> str | None:
    """None when every pinned checksum of ``path`` matches, else a sentence saying which does not."""
    for algorithm, expected in checksums.items():
        actual = file_digest(path, algorithm)
        if actual != expected:
            return f"its {algorithm} is {actual}, expected {expected}"
    return None


def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def describe_html(head: bytes) -> str:
    """Say what an HTML page served instead of a file is, from its first bytes."""
    text = head.decode("utf-8", errors="replace")
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    title = " ".join(match.group(1).split()) if match else ""
    lowered = text.lower()
    if "quota" in lowered or "too many users" in lowered:
        what = "Google Drive's 'download quota exceeded' page (too many downloads of this file today)"
    elif "virus" in lowered and ("scan" in lowered or "google" in lowered):
        what = "Google Drive's virus-scan warning page (the file is too large for Drive to scan)"
    elif "sign in" in lowered or "login" in lowered:
        what = "a sign-in page"
    else:
        what = "a web page"
    return f"{what}{f' titled {title!r}' if title else ''}"


def _looks_like_html(content_type: str, head: bytes) -> bool:
    """True for a web page: its body starts like HTML, or it is declared HTML and contains a tag.

    The body decides, so a binary file a server mislabels as text/html is still accepted.
    """
    start = head[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return True
    return "text/html" in content_type.lower() and (b"<html" in start or b"<body" in start)


def _range_start(content_range: str | None) -> int | None:
    match = re.match(r"bytes\s+(\d+)-", content_range or "")
    return int(match.group(1)) if match else None


def _stream(url: str, part: Path, *, timeout: float, chunk_size: int, progress_every: float, name: str) -> None:
    """Download ``url`` into ``part``, continuing an existing partial file with a Range request.

    Raises _HTMLPage, _Incomplete, urllib.error.HTTPError / URLError or OSError.
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # Range not satisfiable: the partial file already holds everything the server has.
            log.info("%s: the partial download is already complete (%s)", name, _megabytes(offset))
            return
        raise
    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        if offset and status == 206 and _range_start(response.headers.get("Content-Range")) == offset:
            mode = "ab"
            log.info("%s: resuming at %s from %s", name, _megabytes(offset), url)
        else:
            if offset:
                log.info("%s: %s did not resume the partial download (HTTP %d); starting again", name, url, status)
            offset, mode = 0, "wb"
            log.info("%s: downloading %s", name, url)
        total = offset + int(length) if length and length.isdigit() else None
        first = response.read(chunk_size)
        if mode == "wb" and _looks_like_html(response.headers.get("Content-Type", ""), first):
            raise _HTMLPage(describe_html(first + response.read(64 * 1024)))
        received = offset
        started = last_report = time.monotonic()
        with open(part, mode) as out:
            chunk = first
            while chunk:
                out.write(chunk)
                received += len(chunk)
                now = time.monotonic()
                if now - last_report >= progress_every:
                    last_report = now
                    rate = (received - offset) / max(now - started, 1e-9)
                    share = f" of {_megabytes(total)} ({100 * received / total:.0f}%)" if total else ""
                    log.info("%s: %s%s at %s/s", name, _megabytes(received), share, _megabytes(int(rate)))
                try:
                    chunk = response.read(chunk_size)
                except http.client.IncompleteRead as error:
                    out.write(error.partial)
                    received += len(error.partial)
                    raise _Incomplete(f"connection closed after {_megabytes(received)} of {_megabytes(total or 0)}") from error
    if total is not None and received < total:
        raise _Incomplete(f"connection closed after {_megabytes(received)} of {_megabytes(total)}")
    log.info("%s: received %s (100%%)", name, _megabytes(received))


def fetch(urls: list[str], dest: str | os.PathLike, checksums: dict | None = None, *, retries: int = 4,
          backoff: float = 2.0, timeout: float = 60.0, chunk_size: int = 1 << 20,
          progress_every: float = 10.0) -> Path:
    """Make ``dest`` hold the file published at ``urls`` (tried in order) and return its path.

    checksums: ``{"md5": hex, "sha256": hex}`` (either or both; None values are ignored). Without
    any, the file is accepted as downloaded and a warning gives its sha256 to pin.
    A file already at ``dest`` is verified and kept (never downloaded again, never deleted: a wrong
    checksum there raises ChecksumMismatch naming the file). Otherwise each URL gets ``retries``
    further attempts after network errors or busy servers, waiting ``backoff * 2**attempt`` seconds;
    every attempt continues the partial file ``.<name>.part`` with an HTTP Range request. A 4xx
    answer or an HTML page moves on to the next URL. The partial file is renamed onto ``dest`` only
    once it matches the checksums; a complete download that does not match is deleted.
    Raises DownloadError listing every URL and why it failed, and how to place the file by hand.
    """
    dest = Path(dest)
    checksums = pinned(checksums)
    name = dest.name
    if dest.exists():
        problem = checksum_problem(dest, checksums)
        if problem:
            raise ChecksumMismatch(
                f"{dest} is there but {problem}: it was placed by hand or is damaged. Delete it to "
                f"download it again, or replace it with the published file")
        if checksums:
            log.info("%s: already present, %s verified", dest, " and ".join(checksums))
        else:
            log.warning("%s: already present; no checksum is pinned, so it is used unverified", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{name}.part")
    if not urls:
        raise DownloadError(f"{dest} is missing and no URL is configured for it: place the file there by hand")
    failures = []
    for url in urls:
        resumed = part.exists()  # a partial file from an earlier run or an earlier URL
        attempt = 0
        while True:
            try:
                _stream(url, part, timeout=timeout, chunk_size=chunk_size, progress_every=progress_every, name=name)
            except _HTMLPage as page:
                failures.append(f"{url}: served {page} instead of the file")
                log.warning("%s: %s", name, failures[-1])
                break
            except urllib.error.HTTPError as error:
                if error.code not in RETRY_STATUS or attempt >= retries:
                    failures.append(f"{url}: HTTP {error.code} {error.reason}")
                    log.warning("%s: %s", name, failures[-1])
                    break
                reason = f"HTTP {error.code} {error.reason}"
            except (_Incomplete, http.client.HTTPException, OSError) as error:  # URLError, timeouts, resets
                reason = str(getattr(error, "reason", None) or error) or type(error).__name__
                if attempt >= retries:
                    failures.append(f"{url}: {reason} (gave up after {retries + 1} attempts)")
                    log.warning("%s: %s", name, failures[-1])
                    break
            else:
                problem = checksum_problem(part, checksums)
                if problem is None:
                    os.replace(part, dest)
                    if checksums:
                        log.info("%s: %s verified; saved as %s", name, " and ".join(checksums), dest)
                    else:
                        log.warning("%s: saved as %s WITHOUT a pinned checksum; its sha256 is %s (pin it in the "
                                    "config to verify later downloads)", name, dest, file_digest(dest, "sha256"))
                    return dest
                part.unlink()
                if resumed:
                    # The partial file we continued may be stale or from another source: once, from scratch.
                    log.warning("%s: the resumed download %s; downloading it again from the start", name, problem)
                    resumed = False
                    continue
                failures.append(f"{url}: downloaded, but {problem}")
                log.warning("%s: %s", name, failures[-1])
                break
            wait = backoff * 2 ** attempt
            attempt += 1
            resumed = resumed or part.exists()
            log.warning("%s: %s; attempt %d of %d in %.1f s", name, reason, attempt + 1, retries + 1, wait)
            time.sleep(wait)
    part_note = f" The partial download {part} is kept and will be resumed." if part.exists() else ""
    raise DownloadError(
        f"could not download {name}:\n  " + "\n  ".join(failures) +
        f"\nDownload it yourself (e.g. in a web browser) and place it at {dest}, or list a working mirror "
        f"in the config; a file placed there is verified against the pinned checksum.{part_note}")
