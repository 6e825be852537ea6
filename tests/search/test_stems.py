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

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pubinbox.ingest.message import parse_stored, search_doc
from pubinbox.mail.mbox import iter_mbox
from pubinbox.search import schema
from pubinbox.search.schema import WORD_FIELDS, StemMaker, analyzer, word_tokenizer

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
        "a" * 70 + "ing", "b" * 63, "ab" * 30 + "ling", "ab" * 30 + "ing", "0xdeadbeef", "--", "+", "a-b", "__init__", "runs.",
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


# ------------------------------------------------------------------ words


_TOKENS = word_tokenizer()
_SPLIT = analyzer(stem=False, split=True)


def _analyzer_words(text: str) -> list[str]:
    return [t for t in _WORDS.analyze(text) if t]


def _made_words(make: StemMaker, text: str) -> list[str]:
    # what the writer's words fields are given, as the tokenizer finds the
    # words; and what they index of it: what the words analyzer makes of the text
    got = make.words(text)
    words = got.split(" ") if got else []
    assert words == _TOKENS.analyze(text), text
    assert _SPLIT.analyze(got) == _WORDS.analyze(text), text
    analyzed = schema._ascii_words(text, True)
    assert analyzed == schema._ascii_words_py(text, True)
    if analyzed is not None:  # what StemMaker._learn asks of the words analyzer, for an ASCII text
        assert analyzed.split() == _WORDS.analyze(text), text
    return words


def test_words_of_real_mail_are_the_analyzers(hard_dir: Path, sample_mbox: Path) -> None:
    make = StemMaker()
    n = 0
    for joined in _texts(hard_dir, sample_mbox):
        for text in joined.split("\n"):
            _made_words(make, text)
            if text.isascii():
                assert schema._ascii_words_py(text) == schema._ascii_words(text)
                n += 1
    assert n > 10000


_WORD_PARTS = st.sampled_from(
    [
        "a", "Z", "_", "0", "9", "-", ".", "(", "'", " ", "\t", "\n", "\x00", "\x7f", "\x1f", "\u00e9", "\u00c9",
        "\u0301", "\u00b2", "\u203f", "\u200d", "\u0130", "\u4e2d", "\U0001d400", "\xa0", "\u2028",
        "x" * 62, "y" * 63, "Q" * 64, "\u00e9" * 32,
    ]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(_WORD_PARTS, max_size=30).map("".join))
def test_words_of_generated_text_are_the_analyzers(text: str) -> None:
    _made_words(StemMaker(), text)
    if text.isascii():
        assert schema._ascii_words_py(text) == schema._ascii_words(text)
    else:
        assert schema._ascii_words_py(text) is None is schema._ascii_words(text)


def _terms(index_dir: Path, level: str) -> dict[str, list[tuple[str, int]]]:
    import tantivy

    idx = tantivy.Index.open(str(index_dir))
    searcher = idx.searcher()
    fields = [*schema.TEXT_FIELDS, *WORD_FIELDS.values()]
    if level != "full":
        fields += schema.ADDRESS_FIELDS.values()
    return {f: list(searcher.terms_with_prefix(f, "", limit=10**7)) for f in fields}


@pytest.mark.parametrize("level", ["medium", "full"])
def test_an_index_of_made_words_holds_what_one_of_the_texts_does(
    level: str, sample_mbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the writer gives its words fields the words made here (split at
    # spaces there); tantivy's regex tokenizer on the texts themselves, as
    # before, gives the same terms, counts and phrases
    from pubinbox.search import writer as writer_mod
    from pubinbox.search.writer import SearchWriter, doc_stems

    with sample_mbox.open("rb") as fp:
        raws = list(iter_mbox(fp))
    docs = [search_doc(raw, parse_stored(raw, fallback_ts=0)) for raw in raws]
    make = StemMaker()
    dirs = {}
    for way in ("made", "texts"):
        own = tmp_path / way
        own.mkdir()
        if way == "texts":
            monkeypatch.setattr(
                writer_mod, "register_analyzers", lambda index, writing=False: schema.register_analyzers(index)
            )
        w = SearchWriter(own, level)
        for num, doc in enumerate(docs, 1):
            words = None
            if way == "texts":
                words = tuple(tuple(t for t in getattr(doc, name) if t) for name in WORD_FIELDS)
            w.add(num, doc, blob=f"{num:040x}", ts=num, ds=num, size=1, stems=doc_stems(doc, make), words=words)
        w.commit()
        w.close()
        monkeypatch.undo()
        dirs[way] = writer_mod.search_dir(own)
    made, texts = _terms(dirs["made"], level), _terms(dirs["texts"], level)
    assert made == texts
    assert sum(len(v) for v in made.values()) > 5000
    # positions: phrases of two words, within a text and across two of a field
    import tantivy

    searchers = {way: tantivy.Index.open(str(d)).searcher() for way, d in dirs.items()}
    schema_ = tantivy.Index.open(str(dirs["made"])).schema
    checked = 0
    for doc in docs[:60]:
        for name, field in WORD_FIELDS.items():
            words = [w for t in getattr(doc, name) if t for w in _analyzer_words(t)]
            if field not in schema.positional_fields(level):
                continue
            for a, b in itertools.pairwise(words[:41]):
                q = tantivy.Query.phrase_query(schema_, field, [a, b])
                got = {way: sorted(addr.doc for _s, addr in s.search(q, 1000).hits) for way, s in searchers.items()}
                assert got["made"] == got["texts"], (field, a, b)
                checked += 1
    assert checked > 500


def test_words_of_two_letters_or_less_are_their_own_stems() -> None:
    # what _native.stem_words leaves out without asking the stemmer
    import string

    first = string.ascii_letters
    rest = string.ascii_letters + string.digits + "_"
    words = list(first) + [a + b for a in first for b in rest]
    assert _STEMS.analyze(" ".join(words)) == [w.lower() for w in words]


def test_words_of_64_bytes_or_more_add_no_stem() -> None:
    make = StemMaker()
    for text in ("x " + "ab" * 30 + "ing y", "x " + "ab" * 30 + "ling y", "Running " + "Ab" * 31 + "ed"):
        assert make(text) == make._call_py(text) == _reference(text)
    assert make("ab" * 30 + "ing") != ""  # 63 bytes: stemmed
    assert make("ab" * 30 + "ling") == ""  # 64: dropped
