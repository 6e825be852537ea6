"""How the figures classify a message: patch or not, and who sent it."""

from __future__ import annotations

import functools
import re

from pubinbox.mail import address
from pubinbox.series.subject import parse_subject

__all__ = ["is_patch", "person", "poster"]

_REPLY = re.compile(r"\A\s*(?:(?:re|aw|sv|fw|fwd|odp|vs)\s*(?:\[[0-9]+\])?\s*:\s*)+", re.IGNORECASE)
_BRACKETS = re.compile(r"\A\s*\[([^\[\]]{0,200})\]\s*")
_BARE = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_VIA = re.compile(r"\A(.+?) via [^<>@]+\Z")
_RFC = re.compile(r"(?:\A|[\s,])(?:RFC|PATCH)", re.IGNORECASE)


@functools.lru_cache(maxsize=65536)
def is_patch(subject: str | None) -> bool:
    """A ``[PATCH...]`` or ``[RFC...]`` subject (in its leading brackets,
    list tags like ``[f2fs-dev]`` skipped), not a reply to one."""
    if not subject or _REPLY.match(subject):
        return False
    if parse_subject(subject) is not None:
        return True
    rest = subject
    for _ in range(4):
        m = _BRACKETS.match(rest)
        if m is None:
            return False
        if _RFC.search(m.group(1)):
            return True
        rest = rest[m.end() :]
    return False


@functools.lru_cache(maxsize=65536)
def person(value: str | None) -> tuple[str, str]:
    """(display name, lower-case address) of the first mailbox of a From:
    (or trailer) value; the address is the key people are counted by."""
    value = value or ""
    try:
        got = address.pairs(value)
    except Exception:  # noqa: BLE001 - a hostile header is no address
        got = []
    for name, addr in got:
        if addr:
            return (" ".join((name or "").split()) or addr.split("@")[0], addr.lower())
    m = _BARE.search(value)  # an address the parser gave up on (Name \\<a@b>)
    if m is not None:
        name = " ".join(value[: m.start()].replace("\\", "").strip().strip('"').split())
        return (name or m.group(1).split("@")[0], m.group(1).lower())
    v = " ".join(value.split())
    return (v, v.lower())


@functools.lru_cache(maxsize=65536)
def poster(value: str | None) -> tuple[str, str, str]:
    """(name, address, key) of a From: value.  A list that rewrites From:
    (DMARC: ``Jane Doe via Some-List <list@host>``) hides the sender's
    address: such posters are told apart by name (key ``via:NAME``)."""
    name, addr = person(value)
    m = _VIA.match(name)
    if m is not None:
        name = m.group(1).strip().strip('"')
        return name, addr, "via:" + name.lower()
    return name, addr, addr
