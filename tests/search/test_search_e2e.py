"""Full-text search end to end on the sample archive (295 real linux-erofs mails).

The sample is imported with ``pubinbox import`` into an inbox at ``-L full``;
then every prefix and operator of the query language (REFERENCE §5) is run
through :class:`pubinbox.search.reader.Searcher` and the hits are compared with
what an independent oracle finds by reading the messages themselves with the
standard library (``email``, regular expressions, ``git patch-id --stable``):
never with the engine's own extraction code.

Word matching in the oracle follows Xapian's rules (a word is a run of word
characters, ``_`` included, compared case-insensitively); the English stems
are spelled out (``folios?``) where a word has inflected forms in the sample
and the query stems it (a lower-case word); phrases, quoted words and
capitalised words match the words as written (Xapian's STEM_SOME).

Also: a message is searchable as soon as ``mda``/``import`` returns,
indexlevels ``medium`` (positions only where public-inbox keeps them) and
``basic`` (no search index), rebuilding with ``index --reindex``, after the
search directory was deleted, or after it was corrupted (``mda`` still stores
mail), malformed and over-broad queries (``QueryError``, quickly).
"""

from __future__ import annotations

import calendar
import datetime as dt
import email
import email.header
import email.policy
import email.utils
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pubinbox.errors import QueryError
from pubinbox.mail.mbox import iter_mbox
from pubinbox.search.query import MAX_QUERY_CHARS
from pubinbox.search.reader import Searcher
from tests.conftest import SAMPLE_MBOX
from tests.helpers import run_cli

# ---------------------------------------------------------------------------
# the oracle: what each message holds, read with the standard library


@dataclass
class Msg:
    num: int
    mid: str
    raw: bytes
    subject: str = ""
    from_: str = ""
    to: str = ""
    cc: str = ""
    listid: str = ""
    ds: int = 0  # Date:, unix seconds
    ts: int = 0  # first Received:, unix seconds
    size: int = 0  # bytes as stored (public-inbox drops Delivered-To/X-Original-To), CRLF-counted
    body: str = ""  # every text part, decoded
    quoted: str = ""  # lines starting with '>'
    unquoted: str = ""
    filenames: list[str] = field(default_factory=list)
    dfn: set[str] = field(default_factory=set)
    dfa: list[str] = field(default_factory=list)
    dfb: list[str] = field(default_factory=list)
    dfctx: list[str] = field(default_factory=list)
    dfhh: list[str] = field(default_factory=list)
    pre: set[str] = field(default_factory=set)
    post: set[str] = field(default_factory=set)
    patchid: str | None = None


def _hdr(m: email.message.Message, name: str) -> str:
    vals = m.get_all(name) or []
    out = []
    for v in vals:
        try:
            out.append(str(email.header.make_header(email.header.decode_header(str(v)))))
        except (UnicodeError, LookupError, email.errors.HeaderParseError):
            out.append(str(v))
    return ", ".join(out)


_DIFF_GIT = re.compile(r"^diff --git a/(\S+) b/(\S+)$")
_INDEX = re.compile(r"^index ([0-9a-f]{7,})\.\.([0-9a-f]{7,})")
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?(.*)$")


def _parse_diffs(msg: Msg) -> None:
    in_hunk = False
    for line in msg.unquoted.split("\n"):
        m = _DIFF_GIT.match(line)
        if m:
            msg.dfn.update(m.groups())
            in_hunk = False
            continue
        m = _INDEX.match(line)
        if m:
            msg.pre.add(m[1])
            msg.post.add(m[2])
            continue
        m = _HUNK.match(line)
        if m:
            msg.dfhh.append(m[1])
            in_hunk = True
            continue
        if not in_hunk:
            continue
        if line.startswith("-") and not line.startswith("--- "):
            msg.dfa.append(line[1:])
        elif line.startswith("+") and not line.startswith("+++ "):
            msg.dfb.append(line[1:])
        elif line.startswith(" "):
            msg.dfctx.append(line[1:])
        elif line == "":
            continue
        else:
            in_hunk = False


def _patch_id(raw: bytes) -> str | None:
    p = subprocess.run(["git", "patch-id", "--stable"], input=raw, capture_output=True, check=True)
    out = p.stdout.split()
    return out[0].decode() if out else None


