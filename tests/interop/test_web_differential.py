"""Web differential: ``pubinbox serve`` vs ``public-inbox-httpd`` (1.9) on one inbox.

The linux-erofs epoch of the shared corpus (15,218 commits) is cloned into
``INBOX/git/0.git``; ``pubinbox init -L basic`` + ``pubinbox index`` build our
overview (and the shared ``msgmap.sqlite3``), then :func:`tests.live.live_server`
runs ``public-inbox-index`` on the *same* directory (its data goes to
``xap15/``, at indexlevel basic: the pages compared here need only its
``over.sqlite3``, no Xapian) and serves it with ``public-inbox-httpd``;
``pubinbox serve`` serves the same config.  Both see the same messages under
the same article numbers.  Then, page by page, what the two servers link to
and in which order must be the same:

* **message page** ``/$INBOX/$MID/``: the "Thread overview" ``<pre>`` — the
  header (``N+ messages`` / ``[no followups]``), and per line the linked
  Message-ID (``[not found]`` ghosts included), its depth, and which line is
  ``[this message]``; plus the strict/loose note.  ~60 Message-IDs, a
  deterministic sample (by SHA-1 of the Message-ID) of: thread roots,
  deep replies, the biggest threads, replies whose parent is missing,
  subjects reused by several threads (loose matches), threads with Date ties;
* **thread pages** ``/T/`` (flat) and ``/t/`` (nested): the order of the
  messages (their ``permalink``), and for ``/t/`` their ``<ul>`` depth, for 12
  threads (with loose matches, the biggest, with Date ties, any);
* **inbox index** ``/$INBOX/`` (first page) and two older ``?t=`` pages: the
  topics in order, each with its link, anchor (``#t``/``#u``), date and
  ``N+ messages``, and the indented later subjects (link and depth).
* **page text** (message pages, ``/T/``, ``/t/`` of threads without the ties
  and duplicates below): every line a reader sees, tags removed -- headers
  and their folding, bodies, mini-trees, overviews, reply instructions.

Tolerated differences, and only these:

1. **Ties in Date ordering.**  public-inbox orders siblings (and thread roots)
   by ``ds`` with a stable sort over Perl hash values, so messages with the
   *same* Date come in an arbitrary order that changes from process to process
   (``PublicInbox::SearchThread::thread``/``order_children``, ``sort_ds``);
   pubinbox breaks the tie by article number.  So a run of consecutive siblings
   (or roots, or flat-page entries) with equal ``ds`` may be permuted: both
   sides are compared after sorting each such run by Message-ID (a ghost's
   ``ds`` is that of its first real descendant, as ``topmost`` takes it).
   Because the strict/loose note of a message page is printed only when the
   current message's root is not already first, a tie between that root and
   another root may also add or remove that one note line.  Ordering
   differences between *different* dates are never tolerated.  On the index
   page topics are ordered by their newest ``ds`` and only the minute is
   shown, so there a run of topics with the same displayed date may be
   permuted.
2. **Content duplicates.**  ``public-inbox-index`` drops a second copy of a
   Message-ID whose content hash matches the first ("is a duplicate");
   ``pubinbox index`` drops only byte-identical copies and stores the others
   under a generated Message-ID (``…@z``, see test_corpus_epoch.py).  On
   erofs that is 3 messages.  Such a message, unknown to public-inbox's
   overview, is removed from pubinbox's lists (and from its ``N+`` count).

Everything else that differs is reported with the URL and both versions.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import html
import re
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pubinbox.mail.msgid import refs_from_field
from tests.conftest import _corpus_dir
from tests.helpers import run_cli
from tests.live import isolated_environ, live_server

pytestmark = [pytest.mark.corpus, pytest.mark.peer, pytest.mark.slow]

BUNDLE = "epochs/linux-erofs.lists.ozlabs.org.0.bundle"
NAME = "erofs"
PER_CATEGORY = 10  # message pages per category (6 categories: ~60 pages)

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_MID_SAFE = "-._~!$&'()*+,;=:@"  # public-inbox's MID_ESC keeps these


def _h(s: str) -> str:
    return hashlib.sha1(s.encode()).hexdigest()


def mid_url(mid: str) -> str:
    return urllib.parse.quote(mid, safe=_MID_SAFE)


def fetch(url: str) -> tuple[int, str]:
    try:
        with _OPENER.open(url, timeout=120) as r:
            return int(r.status), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return int(e.code), e.read().decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# the two overviews of one inbox


@dataclass
class Overviews:
    """What the sample and the tolerances need, from both over.sqlite3."""

    pi_ds: dict[str, int] = field(default_factory=dict)  # mid -> ds (public-inbox)
    pb_ds: dict[str, int] = field(default_factory=dict)  # mid -> ds (pubinbox)
    rows: list[tuple[int, int, int | None, int, str, str]] = field(default_factory=list)  # num tid sid ds mid refs

    def ds(self, mid: str) -> int | None:
        return self.pi_ds.get(mid, self.pb_ds.get(mid))

    def only_ours(self, mid: str) -> bool:
        """A content duplicate pubinbox stored under a generated Message-ID."""
        return mid.endswith("@z") and mid not in self.pi_ds and mid in self.pb_ds


def load_overviews(inbox: Path) -> Overviews:
    ov = Overviews()
    pi = sqlite3.connect(f"file:{inbox / 'xap15' / 'over.sqlite3'}?mode=ro", uri=True)
    for mid, ds in pi.execute(
        "SELECT msgid.mid, over.ds FROM msgid JOIN id2num ON id2num.id = msgid.id"
        " JOIN over ON over.num = id2num.num WHERE over.num > 0 ORDER BY over.num DESC"
    ):
        ov.pi_ds[str(mid)] = int(ds)  # the lowest number wins
    pi.close()
    pb = sqlite3.connect(f"file:{inbox / 'pubinbox' / 'over.sqlite3'}?mode=ro", uri=True)
    ov.rows = [
        (int(n), int(t), s, int(d or 0), str(m), str(r or ""))
        for n, t, s, d, m, r in pb.execute("SELECT num, tid, sid, ds, mid, refs FROM over WHERE num > 0 ORDER BY num")
    ]
    pb.close()
    for _n, _t, _s, d, m, _r in reversed(ov.rows):
        ov.pb_ds[m] = d
    return ov


def _refs(r: tuple[int, int, int | None, int, str, str]) -> list[str]:
    return list(refs_from_field(r[5]))  # never split on blanks (issue 15)


def sample_messages(ov: Overviews, k: int = PER_CATEGORY) -> dict[str, str]:
    """{Message-ID: category}, deterministic: by SHA-1 of the Message-ID."""
    rows = [r for r in ov.rows if r[4] in ov.pi_ds]  # both know them
    in_tid = Counter(r[1] for r in ov.rows)
    tids_of_sid: dict[int, set[int]] = defaultdict(set)
    for r in ov.rows:
        if r[2] is not None:
            tids_of_sid[r[2]].add(r[1])
    known = set(ov.pb_ds)
    big = {t for t, _ in in_tid.most_common(5)}
    tie_tids = {t for (t, _d), n in Counter((r[1], r[3]) for r in ov.rows).items() if n > 1}
    tids_of_sid_ds: dict[tuple[int, int], set[int]] = defaultdict(set)
    for r in ov.rows:
        if r[2] is not None:
            tids_of_sid_ds[(r[2], r[3])].add(r[1])
    tie_sids = {s for (s, _d), ts in tids_of_sid_ds.items() if len(ts) > 1}
    cats: dict[str, list[tuple[int, int, int | None, int, str, str]]] = {
        "root": [r for r in rows if not r[5] and in_tid[r[1]] >= 3],
        "deep-reply": [r for r in rows if len(_refs(r)) >= 6],
        "big-thread": [r for r in rows if r[1] in big],
        "missing-parent": [r for r in rows if r[5] and _refs(r)[-1] not in known],
        "reused-subject": [r for r in rows if r[2] is not None and len(tids_of_sid[r[2]]) > 1],
        # roots with the same Date first (the strict/loose note tie), then siblings
        "date-tie": [r for r in rows if r[2] in tie_sids] + [r for r in rows if r[1] in tie_tids],
    }
    picked: dict[str, str] = {}
    for cat, lst in cats.items():
        n = 0
        for r in sorted(lst, key=lambda r: _h(r[4])) if cat != "date-tie" else lst:
            if r[4] in picked:
                continue
            picked[r[4]] = cat
            n += 1
            if n >= k:
                break
    return picked


def sample_threads(ov: Overviews) -> dict[str, str]:
    """{first Message-ID of a thread: category} for the /T/ and /t/ pages."""
    first: dict[int, tuple[str, int | None]] = {}
    size = Counter(r[1] for r in ov.rows)
    tids_of_sid: dict[int, set[int]] = defaultdict(set)
    for r in ov.rows:
        first.setdefault(r[1], (r[4], r[2]))
        if r[2] is not None:
            tids_of_sid[r[2]].add(r[1])
    ties = {t for (t, _d), n in Counter((r[1], r[3]) for r in ov.rows).items() if n > 1}
    ok = {t: m for t, (m, _s) in first.items() if m in ov.pi_ds}
    by_h = sorted(ok, key=lambda t: _h(ok[t]))
    loose = [t for t in by_h if len(tids_of_sid.get(first[t][1] or -1, ())) > 1]
    picks: dict[str, str] = {}

    def take(cat: str, tids: list[int], n: int) -> None:
        for t in tids:
            if n <= 0:
                return
            if ok[t] not in picks:
                picks[ok[t]] = cat
                n -= 1

    # loose matches whose parent is in the inbox but in neither thread: the
    # overview shows that parent (public-inbox fills the ghost in), the flat
    # page does not (it lists only what the thread query returned)
    mid_row = {r[4]: r for r in reversed(ov.rows)}
    by_tid: dict[int, list[tuple[int, int, int | None, int, str, str]]] = defaultdict(list)
    by_sid: dict[int, list[tuple[int, int, int | None, int, str, str]]] = defaultdict(list)
    for r in ov.rows:
        by_tid[r[1]].append(r)
        if r[2] is not None:
            by_sid[r[2]].append(r)

    def outside_parent(t: int) -> bool:
        sid = first[t][1]
        shown = by_tid[t] + (by_sid[sid] if sid is not None else [])
        nums = {r[0] for r in shown}
        parents = [mid_row.get(_refs(r)[-1]) for r in shown if r[5]]
        return any(p is not None and p[0] not in nums for p in parents)

    take("loose-outside-parent", [t for t in loose if outside_parent(t)], 2)
    take("loose-matches", loose, 3)
    take("big-thread", [t for t, _ in size.most_common(10) if t in ok], 3)
    take("date-tie", [t for t in by_h if t in ties], 2)
    take("any", by_h, 3)
    return picks


# ---------------------------------------------------------------------------
# parsing


def norm_tags(page: str) -> str:
    """Collapse whitespace inside tags (public-inbox writes ``<a\\nhref=``)."""
    return re.sub(r"<([^<>]*)>", lambda m: "<" + " ".join(m.group(1).split()) + ">", page)


def _href(attrs: str) -> str:
    m = re.search(r'href="([^"]*)"', attrs)
    return html.unescape(m.group(1)) if m else ""


_SKEL_LINE = re.compile(
    r"^(?:<b>)?(?P<date>\d{4}-\d\d-\d\d [ \d]\d:\d\d|     \[not found\]) (?P<ind>(?:  )*(?:` )?)(?:&lt;)?<a (?P<attrs>[^>]*)>"
)
NOTE = "(strict/loose note)"


@dataclass(frozen=True)
class Entry:
    mid: str
    level: int
    kind: str = ""  # "" real, "ghost" [not found], "this" [this message]


@dataclass
class Overview:
    head: str
    entries: list[Entry | str]  # str: a line that is not a message (the note, or else verbatim)


def parse_overview(page: str, cur: str) -> Overview | None:
    """The "Thread overview" block of a message page."""
    s = norm_tags(page)
    i = s.find("<b>Thread overview: </b>")
    if i < 0:
        return None
    j = s.find("</pre>", i)
    lines = s[i:j].split("\n")
    head = re.sub(r'href="([^"]*)"', lambda m: f'href="{html.unescape(m.group(1))}"', lines[0])
    out: list[Entry | str] = []
    for ln in lines[1:]:
        m = _SKEL_LINE.match(ln)
        if m is None:
            if "strict thread matches above" in ln:
                out.append(NOTE)
            elif ln.strip():
                out.append(re.sub(r'href="([^"]*)"', lambda m: f'href="{html.unescape(m.group(1))}"', ln))
            continue
        href = _href(m.group("attrs"))
        level = len(m.group("ind")) // 2
        if href == "#t":
            out.append(Entry(cur, level, "this"))
            continue
        assert href.startswith("../") and href.endswith("/"), ln
        kind = "ghost" if "not found" in m.group("date") else ""
        out.append(Entry(urllib.parse.unquote(href[3:-1]), level, kind))
    return Overview(head, out)


_PERMA = re.compile(r'\(<a href="\.\./\.\./([^"]+)/">permalink</a>|(<ul>)|(</ul>)')


def parse_thread_page(page: str, nested: bool) -> list[Entry]:
    """Messages of a /T/ or /t/ page in page order (``<ul>`` depth for /t/)."""
    out: list[Entry] = []
    depth = 0
    for m in _PERMA.finditer(norm_tags(page)):
        if m.group(2):
            depth += 1
        elif m.group(3):
            depth -= 1
        else:
            out.append(Entry(urllib.parse.unquote(html.unescape(m.group(1))), depth if nested else 0))
    return out


_TOPIC_A = re.compile(r'^((?:  )*` )?<a href="([^"]+)/T/#([tu])">')


@dataclass(frozen=True)
class Topic:
    mid: str
    anchor: str
    date: str  # " YYYY-MM-DD HH:MM UTC  (N+ messages)" line, stripped
    extras: tuple[tuple[int, str], ...]  # (depth, Message-ID) of the later subjects


def parse_topics(page: str) -> list[Topic]:
    s = norm_tags(page)
    k = s.find("/T/#")
    if k < 0:
        return []
    i = s.rfind("<pre>", 0, k)
    j = s.find("</pre>", k)
    out: list[Topic] = []
    for block in s[i + 5 : j].split("\n\n"):
        lines = [x for x in block.split("\n") if x]
        m = _TOPIC_A.match(lines[0])
        assert m is not None and not m.group(1), lines[0]
        extras = []
        for ln in lines[2:]:
            e = _TOPIC_A.match(ln)
            assert e is not None and e.group(1), ln
            extras.append((len(e.group(1)) // 2, urllib.parse.unquote(html.unescape(e.group(2)))))
        out.append(Topic(urllib.parse.unquote(html.unescape(m.group(2))), m.group(3), lines[1].strip(), tuple(extras)))
    return out


# ---------------------------------------------------------------------------
# comparison with the documented tolerances


@dataclass
class _Node:
    e: Entry
    kids: list[_Node] = field(default_factory=list)


def _forest(entries: list[Entry]) -> list[_Node]:
    roots: list[_Node] = []
    stack: list[_Node] = []
    for e in entries:
        n = _Node(e)
        del stack[e.level :]
        (stack[-1].kids if stack else roots).append(n)
        stack.append(n)
    return roots


def _key(n: _Node, ov: Overviews) -> int:
    """The Date siblings are ordered by: the node's, or (ghost) that of its
    first real descendant, breadth first (public-inbox's ``topmost``)."""
    q = [n]
    while q:
        cur = q.pop(0)
        if cur.e.kind != "ghost":
            d = ov.ds(cur.e.mid)
            return d if d is not None else 0
        q.extend(cur.kids)
    return 0


def _canon_runs(nodes: list[_Node], ov: Overviews) -> list[_Node]:
    """Sort every run of consecutive equal-Date siblings by Message-ID."""
    out: list[_Node] = []
    i = 0
    while i < len(nodes):
        k = _key(nodes[i], ov)
        j = i + 1
        while j < len(nodes) and _key(nodes[j], ov) == k:
            j += 1
        out.extend(sorted(nodes[i:j], key=lambda n: n.e.mid))
        i = j
    for n in out:
        n.kids = _canon_runs(n.kids, ov)
    return out


def _flatten(nodes: list[_Node]) -> list[Entry]:
    out: list[Entry] = []
    for n in nodes:
        out.append(n.e)
        out.extend(_flatten(n.kids))
    return out


def canon_tree(entries: list[Entry], ov: Overviews, *, keep_first_root: bool) -> list[Entry]:
    roots = _forest(entries)
    if keep_first_root and roots:
        head = roots[0]
        head.kids = _canon_runs(head.kids, ov)
        return _flatten([head, *_canon_runs(roots[1:], ov)])
    return _flatten(_canon_runs(roots, ov))


def canon_flat(entries: list[Entry], ov: Overviews) -> list[Entry]:
    return _flatten(_canon_runs([_Node(e) for e in entries], ov))


def drop_ours_only(entries: list[Any], ov: Overviews) -> tuple[list[Any], int]:
    kept = [e for e in entries if not (isinstance(e, Entry) and ov.only_ours(e.mid))]
    return kept, len(entries) - len(kept)


_NR = re.compile(r"(\d+)\+ messages")


def compare_overview(pi: Overview, pb: Overview, ov: Overviews) -> str:
    """One of exact, ties, dups, ties+dups, or DIFF: (what differs)."""
    if pi.head == pb.head and pi.entries == pb.entries:
        return "exact"
    how: list[str] = []
    pb_entries, dropped = drop_ours_only(pb.entries, ov)
    pb_head = pb.head
    if dropped:
        how.append("dups")
        m = _NR.search(pb_head)
        if m:
            pb_head = pb_head.replace(m.group(0), f"{int(m.group(1)) - dropped}+ messages", 1)
    if pi.head != pb_head:
        return f"DIFF: header {pi.head!r} != {pb.head!r}"
    pi_e, pb_e = list(pi.entries), pb_entries
    if pi_e == pb_e:
        return "+".join(how)
    other_pi = [e for e in pi_e if not isinstance(e, Entry) and e != NOTE]
    other_pb = [e for e in pb_e if not isinstance(e, Entry) and e != NOTE]
    if other_pi != other_pb:
        return f"DIFF: other lines {other_pi!r} != {other_pb!r}"
    note_pi, note_pb = NOTE in pi_e, NOTE in pb_e
    ents_pi = [e for e in pi_e if isinstance(e, Entry)]
    ents_pb = [e for e in pb_e if isinstance(e, Entry)]
    if note_pi != note_pb:
        roots = _forest(ents_pi)
        if len(roots) < 2 or _key(roots[0], ov) not in {_key(r, ov) for r in roots[1:]}:
            return f"DIFF: strict/loose note only on {'public-inbox' if note_pi else 'pubinbox'}'s page"
    elif note_pi and pi_e.index(NOTE) != pb_e.index(NOTE):
        return "DIFF: strict/loose note at another place"
    if canon_tree(ents_pi, ov, keep_first_root=True) != canon_tree(ents_pb, ov, keep_first_root=True):
        return "DIFF: " + describe(ents_pi, ents_pb)
    how.insert(0, "ties")
    return "+".join(how)


def describe(a: list[Entry], b: list[Entry], width: int = 3) -> str:
    """The first difference of two entry lists, with some context."""
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    lo = max(i - 1, 0)

    def fmt(lst: list[Entry]) -> str:
        return ", ".join(f"{'  ' * e.level}{e.mid}{' [' + e.kind + ']' if e.kind else ''}" for e in lst[lo : i + width])

    return (
        f"{len(a)} vs {len(b)} entries, first difference at #{i}:\n"
        f"      public-inbox: {fmt(a)}\n      pubinbox:     {fmt(b)}"
    )


def compare_thread_page(pi: list[Entry], pb: list[Entry], ov: Overviews, nested: bool) -> str:
    if pi == pb:
        return "exact"
    how = []
    pb, dropped = drop_ours_only(pb, ov)
    if dropped:
        how.append("dups")
    if pi == pb:
        return "+".join(how)
    if nested:
        same = canon_tree(pi, ov, keep_first_root=True) == canon_tree(pb, ov, keep_first_root=True)
    else:
        same = canon_flat(pi, ov) == canon_flat(pb, ov)
    if not same:
        return "DIFF: " + describe(pi, pb)
    return "+".join(["ties", *how])


def compare_topics(pi: list[Topic], pb: list[Topic]) -> str:
    if pi == pb:
        return "exact"

    def canon(ts: list[Topic]) -> list[Topic]:
        out: list[Topic] = []
        i = 0
        while i < len(ts):
            d = ts[i].date.split(" UTC")[0]
            j = i + 1
            while j < len(ts) and ts[j].date.split(" UTC")[0] == d:
                j += 1
            out.extend(sorted(ts[i:j], key=lambda t: t.mid))
            i = j
        return out

    if canon(pi) == canon(pb):
        return "ties"
    cpi, cpb = canon(pi), canon(pb)
    lines = []
    for k, (x, y) in enumerate(zip(cpi, cpb)):
        if x != y:
            lines.append(f"    topic #{k} (after ties):\n      public-inbox: {x}\n      pubinbox:     {y}")
    pb_by = {t.mid for t in pb}
    pi_by = {t.mid for t in pi}
    only_pi = [t.mid for t in pi if t.mid not in pb_by]
    only_pb = [t.mid for t in pb if t.mid not in pi_by]
    return (
        f"DIFF: {len(pi)} vs {len(pb)} topics, {len(lines)} differ (Date ties aside); "
        f"topics only on public-inbox: {only_pi[:5]}, only on pubinbox: {only_pb[:5]}\n" + "\n".join(lines[:4])
    )


# ---------------------------------------------------------------------------
# the inbox and the two servers


@dataclass
class Pair:
    inbox: Path
    pi: str  # base URLs, with the trailing slash
    pb: str
    ov: Overviews


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    corpus = _corpus_dir()
    root = tmp_path_factory.mktemp("webdiff")
    with isolated_environ(root / "home") as env, contextlib.ExitStack() as stack:
        inbox = root / "inbox"
        (inbox / "git").mkdir(parents=True)
        subprocess.run(
            ["git", "clone", "-q", "--mirror", str(corpus / BUNDLE), str(inbox / "git" / "0.git")], check=True
        )
        config = root / "config"
        env["PI_CONFIG"] = str(config)
        run_cli(
            "--config", str(config), "init", "-L", "basic", NAME, str(inbox),
            f"http://example.invalid/{NAME}", "linux-erofs@lists.ozlabs.org", check=True,
        )  # fmt: skip
        run_cli("--config", str(config), "index", "-q", str(inbox), check=True, timeout=1200)
        # public-inbox-index runs on the same inbox inside live_server (xap15/, basic)
        pi = stack.enter_context(live_server(config, NAME, kind="public-inbox", env=env, timeout=120))
        pb = stack.enter_context(live_server(config, NAME, kind="pubinbox", env=env, timeout=120))
        yield Pair(inbox, pi.base, pb.base, load_overviews(inbox))


# ---------------------------------------------------------------------------
# the tests


def _report(title: str, results: list[tuple[str, str, str]]) -> str:
    """results: (url path, category, outcome)."""
    tally = Counter(o.split(":")[0] for _u, _c, o in results)
    lines = [f"{title}: {len(results)} pages, " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))]
    lines += [f"  [{c}] {u}\n    {o}" for u, c, o in results if o.startswith("DIFF")]
    return "\n".join(lines)


