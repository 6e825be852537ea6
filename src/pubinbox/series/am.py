"""Patches as ``b4 am -o -`` writes them, for ``git am``.

Each patch is rewritten the way b4 0.16 does it: the first plain-text (or
``x-patch``) part, decoded; passed through ``git mailinfo --scissors`` (the
in-body ``From:``/``Subject:``/``Date:`` and anything above a scissors line
handled by git itself); its trailer block parsed and written again with
the trailers given in replies added after it (person trailers normalised
to ``Name <addr>``, duplicates dropped); new headers ``Subject: [PATCH vN
M/N] title``, ``From``, ``Date``, ``Message-Id`` and a ``text/plain;
charset="utf-8"`` body; each message after a ``From git@z Thu Jan  1
00:00:00 1970`` line, with no ``>From`` quoting (git am's reading of
mbox).  The observed reference is b4 itself (tests/web/test_series_b4.py
compares the bytes).
"""

from __future__ import annotations

import email.utils
import os
import re
import subprocess
import tempfile
import textwrap
import urllib.parse
from dataclasses import dataclass
from email import policy
from email.header import decode_header
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from pubinbox.errors import PubinboxError

__all__ = ["SEPARATOR", "Trailer", "am_patch", "find_trailers", "followup_trailers", "make_trailer"]

SEPARATOR = b"From git@z Thu Jan  1 00:00:00 1970\n"
#: seconds git mailinfo may take on one patch
MAILINFO_TIMEOUT = 20

DIFF_RE = re.compile(r"^(---.*\n\+\+\+|GIT binary patch|diff --git \w/\S+ \w/\S+)", re.MULTILINE | re.IGNORECASE)
DIFFSTAT_RE = re.compile(r"^\s*\d+ file.*\d+ (insertion|deletion)", re.MULTILINE | re.IGNORECASE)
_SPECIALS = re.compile(r"[()<>@,:;.\"\[\]]")
_ADDR_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_ADDR_ESCAPES = re.compile(r'[\\"]')
_UTILITY = {"fixes", "link", "buglink", "closes", "obsoleted-by", "message-id", "change-id", "base-commit", "based-on"}
_IGNORED = {"phone", "mail", "email", "e-mail", "prerequisite-message-id"}
_HEADERS = {"subject", "date", "from"}
_LINKS = {"link", "buglink", "closes"}
_NONPERSON = _LINKS | {"fixes", "subject", "date", "obsoleted-by", "change-id", "base-commit"}
#: never taken from a reply: patch metadata
_NOT_FOLLOWUP = {"from", "author", "cc", "to", "date", "subject", "subscribe", "unsubscribe", "base-commit",
                 "change-id", "message-id"}  # fmt: skip
_PARSER = BytesParser(
    policy=policy.EmailPolicy(utf8=True, cte_type="8bit", max_line_length=None, message_factory=EmailMessage)
)


def formataddr(name: str, addr: str) -> str:
    """``name <addr>``, the name quoted when it must be, never RFC 2047
    encoded: as :func:`email.utils.formataddr` writes it with b4's UTF-8
    charset setting (raw 8-bit names)."""
    if not name:
        return addr
    quote = '"' if _ADDR_SPECIALS.search(name) else ""
    return f"{quote}{_ADDR_ESCAPES.sub(lambda m: chr(92) + m.group(0), name)}{quote} <{addr}>"


def clean_header(value: str | None) -> str:
    """A header value decoded (RFC 2047) and unfolded, on one line."""
    if value is None:
        return ""
    if "=?" in value:
        if re.search(r"<\S+@\S+>", value, re.IGNORECASE | re.MULTILINE):
            out = []
            for name, addr in email.utils.getaddresses([value]):
                if "=?" in name:
                    name = clean_header(name)
                if re.search(r"[^\w\s]", name):
                    out.append(f'"{email.utils.quote(name)}" <{addr}>')
                else:
                    out.append(formataddr(name, addr))
            return ", ".join(out)
        decoded = ""
        for chunk, cs in decode_header(value):
            if isinstance(chunk, str):
                decoded += chunk
                continue
            try:
                decoded += chunk.decode(cs or "utf-8", errors="replace")
            except LookupError:
                decoded += chunk.decode("utf-8", errors="replace")
        value = decoded
    return re.sub(r"\n?\s+", " ", value).strip()


