"""IMAP SEARCH BODY with the search index as a sieve: the hits stay exactly
RFC 3501's substrings (checked against every message read from git), the
index rules plain messages out once a scan has seen them, work is bounded.

The inbox is the sample archive indexed at level full (a real Tantivy index,
searched through pubinbox's search process); strings are cut from the
messages themselves (so each has hits) and chosen to hit what the index
leaves out (diff header lines, MIME part headers, HTML).
"""

from __future__ import annotations

import imaplib
import random
from array import array
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from pubinbox.config import Env, load
from pubinbox.imap import scan
from pubinbox.imap.narrow import PlainCache, inner_words, is_plain, unindexed_words
from pubinbox.imap.search import compile_keys, split_raw
from pubinbox.web.site import Site
from tests.live import isolated_environ
from tests.nntp.conftest import GROUP, SampleGroup, make_group
from tests.nntp.servers import pubinbox_serve

#: strings that sit in what the index does not hold: diff headers, MIME
#: part headers and boundaries, encodings
TRICKY = ["diff --git a/", " index ", "--- a/fs", "+++ b/fs", "@@ -", " 100644", "content-type: text/plain",
          "charset=", "content-transfer-encoding", "new file mode", "=20", "\n-- \n", " git ", " the ",
          "\nindex ", " a/fs/erofs/", "@@ static ", ".c | "]  # fmt: skip


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleGroup]:
    tmp = tmp_path_factory.mktemp("narrow")
    with isolated_environ(tmp / "home") as env:
        yield make_group(tmp, env, level="full")


@pytest.fixture(scope="module")
def site(full: SampleGroup) -> Iterator[Site]:
    s = Site(load(Env.from_os().config_path(str(full.config))))
    try:
        yield s
    finally:
        s.close()


def _bodies(site: Site) -> dict[int, str]:
    box = site.inbox("test")
    return {r.num: split_raw(box.raw(r))[1].decode("utf-8", "replace").lower() for r in box.over.iter_all()}


def _needles(bodies: dict[int, str]) -> list[str]:
    rnd = random.Random(10)
    out = list(TRICKY)
    texts = list(bodies.values())
    while len(out) < len(TRICKY) + 60:
        t = rnd.choice(texts)
        if len(t) < 200:
            continue
        i = rnd.randrange(len(t) - 40)
        out.append(t[i : i + rnd.randrange(6, 30)])
    return out


def _compiled(needle: str, nuids: int) -> Any:
    return compile_keys([b"BODY", needle.encode()], SimpleNamespace(uids=array("q", range(1, nuids + 1))))  # type: ignore[arg-type]


def test_hits_exact_with_and_without_the_index(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "PLAIN", PlainCache())
    bodies = _bodies(site)
    uids = array("q", sorted(bodies))
    narrowed = skipped = 0
    for round_ in range(2):  # the first scans learn which messages are plain
        for needle in _needles(bodies):
            want = sorted(n for n, b in bodies.items() if needle in b)
            run = scan._run(site, "test", uids, _compiled(needle, len(uids)), True)
            assert run.hits == want, (round_, needle)
            assert run.read + run.skipped == len(uids)
            if round_ == 1 and inner_words(needle):
                narrowed += run.narrowed
                skipped += run.skipped
    assert narrowed > 10  # the index was used ...
    assert skipped > 1000  # ... and spared reading messages


def test_not_narrowed_under_not_or(site: Site) -> None:
    uids = array("q", sorted(_bodies(site)))
    for keys in ([b"NOT", b"BODY", b"x the y"], [b"OR", b"BODY", b"x the y", b"SUBJECT", b"erofs"]):
        c = compile_keys(keys, SimpleNamespace(uids=uids))  # type: ignore[arg-type]
        assert c.body_needles == ()
    c = compile_keys([[b"BODY", b"a the b"], b"SINCE", b"1-Jan-2000"], SimpleNamespace(uids=uids))  # type: ignore[arg-type]
    assert c.body_needles == ("a the b",) and c.reads


def test_budget(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "MAX_READ", 100_000)
    uids = array("q", sorted(_bodies(site)))
    run = scan._run(site, "test", uids, _compiled("frobnicate", len(uids)), True)
    assert run.refused.startswith("[LIMIT] this SEARCH would read ") and run.read == 0
    c = compile_keys([b"SUBJECT", b"erofs"], SimpleNamespace(uids=uids))  # type: ignore[arg-type]
    assert not scan._run(site, "test", uids, c, True).refused  # the overview alone: no budget