def test_message_page_thread_overview(pair: Pair) -> None:
    sample = sample_messages(pair.ov)
    assert len(sample) >= 50, len(sample)
    results: list[tuple[str, str, str]] = []
    for mid, cat in sample.items():
        path = f"{mid_url(mid)}/"
        (s1, p1), (s2, p2) = fetch(pair.pi + path), fetch(pair.pb + path)
        if (s1, s2) != (200, 200):
            results.append((path, cat, f"DIFF: status public-inbox {s1}, pubinbox {s2}"))
            continue
        a, b = parse_overview(p1, mid), parse_overview(p2, mid)
        if a is None or b is None:
            results.append((path, cat, f"DIFF: no thread overview on {'public-inbox' if a is None else 'pubinbox'}"))
            continue
        assert a.entries or "no followups" in a.head, f"nothing parsed in public-inbox's overview of {path}"
        results.append((path, cat, compare_overview(a, b, pair.ov)))
    report = _report("message page thread overview", results)
    print(report)
    assert not [r for r in results if r[2].startswith("DIFF")], report


@pytest.mark.parametrize("flat", [True, False], ids=["T", "t"])
def test_thread_page_order(pair: Pair, flat: bool) -> None:
    sub = "T" if flat else "t"
    results: list[tuple[str, str, str]] = []
    for mid, cat in sample_threads(pair.ov).items():
        path = f"{mid_url(mid)}/{sub}/"
        (s1, p1), (s2, p2) = fetch(pair.pi + path), fetch(pair.pb + path)
        if (s1, s2) != (200, 200):
            results.append((path, cat, f"DIFF: status public-inbox {s1}, pubinbox {s2}"))
            continue
        a, b = parse_thread_page(p1, not flat), parse_thread_page(p2, not flat)
        assert a, f"no messages found on public-inbox's {path}"
        results.append((path, cat, compare_thread_page(a, b, pair.ov, nested=not flat)))
    report = _report(f"/{sub}/ thread pages", results)
    print(report)
    assert not [r for r in results if r[2].startswith("DIFF")], report


