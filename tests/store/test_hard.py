"""Hostile input: every hard case is stored byte-exact (apart from the
documented header stripping), nothing raises, every message gets an
overview row, and ``pubinbox info`` works afterwards.

Default tier: tests/data/hard (93 .eml files plus the mbox-escaping set).
Corpus tier: all of $PUBINBOX_CORPUS/hard (from-large/**/*.eml including the
huge ones, the third-party single messages in third-party.mboxrd, the files
with a BOM or leading whitespace, mbox-escaping).

Messages that are byte-identical to an earlier one (the same file in two
category directories, the mbox-escaping set repeating from-line-in-body) are
dropped as exact duplicates: they are counted and checked explicitly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from pubinbox.ingest.message import content_key
from pubinbox.ingest.writer import InboxWriter
from pubinbox.mail.mbox import iter_mbox
from pubinbox.mail.parse import strip_from_line
from pubinbox.mail.rewrite import prepare_for_store
from tests.helpers import inbox_cfg, init_inbox, run_cli
from tests.store.inbox_check import (  # noqa: F401 - fast_subprocesses is a fixture
    check_consistent,
    check_reindex_matches,
    fast_subprocesses,
    header_mids,
)

pytestmark = pytest.mark.usefixtures("fast_subprocesses")

_EMPTY_LINE = re.compile(rb"\r?\n(\r?\n)")


@dataclass(frozen=True, slots=True)
class Input:
    origin: str
    raw: bytes


def _body(raw: bytes) -> bytes | None:
    m = _EMPTY_LINE.search(raw)
    return None if m is None else raw[m.end() :]


def _squash(body: bytes | None) -> bytes:
    return re.sub(rb"\s+", b"", body or b"")


def _mbox(path: Path) -> list[Input]:
    with path.open("rb") as f:
        return [Input(f"{path.name}#{i}", raw) for i, raw in enumerate(iter_mbox(f))]


def _store_all(tmp_path: Path, inputs: list[Input]) -> dict[str, object]:
    """Add every input with InboxWriter; check each result against its input."""
    d = init_inbox(tmp_path)
    ibx = inbox_cfg(tmp_path)
    assert ibx.inboxdir == d
    seen: dict[bytes, str] = {}  # expected blob -> first origin
    by_mid: dict[str, list[tuple[str, bytes | None, bytes]]] = {}  # Message-ID -> (origin, body, hash)
    added: dict[str, Input] = {}
    dropped: list[tuple[str, str]] = []  # (origin, origin of the stored original)
    cross_posted: list[tuple[str, str]] = []
    no_mid_again: list[tuple[str, str]] = []
    same_hash: list[tuple[str, str]] = []
    generated: list[str] = []
    with InboxWriter(ibx, checkpoint_every=200) as w:
        for inp in inputs:
            res = w.add(inp.raw)
            orig = strip_from_line(inp.raw)
            want = prepare_for_store(orig)
            if res.status == "duplicate":
                # only an exact resend is dropped: the same bytes were stored
                # before, or the same post with the same Message-ID and body
                # as delivered through another list (other Received/List-*
                # headers, which the content hash leaves out), or differing
                # only in whitespace (folding, trailing blank lines: the
                # content hash works on unfolded headers and trimmed bodies)
                if want in seen:
                    dropped.append((inp.origin, seen[want]))
                    continue
                same = [
                    o
                    for mid in header_mids(orig)
                    for o, body, _ in by_mid.get(mid, ())
                    if _squash(body) == _squash(_body(orig))
                ]
                if same:
                    dropped.append((inp.origin, same[0]))
                    cross_posted.append((inp.origin, same[0]))
                    continue
                # else the content hash (public-inbox's, checked against it by
                # tests/mail) must match: e.g. a part's name given as
                # Content-Type name= instead of Content-Disposition filename=
                key = content_key(want)
                same = [o for mid in header_mids(orig) for o, _, k in by_mid.get(mid, ()) if k == key]
                assert same, f"{inp.origin}: dropped as duplicate but no earlier message has its Message-ID and content"
                dropped.append((inp.origin, same[0]))
                same_hash.append((inp.origin, same[0]))
                continue
            assert res.status == "added" and res.blob is not None, (inp.origin, res)
            if want in seen:
                # public-inbox never drops a message without a Message-ID: a
                # copy gets another generated one (v2_num_for_harder)
                assert not header_mids(orig), f"{inp.origin}: identical to {seen[want]} but stored again"
                no_mid_again.append((inp.origin, seen[want]))
            seen[want] = inp.origin
            for mid in header_mids(orig):
                by_mid.setdefault(mid, []).append((inp.origin, _body(orig), content_key(want)))
            added[res.blob] = inp
            if res.mid is not None and res.mid not in header_mids(orig):
                generated.append(inp.origin)
    st = check_consistent(d)
    assert len(st.stored) == len(added) == len(inputs) - len(dropped)
    for blob, inp in added.items():
        orig = strip_from_line(inp.raw)
        stored = st.blobs[blob]
        if inp.origin in generated:
            # a generated Message-ID header is appended; the rest is as received
            (mid,) = [m for m in header_mids(stored) if m not in header_mids(orig)]
            assert stored == prepare_for_store(orig, extra_mids=(mid,)), inp.origin
        else:
            assert stored == prepare_for_store(orig), inp.origin
        assert _body(stored) == _body(orig), f"{inp.origin}: body bytes changed"
    p = run_cli("info", "test", check=True)
    out = p.stdout.decode()
    assert f"messages: {len(added)} " in out, out
    return {
        "dir": d,
        "added": len(added),
        "dropped": dropped,
        "generated": generated,
        "state": st,
        "cross_posted": cross_posted,
        "no_mid_again": no_mid_again,
        "same_hash": same_hash,
    }


def _default_inputs(hard_dir: Path) -> list[Input]:
    emls = sorted(hard_dir.glob("*/*.eml"))
    assert len(emls) == 93
    inputs = [Input(str(p.relative_to(hard_dir)), p.read_bytes()) for p in emls]
    inputs += _mbox(hard_dir / "mbox-escaping" / "from-lines.mboxrd")
    return inputs


def test_hard_cases_stored_byte_exact(tmp_path: Path, hard_dir: Path) -> None:
    inputs = _default_inputs(hard_dir)
    r = _store_all(tmp_path / "a", inputs)
    dropped = r["dropped"]
    assert isinstance(dropped, list)
    # byte-identical copies: 4 files that sit in two (one in three) category
    # directories, and every from-line-in-body / gt-from-line-in-body .eml
    # again in from-lines.mboxrd
    eml_dups = [o for o, _ in dropped if o.endswith(".eml")]
    assert len(eml_dups) == 5, dropped
    mbox_dups = [(o, first) for o, first in dropped if o.startswith("from-lines.mboxrd")]
    assert sorted(first for _, first in mbox_dups if "from-line-in-body/" in first) == sorted(
        str(p.relative_to(hard_dir)) for p in hard_dir.glob("*from-line-in-body/*.eml")
    ), mbox_dups
    # one post is in the mboxrd twice, as delivered to linux-btrfs and to linux-erofs
    assert r["cross_posted"] == [("from-lines.mboxrd#24", "from-lines.mboxrd#21")]
    assert len(mbox_dups) == 5, mbox_dups
    # a Message-ID reused for other content (the f2fs copy of a cross-posted
    # patch has "[f2fs-dev]" in its Subject) is stored under a generated one;
    # a Message-ID without <> (missing-message-id/) is used as it is, like public-inbox
    assert r["generated"] == ["duplicate-message-id/linux-f2fs-devel-000320.eml", "from-lines.mboxrd#23"]
    assert r["no_mid_again"] == [] and r["same_hash"] == []
    # the CLI does the same: same blobs, same summary
    b = init_inbox(tmp_path, "cli", "cli@example.com")
    paths = [str(p) for p in sorted(hard_dir.glob("*/*.eml"))] + [str(hard_dir / "mbox-escaping" / "from-lines.mboxrd")]
    p = run_cli("import", "cli", *paths, check=True)
    assert f"added {r['added']}, duplicates {len(dropped)}, rejected 0" in p.stderr.decode(), p.stderr.decode()
    st_b = check_consistent(b)
    st_a = r["state"]
    assert {s.blob for s in st_b.stored} == {s.blob for s in st_a.stored}  # type: ignore[attr-defined]
    check_reindex_matches(b, tmp_path)
    print(f"\nhard (default): {len(inputs)} inputs, {r['added']} stored, {len(dropped)} exact duplicates")


@pytest.mark.corpus
@pytest.mark.slow
def test_corpus_hard_cases_stored_byte_exact(tmp_path: Path, corpus_dir: Path) -> None:
    hard = corpus_dir / "hard"
    inputs = [Input(str(p.relative_to(hard)), p.read_bytes()) for p in sorted(hard.glob("from-large/*/*.eml"))]
    n_large = len(inputs)
    inputs += _mbox(hard / "third-party.mboxrd")
    for line in (hard / "INDEX.tsv").read_text().splitlines()[1:]:
        cols = line.split("\t")
        if cols[1] in ("message-with-bom", "message-with-leading-whitespace"):
            inputs.append(Input(cols[0], (hard / cols[0]).read_bytes()))
    inputs += _mbox(hard / "mbox-escaping" / "from-lines.mboxrd")
    r = _store_all(tmp_path, inputs)
    d = r["dir"]
    assert isinstance(d, Path)
    check_reindex_matches(d, tmp_path)
    dropped = r["dropped"]
    assert isinstance(dropped, list)
    print(
        f"\nhard (corpus): {len(inputs)} inputs ({n_large} from-large), {r['added']} stored, "
        f"{len(dropped)} exact duplicates ({len(r['cross_posted'])} cross-posted copies), "  # type: ignore[arg-type]
        f"{len(r['same_hash'])} same content hash, "  # type: ignore[arg-type]
        f"{len(r['generated'])} generated Message-IDs, "  # type: ignore[arg-type]
        f"{len(r['no_mid_again'])} identical messages without Message-ID stored again"
    )  # type: ignore[arg-type]


def test_generated_message_id_survives_reindex_at_header_limit(tmp_path: Path) -> None:
    """A message without Message-ID whose header is just under the 100 KB
    header limit: the generated Message-ID appended to its header must still
    be found when the blob is read back, so ``index --reindex`` keeps its
    number and Message-ID (found in $PUBINBOX_CORPUS/hard/third-party.mboxrd)."""
    from pubinbox.mail.parse import HEADER_SIZE_LIMIT

    # like the spam in third-party.mboxrd: a folded Subject larger than the
    # limit, so the header is cut inside it when the message is stored
    head = b"From: a@example.com\nDate: Mon, 02 Jan 2023 10:00:00 +0000\nSubject: big"
    while len(head) < HEADER_SIZE_LIMIT + 5000:
        head += b"\n " + b"word " * 14
    raw = head + b"\n\nbody\n"
    d = init_inbox(tmp_path)
    for i, msg in enumerate((raw, b"From: b@example.com\nSubject: after\nMessage-ID: <after@example.com>\n\nx\n")):
        f = tmp_path / f"{i}.eml"
        f.write_bytes(msg)
        run_cli("import", "-q", "test", str(f), check=True)
    st = check_consistent(d)
    ((_num, blob, mid), _) = st.over
    assert header_mids(st.blobs[blob]) == [mid]  # it is in the blob...
    check_reindex_matches(d, tmp_path)  # ...and a reindex must find it there
