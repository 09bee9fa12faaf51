"""HTTP downloads a cluster user can trust.

``fetch`` streams a file to a hidden partial file next to its destination, resumes that partial
file with an HTTP Range request after a dropped connection, retries with exponential back-off
(honouring a server's ``Retry-After``), tries the given URLs (mirrors) in order, and renames the
partial file onto its destination only once it is known to be good: its pinned checksum matches,
or, for a file nobody publishes a checksum of, its length matches what the server declared and a
``verify`` callback (e.g. testing an archive whole) accepts it.

Google Drive answers a large file with a "virus scan warning" page; ``fetch`` follows it as a
browser would (the page's ``download-form`` with its hidden inputs, or the older ``confirm=`` link
and ``download_warning`` cookie). Drive's quota page ("Too many users have viewed or downloaded
this file recently") cannot be passed: the error names the file, where to place it by hand and a
``gdown`` command to fetch it from elsewhere. Other HTML pages (sign-in, errors) are recognised and
reported, also when one arrives as the body of a resumed (206) answer.

A file link-shared before 2021 is served, since Drive's 2021 security update, only with the
``resourcekey`` of its share link (``...uc?export=download&id=ID&resourcekey=KEY``). That key travels
with every request of the file: it is added to the warning page's form or confirm link when they lack
it, and sent as Drive's ``X-Goog-Drive-Resource-Keys: ID/KEY`` header. A Drive URL without a key that
gets Drive's "file does not exist", "you need access" or sign-in page fails with the fix: add
``&resourcekey=<key from the share link>`` to the URL in the config.

Every file has an overall ``deadline`` and a ``min_speed``: a server that trickles bytes cannot keep
a download alive for ever. A file already at the destination (placed there by hand, or by an
earlier run) is verified and used without any network access. Only the standard library is used.
"""

from __future__ import annotations

import email.utils
import http.client
import http.cookiejar
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

from sketchback.io import file_digest

log = logging.getLogger(__name__)

USER_AGENT = "sketchback-downloader/0.2"
CHECKSUM_ALGORITHMS = ("md5", "sha256")
# Status codes worth asking again for: the server is busy, rate-limits us or timed out.
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
# Warning pages followed in a row before giving up (Drive needs one).
MAX_PAGE_HOPS = 3
# An HTML page is read up to this size to find its download form.
MAX_PAGE_BYTES = 2 << 20


class DownloadError(RuntimeError):
    """A file could not be obtained; the message names the file, what went wrong and the fix."""


class ChecksumMismatch(DownloadError):
    """A file's content differs from its pinned checksum."""


@dataclass(frozen=True)
class Limits:
    """How hard ``fetch`` tries: the config's ``download:`` block (defaults in the config schema).

    retries: further attempts per URL after a network error, a busy server or a cut connection;
    backoff: seconds before the first retry, doubling each time (a longer ``Retry-After`` wins);
    timeout: seconds one read may wait for data; deadline: seconds for the whole file, all URLs and
    attempts included; min_speed: bytes/s that each ``speed_window`` seconds must average.
    """

    retries: int = 4
    backoff: float = 2.0
    timeout: float = 60.0
    deadline: float = 12 * 3600.0
    min_speed: float = 10_000.0
    speed_window: float = 60.0


class _HTMLPage(Exception):
    """The server answered with an HTML page instead of the file (not worth retrying)."""

    def __init__(self, description: str, quota: bool = False, hint: str | None = None):
        super().__init__(description)
        self.quota, self.hint = quota, hint


class _Incomplete(Exception):
    """The connection ended before the whole file arrived, or crawled (worth resuming)."""


class _Busy(Exception):
    """A retryable HTTP status, with the server's Retry-After in seconds if it sent one."""

    def __init__(self, reason: str, retry_after: float | None):
        super().__init__(reason)
        self.retry_after = retry_after


class _OutOfTime(Exception):
    """The file's deadline passed."""


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


# --- HTML pages served instead of a file ----------------------------------------------------------

