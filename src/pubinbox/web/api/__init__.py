"""The read-only JSON API, ``/api/v1/``, described by ``openapi.json``.

Routes (all GET/HEAD; OPTIONS answers CORS preflights)::

    /api/v1/                                  links to the rest
    /api/v1/openapi.json                      the OpenAPI 3.1 description
    /api/v1/inboxes                           every listed inbox (and ``all``, /all/)
    /api/v1/inboxes/{name}                    addresses, newsgroup, clone URLs...
    /api/v1/inboxes/{name}/messages/{mid}     headers, MIME parts as text, links
    /api/v1/inboxes/{name}/threads/{mid}      the thread's messages (paged)
    /api/v1/inboxes/{name}/search?q=          hits as ``pubinbox q`` (paged)
    /api/v1/inboxes/{name}/series             patch series, newest first (paged)
    /api/v1/inboxes/{name}/series/{id}        one series: patches, trailers, revisions

Every answer is JSON, errors too: ``{"error": {"status": N, "message":
...}}`` with that HTTP status.  ETags come from what the inbox holds
(:meth:`Site.generation`, the same in every worker), so a client polling a
search or a thread gets 304 until new mail arrives.  Errors become
statuses here, as :mod:`pubinbox.web.app` does for the pages.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from pubinbox import __version__
from pubinbox.errors import (
    BadRequest,
    IndexDamaged,
    MessageNotFound,
    PubinboxError,
    QueryError,
    SearchFailed,
    SearchUnavailable,
)
from pubinbox.series.query import parse_filter
from pubinbox.store.layout import is_v1
from pubinbox.web import statsview
from pubinbox.web.api import views
from pubinbox.web.api.params import SERIES_LIMIT, THREAD_LIMIT, page_params, search_params
from pubinbox.web.respond import Validator, page_response
from pubinbox.web.site import Site

__all__ = ["PREFIX", "dispatch", "openapi_bytes"]

log = logging.getLogger("pubinbox.web.api")

PREFIX = "/api/v1"
JSON = "application/json"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Modified, Retry-After",
}
_METHODS = "GET, HEAD, OPTIONS"


@cache
def openapi_bytes() -> bytes:
    """The OpenAPI description shipped beside this module."""
    return resources.files(__package__).joinpath("openapi.json").read_bytes()


class ApiError(Exception):
    """An answer other than 200, with its status and message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _dumps(doc: Any) -> bytes:
    # a lone surrogate (undecodable bytes of a hostile message) becomes the
    # JSON escape \udcXX: still valid JSON, never invalid UTF-8
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")


def _error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = _dumps({"error": {"status": status, "message": message}})
    return page_response(request, body, status=status, media_type=JSON, headers=CORS | (headers or {}))


def _origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def dispatch(site: Site, request: Request, segs: list[str] | None = None) -> Response:
    """Answer one request under :data:`PREFIX` (or one given as API path
    *segs*: ``/$INBOX/_/stats/json``)."""
    if request.method == "OPTIONS":
        return Response(
            status_code=204,
            headers=CORS
            | {
                "Access-Control-Allow-Methods": _METHODS,
                "Access-Control-Allow-Headers": "If-None-Match, If-Modified-Since",
                "Access-Control-Max-Age": "86400",
                "Allow": _METHODS,
            },
        )
    if request.method not in ("GET", "HEAD"):
        return _error(request, 405, f"{request.method} is not allowed: the API is read-only", {"Allow": _METHODS})
    if segs is None:
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        raw = raw_path.decode("latin-1")
        if raw != PREFIX and not raw.startswith(PREFIX + "/"):  # /api%2Fv1/...
            return _error(request, 404, "no such API endpoint (see /api/v1/openapi.json)")
        rest = raw[len(PREFIX) :]
        segs = [unquote(s, errors="replace") for s in rest.split("/")[1:]]
    name = segs[1] if len(segs) > 1 and segs[0] == "inboxes" else None
    try:
        return _route(site, request, segs)
    except ApiError as e:
        return _error(request, e.status, e.message, e.headers)
    except (QueryError, BadRequest) as e:
        return _error(request, 400, str(e))
    except MessageNotFound as e:
        return _error(request, 404, str(e))
    except SearchUnavailable as e:
        return _error(request, 501, f"search is not available: {e}")
    except SearchFailed as e:
        return _error(request, 503, f"search failed: {e}", {"Retry-After": "30"})
    except (IndexDamaged, sqlite3.DatabaseError) as e:
        log.warning("%s %s: damaged database: %s", request.method, request.url.path, e)
        if name is not None and name in site.inboxes:
            site.forget(name)
        return _error(request, 503, f"the archive's index is damaged and is being repaired: {e}", {"Retry-After": "30"})
    except PubinboxError as e:
        log.warning("%s %s: %s", request.method, request.url.path, e)
        return _error(request, 503, f"service unavailable: {e}", {"Retry-After": "30"})


