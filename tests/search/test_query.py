"""The search-language parser: canonical ASTs, errors, and robustness."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pubinbox.search.query import (
    MAX_QUERY_CHARS,
    And,
    Not,
    Phrase,
    QueryError,
    Range,
    Term,
    parse,
    split_words,
)

NOW = 1700000000  # Tue 2023-11-14 22:13:20 UTC
H40 = "0123456789abcdef0123456789abcdef01234567"
H40B = "fedcba9876543210fedcba9876543210fedcba98"


def p(q: str) -> str:
    return str(parse(q, now=NOW))


CASES = [
    # bare words, default AND, case kept
    ("foo", "foo"),
    ("foo bar", "(foo AND bar)"),
    ("Foo BAR", "(Foo AND BAR)"),
    ("naïve", "naïve"),
    ("日本語", "日本語"),
    ("a and b", "(a AND and AND b)"),
    ("a or b", "(a AND or AND b)"),
    # every prefix
    ("s:frobnicator", "s:frobnicator"),
    ("f:alice", "f:alice"),
    ("t:test", "t:test"),
    ("c:bob", "c:bob"),
    ("tc:bob", "tc:bob"),
    ("a:carol", "a:carol"),
    ("tcf:carol", "a:carol"),
    ("b:zebra", "b:zebra"),
    ("bs:zebra", "bs:zebra"),
    ("nq:zebra", "nq:zebra"),
    ("q:zebra", "q:zebra"),
    ("n:crash.log", 'n:"crash log"'),
    ("l:test.example.com", 'l:"test example com"'),
    ("m:abc123", "m:abc123"),
    ("dfn:foo.c", 'dfn:"foo c"'),
    ("dfn:drivers/foo/bar.c", 'dfn:"drivers foo bar c"'),
    ('dfa:"x + 1"', 'dfa:"x 1"'),
    ("dfb:return", "dfb:return"),
    ("dfhh:frobnicate", "dfhh:frobnicate"),
    ("dfctx:int", "dfctx:int"),
    ("dfpre:83db48f", "dfpre:83db48f"),
    ("dfpost:BF269F4", "dfpost:bf269f4"),
    ("dfblob:83db48f0", "dfblob:83db48f0"),
    (f"patchid:{H40}", f"patchid:{H40}"),
    ("mid:foo@example.com", "mid:foo@example.com"),
    ("mid:<foo@example.com>", "mid:foo@example.com"),
    ('mid:"odd id@x"', 'mid:"odd id@x"'),
    ("mid:a*b@x", "mid:a*b@x"),
    ("(mid:foo@bar)", "mid:foo@bar"),
    ("lid:test.example.com", "lid:test.example.com"),
    ("lid:<Test.Example.COM>", "lid:test.example.com"),
    # words that are several tokens become phrases
    ("f:alice@example.com", 'f:"alice example com"'),
    ("foo-bar", '"foo bar"'),
    ("v5.10", '"v5 10"'),
    ("foo_bar", "foo_bar"),  # "_" is a word character, as in Xapian
    ("foo:bar", '"foo bar"'),
    ("S:foo", '"S foo"'),
    ("https://lore.kernel.org/x", '"https lore kernel org x"'),
    ("Fixes: abc", "(Fixes AND abc)"),
    # phrases
    ('"off by one"', '"off by one"'),
    ("“off by one”", '"off by one"'),
    ('s:"part 2"', 's:"part 2"'),
    ('s:""part 2""', 's:"part 2"'),
    ('s:"foo"', 's:"foo"'),
    ('"a b" c', '("a b" AND c)'),
    ('nq:"change-id: 20261125-feature-abc123"', 'nq:"change id 20261125 feature abc123"'),
    ("s:(foo bar)", "(s:foo AND s:bar)"),
    ("s:(foo OR f:bar)", "(s:foo OR f:bar)"),
    ('s:(foo "a b") baz', '(s:foo AND s:"a b" AND baz)'),
    # wildcards
    ("frobnicat*", "frobnicat*"),
    ("s:frob*", "s:frob*"),
    ("(frob*)", "frob*"),
    ("frob*nicate", '"frob nicate"'),
    # operators and precedence
    ("a AND b", "(a AND b)"),
    ("a OR b", "(a OR b)"),
    ("a XOR b", "(a XOR b)"),
    ("a NOT b", "(a AND NOT b)"),
    ("a AND NOT b", "(a AND NOT b)"),
    ("frobnicator NOT zebra", "(frobnicator AND NOT zebra)"),
    ("a -b", "(a AND NOT b)"),
    ("+a b", "(a AND b)"),
    ("x +a -b c", "(x AND a AND NOT b AND c)"),
    ("-b", "NOT b"),
    ("a - b", "(a AND b)"),
    ("a b OR c", "((a AND b) OR c)"),
    ("a OR b c", "(a OR (b AND c))"),
    ("a AND b OR c AND d", "((a AND b) OR (c AND d))"),
    ("a OR b XOR c", "(a OR (b XOR c))"),
    ("a NOT b AND c", "(a AND NOT b AND c)"),
    ("a OR b OR c", "(a OR b OR c)"),
    ("(a OR b) c", "((a OR b) AND c)"),
    ("-(a OR b) c", "(NOT (a OR b) AND c)"),
    ("((a))", "a"),
    ("a AND(b OR c)", "(a AND (b OR c))"),
    # ranges
    ("d:20230102", "d:[2023-01-02T00:00:00Z,2023-01-03T00:00:00Z)"),
    ("d:2023-01-02", "d:[2023-01-02T00:00:00Z,2023-01-03T00:00:00Z)"),
    ("d:20230101..20230102", "d:[2023-01-01T00:00:00Z,2023-01-03T00:00:00Z)"),
    ("d:2023-01-01..2023-01-02", "d:[2023-01-01T00:00:00Z,2023-01-03T00:00:00Z)"),
    ("d:20230101..", "d:[2023-01-01T00:00:00Z,)"),
    ("d:..2023-01-02", "d:[,2023-01-03T00:00:00Z)"),
    ("d:yesterday", "d:[2023-11-13T00:00:00Z,2023-11-14T00:00:00Z)"),
    ("d:2.weeks.ago..", "d:[2023-10-31T22:13:20Z,)"),
    ("d:last.week..yesterday", "d:[2023-11-07T22:13:20Z,2023-11-13T22:13:21Z)"),
    ("d:..2.days.ago", "d:[,2023-11-12T22:13:21Z)"),
    ("d:2023-01-04.12:00..", "d:[2023-01-04T12:00:00Z,)"),
    ("d:1.jan.2023..jan.31", "d:[2023-01-01T22:13:20Z,2023-01-31T22:13:21Z)"),
    ("dt:20230102100000..20230102120000", "dt:[2023-01-02T10:00:00Z,2023-01-02T12:00:01Z)"),
    ("dt:20230102100000..", "dt:[2023-01-02T10:00:00Z,)"),
    ("dt:20230102100000", "dt:[2023-01-02T10:00:00Z,2023-01-03T10:00:00Z)"),
    ("dt:10.minutes.ago..", "dt:[2023-11-14T22:03:20Z,)"),
    ("rt:2023-01-04..", "rt:[2023-01-04T00:00:00Z,)"),
    ("rt:1672790400..", "rt:[2023-01-04T00:00:00Z,)"),
    ("rt:1672790400..1672790401", "rt:[2023-01-04T00:00:00Z,2023-01-04T00:00:02Z)"),
    ("rt:@1672790400..", "rt:[2023-01-04T00:00:00Z,)"),
    ("rt:3.days.ago..", "rt:[2023-11-11T22:13:20Z,)"),
    ("z:0..600", "z:[0,601)"),
    ("z:600..", "z:[600,)"),
    ("z:..600", "z:[,601)"),
    ("z:600", "z:[600,601)"),
    ("uid:1..2", "uid:[1,3)"),
    ("uid:5", "uid:[5,6)"),
    ("(d:..20230101)", "d:[,2023-01-02T00:00:00Z)"),
    ("+d:20230101.. -s:foo", "(d:[2023-01-01T00:00:00Z,) AND NOT s:foo)"),
    # b4 / liblore / lei, verbatim shapes (CLIENTS.md §1.2, §2)
    (
        f"patchid:{H40} OR patchid:{H40B}",
        f"(patchid:{H40} OR patchid:{H40B})",
    ),
    (
        '(nq:"change-id: 20261125-feature-abc123") AND d:20261101..',
        '(nq:"change id 20261125 feature abc123" AND d:[2026-11-01T00:00:00Z,))',
    ),
    (
        '(s:"[PATCH v2 1/3] foo: add bar" AND f:"alice@example.org") AND d:20231101..20231114',
        '(s:"PATCH v2 1 3 foo add bar" AND f:"alice example org" AND d:[2023-11-01T00:00:00Z,2023-11-15T00:00:00Z))',
    ),
    (f"patchid:{H40} AND d:..20231114", f"(patchid:{H40} AND d:[,2023-11-15T00:00:00Z))"),
    (
        '(s:"foo: add bar" AND f:"alice@example.org" AND d:..20231114)',
        '(s:"foo add bar" AND f:"alice example org" AND d:[,2023-11-15T00:00:00Z))',
    ),
    (
        '(nq:"change-id: X" AND s:"foo" AND d:..20231114)',
        '(nq:"change id X" AND s:"foo" AND d:[,2023-11-15T00:00:00Z))',
    ),
    ('nq:"change-id:20261125-feature-abc123"', 'nq:"change id 20261125 feature abc123"'),
    ('"change-id: 20261125-feature-abc123"', '"change id 20261125 feature abc123"'),
    ("dt:20231114221320..", "dt:[2023-11-14T22:13:20Z,)"),
    ("rt:1699999999..", "rt:[2023-11-14T22:13:19Z,)"),
    ("s:part s:2", "(s:part AND s:2)"),
    ("(s:part s:2) AND dt:20231112221320..", "(s:part AND s:2 AND dt:[2023-11-12T22:13:20Z,))"),
    # altid needs configuration
    ("gmane:12345", '"gmane 12345"'),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[c[0] for c in CASES])
def test_canonical(query: str, expected: str) -> None:
    assert p(query) == expected


def test_enough_cases() -> None:
    assert len(CASES) >= 80


ERRORS = [
    ("", "empty query", 0),
    ("   ", "empty query", 0),
    ("...", "empty query", 0),
    ("s:", "'s:' needs something to search for at 0", 0),
    ("foo s: bar", "'s:' needs something to search for at 4", 4),
    ("d:", "'d:' needs something to search for at 0", 0),
    ("mid:", "'mid:' needs a value at 0", 0),
    ("(a OR b", "unbalanced '(' at 0", 0),
    ("a (b (c)", "unbalanced '(' at 2", 2),
    ("a OR b)", "unbalanced ')' at 6", 6),
    (")", "unbalanced ')' at 0", 0),
    ("()", "empty parentheses at 0", 0),
    ('"abc', "unbalanced '\"' at 0", 0),
    ('s:"part 2', "unbalanced '\"' at 2", 2),
    ("“abc", "unbalanced '“' at 0", 0),
    ('mid:"abc', "unbalanced '\"' at 4", 4),
    ('""', "empty phrase at 0", 0),
    ('s:"..."', "empty phrase at 2", 2),
    ("AND a", "'AND' at 0 has nothing on its left", 0),
    ("NOT a", "'NOT' at 0 has nothing on its left; use -word to exclude a word", 0),
    ("a AND", "nothing after 'AND' at 2", 2),
    ("a OR", "nothing after 'OR' at 2", 2),
    ("(a OR) b", "nothing after 'OR' at 3", 3),
    ("a OR OR b", "nothing between 'OR' at 2 and 'OR' at 5", 5),
    ("a OR NOT b", "nothing between 'OR' at 2 and 'NOT' at 5", 5),
    ("d:fooday", "unknown date 'fooday' in d:fooday at 0", 0),
    ("a rt:monday..", "unknown date 'monday' in rt:monday at 2", 2),
    ("d:20231301", "invalid date '20231301' in d:20231301 at 0", 0),
    ("dt:20230230000000..", "invalid date '20230230000000' in dt:20230230000000 at 0", 0),
    ("d:..", "empty range '..' in d:.. at 0", 0),
    ("d:20230105..20230101", "range '20230105..20230101' in d:20230105..20230101 ends before it starts, at 0", 0),
    ("z:10..1", "range '10..1' in z:10..1 ends before it starts, at 0", 0),
    ("z:big", "'z:' needs a number, not 'big', at 0", 0),
    ("uid:1..x", "'uid:' needs a number, not 'x', at 0", 0),
    ('d:"yesterday"', "'d:' takes a value or a range A..B without quotes or parentheses at 0", 0),
    ("d:(20230101)", "'d:' takes a value or a range A..B without quotes or parentheses at 0", 0),
    ("mid:(foo)", "'mid:' takes one exact value, not a group, at 0", 0),
    ("patchid:xyz", "'patchid:' needs hexadecimal digits, not 'xyz', at 0", 0),
    ("dfpre:83db", "'dfpre:' needs at least 7 hex digits, not '83db', at 0", 0),
    ("dfpre:83db48f*", "wildcards do not work on 'dfpre:' at 0; any abbreviation of 7 or more hex digits matches", 0),
    ("patchid:abc*", "wildcards do not work on 'patchid:' at 0", 0),
    ("a*", "a wildcard needs at least 2 characters before '*': 'a*' at 0", 0),
    ("x foo.b*", "a wildcard '*' only works on a single word: 'foo.b*' at 2", 2),
    ("s:...", "nothing to search for in 's:...' at 0", 0),
    ("a ( )", "empty parentheses at 2", 2),
    ("-(", "unbalanced '(' at 1", 1),
    ("a " * 201, f"too many terms (more than 200) at {2 * 200}", 400),
    ("(" * 60 + "a" + ")" * 60, "parentheses nested too deeply (more than 50) at 50", 50),
    (
        "x" * (MAX_QUERY_CHARS + 1),
        f"query too long ({MAX_QUERY_CHARS + 1} characters, at most {MAX_QUERY_CHARS})",
        MAX_QUERY_CHARS,
    ),
]


@pytest.mark.parametrize(("query", "message", "position"), ERRORS, ids=[e[0][:30] for e in ERRORS])
def test_errors(query: str, message: str, position: int) -> None:
    with pytest.raises(QueryError) as ei:
        parse(query, now=NOW)
    assert ei.value.message == message
    assert ei.value.position == position
    assert str(ei.value) == message
    assert ei.value.exit_code == 2


def test_enough_errors() -> None:
    assert len(ERRORS) >= 20


def test_ast_objects() -> None:
    n = parse('s:"part 2" -frob* d:20230102 mid:<x@y>', now=NOW)
    assert n == And(
        (
            Phrase("s", ("part", "2")),
            Not(Term(None, "frob", True)),
            Range("d", 1672617600, 1672704000),
            Term("mid", "x@y"),
        )
    )
    assert hash(n) == hash(parse('s:"part 2" -frob* d:20230102 mid:<x@y>', now=NOW))


def test_altid() -> None:
    assert parse("gmane:12345", altids=["gmane"]) == Term("gmane", "12345")
    assert str(parse("gmane:123 foo", altids=["gmane"])) == "(gmane:123 AND foo)"


def test_timezone_shifts_relative_dates_only() -> None:
    east = 2 * 3600
    # NOW is 00:13:20 on the 15th in UTC+2: its midnight is 22:00 UTC on the 14th
    assert parse("dt:midnight..", now=NOW, tz_offset=east) == Range("dt", 1699999200, None)
    assert parse("dt:midnight..", now=NOW) == Range("dt", 1699920000, None)
    assert parse("d:20230102", now=NOW, tz_offset=east) == Range("d", 1672617600, 1672704000)


def test_default_now_is_the_clock() -> None:
    n = parse("rt:now..")
    assert isinstance(n, Range) and n.lo is not None
    assert abs(n.lo - time.time()) < 60


def test_split_words() -> None:
    assert split_words("foo-bar_baz v5.10 naïve, it's") == ["foo", "bar_baz", "v5", "10", "naïve", "it", "s"]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_parses_or_raises_query_error(q: str) -> None:
    t = time.perf_counter()
    try:
        n = parse(q, now=NOW)
    except QueryError as e:
        assert 0 <= e.position <= max(len(q), 0)
    else:
        assert str(n)
    assert time.perf_counter() - t < 0.2


_ALPHABET = st.sampled_from(
    ["a", "b", "s:", "d:", "mid:", "dfpre:", "z:", "rt:", "(", ")", '"', '""', " ", "-", "+", "*", "..", ".", ":", "@"]
    + ["AND", "OR", "NOT", "XOR", "20230101", "yesterday", "1234567", "ab*", "“", "”", "\u00e9", "0"]
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_query_shaped_text_parses_or_raises_query_error(q: str) -> None:
    try:
        parse(q, now=NOW)
    except QueryError as e:
        assert 0 <= e.position <= len(q)


def test_worst_case_inputs_are_fast() -> None:
    for q in ["(" * 1999, '"' * 2000, "a" * 2000, "s:" * 1000, "-" * 2000, "d:" + "." * 1998, "a:" * 1000, "x*" * 1000]:
        t = time.perf_counter()
        try:
            parse(q, now=NOW)
        except QueryError:
            pass
        assert time.perf_counter() - t < 0.5, q[:20]
