"""Turning page text into HTTP responses: ASCII encoding, gzip for clients
that ask for it (HTML, Atom, text; never for ``.mbox.gz``, which is a gzip
*body*), streaming, and conditional requests (ETag / Last-Modified → 304).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from email.utils import formatdate
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from pubinbox import __version__, deflate
from pubinbox.deflate import gzip_bytes
from pubinbox.web.html import ascii_bytes

if TYPE_CHECKING:
    from pubinbox.web.site import Site

__all__ = ["Validator", "gzip_stream", "page_response", "stream_response", "text_response", "validator"]

HTML = "text/html; charset=UTF-8"
ATOM = "application/atom+xml"


class Validator:
    """A weak validator for a response: ETag from what the page depends on,
    Last-Modified from when the underlying data last changed."""

    def __init__(self, basis: str, mtime: float | None) -> None:
        self.etag = 'W/"' + hashlib.sha1(basis.encode("utf-8", "surrogatepass")).hexdigest()[:27] + '"'
        self.mtime = mtime

    def headers(self) -> dict[str, str]:
        h = {"ETag": self.etag}
        if self.mtime:
            h["Last-Modified"] = formatdate(self.mtime, usegmt=True)
        return h

    def not_modified(self, request: Request) -> Response | None:
        inm = request.headers.get("if-none-match")
        if inm is not None:
            tags = [t.strip() for t in inm.split(",")]
            if self.etag in tags or "*" in tags or self.etag[2:] in tags:
                return Response(status_code=304, headers=self.headers() | {"Vary": "Accept-Encoding"})
            return None
        ims = request.headers.get("if-modified-since")
        if ims and self.mtime:
            from email.utils import parsedate_to_datetime

            try:
                since = parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                return None
            if int(self.mtime) <= since:
                return Response(status_code=304, headers=self.headers() | {"Vary": "Accept-Encoding"})
        return None


def validator(site: Site, name: str | None, request: Request, extra: str = "") -> Validator:
    """The validator of a page of inbox *name*: its ETag covers what the
    inbox holds (:meth:`Site.generation`: git tips and highest number, the
    same in every worker and on every mirror of the same data), pubinbox's
    version (markup), the Host (links) and the path and query; its
    Last-Modified is the newest message's received time."""
    tag, newest = site.generation(name) if name is not None else ("", 0)
    host = request.headers.get("host", "")
    basis = f"{__version__}|{tag}|{host}|{request.url.path}?{request.url.query}|{extra}"
    return Validator(basis, float(newest) if newest else None)


def request_host(request: Request) -> str:
    """The host name the client asked for (Host header, else the server's
    address), lower case, without a port."""
    host = request.headers.get("host")
    if host is None:
        server = request.scope.get("server")
        host = str(server[0]) if server else ""
    return re.sub(r":[0-9]+\Z", "", host).lower()


def wants_gzip(request: Request) -> bool:
    ae = request.headers.get("accept-encoding", "")
    for part in ae.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip"):
            return "q=0" not in params.replace(" ", "") or "q=0." in params.replace(" ", "")
    return False


def gzip_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """gzip-compress a stream of chunks, flushing every ~32 KiB."""
    z = deflate.compressobj(6, deflate.GZIP)
    pending = 0
    for c in chunks:
        out = z.compress(c)
        pending += len(c)
        if pending >= 32768:
            out += z.flush(deflate.Z_SYNC_FLUSH)
            pending = 0
        if out:
            yield out
    yield z.flush()


def _batched(chunks: Iterable[bytes], size: int = 65536) -> Iterator[bytes]:
    """Join small chunks: every chunk of a sync iterator costs a hop to the
    thread pool, so hand over ~64 KiB at a time."""
    buf: list[bytes] = []
    n = 0
    for c in chunks:
        buf.append(c)
        n += len(c)
        if n >= size:
            yield b"".join(buf)
            buf, n = [], 0
    if buf:
        yield b"".join(buf)


def _head(request: Request) -> bool:
    return request.method == "HEAD"


def page_response(
    request: Request,
    body: str | bytes,
    *,
    status: int = 200,
    media_type: str = HTML,
    validator: Validator | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A whole page at once (gzip'd when asked)."""
    data = ascii_bytes(body) if isinstance(body, str) else body
    h = {"Vary": "Accept-Encoding"}
    if validator is not None and status == 200:
        h |= validator.headers()
    if headers:
        h |= headers
    if len(data) > 256 and wants_gzip(request):
        data = gzip_bytes(data)
        h["Content-Encoding"] = "gzip"
    if _head(request):
        h["Content-Length"] = str(len(data))
        return Response(b"", status_code=status, media_type=media_type, headers=h)
    return Response(data, status_code=status, media_type=media_type, headers=h)


def stream_response(
    request: Request,
    chunks: Iterable[str],
    *,
    status: int = 200,
    media_type: str = HTML,
    validator: Validator | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A page produced piece by piece (thread pages, feeds): never held in
    memory whole.  The iterator runs in the thread pool."""
    h = {"Vary": "Accept-Encoding"}
    if validator is not None:
        h |= validator.headers()
    if headers:
        h |= headers
    if _head(request):
        if isinstance(chunks, Iterator) and hasattr(chunks, "close"):
            chunks.close()
        return Response(b"", status_code=status, media_type=media_type, headers=h)
    data: Iterable[bytes] = _batched(ascii_bytes(c) for c in chunks)
    if wants_gzip(request):
        data = gzip_stream(data)
        h["Content-Encoding"] = "gzip"
    return StreamingResponse(iter(data), status_code=status, media_type=media_type, headers=h)


def text_response(request: Request, text: str, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A text/plain answer (errors for non-HTML clients, description...)."""
    return page_response(
        request, text.encode("utf-8"), status=status, media_type="text/plain; charset=UTF-8", headers=headers
    )
