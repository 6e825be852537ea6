"""The blob solver ``/$INBOX/$OID/s/`` against public-inbox-httpd (1.9).

One inbox holds the sample archive (295 real linux-erofs messages) and a
few synthetic patch mails made from a small git history built here; the
inbox's ``coderepo`` is a bare repository holding only that history's
first commit (plus two blobs whose ids share 7 hex digits).  Both servers
serve the same inbox and config.  For each blob id asked, the raw
``/s/FILENAME`` must get the same status from both and, when found, the
same bytes:

* 40 ``index A..B`` lines sampled from the sample archive's patches
  (their pre-images are Linux blobs nobody has here: only new files can be
  rebuilt, the rest are "not found" on both sides);
* a 3-patch chain on top of the coderepo's ``foo.c`` (found, and equal to
  the blob git made);
* an abbreviation that is ambiguous in the coderepo (not found on both);
* a patch whose hunk does not apply (not found);
* hostile file names (``../``, control characters): not found, and nothing
  written outside the solver's temporary directory.

The HTML page of the chain shows the line numbers and every message of the
chain in the debug log; message pages link hunk headers as public-inbox's.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_MBOX
from tests.interop.test_web_differential import norm_tags
from tests.live import LiveServer, isolated_environ, live_server
from tests.web.conftest import build_inbox, fetch, git_config, mid_url

pytestmark = [pytest.mark.peer, pytest.mark.slow]

SAMPLE_LINES = 40
_INDEX = re.compile(r"^index ([a-f0-9]{7,})\.\.([a-f0-9]{7,})", re.MULTILINE)


def _git(cwd: Path, *args: str, data: bytes | None = None) -> str:
    p = subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True, check=True)
    return p.stdout.decode()


def ambiguous_pair() -> tuple[bytes, bytes, str]:
    """Two blob contents whose ids share their first 7 hex digits (found in ~45,000 tries)."""
    seen: dict[str, bytes] = {}
    i = 0
    while True:
        c = f"amb {i}\n".encode()
        h = hashlib.sha1(b"blob %d\0" % len(c) + c).hexdigest()
        if h[:7] in seen:
            return seen[h[:7]], c, h[:7]
        seen[h[:7]] = c
        i += 1


MAIL = """From x@y Thu Jan  1 00:00:00 1970
From: Mallory <m@example.com>
To: sample@example.com
Subject: [PATCH] {subject}
Date: Thu, 3 Dec 2026 12:00:0{n} +0000
Message-ID: <{mid}@example.com>

{subject}
---
{diff}--
2.39.5

