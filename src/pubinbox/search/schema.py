"""The Tantivy schema of pubinbox's search index, one field per prefix.

Each public-inbox search prefix (REFERENCE §5) maps to one or more fields
here.  Text fields use an English-stemming analyzer (public-inbox stems with
Xapian's English stemmer); exact fields (Message-IDs, List-Ids, blob ids,
patch-ids) use the ``raw`` tokenizer.  Numbers: ``num`` is the article
number, ``bkey`` the first 64 bits of the message's blob id (with ``num``,
the document's identity: the overview row it was made from), ``ts`` the
received time and ``ds`` the Date: time, both unix seconds UTC, ``bytes``
the stored size.
Positions (phrase search) follow public-inbox's SearchIdx: at ``full`` every
text field has them, quoted text included (``index_text`` -> ``index_phrase``);
at ``medium`` only what public-inbox always indexes as a phrase (Message-ID
words, List-Id, attachment names, diff file names) and the addresses of
From/To/Cc, which go to companion fields (:data:`ADDRESS_FIELDS`) because
the rest of those headers (the names) has no positions there.
"""

from __future__ import annotations

from typing import Any

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

ANALYZER = "pubinbox_en"

#: text fields public-inbox indexes with positions at every level
#: (``index_phrase``: XM, XL, XFN, XDFN)
ALWAYS_POSITIONS = frozenset({"mid_text", "listid", "fn", "dfn"})

#: header field -> field of its addresses alone, with positions (indexlevel
#: medium only: public-inbox's index_headers adds each address as a phrase
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


def analyzer() -> Any:
    """Tokenise like the index does: words, lower-cased, English stems."""
    import tantivy

    return (
        # words are runs of \w (letters, digits, "_"), as Xapian splits them:
        # kernel identifiers like read_folio stay one term
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"\w+"))
        .filter(tantivy.Filter.remove_long(64))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def positional_fields(level: str) -> frozenset[str]:
    """Text fields indexed with positions at indexlevel *level*."""
    if level == "full":
        return frozenset(TEXT_FIELDS)
    return ALWAYS_POSITIONS | frozenset(ADDRESS_FIELDS.values())


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
        sb.add_text_field(name, tokenizer_name=ANALYZER, index_option="position" if name in pos else "freq")
    if level != "full":
        for name in ADDRESS_FIELDS.values():
            sb.add_text_field(name, tokenizer_name=ANALYZER, index_option="position")
    for name in EXACT_FIELDS:
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    return sb.build()
