"""The figures of issue 17 counted again without pubinbox: the messages
straight from an epoch's git (``git cat-file --batch``), read with Python's
``email`` package, counted in plain Python by the rules the stats page
states.  Only the patch rule and the person key are written the same way
on purpose (they are definitions, not data)."""

from __future__ import annotations

import datetime as dt
import email
import email.header
import email.policy
import email.utils
import hashlib
import math
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DAY = 86400
SLACK = 7 * DAY
_REPLY = re.compile(r"\A\s*(?:(?:re|aw|sv|fw|fwd|odp|vs)\s*(?:\[[0-9]+\])?\s*:\s*)+", re.IGNORECASE)
_LEAD = re.compile(r"\A\s*\[([^\[\]]{0,200})\]\s*")
_ID = re.compile(r"<([^<>\s]+)>")
_VIA = re.compile(r"\A(.+?) via [^<>@]+\Z")
_TRAILER = re.compile(r"^(Reviewed-by|Acked-by|Tested-by)\s*:\s*(\S.{0,300}?)\s*$", re.IGNORECASE)


@dataclass
class Msg:
    mid: str
    ds: int
    ts: int
    subject: str
    from_name: str
    from_addr: str
    refs: list[str]
    trailers: list[tuple[str, str, str]]  # (kind, name, address) of review trailers the sender gave


def _text(v: Any) -> str:
    if v is None:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(str(v))))
    except Exception:  # noqa: BLE001
        return str(v)


def _date(v: str | None) -> int | None:
    if not v:
        return None
    try:
        t = email.utils.parsedate_tz(v)
        return None if t is None else int(email.utils.mktime_tz(t))
    except (ValueError, OverflowError, TypeError):
        return None


def _received(msg: email.message.Message) -> int | None:
    for r in msg.get_all("Received") or []:
        got = _date(str(r).rpartition(";")[2].strip())
        if got is not None:
            return got
    return None


def is_patch(subject: str) -> bool:
    if not subject or _REPLY.match(subject):
        return False
    rest = subject
    for _ in range(4):
        m = _LEAD.match(rest)
        if m is None:
            return False
        if re.search(r"(?:\A|[\s,])(?:RFC|PATCH)", m.group(1), re.IGNORECASE):
            return True
        rest = rest[m.end() :]
    return False


def key(name: str, addr: str) -> str:
    m = _VIA.match(name)
    return "via:" + m.group(1).strip().strip('"').lower() if m else addr


def _body(msg: email.message.Message) -> str:
    for part in msg.walk():
        if part.is_multipart() or part.get_content_type() == "text/html":
            continue
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        try:
            return payload.decode(part.get_content_charset() or "utf-8", "replace")
        except LookupError:  # a junk charset name
            return payload.decode("utf-8", "replace")
    return ""


def _norm(name: str, addr: str) -> str:
    """A name as people are told apart by it: comments, quotes and case
    dropped; none (or an address) is the address's local part."""
    n = " ".join(re.sub(r"\([^()]*\)", " ", name).replace('"', "").split()).lower()
    return addr.split("@")[0].lower() if not n or "@" in n else n


def _same_name(n1: str, a1: str, n2: str, a2: str) -> bool:
    return _norm(n1, a1) == _norm(n2, a2)


def _trailers(msg: email.message.Message, name: str, addr: str) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for line in _body(msg).splitlines():
        if line.rstrip() == "--" or line.startswith(("diff --git ", "---")):
            break
        if line.startswith(">"):
            continue
        m = _TRAILER.match(line)
        if m is None:
            continue
        tname, taddr = email.utils.parseaddr(m.group(2))
        taddr = taddr.lower()
        if "@" not in taddr:
            continue
        tname = " ".join(tname.split())
        t = (m.group(1).lower(), tname, taddr)
        if (taddr == addr or _same_name(tname, taddr, name, addr)) and t not in out:
            out.append(t)
    return out


def _squeeze(values: list[Any] | None) -> str:
    return "\0".join(" ".join(str(v).replace('"', "").split()) for v in values or [])


def _parts(msg: email.message.Message) -> str:
    h = hashlib.sha1()
    for part in msg.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            h.update(payload.replace(b"\r\n", b"\n").rstrip() if isinstance(payload, bytes) else b"")
    return h.hexdigest()