def format_addrs(pairs: list[tuple[str, str]], *, clean: bool = True, header_safe: bool = True) -> str:
    out = []
    for name, addr in pairs:
        if not name or name == addr:
            out.append(addr)
            continue
        if clean:
            name = clean_header(name)
        if not header_safe:
            out.append(f"{name} <{addr}>")
            continue
        if len(name) > 1 and name.startswith('"') and name.endswith('"'):
            name = name[1:-1]
        if not name.startswith("=?") and _SPECIALS.search(name):
            out.append(f'"{email.utils.quote(name)}" <{addr}>')
            continue
        out.append(formataddr(name, addr))
    return ", ".join(out)


@dataclass(slots=True)
class Trailer:
    """One trailer line (``Name: value``, optional ``# note`` or ``[note]``)."""

    name: str
    value: str
    kind: str  # person, utility, unknown
    addr: tuple[str, str] | None = None
    extinfo: str | None = None

    @property
    def lname(self) -> str:
        return self.name.lower()

    def text(self, *, omit_extinfo: bool = False) -> str:
        out = f"{self.name}: {self.value}"
        if not self.extinfo or omit_extinfo:
            return out
        if self.extinfo.lstrip().startswith("#"):
            return out + self.extinfo
        return f"{out}\n{self.extinfo}"

    def same(self, other: Trailer) -> bool:
        """Equal as b4 compares: name and value without case; two
        ``Link:`` trailers naming one Message-ID."""
        if self.lname != other.lname:
            return False
        if self.value.lower() == other.value.lower():
            return True
        if self.lname == "link":
            a, b = _link_mid(self.value), _link_mid(other.value)
            return a is not None and a == b
        return False

    def email_eq(self, addr: str) -> bool:
        """Whether this person trailer names *addr* (``+tag`` and one
        subdomain level aside)."""
        if not self.addr:
            return False
        ours, theirs = self.addr[1].lower(), addr.lower()
        if ours == theirs:
            return True
        if "@" not in ours or "@" not in theirs:
            return False
        ours, theirs = re.sub(r"\+[^@]+@", "@", ours), re.sub(r"\+[^@]+@", "@", theirs)
        if ours == theirs:
            return True
        ol, od = ours.split("@", 1)
        tl, td = theirs.split("@", 1)
        if ol != tl:
            return False
        return abs(od.count(".") - td.count(".")) == 1 and (od.endswith(f".{td}") or td.endswith(f".{od}"))


def _link_mid(url: str) -> str | None:
    m = re.search(r"^https?://[^@]+/([^/]+@[^/]+)", urllib.parse.unquote(url), re.IGNORECASE)
    return m.group(1).lower() if m else None


def make_trailer(name: str, value: str, extinfo: str | None = None) -> Trailer:
    """A trailer with its value normalised as b4 writes it (a person as
    ``Name <addr>``, a ``<mailto:...>`` left by an HTML mailer removed)."""
    if name.lower() in _UTILITY or "://" in value:
        return Trailer(name, value, "utility", None, extinfo)
    if not re.search(r"\S+@\S+\.\S+", value):
        return Trailer(name, value, "unknown", None, extinfo)
    if "<mailto:" in value:
        value = re.sub(r"<mailto:[^>]+>", "", value)
    m = re.match(r"^(.*?)\s*<([^>]+)>\s*$", value)
    addr = (m.group(1).strip(), m.group(2).strip()) if m else email.utils.parseaddr(value)
    if not (addr[0] or addr[1]):
        return Trailer(name, value, "unknown", None, extinfo)
    return Trailer(name, format_addrs([addr], header_safe=False), "person", addr, extinfo)