def is_quota_page(text: str) -> bool:
    lowered = text.lower()
    return "too many users have viewed or downloaded" in lowered or "quota exceeded" in lowered


def describe_html(head: bytes) -> str:
    """Say what an HTML page served instead of a file is, from its first bytes."""
    text = head.decode("utf-8", errors="replace")
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    title = " ".join(match.group(1).split()) if match else ""
    lowered = text.lower()
    if is_quota_page(text) or "quota" in lowered:
        what = "Google Drive's 'download quota exceeded' page (too many downloads of this file today)"
    elif "virus" in lowered and ("scan" in lowered or "google" in lowered):
        what = "Google Drive's virus-scan warning page (the file is too large for Drive to scan)"
    elif "file you have requested does not exist" in lowered:
        what = "Google Drive's 'file does not exist' page"
    elif "you need access" in lowered or "request access" in lowered:
        what = "Google Drive's 'you need access' page"
    elif "sign in" in lowered or "login" in lowered:
        what = "a sign-in page"
    else:
        what = "a web page"
    return f"{what}{f' titled {title!r}' if title else ''}"


def is_refusal_page(text: str) -> bool:
    """True for the pages Drive answers a file it will not serve with: not found, no access, sign-in."""
    lowered = text.lower()
    return any(words in lowered for words in ("file you have requested does not exist", "you need access",
                                              "request access", "sign in", "login"))


class _WarningPage(HTMLParser):
    """Collects a Drive warning page's ``download-form`` (action, hidden inputs) and confirm links."""

    def __init__(self):
        super().__init__()
        self.action: str | None = None
        self.inputs: dict[str, str] = {}
        self.links: list[str] = []
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if tag == "form" and attrs.get("id") == "download-form":
            self.action, self._in_form = attrs.get("action") or None, True
        elif tag == "input" and self._in_form and attrs.get("type") == "hidden" and attrs.get("name"):
            self.inputs[attrs["name"]] = attrs.get("value", "")
        elif tag == "a" and "confirm=" in attrs.get("href", "") and "export=download" in attrs.get("href", ""):
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False


def confirmation_url(page: bytes, page_url: str, cookies: http.cookiejar.CookieJar) -> str | None:
    """The URL a browser would request next on a Drive warning page, or None for any other page.

    Current Drive: the ``download-form``'s action with all its hidden inputs (id, export, confirm,
    uuid). Older Drive: a ``confirm=`` link, or the token of a ``download_warning`` cookie added to
    the page's own URL. Only http(s) URLs are followed.
    """
    parser = _WarningPage()
    parser.feed(page.decode("utf-8", errors="replace"))
    if parser.action and parser.inputs:
        action = urllib.parse.urljoin(page_url, parser.action)
        parts = urllib.parse.urlsplit(action)
        query = dict(urllib.parse.parse_qsl(parts.query)) | parser.inputs
        url = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    elif parser.links:
        url = urllib.parse.urljoin(page_url, parser.links[0])
    else:
        tokens = [c.value for c in cookies if c.name.startswith("download_warning")]
        if not tokens:
            return None
        parts = urllib.parse.urlsplit(page_url)
        query = dict(urllib.parse.parse_qsl(parts.query)) | {"confirm": tokens[0]}
        url = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    return url if urllib.parse.urlsplit(url).scheme in ("http", "https") else None


def _looks_like_html(content_type: str, head: bytes) -> bool:
    """True for a web page: its body starts like HTML, or it is declared HTML and contains a tag.

    The body decides, so a binary file a server mislabels as text/html is still accepted.
    """
    start = head[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return True
    return "text/html" in content_type.lower() and (b"<html" in start or b"<body" in start)


def drive_file_id(url: str) -> str | None:
    """The file id in a Google Drive download URL (``...?id=ID`` or ``/file/d/ID/``), else None."""
    parts = urllib.parse.urlsplit(url)
    match = re.search(r"/file/d/([\w-]+)", parts.path)
    return match.group(1) if match else dict(urllib.parse.parse_qsl(parts.query)).get("id")


def drive_resource_key(url: str) -> str | None:
    """The ``resourcekey`` of a Google Drive file URL (``...&resourcekey=KEY``), else None."""
    if drive_file_id(url) is None:
        return None
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)).get("resourcekey") or None


