"""E-mail address lists parsed and formatted the way public-inbox does it.

Public-inbox (``PublicInbox::Address``) relies on Email::Address::XS, whose
parser is Dovecot's lenient RFC 822/5322 address parser.  Which name and
which address a From: line yields ends up in git commits, so this module
implements a parser with the same behaviour on malformed input (unclosed
quotes and comments, missing brackets, groups, bare words), plus the
formatter public-inbox uses to re-assemble address headers after RFC 2047
decoding.  Strings are Perl-style (see :mod:`pubinbox.mail.perlstr`): any
character at or above U+0080 counts as an atom character and parsing stops
at a NUL, like the C code working on the UTF-8 or byte buffer.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from pubinbox import native

__all__ = ["Mailbox", "emails", "format_groups", "names", "pairs", "parse_groups"]

_SPECIAL_ATEXT = set("!#$%&'*+-/=?^_`{|}~")


def _atext(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in _SPECIAL_ATEXT) or ord(c) >= 0x80


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One parsed address: display phrase, user, host and last comment.

    ``user``/``host`` are None when empty or missing (as in the Perl objects).
    """

    phrase: str | None
    user: str | None
    host: str | None
    comment: str | None

    def name(self) -> str:
        """Email::Address::XS ``name``: phrase, else comment, else user."""
        if self.phrase:
            return self.phrase
        if self.comment:
            return self.comment
        return self.user if self.user is not None else ""

    def address(self) -> str | None:
        """``user@host`` with the user quoted when needed, None if no host."""
        if self.user is None or not self.host:
            return None
        return _maybe_quote(self.user, False) + "@" + self.host


@dataclass(slots=True)
class _Rec:
    name: str | None = None
    route: str | None = None
    mailbox: str | None = None
    domain: str | None = None
    comment: str | None = None
    invalid: bool = False