def find_trailers(body: str, *, followup: bool = False) -> tuple[list[Trailer], list[str]]:
    """The ``Name: value`` lines of *body* (above its signature) and the
    other lines; *followup*: the stricter rules for a reply (a person
    trailer must name an address, a link only in ``Link:``-like ones)."""
    body = body.split("\n-- \n", 1)[0].strip() + "\n"
    body = re.sub(r"^(\S+:\s+[\da-f]+\s+\([^)]+)\n([^\n]+\))", r"\1 \2", body, flags=re.MULTILINE)
    body = re.sub(r"^(\S+:\s+[^<]+)\n(<[^>]+>)$", r"\1 \2", body, flags=re.MULTILINE)
    trailers: list[Trailer] = []
    others: list[str] = []
    was_trailer = False
    for line in body.split("\n"):
        line = line.strip("\r")
        m = re.search(r"^\s*(\w\S+):\s+(\S.*)", line, re.IGNORECASE)
        if m:
            oname, ovalue = m.group(1), m.group(2)
            lname = oname.lower()
            if lname in _IGNORED or (others and lname in _HEADERS):
                continue
            if followup:
                if not lname.isascii():
                    continue
                if not re.search(r"\S+@\S+\.\S+", ovalue) and lname not in _NONPERSON:
                    continue
                if re.search(r"https?://", ovalue) and lname not in _LINKS:
                    continue
            if lname == "fixes" and not re.search(r"^[0-9a-f]{6,}", ovalue):
                continue
            extinfo = None
            mx = re.search(r"(.*\S+)(\s+#[^#]+)$", ovalue)
            if mx:
                ovalue, extinfo = mx.group(1), mx.group(2)
            was_trailer = True
            trailers.append(make_trailer(oname, ovalue, extinfo))
            continue
        if len(line) > 2 and was_trailer and re.search(r"^\s*\[[^]]+]\s*$", line):
            trailers[-1].extinfo = line
            was_trailer = False
            continue
        was_trailer = False
        others.append(line)
    return trailers, others


def followup_trailers(body: str, from_name: str, from_email: str, *, is_reply: bool) -> list[Trailer]:
    """The trailers a reply gives, as ``b4 am`` takes them: not patch
    metadata, and a person's only when that person sent the reply (same
    address, or same name).  *is_reply*: a ``Re:`` subject, or a message
    that refers to another and carries no diff."""
    found, _ = find_trailers(body, followup=True)
    if not found:
        return []
    if not is_reply and DIFF_RE.search(body):
        return []
    out = []
    fname = from_name.lower()
    for t in found:
        if t.lname in _NOT_FOLLOWUP:
            continue
        if t.kind != "person" or t.addr is None or t.email_eq(from_email):
            out.append(t)
            continue
        tname = t.addr[0].lower()
        ok = tname == fname
        if not ok and fname.find(",") > 0:
            ok = all(fname.find(c.strip()) >= 0 for c in fname.split(","))
        if ok:
            out.append(t)
    return out


def message_payload(msg: EmailMessage) -> str:
    """The first text/plain (or x-patch) part, decoded; a later part with
    a diff is preferred."""
    charset = msg.get_content_charset() or "utf-8"
    body: str | None = None
    for part in msg.walk():
        ct = part.get_content_type()
        if "/plain" not in ct and "/x-patch" not in ct:
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        pcs = part.get_content_charset() or charset
        try:
            text = data.decode(pcs, errors="replace")
            charset = pcs
        except LookupError:
            text = data.decode("utf-8", errors="replace")
            charset = "utf-8"
        if body is None or DIFF_RE.search(text):
            body = text
    return body or ""


def _body_parts(body: str) -> tuple[list[Trailer], str, list[Trailer], str, str]:
    """(in-body headers, message, trailers, below ``---``, signature)."""
    body = body.replace("\r", "").strip("\n")
    githeaders: list[Trailer] = []
    basement = signature = ""
    sparts = body.rsplit("\n-- \n", 1)
    if len(sparts) > 1:
        body, signature = sparts[0], sparts[1]
    parts = [body]
    if DIFF_RE.search(body) or DIFFSTAT_RE.search(body):
        parts = re.split(r"^---\s*\n", body, maxsplit=1, flags=re.MULTILINE)
        if len(parts) == 2:
            basement = parts[1]
        elif "\ndiff " in body:
            parts = body.split("\ndiff ", 1)
            parts[1] = "diff " + parts[1]
            basement = parts[1]
        elif "\n--- a/" in body:
            parts = body.split("\n--- a/", 1)
            parts[1] = "--- a/" + parts[1]
            basement = parts[1]
    paras = parts[0].strip("\n").split("\n\n")
    mparts: list[str] = []
    heads, other = find_trailers(paras[0])
    if other:
        mparts.append(paras[0])
    else:
        githeaders = heads
    trailers, nlines = find_trailers(paras[-1])
    if len(paras) == 1:
        if [t.text() for t in githeaders] == [t.text() for t in trailers]:
            githeaders = []
        return githeaders, "\n".join(nlines) if nlines else "", trailers, basement, signature
    mparts += paras[1:-1]
    if nlines:
        mparts.append("\n".join(nlines))
    return githeaders, "\n\n".join(mparts), trailers, basement, signature