def test_index_topics(pair: Pair) -> None:
    # the first page, and two older windows at fixed points of the list
    ts = sorted(
        int(t)
        for (t,) in sqlite3.connect(pair.inbox / "pubinbox" / "over.sqlite3").execute(
            "SELECT ts FROM over WHERE num > 0"
        )
    )
    qs = [""] + [f"?t={time.strftime('%Y%m%d%H%M%S', time.gmtime(ts[len(ts) * k // 3]))}" for k in (1, 2)]
    results: list[tuple[str, str, str]] = []
    for q in qs:
        (s1, p1), (s2, p2) = fetch(pair.pi + q), fetch(pair.pb + q)
        if (s1, s2) != (200, 200):
            results.append((q or "/", "index", f"DIFF: status public-inbox {s1}, pubinbox {s2}"))
            continue
        a, b = parse_topics(p1), parse_topics(p2)
        assert a, f"no topics parsed on public-inbox's index {q}"
        results.append((q or "/", "index", compare_topics(a, b)))
    report = _report("inbox index topics", results)
    print(report)
    assert not [r for r in results if r[2].startswith("DIFF")], report


# ---------------------------------------------------------------------------
# the parsers and tolerances themselves (no servers)


def test_tie_tolerance_is_narrow() -> None:
    ov = Overviews(pi_ds={"a": 1, "b": 2, "c": 2, "d": 3})
    x = [Entry("a", 0), Entry("b", 1), Entry("c", 1), Entry("d", 1)]
    y = [Entry("a", 0), Entry("c", 1), Entry("b", 1), Entry("d", 1)]
    z = [Entry("a", 0), Entry("d", 1), Entry("b", 1), Entry("c", 1)]
    assert canon_tree(x, ov, keep_first_root=True) == canon_tree(y, ov, keep_first_root=True)  # b, c tie
    assert canon_tree(x, ov, keep_first_root=True) != canon_tree(z, ov, keep_first_root=True)  # d is later
    assert canon_flat(x[1:], ov) == canon_flat(y[1:], ov)
    assert canon_flat(x[1:], ov) != canon_flat(z[1:], ov)


