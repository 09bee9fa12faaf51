"""A real HTTP server on 127.0.0.1 for download tests: serves files from memory or disk, honours
Range requests, imitates Google Drive's download pages, and can misbehave on purpose (drop the
connection mid-file, trickle bytes, answer with an HTML page or an error status, ignore Range,
send an HTML page as a resumed body). Every request is recorded so tests can assert what was asked.

Google Drive, as it behaves today (the flows gdown follows), is imitated by ``LocalServer.drive``:
- ``form`` (current): ``/uc?export=download&id=ID`` answers a "virus scan warning" page whose
  ``<form id="download-form" action=".../download">`` carries hidden inputs id, export, confirm
  and uuid; ``/download`` with all of them serves the file (anything less: the page again).
- ``legacy``: the page links to ``/uc?export=download&confirm=TOKEN&id=ID`` and sets a cookie
  ``download_warning_<n>_<ID>=TOKEN``; the file comes only with both the link and the cookie.
- ``quota``: the "Too many users have viewed or downloaded this file recently" page, always.
A file given a ``resource_key`` (one link-shared before 2021) is served, in every flow, only to requests
whose query carries ``resourcekey=KEY``, first request and after the warning page alike (the page's
form and link do not repeat the key); any other request gets Drive's HTML "file does not exist" page
with status 404, as Drive answers a missing or wrong key.
"""

from __future__ import annotations

import html
import re
import threading
import time
import urllib.parse
import uuid as uuidlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHUNK = 1 << 20


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/octet-stream"
    status: int = 200
    drop_after: int | None = None  # close the connection after this many body bytes ...
    drops: int = 0  # ... on this many requests (then serve normally)
    errors: list[int] = field(default_factory=list)  # statuses to answer first, one per request
    retry_after: str | None = None  # Retry-After header sent with those error statuses
    ignore_range: bool = False
    path: Path | None = None  # serve this file from disk instead of ``body``
    trickle: float | None = None  # send one byte every ``trickle`` seconds
    send_length: bool = True  # False: no Content-Length; the end of the body is the closed connection
    range_page: bytes | None = None  # answer Range requests with 206 and this (HTML) body
    filename: str | None = None  # Content-Disposition: attachment; filename=...

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path is not None else len(self.body)

    def read(self, start: int, end: int):
        """The body's bytes [start, end) in chunks."""
        if self.path is None:
            for offset in range(start, end, CHUNK):
                yield self.body[offset:min(offset + CHUNK, end)]
            return
        with open(self.path, "rb") as handle:
            handle.seek(start)
            while start < end:
                chunk = handle.read(min(CHUNK, end - start))
                if not chunk:
                    return
                start += len(chunk)
                yield chunk


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    status: int = 0
    sent: int = 0


@dataclass
class DriveFile:
    route: Route
    flow: str  # "form", "legacy" or "quota"
    uuids: set = field(default_factory=set)
    token: str = ""
    resource_key: str | None = None


def scan_warning_page(file_id: str, name: str, action: str, uuid: str) -> bytes:
    """Drive's virus-scan warning page for a large file, laid out as Drive serves it (one line)."""
    return (
        '<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title><meta http-equiv="content-type" '
        'content="text/html; charset=utf-8"/><style nonce="x">.goog-inline-block{position:relative}</style></head>'
        '<body><div class="uc-main"><div id="uc-text"><p class="uc-warning-caption">Google Drive can\'t scan this '
        f'file for viruses.</p><p class="uc-warning-subcaption"><span class="uc-name-size"><a href="/open?id={file_id}">'
        f'{html.escape(name)}</a> (1.3G)</span> is too large for Google to scan for viruses. Would you still like to '
        f'download this file?</p><form id="download-form" action="{action}" method="get"><input type="submit" '
        'id="uc-download-link" class="goog-inline-block jfk-button jfk-button-action" value="Download anyway"/>'
        f'<input type="hidden" name="id" value="{file_id}"><input type="hidden" name="export" value="download">'
        f'<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="{uuid}"></form>'
        '</div></div><div class="uc-footer"><hr class="uc-footer-divider"></div></body></html>'
    ).encode()


def legacy_warning_page(file_id: str, name: str, token: str) -> bytes:
    """The older warning page: a 'Download anyway' link carrying confirm=TOKEN (plus a cookie)."""
    return (
        '<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>'
        f'<div class="uc-main"><p class="uc-warning-caption">{html.escape(name)} is too large for Google to scan '
        'for viruses. Would you still like to download this file?</p>'
        f'<a id="uc-download-link" class="goog-inline-block jfk-button jfk-button-action" '
        f'href="/uc?export=download&amp;confirm={token}&amp;id={file_id}">Download anyway</a></div></body></html>'
    ).encode()


QUOTA_PAGE = b"""<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head>
<body><div class="uc-main"><p class="uc-error-caption">Sorry, you can't view or download this file at this
time.</p><p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. Please
try accessing the file again later. If the file you are trying to access is particularly large or is shared
with many people, it may take up to 24 hours to be able to view or download the file.</p></div></body></html>"""


