"""Trailers (``Reviewed-by:``, ``Acked-by:``...) given in replies to patches,
and patches with them applied, as ``b4 am`` does.

A reply's trailers are its own unquoted lines of the form ``Name-by: ...``
(and ``Fixes:``, ``Link:``) outside the quoted text and before its
signature; a trailer given in reply to the cover letter applies to every
patch of the series.  Applying puts the new trailers after the patch's own
trailer block (the lines right before ``---``), skipping any already there.
"""

from __future__ import annotations

import re

from pubinbox.mail.mime import iter_parts
from pubinbox.mail.perlstr import friendly
from pubinbox.series.am import make_trailer

__all__ = ["TRAILER_NAMES", "apply_trailers", "body_text", "person_ok", "reply_trailers"]

#: the trailers collected from replies (b4's list of person trailers and the two references)
TRAILER_NAMES = (
    "Reviewed-by",
    "Acked-by",
    "Tested-by",
    "Reported-by",
    "Suggested-by",
    "Co-developed-by",
    "Signed-off-by",
    "Fixes",
    "Link",
    "Closes",
)
_TRAILER = re.compile(r"^(" + "|".join(TRAILER_NAMES) + r")\s*:\s*(\S.{0,300}?)\s*$", re.IGNORECASE | re.MULTILINE)
_CANON = {n.lower(): n for n in TRAILER_NAMES}


def body_text(raw: bytes, limit: int = 1 << 20) -> str:
    """The first text part of a message (at most *limit* characters)."""
    for part in iter_parts(raw):
        if part.content_type.startswith(("multipart/", "text/html")):
            continue
        got = part.text()
        if got is not None:
            text, utf8 = got
            return (text if utf8 else friendly(text))[:limit]
    return ""


def person_ok(value: str, from_email: str, from_name: str) -> bool:
    """b4's rule: a person's trailer counts when that person sent it (the
    same address give or take a ``+tag`` or a subdomain, or the same name),
    the value read as b4 reads it (``Name <a@b <mailto:a@b>>``, left by an
    HTML mailer, is ``Name <a@b>``)."""
    t = make_trailer("Reviewed-by", value)
    if t.kind != "person" or t.addr is None:
        return False  # a "-by" without an address: b4 takes none
    if t.email_eq(from_email):
        return True
    name = t.addr[0].strip().strip('"').strip().lower()
    if not name:
        return False
    if name == from_name:
        return True
    # b4's "fuzzy" match of a "Last, First" sender
    return from_name.find(",") > 0 and all(from_name.find(c.strip()) >= 0 for c in from_name.split(","))


def reply_trailers(text: str, from_email: str = "", from_name: str = "") -> list[tuple[str, str]]:
    """(name, value) of the trailers a reply gives (not quoted, before its
    signature and before any patch it carries); a ``...-by:`` trailer only
    when it names the reply's sender (*from_email*, *from_name*), as
    ``b4 am`` takes them."""
    from_email, from_name = from_email.lower(), from_name.strip().strip('"').lower()
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line.startswith("-- ") and line.rstrip() == "--":
            break
        if line.startswith(("diff --git ", "---")):
            break
        if line.startswith(">"):
            continue
        m = _TRAILER.match(line)
        if m is None:
            continue
        name = _CANON[m.group(1).lower()]
        if name.endswith("-by") and not person_ok(m.group(2), from_email, from_name):
            continue
        value = m.group(2)
        if "<mailto:" in value:  # as b4 writes it
            value = make_trailer(name, value).value
        t = (name, value)
        if t not in out:
            out.append(t)
    return out


def apply_trailers(raw: bytes, trailers: list[tuple[str, str]]) -> bytes:
    """*raw* with *trailers* added after its trailer block (before the first
    ``---`` line); the message as it is when there is none to add or no
    ``---`` line to find (an encoded body is left alone)."""
    if not trailers:
        return raw
    head, sep, body = raw.partition(b"\n\n")
    if not sep:
        return raw
    lines = body.split(b"\n")
    try:
        cut = next(i for i, ln in enumerate(lines) if ln.rstrip(b"\r") == b"---")
    except StopIteration:
        return raw
    have = {ln.rstrip(b"\r").strip().lower() for ln in lines[:cut]}
    end = cut
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    crlf = b"\r" if lines[cut].endswith(b"\r") else b""
    add = []
    for name, value in trailers:
        line = f"{name}: {value}".encode()
        if line.strip().lower() not in have:
            add.append(line + crlf)
            have.add(line.strip().lower())
    if not add:
        return raw
    return head + sep + b"\n".join(lines[:end] + add + lines[end:])