"""


@dataclass
class Setup:
    root: Path
    config: Path
    name: str
    chain_oid: str
    chain_bytes: bytes
    bad_oid: str
    amb_prefix: str
    hostile: list[tuple[str, str]]  # (oid, path)
    new_file: tuple[str, str, bytes]
    sampled: list[tuple[str, str]]  # (oid, b path)


def _sample_lines(mbox: bytes, n: int) -> list[tuple[str, str]]:
    """(post-image id, path) of *n* index lines of the sample, spread evenly, distinct."""
    text = mbox.decode("utf-8", "replace")
    found: dict[str, str] = {}
    for m in re.finditer(
        r"^diff --git a/(\S+) b/(\S+)\n(?:[a-z].*\n)*?index ([a-f0-9]{7,})\.\.([a-f0-9]{7,})", text, re.MULTILINE
    ):
        if not re.fullmatch("0+", m.group(4)):
            found.setdefault(m.group(4), m.group(2))
    items = sorted(found.items())
    step = max(len(items) // n, 1)
    return items[::step][:n]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("solver")
    with isolated_environ(root / "home"):
        code = root / "code"
        code.mkdir()
        _git(code, "init", "-q")
        _git(code, "config", "user.name", "T")
        _git(code, "config", "user.email", "t@example.com")
        (code / "foo.c").write_text("int a;\nint b;\nint c;\n")
        _git(code, "add", ".")
        _git(code, "commit", "-qm", "base")
        base_foo = _git(code, "rev-parse", "HEAD:foo.c").strip()
        for i in (1, 2, 3):
            with open(code / "foo.c", "a") as f:
                f.write(f"int change{i};\n")
            _git(code, "commit", "-qam", f"change {i}")
        chain_oid = _git(code, "rev-parse", "HEAD:foo.c").strip()
        chain_bytes = (code / "foo.c").read_bytes()
        patches = root / "patches"
        _git(code, "format-patch", "-q", "--thread", "-o", str(patches), "HEAD~3")
        mirror = root / "code.git"
        _git(root, "clone", "-q", "--bare", str(code), str(mirror))
        _git(mirror, "update-ref", "refs/heads/master", "HEAD~3")
        _git(mirror, "reflog", "expire", "--expire=now", "--all")
        _git(mirror, "gc", "-q", "--prune=now")
        a, b, amb = ambiguous_pair()
        _git(mirror, "hash-object", "-w", "--stdin", data=a)
        _git(mirror, "hash-object", "-w", "--stdin", data=b)

        # synthetic mails: a patch that does not apply, hostile names, a new file
        mails = []
        bad_oid = "1111111"
        bad = (
            f"diff --git a/foo.c b/foo.c\nindex {base_foo[:7]}..{bad_oid} 100644\n--- a/foo.c\n+++ b/foo.c\n"
            "@@ -1,3 +1,3 @@\n int x;\n-int y;\n+int z;\n int w;\n"
        )
        mails.append(("does not apply", "bad", bad))
        hostile = []
        for n, path in enumerate(["../../evil-solver-file", '"\\001ctl\\033[31mname"', "/abs/evil-solver"]):
            oid = f"{n + 2}" * 7
            qa = f'"a/{path[1:-1]}"' if path.startswith('"') else f"a/{path}"
            qb = f'"b/{path[1:-1]}"' if path.startswith('"') else f"b/{path}"
            diff = (
                f"diff --git {qa} {qb}\nnew file mode 100644\nindex 0000000..{oid}\n--- /dev/null\n+++ {qb}\n"
                "@@ -0,0 +1 @@\n+evil\n"
            )
            mails.append((f"hostile {n}", f"hostile{n}", diff))
            hostile.append((oid, path))
        new_content = b"hello\nworld\n"
        new_oid = hashlib.sha1(b"blob %d\0" % len(new_content) + new_content).hexdigest()
        newf = (
            f"diff --git a/docs/new.txt b/docs/new.txt\nnew file mode 100644\nindex 0000000..{new_oid[:12]}\n"
            "--- /dev/null\n+++ b/docs/new.txt\n@@ -0,0 +1,2 @@\n+hello\n+world\n"
        )
        mails.append(("new file", "newfile", newf))
        extra = root / "extra.mbox"
        extra.write_text(
            "".join(MAIL.format(subject=s, mid=m, diff=d, n=i) for i, (s, m, d) in enumerate(mails)), "utf-8"
        )
        arch = build_inbox(
            root / "inbox", "sample", "sample@example.com", SAMPLE_MBOX, extra, *sorted(patches.iterdir())
        )
        git_config(arch.config, f"publicinbox.{arch.name}.coderepo", "code")
        git_config(arch.config, "coderepo.code.dir", str(mirror))
        git_config(arch.config, "coderepo.code.cgitUrl", "https://git.example.org/code")
        yield Setup(
            root,
            arch.config,
            arch.name,
            chain_oid,
            chain_bytes,
            bad_oid,
            amb,
            hostile,
            (new_oid, "docs/new.txt", new_content),
            _sample_lines(SAMPLE_MBOX.read_bytes(), SAMPLE_LINES),
        )


def _urls(s: Setup) -> list[str]:
    urls = [f"{s.chain_oid[:7]}/s/foo.c", f"{s.chain_oid}/s/foo.c", f"{s.bad_oid}/s/foo.c", f"{s.amb_prefix}/s/blob"]
    urls += [f"{oid}/s/x" for oid, _p in s.hostile]
    urls.append(f"{s.new_file[0][:10]}/s/new.txt")
    urls += [f"{oid}/s/{p.rsplit('/', 1)[-1]}?b={p}" for oid, p in s.sampled]
    return urls


def _answers(srv: LiveServer, urls: list[str]) -> dict[str, tuple[int, bytes]]:
    out = {}
    for u in urls:
        r = fetch(srv.base + u)
        out[u] = (r.status, r.body if r.status == 200 else b"")
    return out


@pytest.fixture(scope="module")
def both(setup: Setup) -> tuple[dict[str, tuple[int, bytes]], dict[str, tuple[int, bytes]]]:
    urls = _urls(setup)
    with isolated_environ(setup.root / "home"):
        with live_server(setup.config, setup.name, kind="public-inbox", timeout=120) as pi:
            theirs = _answers(pi, urls)
        with live_server(setup.config, setup.name, kind="pubinbox") as pb:
            ours = _answers(pb, urls)
    return theirs, ours


def test_same_verdicts_and_bytes(setup: Setup, both: tuple[dict[str, tuple[int, bytes]], ...]) -> None:
    theirs, ours = both
    # public-inbox 1.9 answers 500 when git apply fails (its solver dies);
    # pubinbox says "not found" with the log (404): the same verdict
    theirs = {u: (404, b) if st == 500 else (st, b) for u, (st, b) in theirs.items()}
    assert theirs[f"{setup.bad_oid}/s/foo.c"][0] == 404
    diffs = [f"{u}: public-inbox {theirs[u][0]} {len(theirs[u][1])}B, pubinbox {ours[u][0]} {len(ours[u][1])}B"
             for u in theirs if theirs[u] != ours[u]]  # fmt: skip
    assert not diffs, "\n".join(diffs)
    assert len(setup.sampled) >= SAMPLE_LINES // 2


def test_chain_new_file_and_failures(setup: Setup, both: tuple[dict[str, tuple[int, bytes]], ...]) -> None:
    _theirs, ours = both
    assert ours[f"{setup.chain_oid[:7]}/s/foo.c"] == (200, setup.chain_bytes)
    assert ours[f"{setup.chain_oid}/s/foo.c"] == (200, setup.chain_bytes)
    assert ours[f"{setup.new_file[0][:10]}/s/new.txt"] == (200, setup.new_file[2])
    assert ours[f"{setup.bad_oid}/s/foo.c"][0] == 404
    assert ours[f"{setup.amb_prefix}/s/blob"][0] == 404
    for oid, _p in setup.hostile:
        assert ours[f"{oid}/s/x"][0] == 404
    # nothing escaped: no file named like the hostile paths anywhere near
    for d in (setup.root, setup.root.parent, Path("/tmp"), Path("/abs")):
        if d.exists():
            assert not any(p.name.startswith("evil-solver") for p in d.iterdir())


def test_pages_and_links(setup: Setup) -> None:
    with isolated_environ(setup.root / "home"), live_server(setup.config, setup.name, kind="pubinbox") as pb:
        page = fetch(f"{pb.base}{setup.chain_oid[:7]}/s/?b=foo.c")
        assert page.status == 200
        html = page.text()
        assert f"{setup.chain_oid} blob {len(setup.chain_bytes)} bytes (<a href=foo.c>raw</a>)" in html
        assert "<a id=n6 href=#n6>6</a>" in html
        assert html.count("Applied patch foo.c cleanly") == 3
        assert "found " in html and "https://git.example.org/code" in html
        assert fetch(f"{pb.base}{setup.chain_oid[:7]}/s").status == 301
        amb = fetch(f"{pb.base}{setup.amb_prefix}/s/").text()
        assert "ambiguous in" in amb and amb.count(f"{setup.amb_prefix}") >= 3
        bad = fetch(f"{pb.base}{setup.bad_oid}/s/?b=foo.c")
        assert bad.status == 404 and "git apply failed" in bad.text()
        # the message page of patch 2 links its hunk header to both blobs
        mbox = (setup.root / "patches").iterdir()
        p2 = next(p for p in sorted(mbox) if p.name.startswith("0002"))
        mid = re.search(r"^Message-I[dD]: <([^>]+)>", p2.read_text(), re.MULTILINE)
        assert mid is not None
        msg = fetch(mid_url(pb.base, mid.group(1))).text()
        m = _INDEX.search(p2.read_text())
        assert m is not None
        pre, post = m.group(1), m.group(2)
        assert re.search(
            rf'@@ <a href="\.\./{pre}/s/\?b=foo\.c#n2">-2,3</a> <a href="\.\./{post}/s/\?b=foo\.c#n2">', msg
        )


_SPAN = re.compile(r'<span class="(?:head|hunk)">.*?</span>', re.DOTALL)
_LINK = re.compile(r'<a href="([^"]*/s/[^"]*)">([^<]*)</a>')


def _diff_spans(page: str) -> list[str]:
    return _SPAN.findall(norm_tags(page))


def _patch_mids(s: Setup) -> list[str]:
    """Message pages with patches: the chain's, the synthetic ones, a few of the sample's."""
    mids = []
    for p in sorted((s.root / "patches").iterdir()):
        m = re.search(r"^Message-I[dD]: <([^>]+)>", p.read_text(), re.MULTILINE)
        assert m is not None
        mids.append(m.group(1))
    mids += [f"{m}@example.com" for m in ("bad", "newfile", "hostile0", "hostile1")]
    sample = SAMPLE_MBOX.read_text("utf-8", "replace")
    for msg in sample.split("\nFrom ")[:200]:
        m = re.search(r"^Message-I[dD]:\s*<([^>]+)>", msg, re.MULTILINE | re.IGNORECASE)
        if m and "\ndiff --git " in msg and len(mids) < 20:
            mids.append(m.group(1))
    return mids


def test_message_page_links_as_public_inbox_plus_ours(setup: Setup) -> None:
    """Message pages' patch headers and hunks equal public-inbox's once the
    links pubinbox adds (both ids of ``index``, both names of ``diff
    --git``) are dropped; every link public-inbox has, pubinbox has."""
    mids = _patch_mids(setup)
    pages: dict[str, list[str]] = {}
    with isolated_environ(setup.root / "home"):
        for kind in ("public-inbox", "pubinbox"):
            with live_server(setup.config, setup.name, kind=kind, timeout=120) as srv:
                pages[kind] = [fetch(mid_url(srv.base, m)).text() for m in mids]
    checked = 0
    for mid, theirs, ours in zip(mids, pages["public-inbox"], pages["pubinbox"], strict=True):
        t_spans, o_spans = _diff_spans(theirs), _diff_spans(ours)
        theirs_links = {(h, x) for sp in t_spans for h, x in _LINK.findall(sp)}
        ours_links = {(h, x) for sp in o_spans for h, x in _LINK.findall(sp)}
        assert theirs_links <= ours_links, (mid, theirs_links - ours_links)
        extra = ours_links - theirs_links

        def drop(m: re.Match[str], extra: set[tuple[str, str]] = extra) -> str:
            return m.group(2) if (m.group(1), m.group(2)) in extra else m.group(0)

        normalised = []
        for sp in o_spans:
            if sp.startswith('<span class="head">'):
                # only on the diff --git and index lines
                lines = [
                    _LINK.sub(drop, line) if line.startswith(("diff --git ", "index ", '<span class="head">')) else line
                    for line in sp.split("\n")
                ]
                sp = "\n".join(lines)
            normalised.append(sp)
        assert normalised == t_spans, mid
        checked += bool(extra)
    assert checked >= 5  # pages where pubinbox links more than public-inbox