def load_sample(path: Path = SAMPLE_MBOX) -> list[Msg]:
    msgs: list[Msg] = []
    with open(path, "rb") as f:
        for raw in iter_mbox(f):
            m = email.message_from_bytes(raw, policy=email.policy.compat32)
            mid = re.search(r"<([^>]+)>", m["Message-ID"])
            assert mid is not None
            rec = (m.get_all("Received") or [""])[0]
            kept = b"".join(
                line
                for line in raw.splitlines(keepends=True)
                if not re.match(rb"(?i)(delivered-to|x-original-to):", line)
            )
            msg = Msg(
                num=len(msgs) + 1,
                mid=mid[1],
                raw=raw,
                subject=_hdr(m, "Subject"),
                from_=_hdr(m, "From"),
                to=_hdr(m, "To"),
                cc=_hdr(m, "Cc"),
                listid=_hdr(m, "List-Id"),
                ds=int(email.utils.parsedate_to_datetime(m["Date"]).timestamp()),
                ts=int(email.utils.parsedate_to_datetime(rec.rsplit(";", 1)[1].strip()).timestamp()),
                # as public-inbox's z: (IMAP RFC822.SIZE): with CRLF line ends
                size=len(kept) + kept.count(b"\n") - kept.count(b"\r\n"),
            )
            texts = []
            for part in m.walk():
                if part.is_multipart():
                    continue
                if part.get_filename():
                    msg.filenames.append(part.get_filename())
                ct = part.get_content_type()
                if not ct.startswith("text/") or ct == "text/html":
                    continue
                payload = part.get_payload(decode=True) or b""
                texts.append(payload.decode(part.get_content_charset() or "utf-8", errors="replace"))
            msg.body = "\n".join(texts).replace("\r\n", "\n")
            lines = msg.body.split("\n")
            msg.quoted = "\n".join(x for x in lines if x.startswith(">"))
            msg.unquoted = "\n".join(x for x in lines if not x.startswith(">"))
            _parse_diffs(msg)
            if re.search(r"^diff --git ", msg.unquoted, re.MULTILINE):
                msg.patchid = _patch_id(raw)
            msgs.append(msg)
    return msgs


def has_word(text: str | Iterable[str], word: str) -> bool:
    """*word* (a regex for one word, e.g. ``folios?``) appears as a whole word."""
    if not isinstance(text, str):
        text = "\n".join(text)
    return re.search(rf"(?<!\w)(?:{word})(?!\w)", text, re.IGNORECASE) is not None


def has_phrase(text: str | Iterable[str], *words: str) -> bool:
    if not isinstance(text, str):
        text = "\n".join(text)
    pat = r"\W+".join(f"(?:{w})" for w in words)
    return re.search(rf"(?<!\w){pat}(?!\w)", text, re.IGNORECASE) is not None


def _diff_text(m: Msg) -> list[str]:
    return m.dfa + m.dfb + m.dfctx + m.dfhh + sorted(m.dfn)


# ---------------------------------------------------------------------------
# fixtures


def _env(home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PI_CONFIG": str(home / "pi.config"),
        "PI_EMERGENCY": str(home / "emergency"),
        "TZ": "UTC",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
    }


def make_inbox(tmp: Path, level: str, *, mbox: Path | None = SAMPLE_MBOX) -> tuple[Path, dict[str, str]]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / ".gitconfig").write_bytes(b"")
    env = _env(tmp)
    d = tmp / "inbox"
    run_cli("init", "-L", level, "test", str(d), "http://example.com/test", "test@example.com", env=env, check=True)
    with open(env["PI_CONFIG"], "a") as f:
        f.write("[publicinboxmda]\n\tspamcheck = none\n")
    if mbox is not None:
        p = run_cli("import", "test", str(mbox), env=env, check=True)
        assert b"added 295" in p.stdout + p.stderr, p
    return d, env


@pytest.fixture(scope="module")
def sample() -> list[Msg]:
    return load_sample()


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = make_inbox(tmp_path_factory.mktemp("full"), "full")[0]
    return d


@pytest.fixture(scope="module")
def searcher(full: Path) -> Searcher:
    return Searcher(full / "pubinbox", "full")


def hits(s: Searcher, q: str, **kw: object) -> set[int]:
    r = s.search(q, limit=10_000, **kw)  # type: ignore[arg-type]
    assert r.total == len(r.nums), (q, r.total, len(r.nums))
    return set(r.nums)


def want(sample: list[Msg], pred: Callable[[Msg], bool]) -> set[int]:
    return {m.num for m in sample if pred(m)}