def test_live_imap(full: SampleGroup, site: Site) -> None:
    bodies = _bodies(site)
    with pubinbox_serve(full.config, "imap") as srv, imaplib.IMAP4("127.0.0.1", srv.port, timeout=60) as im:
        im.login("anonymous", "x")
        im.select(f"{GROUP}.0", readonly=True)
        for needle in ["the erofs", " index ", "--- a/", *_needles(bodies)[-10:]]:
            if not needle.isprintable() or '"' in needle or "\\" in needle:
                continue
            want = sorted(n for n, b in bodies.items() if needle in b)
            for _ in range(2):
                typ, data = im.uid("SEARCH", "CHARSET", "UTF-8", "BODY", f'"{needle}"')
                assert typ == "OK", data
                assert sorted(int(x) for x in data[0].split()) == want, needle


# -- the rules ------------------------------------------------------------------


def test_inner_words() -> None:
    assert inner_words("hello world again") == ["world"]
    assert inner_words("foo-bar") == []  # both may be parts of longer words
    assert inner_words("x read_folio(y") == ["read_folio"]
    assert inner_words("xéfooéy") == []  # beside non-ASCII: another charset may read a letter there
    assert inner_words("a " + "x" * 80 + " b") == []  # longer than the index's words
    assert inner_words("a bb cc dd b") == ["bb", "cc", "dd"]


def test_is_plain() -> None:
    assert is_plain(b"Subject: x\n\nhello world\n")
    assert is_plain(b"Subject: x\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nhello\r\n")
    assert is_plain(
        b'Content-Type: text/plain; charset="iso-8859-1"; format=flowed\nContent-Transfer-Encoding: 8bit\n\nx\n'
    )
    assert is_plain(PATCH)  # a patch too: its unindexed words are remembered
    for raw in (
        b"Content-Type: text/html\n\n<p>hello</p>\n",
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n--b--\n",
        b"Content-Transfer-Encoding: base64\n\naGVsbG8K\n",
        b"Content-Transfer-Encoding: quoted-printable\n\nhel=\nlo\n",
        b"Content-Type: text/plain; charset=utf-16\n\nx\n",
        b"Subject: patch\n\nfix\ndiff --git a/x b/x\nGIT binary patch\nliteral 5\nzcmZ\n",
        b"Content-Type: text/plain\nContent-Type: text/html\n\nx\n",
        b"Subject: lone\rCR\n\nx\n",
        b"no blank line at all\n",
    ):
        assert not is_plain(raw), raw


PATCH = b"""Subject: [PATCH] erofs: fix it

Frobnicate the widget.

Signed-off-by: A U Thor <a@example.com>
---
 fs/erofs/super.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/fs/erofs/super.c b/fs/erofs/super.c
index 1234abc..5678def 100644
--- a/fs/erofs/super.c
+++ b/fs/erofs/super.c
@@ -10,7 +10,7 @@ static int erofs_fill_super(void)
 \tint err;
-\terr = old_call(sb);
+\terr = new_call(sb);
 \treturn err;
--=20
2.43.0
"""


def test_unindexed_words() -> None:
    """The indexer's own extraction says which words of a patch the index
    lacks: the word index, the a/ b/ of --- +++ lines (numbers and hex ids
    never narrow, so they are not listed); the prose and +/- lines are in."""
    missing = unindexed_words(PATCH)
    assert "index" in missing  # a/ and b/ are in the diff --git line, which is indexed
    bare = b"Subject: x\n\nfix\n--- a/fs/x.c\n+++ b/fs/x.c\n@@ -1 +1 @@\n-old\n+new\n"
    assert unindexed_words(bare) == {"a", "b"}
    assert not {"frobnicate", "widget", "old_call", "new_call", "erofs_fill_super", "err", "sb"} & missing
    assert not {w for w in missing if w.isdigit() or w in ("1234abc", "5678def")}
    assert unindexed_words(b"Subject: x\n\nplain prose only\n") == set()


def test_plain_cache_follows_the_blob() -> None:
    c = PlainCache()
    c.learn("a", 7, "1234abcd" + "0" * 32, set())
    assert c.plain("a", 7, "1234abcd" + "0" * 32)
    assert not c.plain("a", 7, "99999999" + "0" * 32)  # edited: another blob, learnt again
    assert not c.plain("a", 8, "1234abcd" + "0" * 32) and not c.plain("b", 7, "1234abcd" + "0" * 32)
    c.learn("a", 7, "1234abcd" + "0" * 32, None)
    assert not c.plain("a", 7, "1234abcd" + "0" * 32)
    c.learn("a", 9, "1234abcd" + "0" * 32, {"index", "a"})  # words the index lacks: never narrowed on
    assert c.plain("a", 9, "1234abcd" + "0" * 32) and c.unsafe == {"index", "a"}