def with_resource_key(url: str, original: str) -> str:
    """``url`` with ``original``'s resource key added, when both name the same Drive file and ``url`` has none."""
    key = drive_resource_key(original)
    if not key or drive_resource_key(url) or drive_file_id(url) != drive_file_id(original):
        return url
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "resourcekey"] + [("resourcekey", key)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def resource_key_header(url: str) -> dict[str, str]:
    """Drive's ``X-Goog-Drive-Resource-Keys: ID/KEY`` header for a URL that carries a key, else no header."""
    key = drive_resource_key(url)
    return {"X-Goog-Drive-Resource-Keys": f"{drive_file_id(url)}/{key}"} if key else {}


def resource_key_hint(url: str) -> str:
    """What to do when Drive refuses the file at ``url``: add its resource key, or check the one given."""
    key = drive_resource_key(url)
    if key:
        return (f"Google Drive did not serve it with resourcekey={key}: check that this key is the one in the "
                f"file's share link.")
    return ("The file may need its resource key: Google Drive serves a file link-shared before 2021 only with the "
            "key from its share link (...?resourcekey=KEY). Add `&resourcekey=<key from the share link>` to this "
            "URL in the config.")


# --- one attempt ------------------------------------------------------------------------------------

def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date), or None."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a Content-Range header, None where absent or ``*``."""
    match = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", header or "")
    if not match:
        return None, None
    return int(match.group(1)), None if match.group(2) == "*" else int(match.group(2))