def check(s: Searcher, sample: list[Msg], q: str, pred: Callable[[Msg], bool], *, at_least: int = 1) -> set[int]:
    got = hits(s, q)
    exp = want(sample, pred)
    assert len(exp) >= at_least, f"oracle for {q!r} found only {len(exp)}: pick another example"
    by_num = {m.num: m.mid for m in sample}
    assert got == exp, (
        f"{q!r}: {len(got)} hits, oracle {len(exp)}; "
        f"extra {[by_num.get(n, n) for n in sorted(got - exp)][:5]}, "
        f"missing {[by_num[n] for n in sorted(exp - got)][:5]}"
    )
    return got


# ---------------------------------------------------------------------------
# the sample itself


def test_sample_is_what_the_oracle_expects(sample: list[Msg], full: Path) -> None:
    assert len(sample) == 295
    assert len({m.mid for m in sample}) == 295  # one number per message, in order
    assert sum(1 for m in sample if m.patchid) > 50
    assert (full / "pubinbox" / "search" / "meta.json").is_file()


def test_order_and_totals(searcher: Searcher, sample: list[Msg]) -> None:
    """Newest first by received time; pages; the total counts every hit."""
    r = searcher.search("l:linux-erofs", limit=10)
    assert r.total == 295
    ts = {m.num: m.ts for m in sample}
    everything = searcher.search("l:linux-erofs", limit=1000).nums
    assert [ts[n] for n in everything] == sorted((ts[n] for n in everything), reverse=True)
    assert r.nums == everything[:10]
    assert searcher.search("l:linux-erofs", offset=290, limit=10).nums == everything[290:]
    rel = searcher.search("folio", relevance=True, limit=1000)
    assert set(rel.nums) == set(searcher.search("folio", limit=1000).nums)


# ---------------------------------------------------------------------------
# header prefixes


def test_subject(searcher: Searcher, sample: list[Msg]) -> None:
    check(searcher, sample, "s:erofs", lambda m: has_word(m.subject, "erofs"), at_least=100)
    check(searcher, sample, "s:RFC", lambda m: has_word(m.subject, "rfc"))
    # stems: s:decompress also finds decompression/decompressed
    check(searcher, sample, "s:decompress", lambda m: has_word(m.subject, "decompress(?:ion|ed|es|ing)?"))


def test_from_to_cc(searcher: Searcher, sample: list[Msg]) -> None:
    check(searcher, sample, "f:hsiangkao@linux.alibaba.com", lambda m: "hsiangkao@linux.alibaba.com" in m.from_)
    check(searcher, sample, "f:brauner", lambda m: has_word(m.from_, "brauner"))
    check(searcher, sample, "f:Christian", lambda m: has_word(m.from_, "christian"))
    check(
        searcher, sample, 't:"linux-erofs@lists.ozlabs.org"', lambda m: "linux-erofs@lists.ozlabs.org" in m.to.lower()
    )
    check(searcher, sample, "c:linux-fsdevel", lambda m: "linux-fsdevel" in m.cc.lower())
    check(searcher, sample, "tc:linux-fsdevel", lambda m: "linux-fsdevel" in (m.to + m.cc).lower())
    check(searcher, sample, "a:brauner", lambda m: has_word(m.to + "\n" + m.cc + "\n" + m.from_, "brauner"))
    check(searcher, sample, "tcf:brauner", lambda m: has_word(m.to + "\n" + m.cc + "\n" + m.from_, "brauner"))
    # bare words do not search To/Cc: only messages *from* brauner or naming him elsewhere
    assert hits(searcher, "brauner") < hits(searcher, "a:brauner") | hits(searcher, "brauner")


def test_list_id_and_message_id(searcher: Searcher, sample: list[Msg]) -> None:
    everything = {m.num for m in sample}
    assert hits(searcher, "l:linux-erofs") == everything
    assert hits(searcher, "l:ozlabs") == everything
    assert hits(searcher, "lid:linux-erofs.lists.ozlabs.org") == everything
    assert hits(searcher, "lid:<linux-erofs.lists.ozlabs.org>") == everything
    assert hits(searcher, "lid:LINUX-EROFS.lists.ozlabs.org") == everything
    assert hits(searcher, "lid:linux-erofs") == set()  # exact, not words
    m = next(x for x in sample if x.mid.startswith("20260615051016"))
    assert hits(searcher, f"mid:{m.mid}") == {m.num}
    assert hits(searcher, f"mid:<{m.mid}>") == {m.num}
    assert hits(searcher, f'mid:"{m.mid}"') == {m.num}
    assert hits(searcher, "mid:20260615051016") == set()  # exact
    check(searcher, sample, "m:hsiangkao", lambda x: has_word(x.mid, "hsiangkao"))
    check(searcher, sample, "m:lst.de", lambda x: x.mid.endswith("@lst.de"))


