"""A small HTTP server in a thread for the mirroring tests: it forwards
requests to a real origin, except that it can drop the connection for
paths that match a pattern (the origin "dies" there) and answer chosen paths
with chosen bytes (hostile manifests)."""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Rules:
    upstream: str  # http://127.0.0.1:PORT
    cut: re.Pattern[str] | None = None  # paths whose connection is dropped
    fixed: dict[str, bytes] = field(default_factory=dict)  # path -> body (200)
    on_cut: Callable[[], None] | None = None  # called before a cut (e.g. kill the origin)


class _Handler(BaseHTTPRequestHandler):
    rules: Rules
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _proxy(self) -> None:
        r = self.rules
        path = self.path.split("?", 1)[0]
        if r.cut is not None and r.cut.search(path):
            if r.on_cut is not None:
                r.on_cut()
            self.close_connection = True
            self.connection.close()
            return
        if path in r.fixed:
            body = r.fixed[path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")
            self.end_headers()
            self.wfile.write(body)
            return
        n = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(n) if n else None
        u = urlsplit(r.upstream)
        conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "transfer-encoding")}
        conn.request(self.command, self.path, body=body_in, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = _proxy
    do_POST = _proxy
    do_HEAD = _proxy


@contextmanager
def proxy(rules: Rules) -> Iterator[str]:
    """Serve *rules* on 127.0.0.1; yields its origin URL."""
    handler = type("H", (_Handler,), {"rules": rules})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
