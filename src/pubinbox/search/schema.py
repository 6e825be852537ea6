"""The Tantivy schema of pubinbox's search index, one field per prefix.

Each public-inbox search prefix (REFERENCE §5) maps to one or more fields
here.  Every text field comes twice, as Xapian's TermGenerator (stemming
strategy STEM_SOME) indexes each word twice: the word as written,
lower-cased, in the *words* field (:data:`WORD_FIELDS`, ``w_subject`` ...;
Xapian's ``S...`` terms, the only ones with positions), and its English stem
in the field named after the prefix (``subject``: Xapian's ``ZS...`` terms,
never with positions) -- there only when the stem is not the word itself
(:class:`StemMaker`; the reader looks a stem up in both fields).  A phrase
and a quoted word match the words, a lower-case word of the query the stems,
a capitalised one (or one starting with a digit or ``_``) the word as
written -- public-inbox's QueryParser with STEM_SOME.  Exact fields (Message-IDs, List-Ids, blob ids, patch-ids)
use the ``raw`` tokenizer.  Numbers: ``num`` is the article number,
``bkey`` the first 64 bits of the message's blob id (with ``num``, the
document's identity: the overview row it was made from), ``ts`` the
received time and ``ds`` the Date: time, both unix seconds UTC, ``bytes``
the stored size.
Positions (phrase search) follow public-inbox's SearchIdx: at ``full`` every
words field has them, quoted text included (``index_text`` ->
``index_phrase``); at ``medium`` only what public-inbox always indexes as a
phrase (Message-ID words, List-Id, attachment names, diff file names) and
the addresses of From/To/Cc, which go to companion fields
(:data:`ADDRESS_FIELDS`) because the rest of those headers (the names) has
no positions there.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from pubinbox import native

#: text fields: name -> what they hold (public-inbox's Xapian prefix)
TEXT_FIELDS: dict[str, str] = {
    "subject": "Subject (S)",
    "from_": "From: names and addresses (A)",
    "to": "To (XTO)",
    "cc": "Cc (XCC)",
    "listid": "List-Id text (XL)",
    "mid_text": "Message-ID words (XM)",
    "nq": "non-quoted body text (XNQ)",
    "quot": "quoted text (XQUOT)",
    "fn": "attachment file names (XFN)",
    "dfn": "file names in diffs (XDFN)",
    "dfa": "removed diff lines (XDFA)",
    "dfb": "added diff lines (XDFB)",
    "dfhh": "hunk header context (XDFHH)",
    "dfctx": "diff context lines (XDFCTX)",
}

#: exact-match fields (raw tokenizer)
EXACT_FIELDS: dict[str, str] = {
    "mid": "exact Message-ID (Q)",
    "lid": "exact lower-cased List-Id (G)",
    "dfpre": "pre-image blob ids and their >=7-hex prefixes (XDFPRE)",
    "dfpost": "post-image blob ids and their >=7-hex prefixes (XDFPOST)",
    "patchid": "git patch-id --stable (XDFID)",
}

#: lower-cased English stems: what a query word is stemmed with (and the
#: tokenizer of the stem fields of a schema-6 index)
ANALYZER = "pubinbox_en"
#: the tokenizer of the words fields (lower-cased words as written)
WORDS_ANALYZER = "pubinbox_words"
#: the tokenizer of the stem fields, which get the stems already made
#: (:class:`StemMaker`): words, lower-cased
STEMS_ANALYZER = "pubinbox_stems"

#: text field (stems) -> its twin holding the words as written
WORD_FIELDS: dict[str, str] = {name: "w_" + name.rstrip("_") for name in TEXT_FIELDS}

#: text fields public-inbox indexes with positions at every level
#: (``index_phrase``: XM, XL, XFN, XDFN)
ALWAYS_POSITIONS = frozenset({"mid_text", "listid", "fn", "dfn"})

#: header field -> field of its addresses alone, words with positions
#: (indexlevel medium only: public-inbox's index_headers adds each address as a phrase
#: there, so ``f:"Gao Xiang"`` matches inside ``gao.xiang@...`` but not in
#: the display name)
ADDRESS_FIELDS: dict[str, str] = {"from_": "from_addr", "to": "to_addr", "cc": "cc_addr"}

#: public-inbox's Xapian prefix -> our field (query.XAPIAN_SOURCES names them)
XAPIAN_FIELD: dict[str, str] = {
    "XM": "mid_text",
    "S": "subject",
    "A": "from_",
    "XTO": "to",
    "XCC": "cc",
    "XL": "listid",
    "XNQ": "nq",
    "XQUOT": "quot",
    "XFN": "fn",
    "XDFN": "dfn",
    "XDFA": "dfa",
    "XDFB": "dfb",
    "XDFHH": "dfhh",
    "XDFCTX": "dfctx",
    "Q": "mid",
    "G": "lid",
    "XDFPRE": "dfpre",
    "XDFPOST": "dfpost",
    "XDFID": "patchid",
}

#: range prefixes -> numeric field
RANGE_FIELDS: dict[str, str] = {"d": "ds", "dt": "ds", "rt": "ts", "z": "bytes", "uid": "num"}


def analyzer(*, stem: bool = True, split: bool = False) -> Any:
    """Tokenise like the index does: words, lower-cased, and (*stem*) their
    English stems.  *split*: the words are given, as :func:`word_tokenizer`
    finds them, joined with spaces: only split there (what a writer's
    words and stem fields take: :func:`register_analyzers`)."""
    import tantivy

    # words are runs of \w (letters, digits, "_"), as Xapian splits them:
    # kernel identifiers like read_folio stay one term; a long one is
    # dropped after the tokenizer numbered it (the next word's position is
    # the same either way)
    tok = tantivy.Tokenizer.whitespace() if split else tantivy.Tokenizer.regex(_WORD)
    b = tantivy.TextAnalyzerBuilder(tok).filter(tantivy.Filter.remove_long(64)).filter(tantivy.Filter.lowercase())
    if stem:
        b = b.filter(tantivy.Filter.stemmer("english"))
    return b.build()


_WORD = r"\w+"


def word_tokenizer() -> Any:
    """The words of a text as :func:`analyzer` finds them, before any
    filter (as written, long ones too)."""
    import tantivy

    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(_WORD)).build()


def register_analyzers(index: Any, *, writing: bool = False) -> None:
    """Make *index* know our tokenizers (they are not stored in it).

    *writing*: for a writer, which gives the words and stem fields their
    words already made (:meth:`StemMaker.words`, the stem texts), joined
    with spaces: they are only split there.  tantivy's regex tokenizer
    costs about 0.35 us a word, which was most of its indexing thread
    (12 of 33 CPU-s of ``-L full`` on linux-f2fs-devel); what the index
    holds is the same.  The reader makes its terms with :func:`analyzer`.
    """
    index.register_tokenizer(ANALYZER, analyzer())
    index.register_tokenizer(WORDS_ANALYZER, analyzer(stem=False, split=writing))
    index.register_tokenizer(STEMS_ANALYZER, analyzer(stem=False, split=writing))


#: Unicode categories of a first letter that Xapian stems (``should_stem``)
STEMMED_CATEGORIES = frozenset({"Ll", "Lt", "Lm", "Lo"})


class StemMaker:
    """The text a stem field gets: the stems of the words whose stem is not
    the word itself, as often as the words occur.  A word that is its own
    stem is found in the words field instead (the reader looks up both),
    which keeps the stem fields a quarter of the size of full ones (on
    linux-erofs: 26% of the postings; the index is 2.0 MB per 1,000
    messages at full instead of 2.6).  Xapian
    stems a word only when it starts with a letter (``2nd``, ``_foo`` have
    no stem term).

    Tantivy's analyzers cost about a microsecond a word from Python, so
    what they say is remembered (up to about :attr:`CACHE` entries) and
    the new ones are asked together.  An ASCII text (most of them) is taken
    word by word in C (``_native.stem_words``: its words are runs of
    ``[0-9A-Za-z_]``, looked up lower-cased); another is cut at white space
    (which no word spans) and each distinct piece looked up (in C too when
    it is built, ``_native.stem_scan``; :meth:`_call_py` without it): most
    pieces add no stem; an ASCII piece where no word starts with a letter
    is known to add none without asking the analyzer.  The stems come in
    the order of the words (the stem fields have no positions, only term
    frequencies)."""

    CACHE = 400_000

    def __init__(self) -> None:
        self._words = analyzer(stem=False)
        self._stems = analyzer()
        self._tokens: Any = None
        #: pieces whose words all are their own stems (or are not stemmed)
        self._plain: set[str] = set()
        #: the other pieces and the stems they add, space-separated
        self._stemmed: dict[str, str] = {}
        #: words of ASCII texts, lower-cased -> their stem ("" when their own):
        #: an ASCII text is taken word by word (words come back far more
        #: often than pieces: 400,000 distinct pieces on linux-f2fs-devel)
        self._known: dict[str, str] = {}

    def _piece(self, piece: str) -> tuple[str, ...]:
        if piece.isascii() and not _ASCII_LETTER_WORD.search(piece):
            return ()  # every word starts with a digit or "_": no stem
        return _added(self._words.analyze(piece), self._stems.analyze(piece))

    def words(self, text: str) -> str:
        """The words of *text* as :func:`word_tokenizer` finds them, joined
        with spaces: what a writer gives a words field for it
        (:func:`register_analyzers`); in C for an ASCII text."""
        got = _ascii_words(text)
        if got is None:
            if self._tokens is None:
                self._tokens = word_tokenizer()
            got = " ".join(self._tokens.analyze(text))
        return got

    def _learn(self, pieces: list[str]) -> None:
        """Analyze *pieces* (none of them known) and remember each: in two
        analyzer calls, not two a piece (each call costs a microsecond
        more than its words: 40% of the time, and a list's 22,000 messages
        have 400,000 distinct pieces)."""
        todo = []
        for piece in pieces:
            if piece.isascii() and not _ASCII_LETTER_WORD.search(piece):
                self._plain.add(piece)  # every word starts with a digit or "_": no stem
            else:
                todo.append(piece)
        if not todo:
            return
        text = _BETWEEN.join(todo)
        ascii = _ascii_words(text, True)  # what the words analyzer gives, in C
        words = _split_at(ascii.split() if ascii is not None else self._words.analyze(text))
        stems = _split_at(self._stems.analyze(text))
        if len(words) != len(todo) or len(stems) != len(todo):
            # a piece is the separator word itself: one at a time
            for piece in todo:
                self._remember(piece, self._piece(piece))
            return
        for piece, w, st in zip(todo, words, stems, strict=True):
            self._remember(piece, () if w == st else _added(w, st))

    def _remember(self, piece: str, stems: tuple[str, ...]) -> None:
        if stems:
            self._stemmed[piece] = " ".join(stems)
        else:
            self._plain.add(piece)

    def _make_room(self, more: int) -> bool:
        """Clear the caches if *more* pieces would not fit: whether it did."""
        if len(self._plain) + len(self._stemmed) + len(self._known) + more > self.CACHE:
            self._plain.clear()
            self._stemmed.clear()
            self._known.clear()
            return True
        return False

    def _learn_words(self, words: list[str]) -> None:
        """Stem *words* (lower-case ASCII words, none known) and remember
        each (one analyzer call for them all: one word is one token)."""
        stems = self._stems.analyze(" ".join(words))
        if len(stems) != len(words):  # never seen
            stems = [" ".join(self._stems.analyze(w)) for w in words]
        for w, st in zip(words, stems, strict=True):
            self._known[w] = "" if st == w else st

    def __call__(self, text: str) -> str:
        if _NATIVE is None:
            return self._call_py(text)
        for _ in range(3):
            # an ASCII text word by word, in C
            words = _NATIVE.stem_words(text, self._known)
            if words is None:
                break  # not ASCII: piece by piece
            if isinstance(words, str):
                return words
            self._make_room(len(words))
            self._learn_words(words)
        else:
            return self._call_py(text)  # more distinct words than the caches hold
        for _ in range(3):
            # the pieces looked up in C (text.split() and the lookups were
            # 160 us of a list message); what it does not know, learnt here
            got = _NATIVE.stem_scan(text, self._plain, self._stemmed)
            if isinstance(got, str):
                return got
            new, candidates = got  # the pieces it did not know; all not in plain
            cleared = self._make_room(len(new))
            self._learn(new)
            if not cleared:
                stemmed = self._stemmed
                return " ".join([stemmed[p] for p in candidates if p in stemmed])
        return self._call_py(text)  # more distinct pieces than the caches hold

    def _call_py(self, text: str) -> str:
        """What :meth:`__call__` gives, in Python (``_native.stem_words``
        and ``stem_scan`` do its lookups in C)."""
        pieces = text.split()
        todo = set(pieces) - self._plain
        if not todo:
            return ""
        stemmed = self._stemmed
        self._make_room(0)
        # (not "todo - stemmed.keys()": a dict view would be copied to a set)
        new = [p for p in todo if p not in stemmed]
        self._learn(new)
        todo.difference_update(p for p in new if p not in stemmed)
        if not todo:
            return ""
        hits = todo
        return " ".join([stemmed[p] for p in pieces if p in hits])


_NATIVE = native.load()
#: a word no piece is (else StemMaker._learn sees it and goes one piece at a
#: time), its own stem: what StemMaker._learn puts between pieces
_SEPARATOR = "qzxqpiecesqzxq"
_BETWEEN = f" {_SEPARATOR} "


_ASCII_WORD = re.compile(r"[0-9A-Za-z_]+")


def _ascii_words_py(text: str, analyzed: bool = False) -> str | None:
    """:meth:`StemMaker.words` of an ASCII *text* (on ASCII, ``\\w`` is
    ``[0-9A-Za-z_]``); *analyzed*: the words analyzer's words (those of 64
    bytes or more dropped, lower-cased), joined with spaces.  None for
    another text (``_native.ascii_words`` is this, in C)."""
    if not text.isascii():
        return None
    words = _ASCII_WORD.findall(text)
    if analyzed:
        return " ".join(w.lower() for w in words if len(w) < 64)
    return " ".join(words)


_ascii_words: Callable[..., str | None] = _NATIVE.ascii_words if _NATIVE else _ascii_words_py


def _split_at(tokens: list[str]) -> list[list[str]]:
    """*tokens* cut at each :data:`_SEPARATOR`."""
    out: list[list[str]] = [[]]
    for t in tokens:
        if t == _SEPARATOR:
            out.append([])
        else:
            out[-1].append(t)
    return out


def _added(words: list[str], stems: list[str]) -> tuple[str, ...]:
    """The stems a piece adds: of its words whose stem is not the word and
    that Xapian stems (by the first letter's category)."""
    if len(words) != len(stems):  # never seen: each word has one stem
        return tuple(stems)
    cat = unicodedata.category
    return tuple(s for w, s in zip(words, stems, strict=True) if s != w and cat(w[0]) in STEMMED_CATEGORIES)


#: a word of an ASCII piece that starts with a letter (words are runs of
#: ``\w``; only those starting with a letter are stemmed)
_ASCII_LETTER_WORD = re.compile(r"(?<![0-9A-Za-z_])[A-Za-z]")


def positional_fields(level: str) -> frozenset[str]:
    """Words fields indexed with positions at indexlevel *level*."""
    if level == "full":
        return frozenset(WORD_FIELDS.values())
    return frozenset(WORD_FIELDS[f] for f in ALWAYS_POSITIONS) | frozenset(ADDRESS_FIELDS.values())


def build_schema(level: str) -> Any:
    """The schema for indexlevel *level* (``medium`` or ``full``)."""
    import tantivy

    pos = positional_fields(level)
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("num", stored=True, indexed=True, fast=True)
    sb.add_integer_field("ts", indexed=True, fast=True)
    sb.add_integer_field("ds", indexed=True, fast=True)
    sb.add_unsigned_field("bytes", indexed=True, fast=True)
    sb.add_unsigned_field("bkey", fast=True)
    for name in TEXT_FIELDS:
        sb.add_text_field(name, tokenizer_name=STEMS_ANALYZER, index_option="freq")
        words = WORD_FIELDS[name]
        sb.add_text_field(words, tokenizer_name=WORDS_ANALYZER, index_option="position" if words in pos else "freq")
    if level != "full":
        for name in ADDRESS_FIELDS.values():
            sb.add_text_field(name, tokenizer_name=WORDS_ANALYZER, index_option="position")
    for name in EXACT_FIELDS:
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    return sb.build()
