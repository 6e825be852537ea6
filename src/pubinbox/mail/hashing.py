"""Content hash and generated Message-IDs compatible with public-inbox.

``content_digest`` feeds SHA-256 with exactly the byte chunks that
PublicInbox::ContentHash::content_digest adds (References/In-Reply-To
mids minus the message's own mids, From or Sender, Subject, Date, To, Cc,
then per MIME part its depth/index path, filename, descriptions and text
or raw body), reproducing the Perl string semantics that matter: raw
header bytes are Latin-1 upgraded before UTF-8 encoding, ``\\s`` is
ASCII-only on undecoded byte strings, and body text decoding follows
``PublicInbox::MsgIter::msg_part_text`` with Perl Encode charset names.
``digest2mid`` builds the ``YYYYMMDDHHMMSS.<b64>@z`` Message-ID that
public-inbox appends when a Message-ID is reused for different content.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import re
import time
import unicodedata
from collections.abc import Iterator

from pubinbox.mail.mime import (
    Part,
    header_raw,
    iter_parts,
    mime_header_decode,
    perl_encoding,
    python_codec,
    split_message,
)

__all__ = [
    "content_chunks",
    "content_digest",
    "content_hash",
    "digest2mid",
    "mids",
    "msg_datestamp",
    "references",
]

MAX_MID_SIZE = 244

# Perl's \s: ASCII-only for byte strings, Unicode for decoded strings
_ASCII_WS = "\t\n\x0b\x0c\r "
_UNI_WS = (
    _ASCII_WS + "\x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"
)


def _u8(s: str) -> bytes:
    """``utf8::encode``: code points to (lax) UTF-8."""
    return s.encode("utf-8", "surrogatepass")


def _l1(b: bytes) -> str:
    return b.decode("latin-1")


# ---------------------------------------------------------------------------
# Message-IDs (PublicInbox::MID)

_MID_EXTRACT = re.compile(rb"<([^>]+)>", re.DOTALL)


def _uniq_mids(vals: list[bytes], seen: set[bytes] | None = None) -> list[bytes]:
    seen = set() if seen is None else seen
    out = []
    for mid in vals:
        mid = mid.replace(b"\n", b"").replace(b"\t", b"").replace(b"\r", b"")
        mid = mid[:MAX_MID_SIZE]
        if mid not in seen:
            seen.add(mid)
            out.append(mid)
    return out


def mids(hdr: bytes) -> list[bytes]:
    """Message-IDs of a header block, like PublicInbox::MID::mids."""
    vals: list[bytes] = []
    for v in header_raw(hdr, "Message-ID"):
        cur = _MID_EXTRACT.findall(v)
        vals.extend(cur if cur else [v])
    return _uniq_mids(vals)


_ADDR_ANGLE = re.compile(rb"<([^<>]*)>")
_ADDR_BARE = re.compile(rb"[^\s<>,;:\"()]+@[^\s<>,;:\"()]+")


def _emails(v: bytes) -> list[bytes]:
    """Approximation of PublicInbox::Address::emails (Email::Address::XS)."""
    out = [m.strip() for m in _ADDR_ANGLE.findall(v)]
    rest = _ADDR_ANGLE.sub(b" ", v)
    rest = re.sub(rb'"(?:[^"\\]|\\.)*"', b" ", rest)
    rest = re.sub(rb"\([^()]*\)", b" ", rest)
    out.extend(_ADDR_BARE.findall(rest))
    return [e for e in out if e]


def references(hdr: bytes) -> list[bytes]:
    """References + In-Reply-To mids, like PublicInbox::MID::references."""
    vals: list[bytes] = []
    for f in ("References", "In-Reply-To"):
        for v in header_raw(hdr, f):
            vals.extend(_MID_EXTRACT.findall(v))
    seen = {b"y", b"n"}
    for f in ("To", "From", "Cc"):
        for v in header_raw(hdr, f):
            seen.update(_emails(v))
    return _uniq_mids(vals, seen)


# ---------------------------------------------------------------------------
# address headers (Email::Address::XS parse/format, approximated)


_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\x80-\U0010ffff]+")
# obs-local-part / obs-domain: whitespace is allowed around the dots
_DOTATOM = re.compile(
    r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\x80-\U0010ffff]+"
    r"(?:[ \t]*\.[ \t]*[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\x80-\U0010ffff]+)*"
    r"(?:[ \t]*\.)?"
)
_DOT_WS = re.compile(r"[ \t]+")


class _AddrParser:
    """Sequential address-list parser that, like Email::Address::XS, stops
    at the first syntax error (keeping what it has parsed so far)."""

    def __init__(self, s: str) -> None:
        self.s = s
        self.i = 0
        self.comment: str | None = None

    def cfws(self) -> None:
        s, n = self.s, len(self.s)
        while self.i < n:
            c = s[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif c == "(":
                depth, j, com = 1, self.i + 1, ""
                while j < n:
                    if s[j] == "\\" and j + 1 < n:
                        com += s[j + 1]
                        j += 2
                        continue
                    if s[j] == "(":
                        depth += 1
                    elif s[j] == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    com += s[j]
                    j += 1
                self.comment = com
                self.i = j + 1
            else:
                break

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def quoted(self) -> str | None:
        s, n = self.s, len(self.s)
        j, q = self.i + 1, ""
        while j < n and s[j] != '"':
            if s[j] == "\\" and j + 1 < n:
                j += 1
            q += s[j]
            j += 1
        if j >= n:
            return None
        self.i = j + 1
        return q

    def words(self, dots: bool) -> list[str]:
        out: list[str] = []
        while True:
            self.cfws()
            c = self.peek()
            if c == '"':
                q = self.quoted()
                if q is None:
                    return out
                out.append(q)
                continue
            m = (_DOTATOM if not dots else re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.\x80-\U0010ffff]+")).match(
                self.s, self.i
            )
            if m is None:
                return out
            out.append(m.group(0))
            self.i = m.end()

    def addr_spec(self) -> str | None:
        self.cfws()
        if self.peek() == '"':
            q = self.quoted()
            if q is None:
                return None
            local = '"' + q + '"' if re.search(r"[\s\"\\(),:;<>@\[\]]", q) else q
        else:
            m = _DOTATOM.match(self.s, self.i)
            if m is None:
                return None
            local = _DOT_WS.sub("", m.group(0))
            self.i = m.end()
            if local.endswith("."):
                local = '"' + local + '"'
        self.cfws()
        if self.peek() != "@":
            return None
        self.i += 1
        self.cfws()
        if self.peek() == "[":
            j = self.s.find("]", self.i)
            if j < 0:
                return None
            dom = self.s[self.i : j + 1]
            self.i = j + 1
        else:
            m = _DOTATOM.match(self.s, self.i)
            if m is None:
                return None
            dom = _DOT_WS.sub("", m.group(0))
            self.i = m.end()
        return local + "@" + dom

    def mailbox(self) -> tuple[str | None, tuple[str, str, str | None] | None, bool]:
        """(group name, (phrase, addr, comment), ok-to-continue)."""
        self.comment = None
        start = self.i
        phrase_words = self.words(dots=True)
        c = self.peek()
        if c == ":" and phrase_words:
            self.i += 1
            return " ".join(phrase_words), None, True
        if c == "<":
            self.i += 1
            self.cfws()
            if self.peek() == "@":  # obsolete route
                j = self.s.find(":", self.i)
                if j < 0:
                    return None, None, False
                self.i = j + 1
            addr = self.addr_spec()
            if addr is None:
                return None, None, False
            self.cfws()
            if self.peek() != ">":
                return None, (" ".join(phrase_words), addr, self.comment), False
            self.i += 1
            self.cfws()
            return None, (" ".join(phrase_words), addr, self.comment), True
        self.i = start
        self.comment = None
        addr = self.addr_spec()
        if addr is None:
            return None, None, False
        self.cfws()
        return None, ("", addr, self.comment), True

    def parse(self) -> list[tuple[str | None, list[tuple[str, str, str | None]]]]:
        groups: list[tuple[str | None, list[tuple[str, str, str | None]]]] = []
        cur_group: str | None = None
        members: list[tuple[str, str, str | None]] = []
        n = len(self.s)
        while True:
            self.cfws()
            if self.i >= n:
                break
            c = self.peek()
            if c == ",":
                self.i += 1
                continue
            if c == ";" and cur_group is not None:
                self.i += 1
                groups.append((cur_group, members))
                cur_group, members = None, []
                continue
            gname, mb, ok = self.mailbox()
            if gname is not None:
                if cur_group is not None:
                    break
                cur_group = gname
                continue
            if mb is not None:
                if cur_group is not None:
                    members.append(mb)
                else:
                    groups.append((None, [mb]))
            if not ok:
                break
            self.cfws()
            c = self.peek()
            if c not in (",", ";", ""):
                break
        if cur_group is not None:
            groups.append((cur_group, members))
        return groups


def _dec(s: str) -> str:
    return mime_header_decode(s) if "=?" in s else s


def _format_groups(v: str) -> str:
    out: list[str] = []
    for gname, members in _AddrParser(v).parse():
        addrs = []
        for phrase, addr, comment in members:
            ph = _dec(phrase)
            if '"' in ph or "\\" in ph:  # XS quotes and escapes these
                ph = ph.replace("\\", "\\\\").replace('"', '\\"')
            a = (ph + " <" + addr + ">") if ph else addr
            if comment:
                a += " (" + _dec(comment) + ")"
            addrs.append(a)
        if gname is None:
            out.extend(addrs)
        else:
            out.append(_dec(gname) + ": " + ", ".join(addrs) + ";")
    return ", ".join(out)


_AT_LC = {
    True: re.compile("@([a-z0-9_.\\-()]*([A-Z])[^" + _UNI_WS + "]*)"),
    False: re.compile("@([a-z0-9_.\\-()]*([A-Z])[^" + _ASCII_WS + "]*)"),
}
_SQUEEZE = re.compile("[\r\n\t ]+")


def _ascii_lc(s: str) -> str:
    return s.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}


def _digest_addr(h: str, v: str, flagged: bool) -> bytes:
    v = v.replace('"', "")
    v = _SQUEEZE.sub(" ", v)
    lc = str.lower if flagged else _ascii_lc
    v = _AT_LC[flagged].sub(lambda m: "@" + lc(m.group(1)), v)
    return h.encode() + b"\0" + _u8(v) + b"\0"


def _addr_values(hdr: bytes, name: str) -> list[tuple[str, bool]]:
    out = []
    for raw in header_raw(hdr, name):
        s = _l1(raw)
        if "=?" in s:
            try:
                out.append((_format_groups(s), True))
            except Exception:  # noqa: BLE001
                out.append((mime_header_decode(s), True))
        else:
            out.append((s, False))
    return out


# ---------------------------------------------------------------------------
# part text (PublicInbox::MsgIter::msg_part_text)


class _NoStr(Exception):
    pass


def _strict_decode(perl_name: str, data: bytes) -> str:
    codec = python_codec(perl_name)
    if codec is None:
        raise _NoStr(perl_name)
    try:
        if perl_name in ("UTF-16", "UTF-32"):
            return _bom_decode(perl_name, data, "strict")
        if perl_name == "utf8":
            return data.decode("utf-8", "surrogatepass")
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError, ValueError) as e:
        raise _NoStr(perl_name) from e


def _bom_decode(perl_name: str, data: bytes, errors: str) -> str:
    """Perl's UTF-16/UTF-32: honour a BOM, otherwise big-endian."""
    w = "16" if perl_name == "UTF-16" else "32"
    boms = {"16": (b"\xff\xfe", b"\xfe\xff"), "32": (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")}[w]
    if data.startswith(boms[0]):
        return data[len(boms[0]) :].decode(f"utf-{w}-le", errors)
    if data.startswith(boms[1]):
        return data[len(boms[1]) :].decode(f"utf-{w}-be", errors)
    return data.decode(f"utf-{w}-be", errors)


def _body_str(part: Part, body: bytes, charset: str | None) -> tuple[str, bool]:
    if charset is None:
        typ, _, sub = part.content_type.partition("/")
        if typ == "text" and sub in ("plain", "html"):
            return _l1(body), False
        raise _NoStr("no charset")
    enc = perl_encoding(charset)
    if enc is None:
        raise _NoStr(charset)
    return _strict_decode(enc, body), True


def _printable_or_space(s: str) -> bool:
    for c in s:
        if c in _UNI_WS:
            continue
        if unicodedata.category(c) in ("Cc", "Cs", "Cn"):
            return False
    return True


def _part_text(part: Part, ct: str, body: bytes) -> tuple[str, bool] | None:
    if re.search(r"\btext/x?html\b", ct):
        return None
    try:
        return _body_str(part, body, part.charset)
    except _NoStr:
        pass
    if re.search(r"\btext/\b", ct, re.IGNORECASE) or (
        not part.is_submsg and re.search(r"\bmultipart/mixed\b", ct, re.IGNORECASE)
    ):
        ctes = header_raw(part.header, "Content-Transfer-Encoding")
        if ctes and re.search(rb"\b7bit\b", ctes[0], re.IGNORECASE):
            return _l1(body), False
        try:
            return body.decode("utf-8"), True
        except UnicodeDecodeError:
            return _l1(body), False
    if re.search(r"\bapplication/octet-stream\b", ct, re.IGNORECASE):
        try:
            s, flagged = body.decode("utf-8", "surrogatepass"), True
        except UnicodeDecodeError:
            s, flagged = _l1(body), False
        return (s, flagged) if _printable_or_space(s) else None
    return None


def _rstrip_ws(s: str, flagged: bool) -> str:
    return s.rstrip(_UNI_WS if flagged else _ASCII_WS)


def _part_chunks(part: Part) -> Iterator[bytes]:
    yield b"\0%d:%s\0" % (part.depth, part.idx_str.encode())
    if part.filename is not None:
        yield b"fn\0" + _u8(part.filename) + b"\0"
    for d in part.header_values("Content-Description"):
        ds = _l1(d)
        if "=?" in ds:
            ds = mime_header_decode(ds)
        yield b"d\0" + _u8(ds) + b"\0"
    yield b"b\0"
    ct = part.ct_raw or "text/plain"
    body = part.decoded()
    r = _part_text(part, ct, body)
    if r is None:
        yield body
    else:
        s, flagged = r
        yield _u8(_rstrip_ws(s.replace("\r\n", "\n"), flagged))


# ---------------------------------------------------------------------------
# public API


def content_chunks(raw: bytes) -> Iterator[bytes]:
    """The byte strings public-inbox feeds to SHA-256, in order."""
    hdr = split_message(raw)[0]
    seen = set(mids(hdr))
    for mid in references(hdr):
        if mid not in seen:
            seen.add(mid)
            yield b"ref\0" + mid + b"\0"
    for h in ("From", "Sender"):
        vals = _addr_values(hdr, h)
        if vals:
            for v, flagged in vals:
                yield _digest_addr(h, v, flagged)
            break
    for h in ("Subject", "Date"):
        for raw_v in header_raw(hdr, h):
            s = _l1(raw_v)
            if h == "Subject" and "=?" in s:
                s = mime_header_decode(s)
            yield h.encode() + b"\0" + _u8(s) + b"\0"
    for h in ("To", "Cc"):
        for v, flagged in _addr_values(hdr, h):
            yield _digest_addr(h, v, flagged)
    for part in iter_parts(raw):
        yield from _part_chunks(part)


def content_digest(raw: bytes) -> hashlib._Hash:
    """A SHA-256 object fed like PublicInbox::ContentHash::content_digest."""
    dig = hashlib.sha256()
    for c in content_chunks(raw):
        dig.update(c)
    return dig


def content_hash(raw: bytes) -> bytes:
    """The 32-byte content hash public-inbox uses for duplicate detection."""
    return content_digest(raw).digest()


# ---------------------------------------------------------------------------
# dates (PublicInbox::MsgTime, RFC 822 path) and digest2mid

_MOY = {
    m: i
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}
_MOY.update({k[:3]: v for k, v in list(_MOY.items())})
_OBS_TZ = {
    "EST": "-0500",
    "EDT": "-0400",
    "CST": "-0600",
    "CDT": "-0500",
    "MST": "-0700",
    "MDT": "-0600",
    "PST": "-0800",
    "PDT": "-0700",
    "UT": "+0000",
    "GMT": "+0000",
    "Z": "+0000",
}
_DATE_RE = re.compile(
    rb"(?:[A-Za-z]+,?\s+)?([0-9]+),?\s+([A-Za-z]+)\s+([0-9]{2,4})\s+"
    rb"([0-9]+)[:.]((?:[0-9]{2})|(?:\s?[0-9]))(?:[:.]((?:[0-9]{2})|(?:\s?[0-9])))?"
    rb"\s+([+\-])?[+\-]*([0-9]+|" + b"|".join(k.encode() for k in _OBS_TZ) + rb")(?:\s|$)"
)
_RECVD_RE = re.compile(
    rb"\s*([0-9]+\s+[a-zA-Z]+\s+[0-9]{2,4}\s+[0-9]+[^0-9][0-9]+(?:[^0-9][0-9]+)"
    rb"\s+([+\-][0-9]+))",
    re.DOTALL,
)


def _str2ts(date: bytes) -> int | None:
    m = _DATE_RE.search(date)
    if m is None:
        return _fallback_date(date)
    dd, mon_s, yyyy_s, hh, mm, ss, sign, tz = m.groups()
    mon = _MOY.get(mon_s.decode().lower())
    if mon is None:
        return None
    yyyy = int(yyyy_s)
    if len(yyyy_s) <= 3:
        yyyy += 1900
        if yyyy < 1950:
            yyyy += 100
    try:
        sec = int(ss.strip()) if ss else 0
        mi, hr, day = int(mm.strip()), int(hh), int(dd)
        if not (0 <= sec <= 59 and 0 <= mi <= 59 and 0 <= hr <= 23):
            return None  # Time::Local croaks, public-inbox tries the next
        if not 1 <= day <= calendar.monthrange(yyyy, mon + 1)[1]:
            return None
        ts = calendar.timegm((yyyy, mon + 1, day, hr, mi, sec, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if ts < 0:
        return None
    tzs = tz.decode()
    sgn = sign.decode() if sign else "+"
    if tzs in _OBS_TZ:
        sgn, tzs = _OBS_TZ[tzs][0], _OBS_TZ[tzs][1:]
    if len(tzs) == 1:
        tz_hh, tz_mm = int(tzs), 0
    elif len(tzs) == 2:
        tz_hh, tz_mm = 0, int(tzs)
    else:
        tz_hh, tz_mm = int(tzs[:-2]), int(tzs[-2:])
    while tz_mm >= 60:
        tz_mm -= 60
        tz_hh += 1
    off = tz_mm * 60 + tz_hh * 3600
    return ts - off if sgn == "+" else ts + off


_AMPM = re.compile(r"\b([0-9]{1,2})(:[0-9]{2}(?::[0-9]{2})?)\s*([AaPp])\.?[Mm]\b\.?")


def _fallback_date(date: bytes) -> int | None:
    """Stand-in for Date::Parse::str2time (comments, AM/PM, zone names)."""
    import email.utils

    try:
        d = re.sub(r"\([^()]*\)", " ", date.decode("latin-1"))

        def ampm(m: re.Match[str]) -> str:
            h = int(m.group(1)) % 12 + (12 if m.group(3) in "Pp" else 0)
            return f"{h:02d}{m.group(2)}"

        d = _AMPM.sub(ampm, d)
        t = email.utils.parsedate_tz(d)
        return None if t is None else int(email.utils.mktime_tz(t))
    except Exception:  # noqa: BLE001
        return None


def msg_datestamp(raw: bytes, fallback: int | None = None) -> int:
    """Date: header (else Received:, else *fallback*/now) as UTC epoch."""
    hdr = split_message(raw)[0]
    for d in header_raw(hdr, "Date"):
        ts = _str2ts(d)
        if ts is not None:
            return ts
    for r in header_raw(hdr, "Received"):
        m = _RECVD_RE.search(r)
        if m is None:
            continue
        ts = _str2ts(m.group(1))
        if ts is not None:
            return ts
    return int(time.time()) if fallback is None else fallback


def _gm_stamp(ts: int) -> str:
    try:
        return time.strftime("%Y%m%d%H%M%S", time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        return time.strftime("%Y%m%d%H%M%S", time.gmtime(0))


def digest2mid(raw: bytes, date_ts: int | None = None, digest: hashlib._Hash | None = None) -> str:
    """Generated Message-ID like PublicInbox::Import::digest2mid.

    *date_ts* is public-inbox's ``msg_datestamp`` of the message (Date:,
    else the first parseable Received:, else the import time); when None
    it is computed with :func:`msg_datestamp` (falling back to now).
    *digest* lets callers pass an extended digest (public-inbox adds the
    Received: headers, then random data, when the first ID is taken).
    """
    dig = digest if digest is not None else content_digest(raw)
    b64 = base64.b64encode(dig.digest()).decode()
    b64 = b64.replace("+", "-").replace("/", "_").replace("=", "")
    ts = msg_datestamp(raw) if date_ts is None else date_ts
    return f"{_gm_stamp(ts)}.{b64}@z"
