"""What series detection needs from a patch's bytes, taken while ingest
has them in hand (:func:`marks_of`, called when a message is parsed, in
the parsing processes), so that :mod:`.store` never reads a blob back from
git for a message indexed since: its ``git patch-id --stable``, and the
``change-id:`` and ``base-commit:`` lines b4 writes, and the
``Reviewed-by:``/``Acked-by:`` trailers it gives (a patch: in its commit
message; another message: on its own unquoted lines), from which sync
tells which series are reviewed.  A message whose subject is no patch and
that gives no review trailer has none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pubinbox import native
from pubinbox.search.patchid import patch_id_stable
from pubinbox.series.subject import parse_subject

__all__ = ["Marks", "marks_of", "scan"]

_CHANGE_ID = re.compile(rb"^change-id:[ \t]*([\x21-\x7e]{1,200})[ \t]*\r?$", re.MULTILINE | re.IGNORECASE)
_BASE = re.compile(rb"^base-commit:[ \t]*([0-9a-f]{7,64})[ \t]*\r?$", re.MULTILINE | re.IGNORECASE)
#: either marker, any case: a cheap test before the two case-insensitive
#: scans (a fifth of their time); the first line is tested on its own, as
#: an alternation with \A would make the engine try at every byte
_MARKER = re.compile(rb"(?:[cC][hH][aA][nN][gG][eE]-[iI][dD]|[bB][aA][sS][eE]-[cC][oO][mM][mM][iI][tT]):")
_MARKER_LINE = re.compile(rb"\n" + _MARKER.pattern)


def _has_marker_py(raw: bytes) -> bool:
    return _MARKER_LINE.search(raw) is not None or _MARKER.match(raw) is not None


#: a review trailer on a line of its own (a quoted one starts with '>')
_REVIEW = re.compile(
    rb"^[ \t]*(reviewed|acked)-by[ \t]*:[ \t]*([^\r\n]{1,300}?)[ \t]*\r?$", re.MULTILINE | re.IGNORECASE
)
#: both end so, in the usual spellings: the cheap test first
_REVIEW_MARKS = (b"ed-by", b"ed-By", b"ED-BY", b"ed-BY")
_KIND = {b"reviewed": "Reviewed-by", b"acked": "Acked-by"}
MAX_REVIEWS = 50


@dataclass(frozen=True, slots=True)
class Marks:
    """A patch's patch-id and b4's markers (None where it has none), and
    the review trailers a message gives (``Kind\tvalue`` lines)."""

    patchid: str | None
    change_id: str | None
    base_commit: str | None
    reviews: str | None = None

    def __reduce__(self) -> tuple[type[Marks], tuple[str | None, str | None, str | None, str | None]]:
        return Marks, (self.patchid, self.change_id, self.base_commit, self.reviews)


def review_matches_py(raw: bytes, *, patch: bool) -> list[tuple[bytes, bytes]] | None:
    """The (kind, value) of each review trailer line in *raw*'s body: a
    patch's above its ``---`` line, another message's above its signature
    or the patch it carries; None when the body has no marker at all
    (:func:`reviews_of` uses the C version when it is built)."""
    start = raw.find(b"\n\n")
    # the cheap test on the body only (the header is half of a list
    # message): a third of the parsing time of a message otherwise
    if start < 0 or not any(raw.find(m, start) >= 0 for m in _REVIEW_MARKS):
        return None
    body = raw[start:]
    for stop in (b"\n---",) if patch else (b"\n-- \n", b"\n-- \r\n", b"\ndiff --git ", b"\n---"):
        at = body.find(stop)
        if at >= 0:
            body = body[:at]
    return [(m.group(1), m.group(2)) for m in _REVIEW.finditer(body)]


_NATIVE = native.load()
#: a line starting with either marker, any case (:func:`_has_marker_py`)
_has_marker: Callable[[bytes], bool] = _NATIVE.has_marker if _NATIVE else _has_marker_py
review_matches: Callable[..., list[tuple[bytes, bytes]] | None] = (
    _NATIVE.review_matches if _NATIVE else lambda raw, patch: review_matches_py(raw, patch=patch)
)


def reviews_of(raw: bytes, *, patch: bool) -> str | None:
    """The ``Reviewed-by``/``Acked-by`` trailers in *raw*'s body, one
    ``Kind\tvalue`` a line (see :func:`review_matches_py`); None if none."""
    found = review_matches(raw, patch)
    if not found:
        return None
    out: list[str] = []
    for kind, value in found:
        line = f"{_KIND[kind.lower()]}\t{value.decode('utf-8', 'replace')}"
        if line not in out:
            out.append(line)
        if len(out) >= MAX_REVIEWS:
            break
    return "\n".join(out) or None


def scan(raw: bytes) -> Marks:
    """The marks of a patch's bytes."""
    reviews = reviews_of(raw, patch=True)
    if not _has_marker(raw):
        return Marks(patch_id_stable(raw), None, None, reviews)
    cid = _CHANGE_ID.findall(raw)
    base = _BASE.findall(raw)
    return Marks(
        patch_id_stable(raw),
        cid[-1].decode() if cid else None,
        base[-1].decode() if base else None,
        reviews,
    )


def marks_of(raw: bytes, subject: str) -> Marks | None:
    """The marks of a message whose *subject* is a patch's; of another,
    only the review trailers it gives (None if it gives none)."""
    if parse_subject(subject) is None:
        reviews = reviews_of(raw, patch=False)
        return None if reviews is None else Marks(None, None, None, reviews)
    return scan(raw)