class _Attempt:
    """One request for a file (following warning pages), streamed into the partial file."""

    def __init__(self, part: Path, name: str, limits: Limits, clock: "_Clock", chunk_size: int,
                 progress_every: float):
        # One cookie jar per URL and run, never on disk: Drive's legacy flow sets its token there.
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.part, self.name, self.limits, self.clock = part, name, limits, clock
        self.chunk_size, self.progress_every = chunk_size, progress_every

    def open(self, url: str, offset: int):
        """The response that carries the file (or its remaining bytes) and its first chunk.

        Warning pages are followed; the resource key of ``url`` (a Drive file's) goes with every request.
        """
        original = url
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"} | resource_key_header(url)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        for _ in range(MAX_PAGE_HOPS + 1):
            response = self._request(url, headers, original)
            first = self._head(response)
            if not _looks_like_html(response.headers.get("Content-Type", ""), first):
                return response, first
            page = first + response.read(MAX_PAGE_BYTES)
            response.close()
            url = with_resource_key(self._next_url(page, response.url or url, original), original)
            log.info("%s: %s; following its download link", self.name, describe_html(page))
        raise _HTMLPage(f"{describe_html(page)}, again after {MAX_PAGE_HOPS} download links")

    def _request(self, url: str, headers: dict[str, str], original: str):
        """The response to one GET; a busy status raises _Busy, Drive's refusal page _HTMLPage."""
        try:
            return self.opener.open(urllib.request.Request(url, headers=headers),
                                    timeout=self.clock.timeout(self.limits.timeout))
        except urllib.error.HTTPError as error:
            if error.code in RETRY_STATUS:
                raise _Busy(f"HTTP {error.code} {error.reason}", _retry_after(error.headers.get("Retry-After")))
            if error.code in (401, 403, 404) and drive_file_id(original):
                # Drive answers a file it will not serve (e.g. without its resource key) with an HTML 404 page.
                page = error.read(MAX_PAGE_BYTES)
                if _looks_like_html(error.headers.get("Content-Type", ""), page):
                    raise _HTMLPage(f"{describe_html(page)} (HTTP {error.code})",
                                    hint=resource_key_hint(original)) from error
            raise

    def _next_url(self, page: bytes, page_url: str, original: str) -> str:
        """Where a warning page leads; any other page raises _HTMLPage (with the resource-key fix for Drive)."""
        text = page.decode("utf-8", errors="replace")
        if is_quota_page(text):
            raise _HTMLPage(describe_html(page), quota=True)
        follow = confirmation_url(page, page_url, self.cookies)
        if follow is not None:
            return follow
        refused = drive_file_id(original) is not None and is_refusal_page(text)
        raise _HTMLPage(describe_html(page), hint=resource_key_hint(original) if refused else None)

    def _head(self, response, size: int = 1024) -> bytes:
        """The body's first ``size`` bytes (fewer if it is shorter), held to the speed limit."""
        head, started = b"", time.monotonic()
        while len(head) < size:
            chunk = response.read1(size - len(head))
            if not chunk:
                break
            head += chunk
            self._check_speed(len(head), time.monotonic() - started)
        return head

    def _check_speed(self, received: int, seconds: float) -> None:
        self.clock.check()
        if seconds >= self.limits.speed_window and received / seconds < self.limits.min_speed:
            raise _Incomplete(f"only {received / seconds:,.0f} bytes/s over {seconds:.0f} s, below "
                              f"download.min_speed ({self.limits.min_speed:,.0f} bytes/s)")

    def run(self, url: str) -> None:
        """Download ``url`` into the partial file, continuing it with a Range request if it exists."""
        offset = self.part.stat().st_size if self.part.exists() else 0
        try:
            response, first = self.open(url, offset)
        except urllib.error.HTTPError as error:
            if error.code == 416 and offset:
                # Range not satisfiable: the partial file already holds everything the server has.
                log.info("%s: the partial download is already complete (%s)", self.name, _megabytes(offset))
                return
            raise
        with response:
            offset, total = self._placement(response, offset, url)
            self._copy(response, first, offset, total)

    def _placement(self, response, offset: int, url: str) -> tuple[int, int | None]:
        """Where the body goes in the partial file, and the file's full size if the server said."""
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        start, size = _content_range(response.headers.get("Content-Range"))
        if response.status == 206:
            if start != offset:
                self.part.unlink(missing_ok=True)
                raise _Incomplete(f"the server answered bytes from {start} when asked for {offset}; starting again")
            log.info("%s: resuming at %s from %s", self.name, _megabytes(offset), url)
            total = size if size is not None else (offset + length if length is not None else None)
            if length is not None and total is not None and offset + length != total:
                self.part.unlink(missing_ok=True)
                raise _Incomplete(f"the server's Content-Length ({length}) and Content-Range ({start}-/{size}) "
                                  f"disagree; starting again")
            return offset, total
        if offset:
            log.info("%s: %s did not resume the partial download (HTTP %d); starting again",
                     self.name, url, response.status)
        log.info("%s: downloading %s", self.name, url)
        if length is None:
            log.warning("%s: the server sends no length, so a cut connection cannot be told from the end of the file; "
                        "it is checked before use", self.name)
        return 0, length

    def _copy(self, response, chunk: bytes, offset: int, total: int | None) -> None:
        received, window_start, window_bytes = offset, time.monotonic(), 0
        last_report = started = window_start
        with open(self.part, "ab" if offset else "wb") as out:
            while chunk:
                out.write(chunk)
                received += len(chunk)
                window_bytes += len(chunk)
                now = time.monotonic()
                self._check_speed(window_bytes, now - window_start)
                if now - window_start >= self.limits.speed_window:
                    window_start, window_bytes = now, 0
                if now - last_report >= self.progress_every:
                    last_report = now
                    share = f" of {_megabytes(total)} ({100 * received / total:.0f}%)" if total else ""
                    rate = (received - offset) / max(now - started, 1e-9)
                    log.info("%s: %s%s at %s/s", self.name, _megabytes(received), share, _megabytes(int(rate)))
                chunk = response.read1(self.chunk_size)  # whatever has arrived: a crawl is noticed
        if total is not None and received != total:
            if received > total:
                self.part.unlink(missing_ok=True)
                raise _Incomplete(f"received {received:,} bytes, more than the {total:,} the server declared")
            raise _Incomplete(f"connection closed after {_megabytes(received)} of {_megabytes(total)}")
        log.info("%s: received %s (100%%)", self.name, _megabytes(received))