# ---------------------------------------------------------------------------
# body prefixes


def test_body_prefixes(searcher: Searcher, sample: list[Msg]) -> None:
    word = "deadlock(?:s|ed|ing)?"
    check(searcher, sample, "b:deadlock", lambda m: has_word(m.body, word))
    check(searcher, sample, "bs:deadlock", lambda m: has_word(m.body + "\n" + m.subject, word))
    check(searcher, sample, "nq:deadlock", lambda m: has_word(m.unquoted, word))
    check(searcher, sample, "q:deadlock", lambda m: has_word(m.quoted, word))
    # a word only in subjects: bs finds it, b does not
    assert hits(searcher, "bs:erofs") >= hits(searcher, "s:erofs")
    check(searcher, sample, "n:signature.asc", lambda m: "signature.asc" in m.filenames, at_least=3)


def test_diff_prefixes(searcher: Searcher, sample: list[Msg]) -> None:
    check(searcher, sample, "dfn:fs/erofs/zdata.c", lambda m: "fs/erofs/zdata.c" in m.dfn)
    check(searcher, sample, "dfn:Kconfig", lambda m: any(has_word(f, "kconfig") for f in m.dfn))
    check(searcher, sample, "dfa:EXPERIMENTAL", lambda m: has_word(m.dfa, "experimental"))
    check(searcher, sample, "dfb:EXPERIMENTAL", lambda m: has_word(m.dfb, "experimental"))
    check(searcher, sample, "dfhh:static", lambda m: has_word(m.dfhh, "static"), at_least=20)
    check(searcher, sample, "dfctx:goto", lambda m: has_word(m.dfctx, "goto"), at_least=20)


