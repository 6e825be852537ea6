"""Phrases at indexlevel full and medium: public-inbox 1.9 (Xapian) vs pubinbox.

Issue 15: ``b:"applied thanks"`` matched both words anywhere in quoted text.
public-inbox's SearchIdx indexes quoted text (XQUOT) through ``index_text``,
which at ``full`` is ``index_phrase`` (positions): a phrase matches adjacent
words of one quoted block only.  At ``medium`` ``index_text`` drops positions,
and Xapian then matches a phrase nowhere (observed here: not even "all the
words"), except in what public-inbox always indexes as a phrase -- Message-ID
words, List-Id, attachment and diff file names -- and, at medium, the
addresses of From/To/Cc.  A dotted or hyphenated word (``for-next``) is a
phrase too.

Xapian's TermGenerator (STEM_SOME) indexes each word as written (with
positions) and its stem (``Z`` terms, without), except words starting with a
digit or ``_``; its QueryParser looks a lower-case word up as its stem, and a
capitalised word, a quoted word, every word of a phrase and a wildcard as
written: ``b:"applied thanks"`` does not match "applying... thanks" nor "apply,
thanks", ``Applied`` and ``"applied"`` do not match "applies", ``applied``
does.  The messages below have the words in several inflections, quoted and
not, capitalised and not.

The messages are built here; the same inbox is indexed by both programs
(``pubinbox import``, then ``public-inbox-index``) and every query must give
the same Message-IDs on both sides, apart from :data:`DIFFERENCES`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pubinbox.search.query import QueryError
from pubinbox.search.reader import Searcher
from tests.helpers import run_cli
from tests.interop.test_search_differential import _env, _run, pi_answers

pytestmark = pytest.mark.peer


def _msg(n: int, body: str, *, subject: str = "hello", frm: str = "Alice Example <alice@example.com>") -> str:
    return (
        f"From: {frm}\nTo: test@example.com\nSubject: {subject}\n"
        f"Date: Mon, 02 Jan 2023 {n:02d}:00:00 +0000\nMessage-ID: <p{n}@example.com>\n"
        f"List-Id: <test.example.com>\n\n{body}"
    )


MESSAGES = [
    _msg(1, "On Mon, Bob wrote:\n> Applied to for-next, thanks!\n\nok\n"),  # both words, not together
    _msg(2, "On Mon, Bob wrote:\n> applied thanks\n\nsure\n"),  # together, quoted
    _msg(3, "applied thanks\n"),  # together, not quoted
    _msg(4, "applied to next, thanks\n"),  # apart, not quoted
    _msg(5, "nothing\n", subject="applied thanks"),  # together, in the subject
    _msg(6, "nothing here\n", frm="Gao Xiang <gao.xiang@example.com>"),
    _msg(7, "> applies cleanly\n\nanother form of the word\n"),
    _msg(8, "> foo\n> applied\n> thanks\n\nacross quoted lines\n"),  # together across lines of one block
    _msg(9, "> applied\n\nin between\n\n> thanks\n\ntwo quoted blocks\n"),  # in two blocks
    _msg(
        10,
        "diff --git a/fs/erofs/zdata.c b/fs/erofs/zdata.c\n--- a/fs/erofs/zdata.c\n+++ b/fs/erofs/zdata.c\n"
        "@@ -1,1 +1,1 @@ static int foo\n-old line\n+new line\n",
    ),
    _msg(11, "See erofs zdata c here, or read_folio.\n"),
    # inflections: Xapian's phrases and quoted words take the words as written,
    # its lower-case bare words the stems (issue 15, erofs: 52 vs 29)
    _msg(12, "On Tue, Carol wrote:\n> Applying to dev, thanks.\n\nok\n"),
    _msg(13, "applying thanks\n"),
    _msg(14, "> applies, thank you\n\nfine\n"),
    _msg(15, "Thank you, applied.\n"),
    _msg(16, "> Thanks, applied!\n\nyes\n"),
    _msg(17, "nothing at all\n", subject="Applied: thanks"),
    _msg(18, "the 2nd version of _foo_bar for x86_64 and X86\n"),
    _msg(19, "DEADLOCKS everywhere, Deadlocked here\n"),
    _msg(20, "a deadlock\n", subject="deadlocks"),
    _msg(21, "> will apply.\n>\n> Thanks,\n\nlater\n"),
    _msg(22, "apply thanks\n"),
    _msg(23, "page caches\n", frm="Page Cacher <examples@example.org>"),
    _msg(24, "> the Page Cache\n\nhm\n"),
    _msg(25, "the page-cache is full\n"),
]

QUERIES = [
    'b:"applied thanks"',
    'bs:"applied thanks"',
    '"applied thanks"',
    'q:"applied thanks"',
    'nq:"applied thanks"',
    's:"applied thanks"',
    'q:"foo applied"',
    'q:"Applied to for next"',
    'b:"to for next"',
    "q:for-next",
    "b:for-next",
    "for-next",
    'nq:"applied to"',
    "applied thanks",
    "q:applied",
    'q:"applied"',
    'q:"applies cleanly"',
    'f:"Gao Xiang"',
    'f:"Example alice"',
    'f:"Alice Example"',
    'f:"alice example com"',
    "f:gao.xiang@example.com",
    't:"test example com"',
    "t:test@example.com",
    'm:"p3@example.com"',
    "m:p3@example.com",
    "dfn:fs/erofs/zdata.c",
    'dfn:"erofs zdata"',
    '"erofs zdata"',
    "b:erofs.zdata",
    'nq:"new line"',
    'dfb:"new line"',
    'dfhh:"static int"',
    'l:"test example com"',
    "l:test.example.com",
    'b:"nothing here"',
    "nothing here",
    # phrases in other inflections
    'b:"applying thanks"',
    'q:"applying thanks"',
    'b:"apply thanks"',
    'q:"apply thanks"',
    'b:"applies thank"',
    'q:"applies thank"',
    'b:"thanks applied"',
    'q:"thanks applied"',
    'nq:"thank you"',
    'b:"Thank You"',
    '"applied: thanks"',
    's:"applied: thanks"',
    # single words: lower-case (stems), capitalised (as written), quoted (as written)
    "applied",
    "Applied",
    "APPLIED",
    '"applied"',
    '"Applied"',
    "applying",
    '"applying"',
    "b:applied",
    "b:Applied",
    'b:"applied"',
    "q:applies",
    'q:"applies"',
    "q:Applies",
    "q:thank",
    'q:"thank"',
    "q:Thanks",
    "b:thanks",
    'b:"thanks"',
    "nq:applied",
    'nq:"applied"',
    "nq:Applying",
    "s:applied",
    's:"applied"',
    "s:Applied",
    "s:thank",
    "s:Thanks",
    "s:deadlock",
    "s:Deadlock",
    's:"deadlocks"',
    "deadlock",
    "Deadlock",
    "DEADLOCK",
    "deadlocks",
    "Deadlocks",
    "b:deadlocked",
    '"deadlocked"',
    "aPPlied",
    "thank (Applied OR applying)",
    "thank -Applied",
    # words starting with a digit or "_": never stemmed
    "b:2nd",
    "b:_foo_bar",
    "b:x86_64",
    "b:X86_64",
    "x86",
    # addresses and names
    "f:Alice",
    "f:alice",
    'f:"alice"',
    "f:examples",
    'f:"examples"',
    "f:Examples",
    'f:"page cacher"',
    "f:cacher",
    "f:cache",
    'f:"examples example"',
    # phrases of other words, phrase generators
    'b:"page cache"',
    'b:"page caches"',
    'q:"page cache"',
    'b:"Page Cache"',
    "b:page-cache",
    "b:page-caches",
    "q:Page-Cache",
    # wildcards: the words as written
    "b:appl*",
    "b:Appl*",
    "b:appli*",
    "q:thank*",
    "b:deadlock*",
    "s:appl*",
    "s:Dead*",
    "f:exampl*",
    "b:cach*",
]

#: what each level must answer (by message number), whatever public-inbox says
EXPECTED: dict[str, dict[str, set[int]]] = {
    "full": {
        'b:"applied thanks"': {2, 3, 8},
        'bs:"applied thanks"': {2, 3, 5, 8, 17},
        '"applied thanks"': {2, 3, 5, 8, 17},
        'q:"applied thanks"': {2, 8},
        'f:"Example alice"': set(range(1, 26)) - {6, 23},  # "Alice Example <alice@...>"
        "b:for-next": {1},
        # the words as written (issue 15: "applying... thanks", "apply, thanks" are not "applied thanks")
        'b:"applying thanks"': {13},
        'q:"thanks applied"': {16},
        'b:"applied"': {1, 2, 3, 4, 8, 9, 15, 16},
        "b:applied": {1, 2, 3, 4, 7, 8, 9, 12, 13, 14, 15, 16, 21, 22},  # stems
        "b:Applied": {1, 2, 3, 4, 8, 9, 15, 16},  # capitalised: as written
        "Deadlock": {20},
        "deadlock": {19, 20},
        "b:X86_64": {18},
        'f:"examples"': {23},
        "f:examples": set(range(1, 26)),  # the stem of "example"
    },
    "medium": {
        'b:"applied"': {1, 2, 3, 4, 8, 9, 15, 16},  # a quoted word needs no positions
        "b:applied": {1, 2, 3, 4, 7, 8, 9, 12, 13, 14, 15, 16, 21, 22},  # stems
        'b:"applied thanks"': set(),
        '"applied thanks"': set(),
        'q:"applied thanks"': set(),
        'nq:"applied thanks"': set(),
        "b:for-next": set(),
        'f:"Gao Xiang"': {6},  # inside gao.xiang@example.com
        'f:"Example alice"': set(),  # the name has no positions
        "dfn:fs/erofs/zdata.c": {10},
        '"erofs zdata"': {10},  # the diff's file name, not the prose of 11
        "applied thanks": {1, 2, 3, 4, 5, 8, 9, 12, 13, 14, 15, 16, 17, 21, 22},
    },
}

#: level -> query -> reason (each still has to differ, else drop it)
DIFFERENCES: dict[str, dict[str, str]] = {"full": {}, "medium": {}}


def _inbox(tmp: Path, level: str) -> tuple[Path, dict[str, str]]:
    env = _env(tmp)
    d = tmp / level
    run_cli(
        "init", "-L", level, level, str(d), f"http://example.com/{level}", f"{level}@example.com", env=env, check=True
    )
    mbox = tmp / "phrases.mbox"
    mbox.write_text("".join(f"From mboxrd@z Thu Jan  1 00:00:00 1970\n{m}\n" for m in MESSAGES))
    run_cli("import", level, str(mbox), env=env, check=True)
    _run(["public-inbox-index", str(d)], env)  # its section is in PI_CONFIG already
    return d, env


def _ours(d: Path, level: str, queries: list[str]) -> dict[str, frozenset[str] | str]:
    s = Searcher(d / "pubinbox", level)
    mm = dict(sqlite3.connect(d / "msgmap.sqlite3").execute("SELECT num, mid FROM msgmap"))
    out: dict[str, frozenset[str] | str] = {}
    for q in queries:
        try:
            out[q] = frozenset(mm[n] for n in s.search(q, limit=1000).nums)
        except QueryError as e:
            out[q] = f"ERR {e}"
    return out


def _num(mid: str) -> int:
    return int(mid.split("@")[0][1:])


@pytest.mark.parametrize("level", ["full", "medium"])
def test_phrases_against_public_inbox(tmp_path: Path, level: str) -> None:
    d, env = _inbox(tmp_path, level)
    ours = _ours(d, level, QUERIES)
    theirs = pi_answers(level, env, QUERIES)
    bad = []
    for q in QUERIES:
        a, b = ours[q], theirs[q]
        if a != b and q not in DIFFERENCES[level]:
            fa = sorted(_num(m) for m in a) if not isinstance(a, str) else a
            fb = sorted(_num(m) for m in b) if not isinstance(b, str) else b
            bad.append(f"{q!r}: pubinbox {fa}, public-inbox {fb}")
    assert not bad, f"-L {level}:\n" + "\n".join(bad)
    stale = [q for q in DIFFERENCES[level] if ours[q] == theirs[q]]
    assert not stale, f"documented differences that no longer differ: {stale}"
    for q, want in EXPECTED[level].items():
        got = ours[q]
        assert not isinstance(got, str) and {_num(m) for m in got} == want, (level, q, got)
