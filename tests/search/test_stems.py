"""StemMaker against the plainest way to make a stem field's text.

The reference analyzes each white-space piece of the text on its own (two
analyzer calls a piece, as StemMaker once did); StemMaker looks pieces up
in C (``_native.stem_scan``) or in Python (``_call_py``), analyzes the new
ones together, separated by a word no piece is, and remembers them, with
caches cleared when full.  All must give the same text, on real mail (the
hard cases, sample/sample.mbox) and on generated text made of the parts
that matter: every kind of white space ``str.split`` knows, ASCII words
with and without a letter first, non-ASCII letters and marks, the
separator word itself in any case, words over 64 bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pubinbox.ingest.message import parse_stored, search_doc
from pubinbox.mail.mbox import iter_mbox
from pubinbox.search import schema
from pubinbox.search.schema import WORD_FIELDS, StemMaker, analyzer

pytest.importorskip("tantivy")

_WORDS = analyzer(stem=False)
_STEMS = analyzer()


def _reference(text: str) -> str:
    out = []
    for piece in text.split():
        if piece.isascii() and not schema._ASCII_LETTER_WORD.search(piece):
            continue
        got = schema._added(_WORDS.analyze(piece), _STEMS.analyze(piece))
        if got:
            out.append(" ".join(got))
    return " ".join(out)


def _texts(hard_dir: Path, sample_mbox: Path) -> Iterator[str]:
    raws = [f.read_bytes() for f in sorted(hard_dir.rglob("*.eml"))]
    with sample_mbox.open("rb") as fp:
        raws += list(iter_mbox(fp))
    for raw in raws:
        doc = search_doc(raw, parse_stored(raw, fallback_ts=0))
        for name in WORD_FIELDS:
            texts = [t for t in getattr(doc, name) if t]
            if texts:
                yield "\n".join(texts)


def test_the_separator_is_its_own_stem() -> None:
    assert _STEMS.analyze(schema._SEPARATOR) == _WORDS.analyze(schema._SEPARATOR) == [schema._SEPARATOR]


def test_real_mail_gets_the_reference_stems(hard_dir: Path, sample_mbox: Path) -> None:
    texts = list(_texts(hard_dir, sample_mbox))
    assert len(texts) > 1000
    want = [_reference(t) for t in texts]
    assert sum(1 for w in want if w) > 300
    for small_cache in (False, True):
        native, python = StemMaker(), StemMaker()
        if small_cache:  # cleared every few messages
            native.CACHE = python.CACHE = 500
        assert [native(t) for t in texts] == want
        assert [python._call_py(t) for t in texts] == want
        assert [native(t) for t in texts] == want  # from the caches


_PARTS = st.sampled_from(
    [
        "cache", "Caches", "applying", "2nd", "_foos", "x86_64", "read_folio", "thanks,", "(running)",
        "\u00e9clairs", "na\u00efvet\u00e9s", "\u0391\u03b8\u03ae\u03bd\u03b1", "e\u0301t\u00e9s", "\u4e2d\u6587",
        "a" * 70 + "ing", "b" * 63, "0xdeadbeef", "--", "+", "a-b", "__init__", "runs.",
        schema._SEPARATOR, schema._SEPARATOR.upper(), "x" + schema._SEPARATOR, schema._SEPARATOR + "s",
        " ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\u200b",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_PARTS, max_size=40).map("".join), st.lists(_PARTS, max_size=40).map("".join))
def test_generated_text_gets_the_reference_stems(first: str, second: str) -> None:
    make = StemMaker()
    make.CACHE = 30
    for text in (first, second, first):
        assert make(text) == _reference(text)
        assert make._call_py(text) == _reference(text)