def test_blob_ids(searcher: Searcher, sample: list[Msg]) -> None:
    with_ids = [m for m in sample if m.pre]
    assert len(with_ids) > 20
    for m in with_ids[:: max(1, len(with_ids) // 12)]:
        pre = min(m.pre)
        post = min(m.post)
        for q, pred in (
            (f"dfpre:{pre}", lambda x, pre=pre: any(p.startswith(pre) for p in x.pre)),
            (f"dfpre:{pre[:7]}", lambda x, pre=pre: any(p.startswith(pre[:7]) for p in x.pre)),
            (f"dfpost:{post}", lambda x, post=post: any(p.startswith(post) for p in x.post)),
            (f"dfblob:{post[:8]}", lambda x, post=post: any(p.startswith(post[:8]) for p in x.pre | x.post)),
            (f"dfblob:{pre.upper()}", lambda x, pre=pre: any(p.startswith(pre) for p in x.pre | x.post)),
        ):
            check(searcher, sample, q, pred)


def test_patch_id(searcher: Searcher, sample: list[Msg]) -> None:
    pids = sorted({m.patchid for m in sample if m.patchid})
    assert len(pids) > 50
    for pid in pids[::5]:
        check(searcher, sample, f"patchid:{pid}", lambda m, pid=pid: m.patchid == pid)
    a, b = pids[0], pids[1]
    check(searcher, sample, f"patchid:{a} OR patchid:{b}", lambda m: m.patchid in (a, b), at_least=2)
    # b4 dig: patchid:X AND d:..YYYYMMDD
    m = next(x for x in sample if x.patchid == a)
    day = dt.datetime.fromtimestamp(m.ds, dt.UTC).strftime("%Y%m%d")
    assert m.num in hits(searcher, f"patchid:{a} AND d:..{day}")


# ---------------------------------------------------------------------------
# bare words, phrases, operators, wildcards


def _default_text(m: Msg) -> str:
    # bare words: Message-ID, Subject, From, quoted text, attachment names, body, diffs (not To/Cc)
    return "\n".join([m.mid, m.subject, m.from_, m.body, *m.filenames])


def test_bare_words_and_phrases(searcher: Searcher, sample: list[Msg]) -> None:
    check(searcher, sample, "deadlock", lambda m: has_word(_default_text(m), "deadlock(?:s|ed|ing)?"))
    # capitalised or quoted: the word as written, not its stem
    check(searcher, sample, "DEADLOCK", lambda m: has_word(_default_text(m), "deadlock"))
    check(searcher, sample, "Deadlocks", lambda m: has_word(_default_text(m), "deadlocks"))
    check(searcher, sample, '"deadlocks"', lambda m: has_word(_default_text(m), "deadlocks"))
    assert hits(searcher, "DEADLOCK") < hits(searcher, "deadlock")
    # a phrase: adjacent words as written in one field
    page_cache = ("use", "after", "free")
    got = check(searcher, sample, 'nq:"use after free"', lambda m: has_phrase(m.unquoted, *page_cache), at_least=2)
    # bare: also Subject, and quoted text (with positions at -L full, as
    # public-inbox's XQUOT: adjacent words of one quoted block)
    assert hits(searcher, '"use after free"') >= got
    assert hits(searcher, '"use after free"') == want(
        sample, lambda m: has_phrase(m.subject + "\n" + m.unquoted + "\n" + m.quoted, *page_cache)
    )
    quoted = check(searcher, sample, 'q:"use after free"', lambda m: has_phrase(m.quoted, *page_cache), at_least=2)
    # not just the words (or their stems) anywhere in quoted text
    assert quoted < want(sample, lambda m: all(has_word(m.quoted, w) for w in ("use[sd]?", "after", "free[sd]?")))
    check(searcher, sample, 's:"memory backed"', lambda m: has_phrase(m.subject, "memory", "backed"), at_least=3)
    check(searcher, sample, 'b:"page cache"', lambda m: has_phrase(m.body, "page", "cache"), at_least=3)
    check(searcher, sample, 'b:"folios"', lambda m: has_word(m.body, "folios"), at_least=3)
    check(searcher, sample, "b:Folios", lambda m: has_word(m.body, "folios"), at_least=3)
    assert hits(searcher, 'b:"folios"') < hits(searcher, "b:folios") == hits(searcher, "b:folio")
    # curly quotes work like straight ones
    assert hits(searcher, "s:\u201cmemory backed\u201d") == hits(searcher, 's:"memory backed"')
    # hyphenated and dotted values are phrases
    check(searcher, sample, "s:memory-backed", lambda m: has_phrase(m.subject, "memory", "backed"), at_least=3)
    # b4: nq:"change-id: X" (with and without the space)
    cid = "20260617-erofs-memback-0ae2448ba2cc"
    exp = want(sample, lambda m: bool(re.search(rf"^change-id: {cid}$", m.unquoted, re.MULTILINE)))
    assert exp
    assert hits(searcher, f'nq:"change-id: {cid}"') == exp
    assert hits(searcher, f'nq:"change-id:{cid}"') == exp
    assert hits(searcher, f'"change-id: {cid}"') >= exp


def test_operators(searcher: Searcher, sample: list[Msg]) -> None:
    def s(m: Msg) -> bool:
        return has_word(m.subject, "erofs")

    def f(m: Msg) -> bool:
        return has_word(m.from_, "brauner")

    check(searcher, sample, "s:erofs AND f:brauner", lambda m: s(m) and f(m))
    check(searcher, sample, "s:erofs f:brauner", lambda m: s(m) and f(m))  # default AND
    check(searcher, sample, "s:erofs OR f:brauner", lambda m: s(m) or f(m))
    check(searcher, sample, "s:erofs NOT f:brauner", lambda m: s(m) and not f(m))
    check(searcher, sample, "s:erofs AND NOT f:brauner", lambda m: s(m) and not f(m))
    check(searcher, sample, "s:erofs XOR f:brauner", lambda m: s(m) != f(m))
    check(searcher, sample, "+s:erofs -f:brauner", lambda m: s(m) and not f(m))
    check(searcher, sample, "s:erofs -f:brauner", lambda m: s(m) and not f(m))

    def g(m: Msg) -> bool:
        return has_word(m.from_, "hch") or "hch@lst.de" in m.from_

    check(searcher, sample, "(f:brauner OR f:hch@lst.de) AND s:erofs", lambda m: (f(m) or g(m)) and s(m))
    check(searcher, sample, "f:brauner OR f:hch@lst.de s:erofs", lambda m: f(m) or (g(m) and s(m)))
    check(searcher, sample, "s:(erofs iomap)", lambda m: s(m) and has_word(m.subject, "iomap"))
    # lower-case operators are words
    assert hits(searcher, "s:erofs and") == hits(searcher, "s:erofs AND and")


def test_wildcards(searcher: Searcher, sample: list[Msg]) -> None:
    check(searcher, sample, "s:decompr*", lambda m: has_word(m.subject, r"decompr\w*"))
    check(searcher, sample, "f:hsiang*", lambda m: has_word(m.from_, r"hsiang\w*"))
    check(searcher, sample, "s:mount*", lambda m: has_word(m.subject, r"mount\w*"))


# ---------------------------------------------------------------------------
# ranges


def _utc(s: str) -> int:
    return calendar.timegm(time.strptime(s, "%Y%m%d%H%M%S"))


def test_dates(searcher: Searcher, sample: list[Msg]) -> None:
    d0, d1 = _utc("20260615000000"), _utc("20260616000000")
    # d:YYYYMMDD is that UTC day only (public-inbox 1.9 also matches the
    # next day, REFERENCE §10.4: a quirk not copied)
    check(searcher, sample, "d:20260615", lambda m: d0 <= m.ds < d1)
    check(searcher, sample, "d:2026-06-15", lambda m: d0 <= m.ds < d1)
    check(searcher, sample, "d:20260615..20260616", lambda m: d0 <= m.ds < d1 + 86400)
    check(searcher, sample, "d:..20260616", lambda m: m.ds < d1 + 86400)
    check(searcher, sample, "d:20260701..", lambda m: m.ds >= _utc("20260701000000"))
    lo, hi = _utc("20260615000000"), _utc("20260615120000")
    check(searcher, sample, "dt:20260615000000..20260615120000", lambda m: lo <= m.ds <= hi)
    check(searcher, sample, "dt:20260701120000..", lambda m: m.ds >= _utc("20260701120000"))
    # rt: received time, unix seconds or a date
    cut = sorted(m.ts for m in sample)[200]
    check(searcher, sample, f"rt:{cut}..", lambda m: m.ts >= cut)
    check(searcher, sample, f"rt:..{cut}", lambda m: m.ts <= cut)
    check(searcher, sample, "rt:2026-07-01..", lambda m: m.ts >= _utc("20260701000000"))
    # b4's shapes
    m = next(x for x in sample if has_word(x.subject, "erofs") and "hsiangkao@" in x.from_)
    day = dt.datetime.fromtimestamp(m.ds, dt.UTC).strftime("%Y%m%d")
    end = _utc(day + "000000") + 86400
    check(
        searcher,
        sample,
        f'(s:"erofs" AND f:"hsiangkao@linux.alibaba.com" AND d:..{day})',
        lambda x: has_word(x.subject, "erofs") and "hsiangkao@linux.alibaba.com" in x.from_ and x.ds < end,
    )


def test_relative_dates_with_a_fixed_now(searcher: Searcher, sample: list[Msg]) -> None:
    now = _utc("20260720120000")
    for q, lo in (
        ("d:2.weeks.ago..", now - 14 * 86400),
        ("dt:10.days.ago..", now - 10 * 86400),
        ("rt:1.month.ago..", _utc("20260620120000")),
    ):
        attr = "ts" if q.startswith("rt") else "ds"
        exp = want(sample, lambda m, lo=lo, attr=attr: getattr(m, attr) >= lo)
        assert 0 < len(exp) < 295
        assert hits(searcher, q, now=now) == exp, q
    exp = want(sample, lambda m: _utc("20260719000000") <= m.ds < _utc("20260720000000"))
    assert hits(searcher, "d:yesterday", now=now) == exp


def test_size_and_uid(searcher: Searcher, sample: list[Msg]) -> None:
    sizes = sorted(m.size for m in sample)
    small = sizes[50]
    check(searcher, sample, f"z:..{small}", lambda m: m.size <= small)
    check(searcher, sample, f"z:{small}..", lambda m: m.size >= small)
    check(searcher, sample, f"z:{sizes[10]}", lambda m: m.size == sizes[10])
    check(searcher, sample, "uid:1..10", lambda m: m.num <= 10, at_least=10)
    check(searcher, sample, "uid:290..", lambda m: m.num >= 290)
    check(searcher, sample, "uid:7", lambda m: m.num == 7)
    check(searcher, sample, "uid:1..10 AND s:erofs", lambda m: m.num <= 10 and has_word(m.subject, "erofs"))


# ---------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    "q",
    [
        "",
        "   ",
        "foo AND",
        "AND foo",
        "NOT foo",
        "foo OR OR bar",
        "(foo",
        "foo)",
        "()",
        '"unbalanced',
        's:"unbalanced',
        "s:",
        "d:notadate",
        "d:20261399",
        "d:20260701..20260601",
        "uid:x",
        "z:1..y",
        "dfpre:xyz1234",
        "dfblob:abc",
        "patchid:nothex",
        "dfpre:abcdef1*",
        "x" * (MAX_QUERY_CHARS + 1),  # over the length budget
        "(" * 60 + "a" + ")" * 60,
    ],
)
def test_malformed_queries(searcher: Searcher, q: str) -> None:
    with pytest.raises(QueryError):
        searcher.search(q)


@pytest.mark.parametrize("q", ["a*", "s*", "e*", "b:a*", "b:c*", "dfb:s*", "nq:re*"])
def test_overbroad_wildcards_fail_fast(searcher: Searcher, q: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(QueryError):
        searcher.search(q)
    assert time.monotonic() - t0 < 2.0


# ---------------------------------------------------------------------------
# index life cycle


def _newmsg(n: int, word: str) -> bytes:
    return (
        f"From: Tester <tester@example.org>\nTo: test@example.com\n"
        f"Subject: [PATCH] fresh {word}\nDate: Mon, 20 Jul 2026 10:00:0{n} +0000\n"
        f"Message-ID: <fresh-{n}@example.org>\nList-Id: <linux-erofs.lists.ozlabs.org>\n\n"
        f"the {word} body\n"
    ).encode()


def test_searchable_right_after_mda_and_import(tmp_path: Path) -> None:
    d, env = make_inbox(tmp_path, "full", mbox=None)
    p = run_cli("mda", stdin=_newmsg(1, "zyxwvut"), env=dict(env, ORIGINAL_RECIPIENT="test@example.com"))
    assert p.returncode == 0, p.stderr
    s = Searcher(d / "pubinbox", "full")
    assert s.search("zyxwvut").nums == (1,)
    assert s.search('s:"fresh zyxwvut"').nums == (1,)
    mb = tmp_path / "one.mbox"
    mb.write_bytes(b"From x@y Mon Jul 20 10:00:00 2026\n" + _newmsg(2, "qponmlk"))
    run_cli("import", "test", str(mb), env=env, check=True)
    s.reload()
    assert s.search("qponmlk").nums == (2,)
    assert s.search("s:fresh").total == 2


def test_medium_phrases(tmp_path: Path, searcher: Searcher, sample: list[Msg]) -> None:
    """-L medium: positions only where public-inbox keeps them there
    (Message-ID words, List-Id, file names, diff file names, addresses), so a
    phrase elsewhere matches nothing -- what Xapian answers
    (tests/interop/test_phrase_differential.py) -- and is never an error."""
    d = make_inbox(tmp_path, "medium")[0]
    med = Searcher(d / "pubinbox", "medium")
    for q in ('s:"memory backed"', "s:memory-backed", 'nq:"use after free"', 'q:"use after free"', '"use after free"'):
        assert hits(searcher, q), q  # found at full
        assert hits(med, q) == set(), q
    # phrases where public-inbox indexes positions at medium too, and
    # everything that is not a phrase: the same as at full
    for q in (
        "dfn:fs/erofs/zdata.c",
        'f:"hsiangkao@linux.alibaba.com"',
        "f:hsiangkao@linux.alibaba.com",
        "l:linux-erofs.lists.ozlabs.org",
        "s:erofs",
        "f:brauner",
        "uid:1..5",
        "nq:deadlock",
        "lid:linux-erofs.lists.ozlabs.org",
    ):
        assert hits(med, q) == hits(searcher, q) != set(), q


def test_basic_has_no_search_index(tmp_path: Path) -> None:
    d = make_inbox(tmp_path, "basic")[0]
    assert not (d / "pubinbox" / "search").exists()
    with pytest.raises(Exception) as e:
        Searcher(d / "pubinbox", "basic").search("erofs")
    assert "search" in str(e.value).lower() or "index" in str(e.value).lower()


def _fingerprint(s: Searcher) -> list[tuple[int, ...]]:
    qs = ["s:erofs", "folio", '"page cache"', "dfn:fs/erofs/zdata.c", "f:brauner", "d:20260615..20260620", "q:deadlock"]
    return [s.search(q, limit=1000).nums for q in qs]


def test_reindex_and_rebuild(tmp_path: Path, searcher: Searcher) -> None:
    """--reindex, a deleted search directory and a corrupted segment are all
    rebuilt from git; a corrupted index never stops mda from storing mail."""
    d, env = make_inbox(tmp_path, "full")
    want_fp = _fingerprint(searcher)
    sdir = d / "pubinbox" / "search"
    assert _fingerprint(Searcher(d / "pubinbox", "full")) == want_fp

    run_cli("index", "--reindex", str(d), env=env, check=True)
    assert _fingerprint(Searcher(d / "pubinbox", "full")) == want_fp

    shutil.rmtree(sdir)
    run_cli("index", str(d), env=env, check=True)
    assert _fingerprint(Searcher(d / "pubinbox", "full")) == want_fp

    # garbage over every segment file
    for f in sdir.iterdir():
        if f.suffix in (".idx", ".term", ".store", ".pos", ".fast"):
            f.write_bytes(os.urandom(64) + f.read_bytes()[64:])
    p = run_cli("mda", stdin=_newmsg(3, "abcxyzzy"), env=dict(env, ORIGINAL_RECIPIENT="test@example.com"))
    assert p.returncode == 0, p.stderr
    assert b"Traceback" not in p.stderr, p.stderr
    info = run_cli("info", str(d), env=env, check=True)
    assert b"296" in info.stdout, info.stdout  # stored and numbered
    run_cli("index", str(d), env=env, check=True)
    s = Searcher(d / "pubinbox", "full")
    assert _fingerprint(s) == want_fp
    assert s.search("abcxyzzy").nums == (296,)
    assert s.search("l:linux-erofs", limit=0).total == 296


def test_a_fresh_index_reads_each_blob_once(
    tmp_path: Path, searcher: Searcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pubinbox index` of an inbox with neither overview nor search index
    (a clone, a lost ``pubinbox/``) makes each message's overview row and
    search document from one read of its blob, and the index it makes is
    the one the writer made."""
    from collections import Counter

    from pubinbox.config import load
    from pubinbox.ingest.indexing import index_inbox
    from pubinbox.store.git import GitReader

    d, env = make_inbox(tmp_path, "full")
    shutil.rmtree(d / "pubinbox")
    reads: Counter[str] = Counter()
    real = GitReader.blob

    def counted(self: GitReader, oid: str, epoch: int | None = None) -> bytes:
        reads[oid] += 1
        return real(self, oid, epoch)

    monkeypatch.setattr(GitReader, "blob", counted)
    stats = index_inbox(load(Path(env["PI_CONFIG"])).inbox("test"), jobs=1)
    assert stats.added == 295
    assert len(reads) == 295 and set(reads.values()) == {1}, reads.most_common(3)
    assert _fingerprint(Searcher(d / "pubinbox", "full")) == _fingerprint(searcher)


# ---------------------------------------------------------------------------
# words are Xapian words: "_" joins, it does not split


def test_underscore_is_part_of_a_word(searcher: Searcher, sample: list[Msg]) -> None:
    """public-inbox (Xapian's TermGenerator/QueryParser) treats ``_`` as a
    word character: ``folio`` does not match ``read_folio`` and
    ``dfb:folio_put`` is one term.  On a kernel list this matters for nearly
    every identifier (b:folio: 73 hits in public-inbox, 90 when ``_`` splits).

    Needs the engine's tokenizer (schema.py) *and* query.split_words to keep
    ``_`` inside words."""
    check(searcher, sample, "b:folio", lambda m: has_word(m.body, "folios?"))
    check(searcher, sample, "dfb:folio_put", lambda m: has_word(m.dfb, "folio_put"))
    check(searcher, sample, "s:read_folio", lambda m: has_word(m.subject, "read_folio"), at_least=0)


def test_query_parser_keeps_underscore_words() -> None:
    """query.split_words must split like Xapian (and like the index's
    tokenizer once it does): ``read_folio`` is one word, not the phrase
    "read folio"."""
    from pubinbox.search.query import Term, parse, split_words

    assert split_words("read_folio(folio)") == ["read_folio", "folio"]
    assert parse("dfb:folio_put") == Term("dfb", "folio_put")
