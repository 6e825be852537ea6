"""What a parsing process sends back (pack) is what the indexer reads (unpack)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pubinbox.ingest.parsing import Parsed, Unreadable, pack, parse_blob, unpack
from pubinbox.mail.mbox import iter_mbox
from pubinbox.search.schema import ADDRESS_FIELDS, WORD_FIELDS, StemMaker


def test_pack_then_unpack_gives_the_same_results(sample_mbox: Path) -> None:
    with sample_mbox.open("rb") as fp:
        raws = list(iter_mbox(fp))
    stems = StemMaker()
    results: list[Parsed | Unreadable] = []
    for i, raw in enumerate(raws):
        blob = f"{i:040x}"
        # overview only, with the search document, and with its stem texts too
        results.append(parse_blob(raw, blob, commit_time=1_700_000_000 + i, search=i % 3 != 0))
        if i % 3 == 2:
            results[-1] = parse_blob(raw, blob, commit_time=1_700_000_000 + i, search=True, stems=stems)
        if i % 50 == 0:
            results.append(Unreadable(f"object {blob} is corrupt"))
    assert any(isinstance(r, Parsed) and r.message.series is not None for r in results)
    assert any(isinstance(r, Parsed) and r.stems is not None for r in results)
    # a text with no words and fields of several such: still one value each
    last = next(r for r in reversed(results) if isinstance(r, Parsed) and r.words is not None)
    assert last.words is not None
    odd = ((), ("",), ("", ""), ("a b", "", "c"))
    results.append(dataclasses.replace(last, words=odd + last.words[len(odd) :]))
    assert unpack(pack(results)) == [_as_sent(r) for r in results]


def _as_sent(r: Parsed | Unreadable) -> Parsed | Unreadable:
    """With its words, a document travels without the texts they stand for
    (the writer reads the words): all but the address fields'."""
    if isinstance(r, Unreadable) or r.words is None or r.doc is None:
        return r
    gone = {f: () for f in WORD_FIELDS if f not in ADDRESS_FIELDS}
    assert any(getattr(r.doc, f) for f in gone)
    return dataclasses.replace(r, doc=dataclasses.replace(r.doc, **gone))


def test_an_empty_chunk() -> None:
    assert unpack(pack([])) == []
