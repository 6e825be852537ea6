"""Every header parsed in more than one place, compared between ingest and every reader.

Issue 15 found the overview's References read back with another rule than the
one that extracted them.  This sweep looks for that class of bug: for each
message of an inbox built by pubinbox, what ingest derived (``extract_meta``
/ ``parse_blob``: the overview fields, the ids and the references the
overview was written with) is compared with what each reader derives, from
the overview row or from the message again:

* **overview** (OverReader): the row's references, ids (``by_mid`` for every
  Message-ID and X-Alt-Message-ID), primary id, subject, from, to, cc, dates;
* **thread builder** (web/thread.py): a row alone hangs under its references,
  in their order, one ghost each;
* **message page** (web/message.py ``header_block``): the Message-ID lines
  (the row's id plainly iff the overview maps one id; otherwise only ids the
  overview maps are linked) and the In-Reply-To line when the header has none (the
  parent rule, ``msgid.in_reply_to``, as public-inbox's View);
* **feeds** (web/atom.py ``entry_head``): the received time is the row's
  ``ts``; with one From and one Subject field the author and the title are
  the row's;
* **search** (search/extract.py): the document made from the message alone
  (its own header reading, as a search-only reindex does) equals the one made
  with the overview's fields, and holds every id the overview maps.

Default tier: tests/data/hard.  Corpus tier: both epochs of ../shared/corpus
(``pubinbox index``) and all of its hard/ (``pubinbox import``).
"""

from __future__ import annotations

import re
import subprocess
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pubinbox.config import InboxConfig
from pubinbox.inbox import Inbox
from pubinbox.ingest.indexer import parse_blob
from pubinbox.mail import address
from pubinbox.mail.msgid import in_reply_to
from pubinbox.mail.parse import Headers
from pubinbox.over.reader import OverRow
from pubinbox.search.extract import extract
from pubinbox.web.atom import entry_head
from pubinbox.web.message import header_block
from pubinbox.web.thread import thread, walk
from tests.helpers import run_cli
from tests.interop.test_refs_differential import MESSAGES as REFS_MESSAGES

ADDRESS = "sweep@example.com"
_HREF = re.compile(r'href="\.\./([^"]+)/"')
_PLAIN_MID = re.compile(r"^Message-ID: &lt;(.*)&gt; \(<a href=\"raw\">raw</a>\)$")


def _unhref(h: str) -> str:
    return urllib.parse.unquote(h.replace("&amp;", "&").replace("&#39;", "'").replace("&quot;", '"'))


def _norm(s: str) -> str:
    """Blanks as public-inbox's feed titles squeeze them (and the overview's
    NUL/CR cleaning)."""
    return re.sub(r"[\t\n\r\0 ]+", " ", s).strip()


@dataclass
class Sweep:
    """Differences found, by rule, with examples."""

    messages: int = 0
    diffs: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def check(self, rule: str, ok: bool, row: OverRow, detail: object = "") -> None:
        if not ok:
            self.diffs[rule].append(f"<{row.mid}> {detail!r}"[:400])

    def report(self) -> str:
        lines = [f"{self.messages} messages, {sum(len(v) for v in self.diffs.values())} differences"]
        for rule, ex in sorted(self.diffs.items()):
            lines.append(f"  {rule}: {len(ex)}")
            lines += [f"    {e}" for e in ex[:3]]
        return "\n".join(lines)