class _Parser:
    """Dovecot-style address tokenizer; methods return 1 more, 0 end, -1 bad."""

    def __init__(self, text: str) -> None:
        nul = text.find("\0")
        self.s = text if nul < 0 else text[:nul]
        self.n = len(self.s)
        self.i = 0
        self.comment = ""
        self.buf = ""
        self.rec = _Rec()
        self.out: list[_Rec] = []

    def cur(self) -> str:
        return self.s[self.i] if self.i < self.n else "\0"

    def more(self) -> int:
        return 1 if self.i < self.n else 0

    # -- tokens
    def skip_comment(self) -> int:
        self.comment = ""
        self.i += 1
        start = self.i
        level = 1
        s = self.s
        while self.i < self.n:
            c = s[self.i]
            if c == "(":
                level += 1
            elif c == ")":
                level -= 1
                if level == 0:
                    self.comment += s[start : self.i]
                    self.i += 1
                    return self.more()
            elif c == "\\":
                self.comment += s[start : self.i]
                start = self.i + 1
                self.i += 1
                if self.i == self.n:
                    return -1
            self.i += 1
        return -1

    def skip_lwsp(self) -> int:
        while self.i < self.n:
            c = self.s[self.i]
            if c in " \t\r\n":
                self.i += 1
                continue
            if c != "(":
                break
            if self.skip_comment() < 0:
                return -1
        return self.more()

    def dot_atom(self) -> tuple[int, str]:
        out = ""
        if self.i >= self.n or not _atext(self.s[self.i]):
            return -1, out
        start = self.i
        self.i += 1
        while self.i < self.n:
            if _atext(self.s[self.i]):
                self.i += 1
                continue
            out += self.s[start : self.i]
            ret = self.skip_lwsp()
            if ret <= 0:
                return ret, out
            if self.s[self.i] != ".":
                return 1, out
            self.i += 1
            out += "."
            ret = self.skip_lwsp()
            if ret <= 0:
                return ret, out
            start = self.i
        out += self.s[start : self.i]
        return 0, out

    def quoted(self) -> tuple[int, str]:
        out = ""
        self.i += 1
        start = self.i
        s = self.s
        while self.i < self.n:
            c = s[self.i]
            if c == '"':
                out += s[start : self.i]
                self.i += 1
                return self.skip_lwsp(), out
            if c == "\n":
                end = self.i
                if end > start and s[end - 1] == "\r":
                    end -= 1
                out += s[start:end]
                start = self.i + 1
            elif c == "\\":
                self.i += 1
                if self.i == self.n:
                    return -1, out
                out += s[start : self.i - 1]
                start = self.i
            self.i += 1
        return -1, out

    def atom_or_dot(self) -> tuple[int, str]:
        start = self.i
        while self.i < self.n:
            c = self.s[self.i]
            if _atext(c) or c == ".":
                self.i += 1
                continue
            part = self.s[start : self.i]
            return self.skip_lwsp(), part
        return 0, self.s[start : self.i]

    def phrase(self) -> tuple[int, str]:
        out = ""
        if self.i >= self.n:
            return 0, out
        if self.s[self.i] == ".":
            return -1, out
        while True:
            ret, part = self.quoted() if self.s[self.i] == '"' else self.atom_or_dot()
            out += part
            if ret <= 0:
                return ret, out
            c = self.s[self.i]
            if not _atext(c) and c not in '".':
                break
            out += " "
        return self.skip_lwsp(), out

    def domain_literal(self) -> tuple[int, str]:
        start = self.i
        while self.i < self.n:
            c = self.s[self.i]
            if c == "\\":
                self.i += 1
                if self.i == self.n:
                    break
            elif c == "]":
                self.i += 1
                return self.skip_lwsp(), self.s[start : self.i]
            self.i += 1
        return -1, ""

    def domain(self) -> tuple[int, str]:
        self.i += 1  # '@'
        if self.skip_lwsp() <= 0:
            return -1, ""
        if self.s[self.i] == "[":
            return self.domain_literal()
        return self.dot_atom()

    # -- grammar
    def local_part(self) -> int:
        ret, out = self.quoted() if self.cur() == '"' else self.dot_atom()
        if ret < 0:
            return -1
        self.rec.mailbox = out
        return ret

    def domain_part(self) -> int:
        ret, out = self.domain()
        if ret < 0:
            return -1
        self.rec.domain = out
        return ret

    def domain_list(self) -> int:
        buf = ""
        while True:
            if self.i >= self.n:
                return 0
            if self.s[self.i] != "@":
                break
            if buf:
                buf += ","
            buf += "@"
            ret, dom = self.domain()
            buf += dom
            if ret <= 0:
                return ret
            while self.skip_lwsp() > 0 and self.s[self.i] == ",":
                self.i += 1
        self.rec.route = buf
        return 1

    def angle_addr(self) -> int:
        self.i += 1  # '<'
        ret = self.skip_lwsp()
        if ret <= 0:
            return ret
        if self.s[self.i] == "@":
            if self.domain_list() > 0 and self.cur() == ":":
                self.i += 1
            elif self.i >= self.n:
                return -1
            # else: a broken route, try to continue anyway
            if self.skip_lwsp() <= 0:
                return -1
        ret = self.local_part()
        if ret <= 0:
            return ret
        if self.cur() == "@":
            ret = self.domain_part()
            if ret <= 0:
                return ret
        if self.cur() != ">":
            return -1
        self.i += 1
        return self.skip_lwsp()

    def name_addr(self) -> int:
        ret, name = self.phrase()
        if ret <= 0 or self.cur() != "<":
            return -1
        self.rec.name = name or None
        self.comment = ""
        if self.angle_addr() < 0:
            self.rec.invalid = True
        if self.comment:
            self.rec.comment = self.comment
        return self.more()

    def addr_spec(self) -> int:
        self.comment = ""
        ret = self.local_part()
        if ret <= 0:
            self.rec.invalid = True
        if ret != 0 and self.cur() == "@":
            ret2 = self.domain_part()
            if ret2 <= 0:
                ret = ret2
        if self.comment:
            self.rec.comment = self.comment
        return ret

    def push(self) -> None:
        self.out.append(self.rec)
        self.rec = _Rec()

    def push_fixed(self) -> None:
        if self.rec.mailbox is None:
            self.rec.mailbox = ""
            self.rec.invalid = True
        if self.rec.domain is None:
            self.rec.domain = ""
            self.rec.invalid = True
        self.push()

    def mailbox(self) -> int:
        start = self.i
        ret = self.name_addr()
        if ret < 0:
            r = self.rec
            r.name = r.route = r.mailbox = r.domain = r.comment = None
            self.i = start
            ret = self.addr_spec()
            if r.invalid and r.name is None and r.mailbox is not None and r.domain is None:
                r.name, r.mailbox = r.mailbox, None
        if ret < 0:
            self.rec.invalid = True
        self.push_fixed()
        return ret

    def group(self) -> int:
        ret, name = self.phrase()
        if ret <= 0 or self.cur() != ":":
            return -1
        self.i += 1
        ret = self.skip_lwsp()
        if ret <= 0:
            self.rec.invalid = True
        self.rec.mailbox = name
        self.push()
        if ret > 0 and self.cur() != ";":
            while True:
                if self.mailbox() <= 0:
                    ret = -1
                    break
                if self.cur() != ",":
                    break
                self.i += 1
                if self.skip_lwsp() <= 0:
                    ret = -1
                    break
        if ret >= 0:
            if self.cur() != ";":
                ret = -1
            else:
                self.i += 1
                ret = self.skip_lwsp()
        if ret < 0:
            self.rec.invalid = True
        self.push()
        return 0 if ret == 0 else 1

    def address(self) -> int:
        start = self.i
        ret = self.group()
        if ret < 0:
            self.i = start
            ret = self.mailbox()
        return ret

    def run(self) -> list[_Rec]:
        if self.skip_lwsp() <= 0:
            return []
        while True:
            if self.address() == 0:
                break
            if self.cur() != ",":
                break
            self.i += 1
            ret = self.skip_lwsp()
            if ret <= 0:
                if ret < 0:
                    self.push_fixed()
                break
        return self.out