class _Clock:
    """The file's deadline: the time left, and a per-read timeout that never outlasts it."""

    def __init__(self, deadline: float):
        self.deadline, self.end = deadline, time.monotonic() + deadline

    def left(self) -> float:
        return self.end - time.monotonic()

    def check(self) -> None:
        if self.left() <= 0:
            raise _OutOfTime()

    def timeout(self, timeout: float) -> float:
        self.check()
        return max(0.001, min(timeout, self.left()))


# --- the file: existing copy, URLs in order, attempts, acceptance ----------------------------------

def _accept_existing(dest: Path, checksums: dict[str, str], verify: Callable[[Path], object] | None) -> Path:
    """Use a file already at ``dest`` (placed by hand or by an earlier run), never deleting it."""
    problem = checksum_problem(dest, checksums)
    if problem:
        raise ChecksumMismatch(
            f"{dest} is there but {problem}: it was placed by hand or is damaged. Delete it to "
            f"download it again, or replace it with the published file")
    if checksums:
        log.info("%s: already present, %s verified", dest, " and ".join(checksums))
        return dest
    if verify is not None:
        try:
            verify(dest)
        except Exception as error:
            raise DownloadError(f"{dest} is there but cannot be used: {error}. Delete it to download it again, or "
                                f"replace it with the published file") from error
    log.warning("%s: already present; no checksum is pinned, so it is used after a%s check only", dest,
                " readability" if verify else " presence")
    return dest


def _problem(part: Path, checksums: dict[str, str], verify: Callable[[Path], object] | None) -> str | None:
    """Why a complete download is not the file (checksum, or ``verify`` when none is pinned), or None."""
    if checksums:
        return checksum_problem(part, checksums)
    if verify is not None:
        try:
            verify(part)
        except Exception as error:  # the callback's own error type (e.g. ArchiveError) says what is wrong
            return f"it is not usable ({error})"
    return None


def gdown_command(url: str, dest: Path) -> str:
    """A shell command that fetches the Drive file at ``url`` to ``dest`` with gdown, keeping its resource key.

    gdown's CLI takes a file id or a whole URL; gdown 6 reduces any Drive URL to its id, dropping the key, so a
    URL with a key is passed whole to gdown 5, which requests the URL as given.
    """
    if drive_resource_key(url):
        return f'pip install "gdown<6" && gdown --continue "{url}" -O {dest}'
    return f"pip install gdown && gdown --continue {drive_file_id(url)} -O {dest}"


def _manual_fix(dest: Path, failures: list[str], drive_urls: list[str], part: Path) -> str:
    fix = (f"Download it yourself and place it at {dest}, or list a working mirror in the config; a file placed "
           f"there is verified against the pinned checksum.")
    if drive_urls:
        fix += (f" Google Drive limits how often a file is downloaded per day; try again later (up to 24 hours), or "
                f"fetch it on a machine with internet access, e.g. `{gdown_command(drive_urls[0], dest)}`, or in a "
                f"web browser, and copy it there.")
    if part.exists():
        fix += f" The partial download {part} is kept and will be resumed."
    return f"could not download {dest.name}:\n  " + "\n  ".join(failures) + "\n" + fix


