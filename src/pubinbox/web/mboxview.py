"""Downloads: ``raw`` (one Message-ID as mboxrd text), ``t.mbox.gz`` (a
thread), ``all.mbox.gz`` (the whole inbox) and search results as mbox.gz.

The gzip files are the *body* (``Content-Type: application/gzip``, never
``Content-Encoding``: b4 and lei gunzip them themselves) and are streamed:
messages are read from git one at a time while the client downloads.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from email.utils import formatdate

from pubinbox.errors import CorruptObject
from pubinbox.inbox import Inbox
from pubinbox.mail.contenttype import parse_content_type
from pubinbox.mail.mbox import gzip_mboxrd, mboxrd_bytes
from pubinbox.mail.msgid import refs_to_field
from pubinbox.mail.parse import Headers
from pubinbox.mail.rewrite import set_header
from pubinbox.over.reader import OverRow
from pubinbox.web.obfuscate import obfuscator_for
from pubinbox.web.site import Site

log = logging.getLogger(__name__)

__all__ = ["display_raw", "gz_headers", "messages", "raw_text", "to_filename", "web_mboxrd"]

_DROP_RE = re.compile(rb"^(?:Lines|Bytes|Content-Length|Status)[ \t]*:", re.IGNORECASE | re.MULTILINE)
_DROPPED = (b"lines", b"bytes", b"content-length", b"status")
_DROPPED_AT_LINE = tuple(b"\n" + n for n in _DROPPED)


def web_mboxrd(raw: bytes) -> bytes:
    """One message as public-inbox's web mboxrd: Lines, Bytes,
    Content-Length and Status headers dropped (a stale Content-Length would
    mislead mbox readers), ``From `` lines escaped."""
    sep = raw.find(b"\n\n")
    hdr = raw if sep < 0 else raw[: sep + 1]
    low = hdr.lower()
    # a cheap test first: the regex scans ~10x slower, and "status" is in a
    # third of list mail (X-Spam-Status:), never at a line start
    if (low.startswith(_DROPPED) or any(n in low for n in _DROPPED_AT_LINE)) and _DROP_RE.search(hdr):
        for name in ("Lines", "Bytes", "Content-Length", "Status"):
            raw = set_header(raw, name, [])
    return mboxrd_bytes(raw)


def to_filename(s: str) -> str | None:
    """A subject as a download file name, as public-inbox makes them."""
    s = s.split("\n", 1)[0]
    s = re.sub(r"[^A-Za-z0-9_.]+", "-", s)
    s = re.sub(r"\.+", ".", s)
    s = re.sub(r"[.\-]+\Z", "", s)
    s = re.sub(r"\A[.\-]+", "", s)
    return s or None


def subject_filename(subject: str) -> str:
    return to_filename(re.sub(r"\A[Rr][Ee]:\s+", "", subject)) or "no-subject"


def messages(site: Site, name: str, rows: Iterable[OverRow]) -> Iterator[bytes]:
    """Raw bytes of *rows*, read one by one on whatever thread runs us; a
    message whose git object is missing is left out (and logged)."""
    for row in rows:
        try:
            yield site.inbox(name).raw(row)
        except CorruptObject as e:
            log.warning("%s: <%s> left out of an mbox: %s", name, row.mid, e)
            continue


def display_raw(box: Inbox, row: OverRow) -> bytes:
    """The message to show for *row* on a page: its stored bytes, or, when
    its git object is missing or unreadable, a stand-in made of what the
    overview knows, whose body says so (the rest of the page still shows)."""
    try:
        return box.raw(row)
    except CorruptObject as e:
        log.warning("%s: <%s>: %s", box.name, row.mid, e)
        return missing_stub(row)


def missing_stub(row: OverRow) -> bytes:
    """A stand-in message for a row whose git blob cannot be read."""
    head = [
        ("From", row.from_),
        ("Subject", row.subject),
        ("Date", formatdate(row.ds, usegmt=True)),
        ("Message-ID", f"<{row.mid}>"),
    ]
    if row.references:
        head.append(("References", refs_to_field(row.references)))
    lines = [f"{k}: {' '.join(v.split())}" for k, v in head if v]
    body = (
        f"[The text of this message is missing from the archive: git blob {row.blob} "
        "cannot be read. A mirror of this inbox may still have it.]"
    )
    return ("\n".join(lines) + "\n\n" + body + "\n").encode("utf-8")


def raw_text(site: Site, name: str, rows: list[OverRow]) -> tuple[bytes, dict[str, str]]:
    """``/$MID/raw``: every message with that Message-ID, mboxrd; headers.

    Served as ``text/plain`` ``SUBJECT.txt``, or for an ``obfuscate`` inbox as
    ``application/mbox`` ``SUBJECT.mbox`` (public-inbox's nod to scrapers
    that only read text)."""
    box = site.inbox(name)
    raws = [box.raw(r) for r in rows]
    h = Headers(raws[0])
    subj = rows[0].subject  # the decoded Subject the overview keeps
    cs = "us-ascii"  # as public-inbox: the MIME default when there is no Content-Type
    ct = h.raw("Content-Type")
    if ct:
        try:
            cs = parse_content_type(ct[0])[2].get("charset") or "UTF-8"
        except Exception:  # noqa: BLE001
            cs = "UTF-8"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", cs):
        cs = "UTF-8"
    body = b"".join(web_mboxrd(r) for r in raws)
    obfuscated = obfuscator_for(site.config, site.inboxes[name].cfg) is not None
    mtype, ext = ("application/mbox", "mbox") if obfuscated else ("text/plain", "txt")
    return body, {
        "Content-Type": f"{mtype}; charset={cs}",
        "Content-Disposition": f"inline; filename={subject_filename(subj)}.{ext}",
    }


def gz_headers(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f"inline; filename={filename}.mbox.gz"}


def gz_stream(site: Site, name: str, rows: Iterable[OverRow]) -> Iterator[bytes]:
    """gzip'd mboxrd of *rows*, streamed."""
    return gzip_mboxrd(messages(site, name, rows), entry=web_mboxrd)
