"""The fields of public-inbox's search language: every prefix, what kind of
field it is (text, exact value, range, date), and which of public-inbox's
Xapian prefixes it searches (REFERENCE §5); :func:`split_words` is how the
language and the index cut text into words."""

from __future__ import annotations

import re

__all__ = [
    "BOOLEAN_FIELDS",
    "DATE_FIELDS",
    "DEFAULT_SOURCES",
    "HEX_FIELDS",
    "PREFIXES",
    "RANGE_FIELDS",
    "TEXT_FIELDS",
    "XAPIAN_SOURCES",
    "split_words",
]

#: every prefix (without ``:``) -> canonical field name
PREFIXES: dict[str, str] = {
    "s": "s",
    "f": "f",
    "t": "t",
    "c": "c",
    "tc": "tc",
    "a": "a",
    "tcf": "a",
    "b": "b",
    "bs": "bs",
    "nq": "nq",
    "q": "q",
    "n": "n",
    "l": "l",
    "m": "m",
    "dfn": "dfn",
    "dfa": "dfa",
    "dfb": "dfb",
    "dfhh": "dfhh",
    "dfctx": "dfctx",
    "dfpre": "dfpre",
    "dfpost": "dfpost",
    "dfblob": "dfblob",
    "patchid": "patchid",
    "mid": "mid",
    "lid": "lid",
    "d": "d",
    "dt": "dt",
    "rt": "rt",
    "z": "z",
    "uid": "uid",
}

#: probabilistic text fields (words, phrases, wildcards)
TEXT_FIELDS = frozenset(
    {"s", "f", "t", "c", "tc", "a", "b", "bs", "nq", "q", "n", "l", "m"} | {"dfn", "dfa", "dfb", "dfhh", "dfctx"}
)
#: exact-value fields (plus any configured altid names)
BOOLEAN_FIELDS = frozenset({"dfpre", "dfpost", "dfblob", "patchid", "mid", "lid"})
#: numeric range fields
RANGE_FIELDS = frozenset({"d", "dt", "rt", "z", "uid"})
#: range fields whose bounds are unix seconds
DATE_FIELDS = frozenset({"d", "dt", "rt"})
HEX_FIELDS = frozenset({"dfpre", "dfpost", "dfblob", "patchid"})

_NQ = ("XNQ", "XDFN", "XDFA", "XDFB", "XDFHH", "XDFCTX", "XDFPRE", "XDFPOST", "XDFID")
#: what each canonical field searches in public-inbox's Xapian index (for engines)
XAPIAN_SOURCES: dict[str | None, tuple[str, ...]] = {
    None: ("XM", "S", "A", "XQUOT", "XFN", *_NQ),
    "s": ("S",),
    "f": ("A",),
    "t": ("XTO",),
    "c": ("XCC",),
    "tc": ("XTO", "XCC"),
    "a": ("XTO", "XCC", "A"),
    "b": (*_NQ, "XQUOT"),
    "bs": (*_NQ, "XQUOT", "S"),
    "nq": _NQ,
    "q": ("XQUOT",),
    "n": ("XFN",),
    "l": ("XL",),
    "m": ("XM",),
    "dfn": ("XDFN",),
    "dfa": ("XDFA",),
    "dfb": ("XDFB",),
    "dfhh": ("XDFHH",),
    "dfctx": ("XDFCTX",),
    "dfpre": ("XDFPRE",),
    "dfpost": ("XDFPOST",),
    "dfblob": ("XDFPRE", "XDFPOST"),
    "patchid": ("XDFID",),
    "mid": ("Q",),
    "lid": ("G",),
}
#: what a bare word searches: Message-ID, Subject, From, quoted text,
#: attachment names, non-quoted body and diffs -- not To/Cc
DEFAULT_SOURCES = XAPIAN_SOURCES[None]


def split_words(text: str) -> list[str]:
    """The words of *text*: maximal runs of word characters (letters, digits
    and ``_``, as Xapian's term generator sees them: ``read_folio`` is one
    word), which is what the index's tokenizer produces."""
    return _WORD.findall(text)


_WORD = re.compile(r"\w+")