def fetch(urls: list[str], dest: str | os.PathLike, checksums: dict | None = None, *,
          verify: Callable[[Path], object] | None = None, limits: Limits = Limits(), chunk_size: int = 1 << 20,
          progress_every: float = 10.0, **limit_overrides) -> Path:
    """Make ``dest`` hold the file published at ``urls`` (tried in order) and return its path.

    checksums: ``{"md5": hex, "sha256": hex}`` (either or both; None values are ignored).
    verify: for a file without a pinned checksum, a callable that raises when the downloaded file is
    not usable (e.g. ``sketchback.data.extract.verify_archive``); such a file is deleted, never kept, and
    only a file that passes has its sha256 logged for pinning.
    limits (or keyword overrides of its fields: retries, backoff, timeout, deadline, min_speed,
    speed_window): how hard to try, see ``Limits``.
    A file already at ``dest`` is verified and kept (never downloaded again, never deleted: a wrong
    checksum there raises ChecksumMismatch naming the file). Otherwise each URL gets ``retries``
    further attempts after network errors, busy servers, cut or crawling connections; every attempt
    continues the partial file ``.<name>.part`` with an HTTP Range request. A 4xx answer or an
    HTML page that is not a Drive warning moves on to the next URL.
    Raises DownloadError listing every URL and why it failed, and how to place the file by hand.
    """
    dest, checksums = Path(dest), pinned(checksums)
    limits = replace(limits, **limit_overrides)
    if dest.exists():
        return _accept_existing(dest, checksums, verify)
    if not urls:
        raise DownloadError(f"{dest} is missing and no URL is configured for it: place the file there by hand")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.part")
    clock, failures, quota_urls = _Clock(limits.deadline), [], []
    try:
        for url in urls:
            if _try_url(url, dest, part, checksums, verify, limits, clock, chunk_size, progress_every, failures,
                        quota_urls):
                return dest
    except _OutOfTime:
        failures.append(f"gave up: the download took longer than download.deadline ({limits.deadline:,.0f} s)")
        log.warning("%s: %s", dest.name, failures[-1])
    raise DownloadError(_manual_fix(dest, failures, [u for u in quota_urls if drive_file_id(u)], part))


def _try_url(url, dest, part, checksums, verify, limits, clock, chunk_size, progress_every, failures,
             quota_urls) -> bool:
    """Attempts at one URL; True once ``dest`` holds the accepted file, else False with the reason appended
    to ``failures`` (and the URL to ``quota_urls`` when it answered Google Drive's quota page)."""
    name = dest.name
    transfer = _Attempt(part, name, limits, clock, chunk_size, progress_every)
    resumed = part.exists()  # a partial file from an earlier run or an earlier URL
    attempt = 0
    while True:
        try:
            transfer.run(url)
        except _HTMLPage as page:
            failures.append(f"{url}: served {page} instead of the file" + (f". {page.hint}" if page.hint else ""))
            if page.quota:
                quota_urls.append(url)
        except urllib.error.HTTPError as error:
            failures.append(f"{url}: HTTP {error.code} {error.reason}")
        except (_Busy, _Incomplete, http.client.HTTPException, OSError) as error:  # URLError, timeouts, resets
            reason = str(getattr(error, "reason", None) or error) or type(error).__name__
            wait = max(limits.backoff * 2 ** attempt, getattr(error, "retry_after", None) or 0)
            if attempt >= limits.retries:
                failures.append(f"{url}: {reason} (gave up after {limits.retries + 1} attempts)")
            elif wait > clock.left():
                failures.append(f"{url}: {reason}; waiting {wait:,.0f} s more would pass download.deadline")
            else:
                attempt += 1
                resumed = resumed or part.exists()
                log.warning("%s: %s; attempt %d of %d in %.1f s", name, reason, attempt + 1, limits.retries + 1, wait)
                time.sleep(wait)
                continue
        else:
            problem = _problem(part, checksums, verify)
            if problem is None:
                _publish(part, dest, checksums)
                return True
            part.unlink()
            if resumed:
                # The partial file we continued may be stale or from another source: once, from scratch.
                log.warning("%s: the resumed download %s; downloading it again from the start", name, problem)
                resumed = False
                continue
            failures.append(f"{url}: downloaded, but {problem}; the file was deleted")
        log.warning("%s: %s", name, failures[-1])
        return False


def _publish(part: Path, dest: Path, checksums: dict[str, str]) -> None:
    os.replace(part, dest)
    if checksums:
        log.info("%s: %s verified; saved as %s", dest.name, " and ".join(checksums), dest)
    else:
        log.warning("%s: saved as %s WITHOUT a pinned checksum (it passed the length and readability checks); its "
                    "sha256 is %s (pin it in the config to verify later downloads)", dest.name, dest,
                    file_digest(dest, "sha256"))