NOT_FOUND_PAGE = b"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Google Drive - Page Not
Found</title></head><body><div class="uc-main"><p class="uc-error-caption">Sorry, the file you have requested does
not exist.</p><p class="uc-error-subcaption">Make sure that you have the correct URL and the file exists.</p>
</div></body></html>""".replace(b"\n", b" ")


class LocalServer:
    """``with LocalServer() as server: server.routes["/a.zip"] = Route(data); server.url("/a.zip")``.

    ``server.drive(file_id, Route(...), flow)`` serves a file behind the Google Drive imitation and
    returns its ``/uc?export=download&id=...`` URL (with ``&resourcekey=...`` when given a resource key).
    """

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.drive_files: dict[str, DriveFile] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                record = Request(self.path, dict(self.headers))
                server.requests.append(record)
                parsed = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                if parsed.path in ("/uc", "/download") and query.get("id") in server.drive_files:
                    server._drive(self, record, parsed.path, query)
                    return
                route = server.routes.get(parsed.path)
                if route is None:
                    record.status = 404
                    self.send_error(404, "Not Found")
                    return
                server._serve(self, record, route)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def drive(self, file_id: str, route: Route, flow: str = "form", resource_key: str | None = None) -> str:
        """Serve ``route`` as the Google Drive file ``file_id`` (flow: form, legacy or quota); its uc URL.

        resource_key: the file needs it (``resourcekey=`` in every request's query); the URL carries it.
        """
        if flow not in ("form", "legacy", "quota"):
            raise ValueError(f"unknown Drive flow {flow!r}")
        self.drive_files[file_id] = DriveFile(route, flow, token=uuidlib.uuid4().hex[:4], resource_key=resource_key)
        key = f"&resourcekey={resource_key}" if resource_key else ""
        return self.url(f"/uc?export=download&id={file_id}{key}")

    def _drive(self, handler, record: Request, path: str, query: dict) -> None:
        file = self.drive_files[query["id"]]
        name = file.route.filename or (file.route.path.name if file.route.path else "file")
        if file.resource_key and query.get("resourcekey") != file.resource_key:
            self._page(handler, record, NOT_FOUND_PAGE, status=404)
        elif file.flow == "quota":
            self._page(handler, record, QUOTA_PAGE)
        elif file.flow == "form":
            if path == "/download" and query.get("export") == "download" and query.get("confirm") \
                    and query.get("uuid") in file.uuids:
                self._serve(handler, record, file.route, attachment=name)
                return
            file.uuids.add(uuid := str(uuidlib.uuid4()))
            self._page(handler, record, scan_warning_page(query["id"], name, self.url("/download"), uuid))
        else:  # legacy: confirm=TOKEN in the link and the download_warning cookie
            cookie = f"download_warning_13058876669334088843_{query['id']}={file.token}"
            if path == "/uc" and query.get("confirm") == file.token and cookie in handler.headers.get("Cookie", ""):
                self._serve(handler, record, file.route, attachment=name)
                return
            self._page(handler, record, legacy_warning_page(query["id"], name, file.token),
                       cookie=f"{cookie}; Path=/; HttpOnly")

    @staticmethod
    def _page(handler, record: Request, page: bytes, cookie: str | None = None, status: int = 200) -> None:
        record.status = status
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(page)))
        if cookie:
            handler.send_header("Set-Cookie", cookie)
        handler.end_headers()
        handler.wfile.write(page)
        record.sent = len(page)

    @staticmethod
    def _serve(handler, record: Request, route: Route, attachment: str | None = None) -> None:
        if route.errors:
            record.status = route.errors.pop(0)
            handler.send_response(record.status)
            if route.retry_after is not None:
                handler.send_header("Retry-After", route.retry_after)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        size, start = route.size, 0
        match = re.match(r"bytes=(\d+)-$", handler.headers.get("Range", ""))
        ranged = bool(match) and not route.ignore_range and route.status == 200
        if ranged and route.range_page is not None:
            record.status = 206
            handler.send_response(206)
            handler.send_header("Content-Type", "text/html; charset=utf-8")
            handler.send_header("Content-Range", f"bytes {match.group(1)}-{size - 1}/{size}")
            handler.send_header("Content-Length", str(len(route.range_page)))
            handler.end_headers()
            handler.wfile.write(route.range_page)
            return
        if ranged:
            start = int(match.group(1))
            if start >= size:
                record.status = 416
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{size}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            record.status = 206
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            record.status = route.status
            handler.send_response(route.status)
        handler.send_header("Content-Type", route.content_type)
        if route.send_length:
            handler.send_header("Content-Length", str(size - start))
        handler.send_header("Accept-Ranges", "bytes")
        if attachment:
            handler.send_header("Content-Disposition", f'attachment; filename="{attachment}"')
        handler.end_headers()
        end = size
        if route.drops > 0 and route.drop_after is not None:
            route.drops -= 1
            end = min(size, start + route.drop_after)
        try:
            for chunk in route.read(start, end):
                if route.trickle:
                    for offset in range(len(chunk)):
                        record.sent += 1
                        handler.wfile.write(chunk[offset:offset + 1])
                        handler.wfile.flush()
                        time.sleep(route.trickle)
                    continue
                record.sent += len(chunk)  # counted first: the client may finish before this thread resumes
                handler.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up
            pass
        handler.close_connection = True

    def __enter__(self) -> "LocalServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