def read_epoch(git_dir: Path) -> list[Msg]:
    """Every message of an epoch in commit order (exact copies once)."""
    revs = subprocess.run(
        ["git", "-C", str(git_dir), "log", "--reverse", "--format=%H %ct"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    commits = [r.split() for r in revs if r]
    cat = subprocess.Popen(
        ["git", "-C", str(git_dir), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert cat.stdin is not None and cat.stdout is not None
    out: list[Msg] = []
    seen: set[bytes] = set()
    copies: set[tuple[str, ...]] = set()
    for h, ct in commits:
        cat.stdin.write(f"{h}:m\n".encode())
        cat.stdin.flush()
        head = cat.stdout.readline().split()
        if head[1] == b"missing":
            continue
        raw = cat.stdout.read(int(head[2]) + 1)[:-1]
        if head[0] in seen:
            continue
        seen.add(head[0])
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        mids = _ID.findall(str(msg.get("Message-ID") or ""))
        if mids:  # the same message delivered twice (other Received:, same content): counted once
            copy = (mids[0], *(_squeeze(msg.get_all(h)) for h in ("From", "To", "Cc", "Subject", "Date")), _parts(msg))
            if copy in copies:
                continue
            copies.add(copy)
        ds = _date(msg.get("Date"))
        rcv = _received(msg)
        ds_ = ds if ds is not None else rcv if rcv is not None else int(ct)
        ts_ = rcv if rcv is not None else ds if ds is not None else int(ct)
        name, addr = email.utils.parseaddr(_text(msg.get("From")))
        name = " ".join(name.split()) or addr.split("@")[0]
        refs = _ID.findall(str(msg.get("References") or "")) + _ID.findall(str(msg.get("In-Reply-To") or ""))
        mid = mids[0] if mids else f"none-{h}"
        refs = [r for r in refs if r != mid]
        subject = _text(msg.get("Subject"))
        tr = _trailers(msg, name, addr.lower()) if refs and not is_patch(subject) else []
        out.append(Msg(mid, ds_, ts_, subject, name, addr.lower(), refs, tr))
    cat.stdin.close()
    cat.stdout.close()
    cat.wait()
    return out


def figures(msgs: list[Msg], now: int | None = None) -> dict[str, Any]:
    """months (messages, threads, patches, replies), span, top 20 posters and reviewers of the default period."""
    now = int(time.time()) if now is None else now
    plausible = [m.ts for m in msgs if 315532800 <= m.ts <= now + DAY]
    lo, hi = min(plausible), max(plausible)
    months: dict[str, list[int]] = {}
    outside = 0
    eff: list[int] = []
    for m in msgs:
        d = m.ds
        if d < lo - SLACK:
            d, outside = lo, outside + 1
        elif d > hi + SLACK:
            d, outside = hi, outside + 1
        eff.append(d)
        mo = dt.datetime.fromtimestamp(d, dt.UTC).strftime("%Y-%m")
        row = months.setdefault(mo, [0, 0, 0])
        row[0] += 1
        row[1] += not m.refs
        row[2] += is_patch(m.subject)
    newest = max(eff)
    since = newest - 365 * DAY
    posters: dict[str, int] = {}
    reviewers: dict[str, int] = {}
    for m, d in zip(msgs, eff, strict=True):
        if d < since:
            continue
        k = key(m.from_name, m.from_addr)
        posters[k] = posters.get(k, 0) + 1
        for _k, _n, a in m.trailers:
            reviewers[a] = reviewers.get(a, 0) + 1
    return {
        "outside": outside,
        "months": {k: tuple(v) for k, v in months.items()},
        "posters": posters,
        "reviewers": reviewers,
    }


def first_reply(msgs: list[Msg], now: int | None = None) -> dict[str, tuple[int, int, int, int, float | None]]:
    """Per quarter: (patches starting a thread, answered, old enough, no
    reply within 30 days, median hours to the first reply); threads are the messages joined by their
    References/In-Reply-To (the overview's threading, without subjects)."""
    now = int(time.time()) if now is None else now
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    for m in msgs:
        for r in m.refs:
            a, b = find(m.mid), find(r)
            if a != b:
                parent[a] = b
    plausible = [m.ts for m in msgs if 315532800 <= m.ts <= now + DAY]
    lo, hi = min(plausible), max(plausible)
    by_root: dict[str, list[Msg]] = {}
    for m in msgs:
        by_root.setdefault(find(m.mid), []).append(m)
    out: dict[str, list[int]] = {}
    waits: dict[str, list[int]] = {}
    for m in msgs:
        if m.refs or not is_patch(m.subject):
            continue
        d = min(max(m.ds, lo), hi) if not lo - SLACK <= m.ds <= hi + SLACK else m.ds
        t = dt.datetime.fromtimestamp(d, dt.UTC)
        row = out.setdefault(f"{t.year:04d}Q{(t.month - 1) // 3 + 1}", [0, 0, 0, 0])
        me = key(m.from_name, m.from_addr)
        replies = [
            r.ts
            for r in by_root[find(m.mid)]
            if r is not m and r.ts >= m.ts and not is_patch(r.subject) and key(r.from_name, r.from_addr) != me
        ]
        wait = min(replies) - m.ts if replies else None
        row[0] += 1
        row[1] += wait is not None
        if wait is not None:
            waits.setdefault(f"{t.year:04d}Q{(t.month - 1) // 3 + 1}", []).append(wait)
        if m.ts <= hi - 30 * DAY:
            row[2] += 1
            row[3] += wait is None or wait > 30 * DAY
    med: dict[str, float | None] = {}
    for k in out:
        w = sorted(waits.get(k, []))
        med[k] = round(w[math.ceil(len(w) / 2) - 1] / 3600, 1) if w else None
    return {k: (v[0], v[1], v[2], v[3], med[k]) for k, v in out.items()}