def parse_groups(value: str, utf8: bool = True) -> list[tuple[str | None, list[Mailbox]]]:
    """Email::Address::XS ``parse_email_groups``: [(group name|None, boxes)].

    ``utf8`` is unused by the parser (it works on characters); it is accepted
    for symmetry with :func:`emails`, where the Perl flag changes the result.
    """
    del utf8
    simple = _simple_boxes(value)
    if simple is not None:  # no groups in the plain case
        return [(None, list(simple))]
    recs = _Parser(value).run()
    groups: list[tuple[str | None, list[Mailbox]]] = []
    k = 0
    while k < len(recs):
        r = recs[k]
        in_group = r.domain is None
        gname = r.mailbox if in_group else None
        if in_group:
            k += 1
        boxes: list[Mailbox] = []
        while k < len(recs) and recs[k].domain is not None:
            b = recs[k]
            boxes.append(Mailbox(b.name, b.mailbox or None, b.domain or None, b.comment))
            k += 1
        if in_group and k < len(recs):
            k += 1
        groups.append((gname, boxes))
    return groups


_ESCAPED = frozenset('"\\\0\t\r\n')


_ASCII_ATEXT_DOTS = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+\Z")


def _maybe_quote(s: str, escape_dot: bool) -> str:
    if not escape_dot and _ASCII_ATEXT_DOTS.match(s) and s[0] != "." and s[-1] != ".":
        return s  # fast path for the usual ASCII local part
    if s and s[0] != "." and s[-1] != "." and all(_atext(c) or (not escape_dot and c == ".") for c in s):
        return s
    if not any(c in _ESCAPED for c in s):
        return '"' + s + '"'
    return '"' + "".join("\\" + c if c in _ESCAPED else c for c in s) + '"'


def format_groups(groups: list[tuple[str | None, list[Mailbox]]]) -> str:
    """Email::Address::XS ``format_email_groups``."""
    parts: list[str] = []
    for gname, boxes in groups:
        items: list[str] = []
        for b in boxes:
            user = b.user or None
            host = b.host or None
            if user is None or host is None:
                continue  # Email::Address::XS 1.05 skips incomplete addresses
            items.append(_format_box(b.phrase, user, host, b.comment))
        if gname is None:
            parts.extend(items)
            continue
        if gname:
            head = gname if "=?" in gname else _maybe_quote(gname, True)
        else:
            head = '""'
        parts.append(head + ": " + ", ".join(items) + ";" if items else head + ":;")
    return ", ".join(parts)


