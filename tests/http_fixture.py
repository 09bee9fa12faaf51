"""A real HTTP server on 127.0.0.1 for download tests: serves files from memory, honours Range
requests, and can misbehave on purpose (drop the connection mid-file, answer with an HTML page or
an error status, ignore Range). Every request is recorded so tests can assert what was asked.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    drop_after: int | None = None  # close the connection after this many body bytes ...
    drops: int = 0  # ... on this many requests (then serve normally)
    errors: list[int] = field(default_factory=list)  # statuses to answer first, one per request
    ignore_range: bool = False


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    status: int = 0
    sent: int = 0


class LocalServer:
    """``with LocalServer() as server: server.routes["/a.zip"] = Route(data); server.url("/a.zip")``."""

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                record = Request(self.path, dict(self.headers))
                server.requests.append(record)
                route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    record.status = 404
                    self.send_error(404, "Not Found")
                    return
                if route.errors:
                    record.status = route.errors.pop(0)
                    self.send_error(record.status)
                    return
                body, start = route.body, 0
                match = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
                if match and not route.ignore_range and route.status == 200:
                    start = int(match.group(1))
                    if start >= len(body):
                        record.status = 416
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    record.status = 206
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    record.status = route.status
                    self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                payload = body[start:]
                if route.drops > 0 and route.drop_after is not None:
                    route.drops -= 1
                    payload = payload[:route.drop_after]
                    self.wfile.write(payload)
                    self.wfile.flush()
                    record.sent = len(payload)
                    self.close_connection = True
                    return
                self.wfile.write(payload)
                record.sent = len(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> "LocalServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
