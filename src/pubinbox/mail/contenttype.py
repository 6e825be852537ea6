"""Content-Type and Content-Disposition values, parsed like the non-strict
PublicInbox::EmlContentFoo (RFC 2231 continuations and charsets included)."""

from __future__ import annotations

import re

from pubinbox.mail.charsets import decode, perl_mime_encoding

__all__ = ["parse_content_disposition", "parse_content_type"]

# ---------------------------------------------------------------------------
# Content-Type / Content-Disposition (non-strict PublicInbox::EmlContentFoo)

_TOKEN = r"[\x21\x23-\x27\x2A\x2B\x2D\x2E\x30-\x39\x41-\x5A\x5E-\x7E]+"
_TOKEN_NS = r"(?:[\x00-\x08\x0B\x0C\x0E-\x1F\x7E-\xFF]+|" + _TOKEN + r")"
_QTEXT_NS = r"(?:[\x80-\xFF]|[\x01-\x08\x0B\x0C\x0E-\x1F\x21\x23-\x5B\x5D-\x7E\x7F])"
_QSTRING = re.compile(r'^"((?:[ \t]*(?:[\x01-\x08\x0B\x0C\x0E-\x1F\x21\x23-\x5B\x5D-\x7E\x7F]|\\[\x00-\x7F]))*[ \t]*)"')
_QSTRING_NS = re.compile(r'^"((?:[ \t]*(?:' + _QTEXT_NS + r'|\\[\x00-\xFF]))*[ \t]*)"')
_TOKEN_RE = re.compile(r"^(" + _TOKEN + r")")
_TOKEN_NS_RE = re.compile(r"^(" + _TOKEN_NS + r")")
_TOKEN_NS_EQ = re.compile(r"^" + _TOKEN_NS + r"=")
_CT_TYPE = re.compile(r"^(" + _TOKEN + r")/(" + _TOKEN + r")")
_CT_TYPE_NS = re.compile(r"^(" + _TOKEN_NS + r")/(" + _TOKEN_NS + r")")
_ATTR_TOK = re.compile(r"^(" + _TOKEN + r")=")
_ATTR_NS = re.compile(r"^(" + _TOKEN_NS + r")=")
_ATTR_LAX = re.compile(r"^([^;=\t\n\x0b\x0c\r ]+)[\t\n\x0b\x0c\r ]*=")
_WS_LEAD = re.compile(r"^[\t\n\x0b\x0c\r ]+")
_WS_TRAIL = re.compile(r"[\t\n\x0b\x0c\r ]+\n?$")
_UNFOLD = re.compile(r"(?:\r\n|[\r\n])(?=[ \t])")
_RFC2231_KEY = re.compile(r"^(.*)\*([0-9])\*?\n?$", re.DOTALL)
_RFC2231_ENC = re.compile(r"^(.*)\*\n?$", re.DOTALL)
_EXVALUE = re.compile(r"^([!\"#$%&'+\-0-9A-Z\\^_`a-z{|}~]+)?'(?:[A-Za-z]{1,8}(?:-[0-9A-Za-z]{1,8})*)?'(.*)\n?$")
_BACKSLASH = re.compile(r"\\(.)")


class _Buf:
    """A mutable string consumed from the left (Perl ``s/^...//`` idiom)."""

    __slots__ = ("s",)

    def __init__(self, s: str) -> None:
        self.s = s

    def eat(self, pat: re.Pattern[str]) -> re.Match[str] | None:
        m = pat.match(self.s)
        if m is not None:
            self.s = self.s[m.end() :]
        return m


def _clean_comments(b: _Buf) -> bool:
    ret = b.eat(_WS_LEAD) is not None
    while b.s:
        if not b.s.startswith("("):
            break
        s = b.s
        i = 1
        level = 1
        n = len(s)
        while i < n:
            ch = s[i]
            i += 1
            if ch == "(":
                level += 1
            elif ch == ")":
                level -= 1
                if level == 0:
                    break
            elif ch == "\\":
                i += 1
        b.s = s[i:]
        if b.eat(_WS_LEAD) is not None:
            ret = True
    return ret


