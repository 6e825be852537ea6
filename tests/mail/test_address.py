"""Tests for pubinbox.mail.address against hand cases and Email::Address::XS."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pubinbox.mail.address import emails, format_groups, names, pairs, parse_groups

HERE = Path(__file__).resolve().parent

TRICKY = [
    "Alice Example <alice@example.com>",
    "alice@example.com",
    "alice@example.com (Alice Example)",
    '"Example, Alice" <alice@example.com>',
    '"Theodore Ts\'o" <tytso@mit.edu>',
    '"a \\"quoted\\" name" <q@example.com>',
    "N P <np@gmail.co m>, A V <viro@z.uk>",
    "<a@b c>, d@e",
    "A <@r1,@r2:a@b>, x",
    "A <@r1 a@b>, x",
    "foo bar",
    "foo",
    "a@b, (unclosed",
    "g: a@b, c@d;, e@f",
    "g:;",
    "undisclosed-recipients:;",
    '"" <a@b>',
    "a.@b",
    "<a@b>",
    "  ",
    "",
    "a@b,,c@d",
    "a@b, c@d, ",
    "Name <a@b> (c1) (c2)",
    "(c1) Name (c2) <a@b> (c3)",
    "=?utf-8?q?J=C3=B6rg?= <j@x.de>",
    "J\xc3\xb6rg <j\xc3\xb6@x.de>",
    '"Sarah" <\xa0info@e2visa.com>',
    "a@[127.0.0.1]",
    "a@[127.0.0.1",
    "a@b.c.",
    "a @ b . c",
    '"unterminated <a@b>',
    "Name <a@b",
    "Name <a@>",
    "Name <@b>",
    "Name<a@b>",
    "a\\@b@c",
    "x\0y <a@b>",
    "'A U Thor <u@example.com>' via foo <foo@example.com>",
    "me@host (comment with \\) paren)",
    'Group: "x" <x@y>, z@w; trailing@garbage',
    "a@b\n c@d",
    ".dot <a@b>",
    "a.b.c",
    '"a""b" <c@d>',
]


def test_hand_cases() -> None:
    assert emails("Alice Example <alice@example.com>") == ["alice@example.com"]
    assert names("Alice Example <alice@example.com>") == ["Alice Example"]
    assert names("alice@example.com") == ["alice"]
    assert names("alice@example.com (Alice)") == ["Alice"]
    assert emails("a@b, c@d") == ["a@b", "c@d"]
    assert names("foo bar") == ["foo"] and emails("foo bar") == []
    assert emails("N P <np@gmail.co m>, A V <viro@z.uk>") == ["np@gmail.co"]
    assert pairs("A <a@b>") == [("A", "a@b")]
    assert emails('"a." <"a."@b>') == ['"a."@b']
    assert parse_groups("g:;") == [("g", [])]
    assert format_groups(parse_groups('"Ts\'o, T" <t@m>')) == '"Ts\'o, T" <t@m>'
    assert emails("") == [] and names("   ") == []


def _perl_address(values: list[str]) -> list[tuple[str, ...]]:
    perl = shutil.which("perl")
    assert perl is not None, "perl is required"
    data = "".join(v.encode("latin-1").hex() + "\n" for v in values)
    proc = subprocess.run([perl, str(HERE / "pi_addr.pl")], input=data.encode(), capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return [
        tuple(bytes.fromhex(c).decode("latin-1") for c in line.split("\t"))
        for line in proc.stdout.decode().splitlines()
    ]


@pytest.mark.peer
def test_against_email_address_xs() -> None:
    # byte strings (Perl flag off), as public-inbox passes raw header values
    want = _perl_address(TRICKY)
    assert len(want) == len(TRICKY)
    for value, (e, n, f) in zip(TRICKY, want):
        got = (
            "\0".join(emails(value)),
            "\0".join(names(value)),
            format_groups(parse_groups(value)),
        )
        assert got == (e, n, f), value


def test_simple_fast_path_agrees_with_full_parser(sample_mbox: Path, hard_dir: Path) -> None:
    """The regex fast path for plain address lists gives exactly what the
    character-level parser gives, on every From/To/Cc/Sender we have."""
    from pubinbox.mail import address as A
    from pubinbox.mail.mbox import iter_mbox
    from pubinbox.mail.parse import Headers

    raws = [p.read_bytes() for p in hard_dir.rglob("*.eml")]
    with open(sample_mbox, "rb") as f:
        raws += list(iter_mbox(f))
    values = {"a, b", "A <a@b>,", "x <a@b>,, y <c@d>", "a@b c@d", "A <a@b> B <c@d>", "A\tB <a@b>", "<a@b> junk"}
    for raw in raws:
        h = Headers(raw)
        for field in ("From", "To", "Cc", "Sender"):
            values.update(h.perl_raw(field) + h.raw(field))
    fast = 0
    for v in values:
        simple = A._simple_boxes(v)
        if simple is None:
            continue
        fast += 1
        assert simple == tuple(b for _, boxes in A.parse_groups(v) for b in boxes), v
    assert fast > 100