def _answer(site: Site, request: Request, v: Validator, make: Any, *, encoded: bool = False) -> Response:
    """200 with the document *make()* builds (*encoded*: its JSON bytes already),
    or 304 when the client has it.  The JSON is remembered by its ETag
    (which names the inbox's content and the whole request), so a document
    asked again is not built again."""
    if (nm := v.not_modified(request)) is not None:
        nm.headers.update(CORS)
        return nm
    body = site.cache.get_or_make(("api", v.etag), make if encoded else lambda: _dumps(make()))
    return page_response(request, body, media_type=JSON, validator=v, headers=CORS)


def _validator(site: Site, request: Request, names: list[str]) -> Validator:
    tags: list[str] = []
    newest = 0
    for n in names:
        try:
            tag, ts = site.generation(n)
        except PubinboxError:
            tag, ts = "-", 0
        tags.append(f"{n}={tag}")
        newest = max(newest, ts)
    host = request.headers.get("host", "")
    basis = f"api|{__version__}|{';'.join(tags)}|{host}|{request.url.path}?{request.url.query}"
    return Validator(basis, float(newest) if newest else None)


def _route(site: Site, request: Request, segs: list[str]) -> Response:
    links = views.Links(_origin(request))
    if segs in ([], [""]):
        root = {
            "version": "1",
            "openapi_url": links.api("openapi.json"),
            "inboxes_url": links.api("inboxes"),
        }
        return _answer(site, request, _validator(site, request, []), lambda: root)
    if segs == ["openapi.json"]:
        spec = openapi_bytes()
        v = Validator("openapi|" + hashlib.sha1(spec).hexdigest(), None)
        if (nm := v.not_modified(request)) is not None:
            nm.headers.update(CORS)
            return nm
        return page_response(request, spec, media_type=JSON, validator=v, headers=CORS)
    if segs[0] != "inboxes":
        raise ApiError(404, "no such API endpoint (see /api/v1/openapi.json)")
    if len(segs) == 1:
        names = [n for n, i in site.inboxes.items() if views.listed(site, i)]
        if site.inboxes.ext is not None:
            names.append(site.inboxes.ext.name)
        return _answer(site, request, _validator(site, request, names), lambda: views.inbox_list(site, links))
    name = segs[1]
    if name not in site.inboxes:
        raise ApiError(404, "no such inbox")
    if site.try_inbox(name) is None:
        why = "a v1 inbox (run `pubinbox convert`)" if is_v1(site.inboxes[name].cfg.inboxdir) else "not indexed yet"
        raise ApiError(503, f"{name} is {why}", {"Retry-After": "30"})
    v = _validator(site, request, [name])
    rest = segs[2:]
    if not rest:
        return _answer(site, request, v, lambda: views.inbox_doc(site, name, links))
    if rest == ["search"]:
        sp = search_params(request.query_params, name)
        return _answer(site, request, v, lambda: views.search_json(site, name, sp, links), encoded=True)
    if rest == ["stats"]:  # issue 17; the document changes while review trailers are read
        doc, left = statsview.document(site, name, request.query_params.get("since"))
        return _answer(site, request, Validator(f"{v.etag}|stats|{left}", v.mtime), lambda: doc)
    if rest and rest[0] == "series" and site.inboxes.ext is not None and name == site.inboxes.ext.name:
        raise ApiError(404, f"series are kept per inbox, not for {name}: see /api/v1/inboxes/{{name}}/series")
    if rest == ["series"]:
        qp = request.query_params
        flt = parse_filter({k: qp.getlist(k) for k in ("author", "state", "q") if k in qp})
        page = page_params(qp, f"series|{name}|{flt.qs()}", default=50, hi=SERIES_LIMIT)
        return _answer(site, request, v, lambda: views.series_list(site, name, page, links, flt))
    if len(rest) == 2 and rest[0] == "series" and rest[1]:
        return _answer(site, request, v, lambda: views.series_doc(site, name, rest[1], links))
    if len(rest) == 2 and rest[0] in ("messages", "threads"):
        mid = rest[1]
        rows = site.rows(name, mid) if mid else []
        if not rows:
            raise ApiError(404, "no message with this Message-ID in this inbox")
        if rest[0] == "messages":
            return _answer(site, request, v, lambda: views.message_doc(site, name, rows, links))
        page = page_params(request.query_params, f"thread|{name}|{rows[0].tid}", default=200, hi=THREAD_LIMIT)
        return _answer(site, request, v, lambda: views.thread_doc(site, name, rows, page, links))
    raise ApiError(404, "no such API endpoint (see /api/v1/openapi.json)")