def test_parse_overview_both_markups() -> None:
    pi = (
        '<pre><b>Thread overview: </b>3+ messages / expand[<a\nhref="T/#u">flat</a>]\n'
        '2023-03-02 14:39 <a\nhref="../r%2Foot@x/">[PATCH]</a> A\n'
        '<b>2023-03-06  7:31 ` <a\nid=r\nhref="#t">B [this message]</a></b>\n'
        '     [not found]   ` &lt;<a\nhref="../g&#38;h@x/">g&amp;h@x</a>&gt;\n'
        '2023-03-06  9:52     ` <a\nhref="../c@x/">C</a>\n</pre>'
    )
    o = parse_overview(pi, "cur@x")
    assert o is not None
    assert o.entries == [
        Entry("r/oot@x", 0),
        Entry("cur@x", 1, "this"),
        Entry("g&h@x", 2, "ghost"),
        Entry("c@x", 3),
    ]


def page_text(page: str) -> list[str]:
    """What a reader sees: tags and the stylesheet removed, entities decoded,
    without pubinbox's folded-quote summaries ("[... N more quoted lines]",
    the lines themselves stay), and without the patch series line of a
    patch's page (``<pre id=series>...</pre><hr>``, issue 12) and the
    top bar's "stats" link (issue 17) -- our deliberate additions to the text."""
    page = page.split("</form>", 1)[-1]  # the top bar: same words, other spaces in the search form
    page = re.sub(r'<a href="[^"]*_/stats/">stats</a> / ', "", page)
    page = re.sub(r"<pre id=series>[^<]*(?:<(?!/pre>)[^<]*)*</pre><hr>", "", page)
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.DOTALL)
    page = re.sub(r"<summary>.*?</summary>", "", page, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", page)).splitlines()


def test_page_text(pair: Pair) -> None:
    """Message pages, /T/ and /t/ read the same, line for line (headers and
    their folding, bodies, mini-trees, overviews, reply instructions), for
    threads without Date ties or content duplicates (tolerances 1 and 2);
    loose Subject matches included."""
    tid_of = {r[4]: r[1] for r in reversed(pair.ov.rows)}
    ties = {t for (t, _d), n in Counter((r[1], r[3]) for r in pair.ov.rows).items() if n > 1}
    dups = {r[1] for r in pair.ov.rows if pair.ov.only_ours(r[4])}
    # a Date tie between roots matched on Subject (tolerance 1: the note line)
    tids_at: dict[tuple[int, int], set[int]] = defaultdict(set)
    for r in pair.ov.rows:
        if r[2] is not None:
            tids_at[(r[2], r[3])].add(r[1])
    tie_sids = {sid for (sid, _d), ts in tids_at.items() if len(ts) > 1}
    ties |= {r[1] for r in pair.ov.rows if r[2] in tie_sids}
    paths = [f"{mid_url(m)}/" for m in sample_messages(pair.ov)]
    paths += [f"{mid_url(m)}/{sub}/" for m in sample_threads(pair.ov) for sub in ("T", "t")]
    paths = [p for p in paths if tid_of.get(urllib.parse.unquote(p.split("/")[0])) not in ties | dups]
    assert len(paths) >= 30, len(paths)
    bad = []
    for path in paths:
        (s1, p1), (s2, p2) = fetch(pair.pi + path), fetch(pair.pb + path)
        a, b = page_text(p1), page_text(p2)
        if (s1, s2) != (200, 200) or a != b:
            diff = [ln for ln in difflib.unified_diff(a, b, "public-inbox", "pubinbox", lineterm="", n=1)]
            bad.append(f"{path}: {s1} {s2}\n" + "\n".join(diff[:30]))
    print(f"{len(paths)} pages compared, {len(bad)} differ")
    assert not bad, "\n\n".join(bad[:8])
