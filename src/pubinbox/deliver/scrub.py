"""The *scrub* step of ``publicinbox.NAME.filter`` that public-inbox-watch
applies before storing (never the reject step of ``pubinbox mda``), and
again when removing spam (the scrubbed copy is what was stored).

``filter = PublicInbox::Filter::CLASS [ARG ...]`` (words split on blanks,
as public-inbox passes them to ``CLASS->new``):

- ``Base``, ``Mirror`` (and unset): the message as it is;
- ``Vger``: vger.kernel.org's majordomo trailer cut off the end;
- ``SubjectTag -tag TAG``: ``TAG`` taken off the front of the Subject
  (after an optional ``Re:``, case-insensitive);
- ``Gmane``: ``Original-Received``/``Original-To`` put back as
  ``Received``/``To``; ``Approved``, ``X-From`` and ``connect()`` dropped.

Other classes (``RubyLang`` needs an altid msgmap) are logged once and
leave the message as it is.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable

from pubinbox.config import InboxConfig
from pubinbox.mail.parse import Headers, header_raw, split_message
from pubinbox.mail.rewrite import set_header

log = logging.getLogger(__name__)

Scrub = Callable[[bytes], bytes]

_VGER = re.compile(
    rb"-+\n"
    rb'To unsubscribe from this list: send the line "unsubscribe [\w-]+" in\n'
    rb"the body of a message to majordomo@vger\.kernel\.org\n"
    rb"More majordomo info at +http://vger\.kernel\.org/majordomo-info\.html\n"
    rb"(?:Please read the FAQ at +http://www\.tux\.org/lkml/\n)?\n*\Z"
)

_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
_warned: set[str] = set()


def vger(raw: bytes) -> bytes:
    return _VGER.sub(b"", raw, count=1)


def gmane(raw: bytes) -> bytes:
    for name in ("Received", "To"):
        head, _body = split_message(raw)
        orig = header_raw(head, f"Original-{name}")
        if orig:
            raw = set_header(raw, name, orig)
            raw = set_header(raw, f"Original-{name}", [])
    for name in ("Approved", "X-From", "connect()"):
        raw = set_header(raw, name, [])
    return raw


def header_str(text: str) -> bytes:
    """A field value as ``Eml->header_str_set`` writes it: as it is when
    printable ASCII, else base64 encoded words of up to 39 characters,
    side by side."""
    if not _UNPRINTABLE.search(text):
        return text.encode()
    words = (text[i : i + 39] for i in range(0, len(text), 39))
    return b"".join(b"=?UTF-8?B?" + base64.b64encode(w.encode("utf-8", "surrogateescape")) + b"?=" for w in words)


def subject_tag(tag: str) -> Scrub:
    pat = re.compile(r"\A\s*(re:\s+|)" + re.escape(tag) + r"\s*", re.IGNORECASE)

    def scrub(raw: bytes) -> bytes:
        subjects = Headers(raw).decoded("Subject")
        if not subjects:
            return raw
        new = pat.sub(lambda m: m.group(1), str(subjects[0]), count=1)
        if new == str(subjects[0]):
            return raw
        return set_header(raw, "Subject", [header_str(new)])

    return scrub


def scrubber(ibx: InboxConfig) -> Scrub | None:
    """The scrub of *ibx*'s filter, or None when it leaves mail as it is."""
    spec = (ibx.filter or "").split()
    if not spec:
        return None
    name, args = spec[0].rsplit("::", 1)[-1].lower(), spec[1:]
    if name in ("base", "mirror"):
        return None
    if name == "vger":
        return vger
    if name == "gmane":
        return gmane
    if name == "subjecttag":
        opts = dict(zip(args[::2], args[1::2], strict=False))
        if opts.get("-tag"):
            return subject_tag(opts["-tag"])
        why = "SubjectTag without -tag TAG"
    else:
        why = f"{spec[0]} is not known here"
    if ibx.name not in _warned:
        _warned.add(ibx.name)
        log.warning("%s: filter = %s: %s; mail is stored as it comes", ibx.name, ibx.filter, why)
    return None