def sweep_row(sw: Sweep, box: Inbox, row: OverRow) -> None:
    raw = box.raw(row)
    h = Headers(raw)
    parsed = parse_blob(raw, row.blob, commit_time=row.ts, search=True)
    p, doc, m = parsed.message, parsed.doc, parsed.message.meta
    assert doc is not None
    sw.messages += 1

    # -- overview: the row read back is what ingest wrote
    sw.check("overview refs", row.references == p.row_refs(row.mid), row, (row.references, p.row_refs(row.mid)))
    for mid in p.row_mids(row.mid):
        sw.check("overview ids", row.num in {r.num for r in box.over.by_mid(mid)}, row, mid)
    got = box.over.primary_by_mid(row.mid)
    sw.check("overview primary id", got is not None and got.num == row.num, row)
    fields = (row.subject, row.from_, row.to, row.cc, row.ds, row.ts)
    want = (m.subject, m.from_, m.to, m.cc, m.ds, m.ts)
    sw.check("overview fields", fields == want, row, [(a, b) for a, b in zip(fields, want, strict=True) if a != b])

    # -- thread builder: a lone row hangs under its references, in order
    chain = [(lvl, n.mid, n.row is None) for lvl, n, _i in walk(thread([row]))]
    want_chain = [(i, r, True) for i, r in enumerate(row.references)] + [(len(row.references), row.mid, False)]
    sw.check("thread builder chain", chain == want_chain, row, chain)

    # -- message page header block
    html, _title = header_block(h, row, first=True)
    lines = [ln.removeprefix('<a href="#r" id=t></a>') for ln in html.split("\n")]  # no Subject: a bare anchor
    ids = m.index_mids
    plain = [m.group(1) for ln in lines if (m := _PLAIN_MID.match(ln))]
    linked = [
        _unhref(x) for ln in lines if ln.startswith(("Message-ID: ", "X-Alt-Message-ID: ")) for x in _HREF.findall(ln)
    ]
    if len(ids) <= 1:
        sw.check("message page Message-ID", plain == [_esc(row.mid)] and not linked, row, (plain, linked, ids))
    else:
        clean = {re.sub(r"[\r\n\t]", "", m) for m in linked}
        sw.check("message page Message-ID", not plain and clean <= set(ids), row, (linked, ids))
    if not h.raw("In-Reply-To"):
        irt = [_unhref(x) for ln in lines if ln.startswith("In-Reply-To: ") for x in _HREF.findall(ln)]
        parent = in_reply_to(h)
        sw.check("message page In-Reply-To", irt == ([parent] if parent is not None else []), row, (irt, parent))

    # -- feeds
    head = entry_head(row, h, ADDRESS)
    sw.check("feed updated", head.updated == row.ts, row)
    sw.check("feed parent", head.in_reply_to == in_reply_to(h), row)
    if len(h.raw("Subject")) == 1:
        sw.check(
            "feed title", _norm(head.title) == _norm(row.subject or "(no subject)"), row, (head.title, row.subject)
        )
    if len(h.raw("From")) == 1:
        try:
            names, emails = address.names(row.from_), address.emails(row.from_)
        except Exception:  # noqa: BLE001 - hostile header: the feed falls back too
            names, emails = [], []
        author = (_norm(", ".join(names)), emails[0] if emails else ADDRESS)
        sw.check("feed author", (_norm(head.name), head.email) == author, row, ((head.name, head.email), author))

    # -- search: the message's own header reading agrees with the overview's
    alone = extract(raw)
    sw.check("search document", alone == doc, row, _doc_diff(alone, doc))
    sw.check("search ids", set(ids) <= set(doc.mids), row, (ids, doc.mids))


def _esc(s: str) -> str:
    from pubinbox.web.html import esc

    return esc(s)


def _doc_diff(a: object, b: object) -> list[str]:
    return [k for k in getattr(a, "__slots__", ()) if getattr(a, k) != getattr(b, k)]


def sweep_inbox(inboxdir: Path) -> Sweep:
    box = Inbox.open(InboxConfig(name="sweep", inboxdir=inboxdir, addresses=(ADDRESS,)))
    sw = Sweep()
    try:
        for row in box.over.iter_all():
            sweep_row(sw, box, row)
    finally:
        box.close()
    return sw


def _init(tmp: Path, name: str = "sweep") -> Path:
    d = tmp / name
    run_cli("init", "-L", "basic", name, str(d), f"http://example.com/{name}", ADDRESS, check=True)
    return d


def _assert_clean(tag: str, sw: Sweep, at_least: int) -> None:
    text = f"{tag}: {sw.report()}"
    print(text)
    assert sw.messages >= at_least, text
    assert not sw.diffs, text


def test_sweep_hard_cases(tmp_path: Path, hard_dir: Path) -> None:
    """tests/data/hard, and the messages built for issue 15 (a mangled
    References, a reused Message-ID, an X-Alt-Message-ID, a self reference,
    no From, two Subjects, two authors)."""
    d = _init(tmp_path)
    built = tmp_path / "built.mbox"
    built.write_text("".join(f"From mboxrd@z Thu Jan  1 00:00:00 1970\n{m}\n" for m in REFS_MESSAGES))
    files = [str(p) for p in sorted(hard_dir.glob("*/*.eml"))]
    run_cli("import", "sweep", *files, str(hard_dir / "mbox-escaping" / "from-lines.mboxrd"), str(built), check=True)
    _assert_clean("tests/data/hard", sweep_inbox(d), 90 + len(REFS_MESSAGES))


@pytest.mark.corpus
@pytest.mark.slow
def test_sweep_corpus_hard(tmp_path: Path, corpus_dir: Path) -> None:
    d = _init(tmp_path)
    hard = corpus_dir / "hard"
    inputs = [str(p) for p in sorted(hard.glob("from-large/*/*.eml"))]
    inputs += [str(hard / "third-party.mboxrd"), str(hard / "mbox-escaping" / "from-lines.mboxrd")]
    run_cli("import", "sweep", *inputs, check=True, timeout=1200)
    _assert_clean("corpus hard/", sweep_inbox(d), 800)


@pytest.mark.corpus
@pytest.mark.slow
@pytest.mark.parametrize(
    "bundle",
    ["linux-erofs.lists.ozlabs.org.0.bundle", "linux-f2fs-devel.lists.sourceforge.net.0.bundle"],
    ids=["erofs", "f2fs"],
)
def test_sweep_corpus_epoch(tmp_path: Path, corpus_dir: Path, bundle: str) -> None:
    d = tmp_path / "sweep"
    (d / "git").mkdir(parents=True)
    bundle_path = corpus_dir / "epochs" / bundle
    subprocess.run(["git", "clone", "-q", "--mirror", str(bundle_path), str(d / "git" / "0.git")], check=True)
    _init(tmp_path)
    run_cli("index", "-q", str(d), check=True, timeout=1800)
    _assert_clean(bundle, sweep_inbox(d), 15000)