def _rebuild(heads: list[Trailer], message: str, trailers: list[Trailer], basement: str, signature: str) -> str:
    body = ""
    if heads:
        body += "".join(t.text(omit_extinfo=True) + "\n" for t in heads) + "\n"
    if message:
        body += message.rstrip("\r\n") + "\n"
        if trailers:
            body += "\n"
    body += "".join(t.text() + "\n" for t in trailers)
    if basement:
        if not trailers:
            body += "\n"
        plain_diff = basement.strip().startswith("diff --git") or basement.lstrip().startswith("--- ")
        body += "---\n" if DIFFSTAT_RE.search(basement) or not plain_diff else "\n"
        body += basement.lstrip("\r\n") + "\n"
    if signature:
        body += "-- \n" + signature.rstrip("\r\n") + "\n"
    return body


def with_trailers(body: str, new: list[Trailer]) -> str:
    """*body* with its trailer block written again and *new* added after
    it (those not already there)."""
    heads, message, have, basement, signature = _body_parts(body)
    for t in new:
        if not any(t.same(h) for h in have):
            have.append(t)
    return _rebuild(heads, message, have, basement, signature)


@dataclass(frozen=True, slots=True)
class SubjectInfo:
    rfc: bool
    revision: int | None  # None: not in the subject
    counters: tuple[int, int] | None


def subject_info(subject: str) -> SubjectInfo:
    """What ``[RFC PATCH v2 3/7]`` says, read as b4 reads it."""
    subject = re.sub(r"\s+", " ", clean_header(subject)).strip()
    if re.search(r"^(Re|Aw|Fwd):", subject, re.IGNORECASE) or re.search(r"^\w{2,3}:\s*\[", subject):
        subject = re.sub(r"^\w{2,3}:\s*\[", "[", subject)
    while True:
        old = subject
        subject = re.sub(r"\[([^]]*)\[([^\[\]]*)]", r"[\1\2]", subject)
        subject = re.sub(r"\[([^]]*)]([^\[\]]*)]", r"[\1\2]", subject)
        if old == subject:
            break
    rfc, revision, counters = False, None, None
    while subject.startswith("["):
        m = re.search(r"^\[([^]]*)]", subject)
        if not m:
            break
        inner = re.sub(r"(patch)(v\d+)", r"\1 \2", m.group(1).strip(), flags=re.IGNORECASE)
        for chunk in inner.split():
            chunk = chunk.strip(",;")
            if re.search(r"^\d{1,4}/\d{1,4}$", chunk):
                a, b = chunk.split("/")
                counters = (int(a), int(b))
            elif re.search(r"^v\d+$", chunk, re.IGNORECASE):
                revision = int(chunk[1:])
            elif chunk.lower().startswith("rfc"):
                rfc = True
        subject = re.sub(r"^\s*\[[^]]*]\s*", "", subject)
    return SubjectInfo(rfc, revision, counters)


def am_subject(full: str, title: str, revision: int | None = None) -> str:
    """``[PATCH RFC vN M/N] title`` as b4 writes it (*revision*: the
    version a patch taken into a partial reroll is written as)."""
    si = subject_info(full)
    rev = revision if revision is not None else si.revision
    parts = ["PATCH"] + (["RFC"] if si.rfc else []) + ([f"v{rev}"] if rev is not None else [])
    if si.counters is not None:
        parts.append(f"{si.counters[0]}/{si.counters[1]}")
    return f"[{' '.join(parts)}] {title}"


def _wrap(name: str, value: str, width: int = 75) -> str:
    if name.lower() in ("to", "cc", "from", "x-original-from"):
        line = f"{name}: "
        lines: list[str] = []
        for i, pair in enumerate(email.utils.getaddresses([value])):
            one = format_addrs([pair], clean=True)
            if i == 0:
                line += one
            elif len(line + ", " + one) > width:
                lines.append(line + ", ")
                line = one
            else:
                line += ", " + one
        return "\n ".join([*lines, line])
    text = f"{name}: " + (clean_header(value) if "?=" in value else value)
    if len(text) <= width:
        return text
    wrapped = textwrap.wrap(
        text.replace(": ", ":_", 1), break_long_words=False, break_on_hyphens=False, subsequent_indent=" ", width=width
    )
    return "\n".join(wrapped).replace(":_", ": ", 1)