def _extract_value(b: _Buf) -> str | None:
    value: str | None = None
    while b.s:
        m = b.eat(_TOKEN_RE)
        if m is not None:
            value = (value or "") + m.group(1)
        else:
            m = b.eat(_QSTRING)
            if m is not None:
                value = (value or "") + _BACKSLASH.sub(r"\1", m.group(1))
            else:
                m = b.eat(_TOKEN_NS_RE)
                if m is not None:
                    value = (value or "") + m.group(1)
                else:
                    m = b.eat(_QSTRING_NS)
                    if m is not None:
                        value = (value or "") + _BACKSLASH.sub(r"\1", m.group(1))
        erased = _clean_comments(b)
        if not b.s or b.s.startswith(";"):
            break
        if erased:
            if _TOKEN_NS_EQ.match(b.s):
                break
            value = (value or "") + " "
        value = (value or "") + b.s[0]
        b.s = b.s[1:]
    return value


def _parse_attributes(s: str) -> dict[str, str | None]:
    if s and not s.startswith(";"):
        s = "; " + s
    b = _Buf(s)
    attrs: dict[str, str | None] = {}
    while b.s:
        b.s = b.s.removeprefix(";")
        _clean_comments(b)
        if not b.s:
            return attrs
        m = b.eat(_ATTR_TOK) or b.eat(_ATTR_NS) or b.eat(_ATTR_LAX)
        if m is None:
            return attrs
        attr = m.group(1).lower()
        _clean_comments(b)
        attrs[attr] = _extract_value(b)
        _clean_comments(b)
    return attrs


def _process_rfc2231(attrs: dict[str, str | None]) -> dict[str, str | None]:
    cont: dict[str, dict[int, str | None]] = {}
    encoded: set[str] = set()
    for k in list(attrs):
        m = _RFC2231_KEY.match(k)
        if m is None:
            continue
        a, sec = m.group(1), int(m.group(2))
        cont.setdefault(a, {})[sec] = attrs[k]
        if k.endswith("*"):
            encoded.add(a)
        del attrs[k]
    for a, secs in cont.items():
        key = a + "*" if a in encoded else a
        attrs[key] = "".join(secs.get(i) or "" for i in range(max(secs) + 1))
    for k in list(attrs):
        m = _RFC2231_ENC.match(k)
        if m is None:
            continue
        v = attrs[k] or ""
        m2 = _EXVALUE.match(v)
        if m2 is None:
            continue
        charset, value = m2.group(1) or "", m2.group(2)
        raw = re.sub(r"%([0-9A-Fa-f]{2})", lambda x: chr(int(x.group(1), 16)), value)
        if charset:
            enc = perl_mime_encoding(charset)
            if enc is not None:
                try:
                    rb = raw.encode("latin-1")
                except UnicodeEncodeError:
                    rb = raw.encode("utf-8", "surrogatepass")
                raw = decode(enc, rb)
        attrs[m.group(1)] = raw
        del attrs[k]
    return attrs


def parse_content_type(ct: str | None) -> tuple[str, str, dict[str, str | None]]:
    """Parse a Content-Type value: (type, subtype, attributes), never raises."""
    if not ct:
        ct = "text/plain; charset=us-ascii"
    ct = _UNFOLD.sub("", ct)
    b = _Buf(ct)
    _clean_comments(b)
    m = b.eat(_CT_TYPE) or b.eat(_CT_TYPE_NS)
    if m is None:
        return "text", "plain", {"charset": "us-ascii"}
    typ, sub = m.group(1).lower(), m.group(2).lower()
    _clean_comments(b)
    rest = _WS_TRAIL.sub("", b.s)
    return typ, sub, _process_rfc2231(_parse_attributes(rest))


def parse_content_disposition(cd: str | None) -> tuple[str, dict[str, str | None]]:
    """Parse a Content-Disposition value: (type, attributes), never raises."""
    if not cd:
        cd = "attachment"
    cd = _UNFOLD.sub("", cd)
    b = _Buf(cd)
    _clean_comments(b)
    m = b.eat(_TOKEN_RE) or b.eat(_TOKEN_NS_RE)
    if m is None:
        return "attachment", {}
    typ = m.group(1).lower()
    _clean_comments(b)
    rest = _WS_TRAIL.sub("", b.s)
    return typ, _process_rfc2231(_parse_attributes(rest))
