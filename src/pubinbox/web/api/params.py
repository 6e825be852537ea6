"""Parameters of the JSON API: strict where the HTML pages are lenient.

A browser's ``l=50abc`` is read as 50 by public-inbox's pages; an API
client that sends ``limit=abc`` has a bug and is told so (400).  The ranges
are the pages' (:func:`pubinbox.web.params.lenient_int`, the search
reader's ``MAX_OFFSET``).  Cursors are opaque to clients: a base64url
token holding the offset of the next page and a digest of what it pages
through, so a cursor of another query, a truncated or made-up one is a 400
instead of a silently different answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from starlette.datastructures import QueryParams

from pubinbox.errors import BadRequest
from pubinbox.search.query import MAX_QUERY_CHARS
from pubinbox.search.reader import MAX_OFFSET
from pubinbox.web.params import LIMIT, lenient_int

__all__ = [
    "MAX_QUERY",
    "SEARCH_LIMIT",
    "SERIES_LIMIT",
    "THREAD_LIMIT",
    "Page",
    "decode_cursor",
    "encode_cursor",
    "page_params",
    "search_params",
]

#: results per search page: the HTML search's ``l`` limit
SEARCH_LIMIT = LIMIT
#: messages per page of a thread
THREAD_LIMIT = 1000
#: series per page
SERIES_LIMIT = 200
#: characters of a query (the search reader's budget says the same)
MAX_QUERY = MAX_QUERY_CHARS
_DIGITS = re.compile(r"[0-9]{1,9}")
_CURSOR = re.compile(r"[A-Za-z0-9_-]{4,64}")
_TOKEN = re.compile(r"o([0-9]{1,6})\.([0-9a-f]{12})")
_SORTS = ("date", "relevance")


def _strict_int(qp: QueryParams, name: str, default: int, lo: int, hi: int) -> int:
    vals = qp.getlist(name)
    if not vals:
        return default
    if len(vals) > 1:
        raise BadRequest(f"{name} given {len(vals)} times")
    v = vals[0]
    if not _DIGITS.fullmatch(v):
        raise BadRequest(f"{name} must be an integer from {lo} to {hi}")
    return lenient_int(v, name, default, lo, hi)


def _digest(scope: str) -> str:
    return hashlib.sha1(scope.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def encode_cursor(offset: int, scope: str) -> str:
    """The cursor of the page starting at *offset* of the listing *scope*."""
    token = f"o{offset}.{_digest(scope)}".encode("ascii")
    return base64.urlsafe_b64encode(token).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, scope: str) -> int:
    """The offset a cursor of *scope* stands for; :class:`BadRequest` for
    anything else (malformed, another query's, out of range)."""
    if not _CURSOR.fullmatch(cursor):
        raise BadRequest("cursor is malformed (use the 'next' value of the previous page)")
    try:
        token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise BadRequest("cursor is malformed (use the 'next' value of the previous page)") from None
    m = _TOKEN.fullmatch(token)
    if m is None or m.group(2) != _digest(scope):
        raise BadRequest("cursor does not belong to this listing (use the 'next' value of the previous page)")
    offset = int(m.group(1))
    if offset > MAX_OFFSET:
        raise BadRequest(f"cursor is past the last page reachable ({MAX_OFFSET} results)")
    return offset


@dataclass(frozen=True, slots=True)
class Page:
    """Where a page starts, how long it is, and what it pages through."""

    offset: int
    limit: int
    scope: str

    def next_cursor(self, got: int, total: int) -> str | None:
        """The next page's cursor when there are more results after this one."""
        nxt = self.offset + got
        if got == 0 or nxt >= total or nxt > MAX_OFFSET:
            return None
        return encode_cursor(nxt, self.scope)


def page_params(qp: QueryParams, scope: str, *, default: int, hi: int) -> Page:
    """``limit`` (1..hi) and ``cursor`` of a listing *scope*."""
    limit = _strict_int(qp, "limit", default, 1, hi)
    cursors = qp.getlist("cursor")
    if len(cursors) > 1:
        raise BadRequest(f"cursor given {len(cursors)} times")
    offset = decode_cursor(cursors[0], scope) if cursors else 0
    return Page(offset, limit, scope)


@dataclass(frozen=True, slots=True)
class SearchParams:
    q: str
    relevance: bool
    page: Page


def search_params(qp: QueryParams, inbox: str) -> SearchParams:
    """``q`` (required), ``sort`` (date, the default, or relevance),
    ``limit`` and ``cursor``."""
    qs = qp.getlist("q")
    if len(qs) != 1:
        raise BadRequest("q (the query) is required, once" if not qs else f"q given {len(qs)} times")
    q = re.sub(r"\s+", " ", qs[0]).strip()
    if not q:
        raise BadRequest("q (the query) is empty")
    if len(q) > MAX_QUERY:
        raise BadRequest(f"q is longer than {MAX_QUERY} characters")
    sorts = qp.getlist("sort")
    if len(sorts) > 1 or (sorts and sorts[0] not in _SORTS):
        raise BadRequest("sort must be date or relevance")
    relevance = bool(sorts) and sorts[0] == "relevance"
    scope = f"search|{inbox}|{relevance}|{q}"
    return SearchParams(q, relevance, page_params(qp, scope, default=50, hi=SEARCH_LIMIT))