def _mailinfo(tmp: Path, mbox: bytes) -> tuple[dict[str, str], bytes, bytes]:
    m, p = tmp / "m", tmp / "p"
    try:
        got = subprocess.run(
            ["git", "mailinfo", "--encoding=UTF-8", "--scissors", str(m), str(p)],
            input=mbox, capture_output=True, timeout=MAILINFO_TIMEOUT, check=False,
            env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull},
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        raise PubinboxError(f"git mailinfo: {e}") from e
    info: dict[str, str] = {}
    for line in got.stdout.decode("utf-8", "replace").split("\n"):
        line = line.strip()
        if line:
            k, _, v = line.partition(":")
            info[k] = v.strip()
    if not info:
        raise PubinboxError("git mailinfo found nothing in this message")
    return info, m.read_bytes(), p.read_bytes()


def am_patch(raw: bytes, trailers: list[Trailer], tmp: Path, revision: int | None = None) -> bytes:
    """One patch (*raw*: the message as archived) as ``b4 am`` writes it,
    *trailers* (from replies, the cover letter's, a Link) added; *tmp*: a
    scratch directory; *revision*: see :func:`am_subject`.  Raises PubinboxError when git cannot read it."""
    msg = _PARSER.parsebytes(raw)
    body = message_payload(msg)
    hdr = {k: clean_header(str(msg[k])) if msg[k] is not None else "" for k in ("From", "Date", "Subject")}
    mid = _clean_mid(msg)
    # what b4 hands to git mailinfo: the three headers, the text as 8-bit
    # UTF-8, "From " lines quoted as Python's generator does
    text = re.sub(r"^From ", ">From ", body, flags=re.MULTILINE)
    head = "".join(f"{k}: {v}\n" for k, v in hdr.items())
    mbox = (
        b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + head.encode("utf-8", "surrogateescape")
        + b'MIME-Version: 1.0\nContent-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: 8bit\n\n'
        + text.encode("utf-8", "surrogateescape")
    )  # fmt: skip
    info, m, p = _mailinfo(tmp, mbox)
    body = with_trailers(m.decode("utf-8", "replace") + p.decode("utf-8", "replace"), trailers)
    out = EmailMessage()
    out.add_header("Subject", am_subject(hdr["Subject"], info.get("Subject", ""), revision))
    out.add_header("From", format_addrs([(info.get("Author", ""), info.get("Email", "None"))]))
    out.add_header("Date", info.get("Date", "None"))
    out.add_header("Message-Id", f"<{mid}>")
    data = body.encode("utf-8", "surrogateescape")
    cte = "7bit" if data.isascii() else "8bit"
    lines = [_wrap(k, str(v)) for k, v in out.items()]
    lines += ["MIME-Version: 1.0", 'Content-Type: text/plain; charset="utf-8"', f"Content-Transfer-Encoding: {cte}"]
    head_b = ("\n".join(lines) + "\n\n").encode("utf-8", "surrogateescape")
    return SEPARATOR + head_b + b"".join(re.sub(rb"[\r\n]*$", b"", ln) + b"\n" for ln in data.split(b"\n"))


def _clean_mid(msg: EmailMessage) -> str:
    raw = next((str(v) for k, v in msg.raw_items() if k.lower() == "message-id"), None)
    for value in (raw, msg.get("Message-Id")):
        if value is None:
            continue
        m = re.search(r"<([^>]+)>", str(value))
        if m:
            return m.group(1).strip()
    return str(msg.get("Message-Id") or "").strip().strip("<>")


def am_mbox(patches: list[tuple[bytes, list[Trailer], int | None]]) -> bytes:
    """Every patch (raw message, trailers to add, version to write) in one
    mbox for ``git am``."""
    with tempfile.TemporaryDirectory(prefix="pubinbox-am-") as d:
        return b"".join(am_patch(raw, t, Path(d), rev) for raw, t, rev in patches)