def _format_box(phrase: str | None, user: str, host: str, comment: str | None) -> str:
    tail = " (" + comment + ")" if comment is not None else ""
    spec = _maybe_quote(user, False) + "@" + host
    if not phrase:
        return spec + tail
    name = phrase if "=?" in phrase else _maybe_quote(phrase, True)
    return name + " <" + spec + ">" + tail


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR = rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*"
_QUOTED = r'"(?:[^"\\\r\n]|\\[^\r\n])*"'
_ITEM_NC = rf"(?:(?:{_ATOM}(?:[ \t]+{_ATOM})*|{_QUOTED})?[ \t]*<{_ADDR}>|{_ADDR})"
_SIMPLE_LIST = re.compile(rf"[ \t]*{_ITEM_NC}(?:[ \t]*,[ \t]*{_ITEM_NC})*[ \t]*,?[ \t]*")
_SIMPLE_ITEM = re.compile(
    rf"(?:(?:(?P<phrase>{_ATOM}(?:[ \t]+{_ATOM})*)|\"(?P<quoted>(?:[^\"\\\r\n]|\\[^\r\n])*)\")?"
    rf"[ \t]*<(?P<angle>{_ADDR})>|(?P<bare>{_ADDR}))"
)
_WS_RUN = re.compile(r"[ \t]+")
_QUOTED_PAIR = re.compile(r"\\(.)")


def _simple_boxes(value: str) -> tuple[Mailbox, ...] | None:
    """The common plain case (``Name <a@b>, "Q \\(R\\)" <c@d>, <e@f>, g@h``:
    atoms or quoted strings, no comments or groups) without the
    character-level parser; None otherwise.  It gives what the full parser
    gives for these inputs (checked against it on every address field of
    the corpus)."""
    if not _SIMPLE_LIST.fullmatch(value):
        return None
    out = []
    for m in _SIMPLE_ITEM.finditer(value):
        addr = m.group("angle") or m.group("bare")
        user, _, host = addr.rpartition("@")
        phrase = m.group("phrase")
        if phrase:
            phrase = _WS_RUN.sub(" ", phrase)
        else:  # a quoted phrase as written but for \X (X); an empty one is no phrase
            quoted = m.group("quoted")
            if quoted and "\\" in quoted:
                quoted = _QUOTED_PAIR.sub(r"\1", quoted)
            phrase = quoted or None
        out.append(Mailbox(phrase, user, host, None))
    return tuple(out)


@functools.lru_cache(maxsize=16384)
def _all_boxes(value: str) -> tuple[Mailbox, ...]:
    # memoised: a list's To/Cc/From values repeat across a thread, and the
    # character-level parser is the costliest part of indexing a message
    simple = _simple_boxes(value)
    if simple is not None:
        return simple
    return tuple(b for _, boxes in parse_groups(value) for b in boxes)


def emails(value: str, utf8: bool = True) -> list[str]:
    """``PublicInbox::Address::emails``: every address (user@host) in order.

    ``utf8`` is Perl's flag on ``value``.  For a byte string (flag off) the
    XS module UTF-8-encodes 8-bit characters while composing, so the result
    then holds the UTF-8 octets as characters; callers modelling Perl byte
    strings pass ``utf8=False`` to reproduce that.
    """
    return list(_emails(value))


def _simple_emails_py(value: str) -> tuple[str, ...] | None:
    """The addresses of a plain list (:func:`_simple_boxes`), None for
    any other (``_native.simple_emails`` is this, in C)."""
    boxes = _simple_boxes(value)
    if boxes is None:
        return None
    return tuple(a for a in (b.address() for b in boxes) if a is not None)


_NATIVE = native.load()


@functools.lru_cache(maxsize=16384)
def _emails(value: str) -> tuple[str, ...]:
    # memoised like _all_boxes: every message's To/From/Cc are read for
    # threading, and a thread's lists repeat
    if _NATIVE is not None:  # a plain list without the regular expressions
        got: tuple[str, ...] | None = _NATIVE.simple_emails(value)
        if got is not None:
            return got
    return tuple(a for a in (b.address() for b in _all_boxes(value)) if a is not None)


def names(value: str) -> list[str]:
    """``PublicInbox::Address::names``: display name per address.

    The phrase, else the comment, else the local part; a name equal to the
    address is replaced by the local part.
    """
    out = []
    for b in _all_boxes(value):
        n = b.name()
        a = b.address()
        if a is not None and n == a:
            n = b.user if b.user is not None else n
        out.append(n)
    return out


def pairs(value: str) -> list[tuple[str | None, str | None]]:
    """``PublicInbox::Address::pairs``: [(phrase or comment, address)]."""
    return [(b.phrase if b.phrase is not None else b.comment, b.address()) for b in _all_boxes(value)]
