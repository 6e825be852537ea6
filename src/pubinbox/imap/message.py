"""A stored message as IMAP sees it: MIME parts by raw byte ranges,
BODY[section] contents, ENVELOPE and BODYSTRUCTURE (RFC 3501 §6.4.5, §7.4.2).

Pure functions over the message's bytes with CRLF line ends.  Parts are
cut out of the raw bytes (never re-encoded), so ``BODY[1]`` is exactly
what the sender's MIME part held.  Nesting and part counts are bounded.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field
from email.message import Message as _EmailMessage

__all__ = ["Part", "astring", "body_section", "bodystructure", "envelope", "nstring", "parse"]

MAX_DEPTH = 20
MAX_PARTS = 1000
_FOLD = re.compile(rb"\r\n[ \t]")


def astring(v: str) -> bytes:
    """An atom when it can be one, else a string (mailbox names)."""
    if v and re.fullmatch(r'[^(){ %*"\\\]\x00-\x1f\x7f-\U0010ffff]+', v):
        return v.encode()
    return nstring(v)


def nstring(v: str | bytes | None) -> bytes:
    """NIL, a quoted string, or a literal when it cannot be quoted."""
    if v is None:
        return b"NIL"
    b = v.encode("utf-8", "surrogateescape") if isinstance(v, str) else v
    if len(b) < 1000 and not re.search(rb'[\r\n"\\\x00\x80-\xff]', b):
        return b'"' + b + b'"'
    return b"{%d}\r\n" % len(b) + b


@dataclass
class Part:
    header: bytes  # with its final CRLF and the blank line (when there is one)
    body: bytes
    fields: list[tuple[str, str]]  # (lower-case name, unfolded value)
    ctype: str = "text"
    subtype: str = "plain"
    params: list[tuple[str, str]] = field(default_factory=list)
    children: list[Part] = field(default_factory=list)
    message: Part | None = None  # the message inside a message/rfc822 part

    def get(self, name: str) -> str | None:
        for k, v in self.fields:
            if k == name:
                return v
        return None


def _fields(header: bytes) -> list[tuple[str, str]]:
    out = []
    for line in _FOLD.sub(b" ", header).split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon and name and not name[:1].isspace():
            out.append((name.strip().decode("latin-1").lower(), value.strip().decode("utf-8", "surrogateescape")))
    return out


def _split(data: bytes) -> tuple[bytes, bytes]:
    if data.startswith(b"\r\n"):
        return b"\r\n", data[2:]
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return data, b""
    return data[: end + 4], data[end + 4 :]


def parse(
    data: bytes, *, default: tuple[str, str] = ("text", "plain"), depth: int = 0, count: list[int] | None = None
) -> Part:
    """The MIME tree of *data* (CRLF line ends)."""
    count = count if count is not None else [0]
    count[0] += 1
    header, body = _split(data)
    part = Part(header, body, _fields(header), *default)
    ct = part.get("content-type")
    if ct:
        m = _EmailMessage()
        m["content-type"] = ct
        main, _, sub = m.get_content_type().partition("/")
        part.ctype, part.subtype = main, sub
        params = m.get_params() or []
        part.params = [
            (str(k), v if isinstance(v, str) else email.utils.collapse_rfc2231_value(v)) for k, v in params[1:]
        ]
    if depth >= MAX_DEPTH or count[0] > MAX_PARTS:
        return part
    if part.ctype == "multipart":
        boundary = dict(part.params).get("boundary")
        if boundary:
            child_default = ("message", "rfc822") if part.subtype == "digest" else ("text", "plain")
            for chunk in _multipart(body, boundary.encode("utf-8", "surrogateescape")):
                part.children.append(parse(chunk, default=child_default, depth=depth + 1, count=count))
                if count[0] > MAX_PARTS:
                    break
    elif (part.ctype, part.subtype) == ("message", "rfc822"):
        part.message = parse(body, depth=depth + 1, count=count)
    return part


def _multipart(body: bytes, boundary: bytes) -> list[bytes]:
    """The parts between ``--boundary`` lines (RFC 2046 §5.1.1)."""
    delim = re.compile(rb"(?:\A|\r\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r\n|\Z)")
    parts: list[bytes] = []
    start: int | None = None
    for m in delim.finditer(body):
        if start is not None:
            parts.append(body[start : m.start()])
        if m.group(1):
            return parts
        start = m.end()
    if start is not None:
        parts.append(body[start:])
    return parts


def _child(part: Part, n: int) -> Part | None:
    if part.ctype == "multipart":
        return part.children[n - 1] if 1 <= n <= len(part.children) else None
    return part if n == 1 else None  # a single-part body is part 1


def body_section(data: bytes, section: str, fields: tuple[str, ...]) -> bytes | None:
    """The bytes of ``BODY[section]``; None when the part does not exist."""
    if section == "":
        return data
    nums: list[int] = []
    rest = section
    while rest[:1].isdigit():
        num, _dot, rest = rest.partition(".")
        nums.append(int(num))
    if not nums:  # the message's own HEADER/TEXT: no MIME tree needed
        header, body = _split(data)
        msg = Part(header, body, [])
    else:
        msg = parse(data)
    part = msg  # msg: the message whose HEADER/TEXT a section names
    for i, n in enumerate(nums):
        if i > 0 and part.message is not None:
            part = part.message
        got = _child(part, n)
        if got is None:
            return None
        part = got
    if nums:
        if rest == "":
            return part.body
        if rest == "MIME":
            return part.header
        if part.message is None:
            return None
        msg = part.message
    if rest == "HEADER":
        return msg.header
    if rest == "TEXT":
        return msg.body
    if rest.startswith("HEADER.FIELDS"):
        want = {f.lower() for f in fields}
        keep = rest == "HEADER.FIELDS"
        out = [
            ln
            for ln in _raw_fields(msg.header)
            if (ln.split(b":", 1)[0].strip().decode("latin-1").lower() in want) == keep
        ]
        return b"".join(out) + b"\r\n"
    return None


def _raw_fields(header: bytes) -> list[bytes]:
    out: list[bytes] = []
    for line in header.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and out:
            out[-1] += line + b"\r\n"
        else:
            out.append(line + b"\r\n")
    return out


# -- ENVELOPE --------------------------------------------------------------------
def _addresses(value: str | None) -> bytes:
    if not value:
        return b"NIL"
    out = []
    for name, addr in email.utils.getaddresses([value]):
        if not addr and not name:
            continue
        mailbox, _at, host = addr.rpartition("@") if "@" in addr else (addr, "", "")
        out.append(
            b"(" + b" ".join([nstring(name or None), b"NIL", nstring(mailbox or None), nstring(host or None)]) + b")"
        )
    return b"(" + b"".join(out) + b")" if out else b"NIL"


def envelope(part: Part) -> bytes:
    frm = part.get("from")
    return b"(" + b" ".join([
        nstring(part.get("date")),
        nstring(part.get("subject")),
        _addresses(frm),
        _addresses(part.get("sender") or frm),
        _addresses(part.get("reply-to") or frm),
        _addresses(part.get("to")),
        _addresses(part.get("cc")),
        _addresses(part.get("bcc")),
        nstring(part.get("in-reply-to")),
        nstring(part.get("message-id")),
    ]) + b")"  # fmt: skip


# -- BODYSTRUCTURE ------------------------------------------------------------------
def _params(params: list[tuple[str, str]]) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(nstring(k.lower()) + b" " + nstring(v) for k, v in params) + b")"


def _disposition(part: Part) -> bytes:
    d = part.get("content-disposition")
    if not d:
        return b"NIL"
    m = _EmailMessage()
    m["content-disposition"] = d
    params = m.get_params(header="content-disposition") or [(d.split(";")[0].strip(), "")]
    rest = [(str(k), v if isinstance(v, str) else email.utils.collapse_rfc2231_value(v)) for k, v in params[1:]]
    return b"(" + nstring(str(params[0][0]).lower()) + b" " + _params(rest) + b")"


def bodystructure(part: Part, *, extensible: bool = True) -> bytes:
    """BODYSTRUCTURE (or BODY when not *extensible*) of a part."""
    if part.ctype == "multipart" and part.children:
        kids = b"".join(bodystructure(c, extensible=extensible) for c in part.children)
        out = kids + b" " + nstring(part.subtype)
        if extensible:
            out += b" " + _params(part.params) + b" " + _disposition(part) + b" NIL NIL"
        return b"(" + out + b")"
    ctype, sub = (part.ctype, part.subtype) if part.ctype != "multipart" else ("text", "plain")
    enc = (part.get("content-transfer-encoding") or "7bit").lower()
    params = part.params
    if part.get("content-type") is None and ctype == "text":
        params = [("charset", "us-ascii")]  # RFC 2045 §5.2's default for a part without one
    fields = [nstring(ctype), nstring(sub), _params(params), nstring(part.get("content-id")),
              nstring(part.get("content-description")), nstring(enc), b"%d" % len(part.body)]  # fmt: skip
    lines = b"%d" % part.body.count(b"\r\n")
    if (ctype, sub) == ("message", "rfc822") and part.message is not None:
        fields += [envelope(part.message), bodystructure(part.message, extensible=extensible), lines]
    elif ctype == "text":
        fields.append(lines)
    if extensible:
        fields += [b"NIL", _disposition(part), nstring(part.get("content-language")), b"NIL"]
    return b"(" + b" ".join(fields) + b")"
