"""b4 0.16 (with liblore 0.10, from the venv) against a live HTTP server.

The test plan of shared/CLIENTS.md §1.9, one test per row, plus a
Message-ID with ``/`` and ``+`` and a body with mbox ``From `` lines.  The
corpus (tests/interop/b4_corpus.py: a real git repository, series v1 and v2
from ``git format-patch``, a review) is imported once per module with
``pubinbox import`` and served by one server for the whole module.

Which server: ``pubinbox serve`` by default; ``PUBINBOX_LIVE_SERVER=public-inbox``
runs the same tests against Debian's public-inbox-httpd 1.9 (the reference,
which shows that the tests themselves are right; see tests/live.py).
public-inbox 1.9 answers 404 on a top-level ``/<msgid>/``, so for it the
module also builds the ``/all/`` extindex, which is what b4 asks first when
the midmask is a bare host.

Every test runs b4 with its own HOME and XDG_* directories (a fresh liblore
cache), ``GIT_CONFIG_NOSYSTEM=1``, ``-n --no-stdin``, attestation off and
``b4.midmask`` / ``b4.linkmask`` on the local server, so nothing goes to the
network; b4 runs inside a clone of the corpus repository at ``base``.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.interop import b4_corpus
from tests.interop.b4_corpus import REVIEWED_BY, V1_THREAD, V2_THREAD, Corpus
from tests.live import LiveServer, clean_env, free_port, isolated_environ, live_server, server_kind

B4_BIN = Path(sys.executable).parent / "b4"
KIND = server_kind()

if KIND == "public-inbox":
    pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    root = tmp_path_factory.mktemp("b4-corpus")
    with isolated_environ(root / "home"):
        yield b4_corpus.build(root / "c")


@pytest.fixture(scope="module")
def srv(corpus: Corpus) -> Iterator[LiveServer]:
    env = clean_env(corpus.root / "server-home")
    with live_server(corpus.config, corpus.inbox, env=env, extindex=KIND == "public-inbox") as s:
        yield s


@dataclass
class B4:
    srv: LiveServer
    corpus: Corpus
    env: dict[str, str]
    repo: Path
    out: Path

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        if not B4_BIN.exists():
            pytest.fail(f"{B4_BIN} missing: b4 is installed in the venv by scripts/setup", pytrace=False)
        return subprocess.run(
            [str(B4_BIN), "-n", "--no-stdin", *args],
            cwd=cwd or self.repo,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, cwd: Path | None = None) -> str:
        """Run b4, require exit 0; returns stdout + stderr (b4 logs to stderr)."""
        p = self.run(*args, cwd=cwd)
        out = p.stdout + p.stderr
        assert p.returncode == 0, f"b4 {' '.join(args)} exited {p.returncode}:\n{out}{self.server_log()}"
        return out

    def git(self, *args: str) -> str:
        p = subprocess.run(["git", *args], cwd=self.repo, env=self.env, capture_output=True, text=True, check=False)
        assert p.returncode == 0, f"git {' '.join(args)}: {p.stderr}"
        return p.stdout

    def server_log(self) -> str:
        return f"\n--- {self.srv.kind} server stderr (end) ---\n{self.srv.stderr()[-3000:]}"

    def link(self, mid: str) -> str:
        return f"{self.srv.base}{mid}/"


@pytest.fixture
def b4(tmp_path: Path, srv: LiveServer, corpus: Corpus) -> B4:
    home = tmp_path / "home"
    env = clean_env(
        home,
        XDG_CACHE_HOME=str(tmp_path / "cache"),  # a fresh liblore cache for every test
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Maint Ainer\n\temail = maint@example.org\n"
        f"[b4]\n\tmidmask = {srv.base}%s\n\tlinkmask = {srv.base}%s/\n\tattestation-policy = off\n"
    )
    repo = tmp_path / "repo"
    subprocess.run(
        ["git", "clone", "-q", "--no-checkout", str(corpus.repo), str(repo)], env=env, check=True, capture_output=True
    )
    subprocess.run(["git", "checkout", "-q", "-b", "work", "base"], cwd=repo, env=env, check=True, capture_output=True)
    out = tmp_path / "out"
    out.mkdir()  # b4 mbox -o DIR needs DIR to exist
    return B4(srv, corpus, env, repo, out)


def _mids(path: Path) -> list[str]:
    """Message-IDs of an mbox file b4 wrote, in order."""
    box = mailbox.mbox(path, create=False)
    try:
        return [str(m["Message-ID"]).strip().strip("<>") for m in box]
    finally:
        box.close()


def _messages(path: Path) -> list[email.message.EmailMessage]:
    box = mailbox.mbox(path, create=False)
    try:
        return [email.message_from_bytes(box.get_bytes(k), policy=email.policy.default) for k in box.iterkeys()]
    finally:
        box.close()


def _only(paths: list[Path]) -> Path:
    assert len(paths) == 1, paths
    return paths[0]


def _trailers_of(out: str, patch: str) -> str:
    """The lines b4 prints under ``  [PATCH ...] subject`` up to the next patch."""
    m = re.search(re.escape(patch) + r"[^\n]*\n((?:    [^\n]*\n)*)", out)
    assert m, f"{patch!r} not in b4's output:\n{out}"
    return m.group(1)


# --------------------------------------------------------------------------
# the §1.9 table, row by row


def test_mbox_whole_thread(b4: B4) -> None:
    out = b4.ok("mbox", "-o", str(b4.out), "v1-2@example.org")
    f = b4.out / "v1-2@example.org.mbx"
    assert f.is_file(), out
    assert set(_mids(f)) == V1_THREAD and len(_mids(f)) == 5
    assert "5 messages in the thread" in out


def test_mbox_single_message_to_stdout(b4: B4) -> None:
    p = b4.run("mbox", "-o", "-", "--single-message", "review-v1-2@example.org")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("From mboxrd@z ") == 1, p.stdout
    assert re.findall(r"^Message-ID: <([^>]+)>", p.stdout, re.MULTILINE | re.IGNORECASE) == ["review-v1-2@example.org"]
    assert REVIEWED_BY in p.stdout


def test_am_collects_reviewed_by(b4: B4) -> None:
    out = b4.ok("am", "-o", str(b4.out), "cover.v1@example.org")
    assert "Total patches: 3" in out
    assert "+ Reviewed-by: Bob Reviewer <bob@example.org>" in _trailers_of(out, "[PATCH 2/3]")
    assert "Reviewed-by" not in _trailers_of(out, "[PATCH 1/3]") + _trailers_of(out, "[PATCH 3/3]")
    assert "Base: applies clean" in out
    mbx = _only(sorted(b4.out.glob("*.mbx")))
    assert _only(sorted(b4.out.glob("*.cover"))).read_text().count("change-id: 20261125-feature-abc123") == 1
    assert _mids(mbx) == ["v1-1@example.org", "v1-2@example.org", "v1-3@example.org"]
    # and the mbox applies, with the tag on 2/3 only
    b4.git("am", str(mbx))
    assert b4.git("log", "--format=%s", "base..HEAD").split("\n")[:3] == list(reversed(b4_corpus.PATCH_SUBJECTS))
    bodies = [b4.git("log", "-1", "--format=%B", f"HEAD~{n}") for n in (2, 1, 0)]
    assert [REVIEWED_BY in b for b in bodies] == [False, True, False]


def test_am_with_url(b4: B4) -> None:
    # the configured midmask leads nowhere (a closed port): only the URL's host can answer
    url = f"{b4.srv.base}v1-1@example.org/"
    out = b4.ok("-c", f"b4.midmask=http://127.0.0.1:{free_port()}/nowhere/%s", "am", "-o", str(b4.out), url)
    assert "Total patches: 3" in out
    assert _mids(_only(sorted(b4.out.glob("*.mbx")))) == ["v1-1@example.org", "v1-2@example.org", "v1-3@example.org"]


def test_am_check_newer_finds_v2(b4: B4) -> None:
    out = b4.ok("am", "-c", "-o", str(b4.out), "cover.v1@example.org")
    mbx = _only(sorted(b4.out.glob("*.mbx")))
    assert mbx.name.startswith("v2_"), (mbx, out)
    assert _mids(mbx) == ["v2-1@example.org", "v2-2@example.org", "v2-3@example.org"]
    assert "Total patches: 3" in out and "[PATCH v2 3/3]" in out


def test_am_v2_carries_review_by_patch_id(b4: B4) -> None:
    out = b4.ok("am", "-l", "-v", "2", "-o", str(b4.out), "cover.v2@example.org")
    assert "+ Reviewed-by: Bob Reviewer <bob@example.org>" in _trailers_of(out, "[PATCH v2 2/3]")
    msgs = _messages(_only(sorted(b4.out.glob("v2_*.mbx"))))
    assert [str(m["Message-ID"]).strip("<>") for m in msgs] == [f"v2-{n}@example.org" for n in (1, 2, 3)]
    for n, m in enumerate(msgs, 1):
        body = m.get_content()
        assert f"Link: {b4.link(f'v2-{n}@example.org')}\n" in body, body
        assert (REVIEWED_BY in body) == (n == 2), body


def test_shazam_applies_v2(b4: B4) -> None:
    b4.ok("shazam", "cover.v2@example.org")
    assert b4.git("log", "--format=%s", "base..HEAD").split("\n")[:3] == list(reversed(b4_corpus.PATCH_SUBJECTS))
    assert int(b4.git("rev-list", "--count", "base..HEAD")) == 3
    # the tree is v2's
    assert b4.git("rev-parse", "HEAD^{tree}") == b4.git("rev-parse", "origin/v2^{tree}")


def test_diff_finds_v1(b4: B4) -> None:
    out = b4.ok("diff", "-n", "cover.v2@example.org")
    assert re.search(r"git range-diff [0-9a-f]+\.\.[0-9a-f]+ [0-9a-f]+\.\.[0-9a-f]+", out), out
    assert "Added from v1: 4 patches" in out


def test_trailers_update_from_thread(b4: B4) -> None:
    # b4 trailers -u works on the user's own commits: apply v1 as Maint Ainer
    b4.git("cherry-pick", "base..origin/v1")
    out = b4.ok("trailers", "-u", "-F", "cover.v1@example.org", "--since-commit", "HEAD~2")
    assert "Updating trailers on 1 commit(s)" in out
    bodies = [b4.git("log", "-1", "--format=%B", f"HEAD~{n}") for n in (2, 1, 0)]
    assert [REVIEWED_BY in b for b in bodies] == [False, True, False], bodies


def test_dig_finds_series_by_patch_id(b4: B4) -> None:
    b4.git("reset", "-q", "--hard", "origin/v2")
    p = b4.run("dig", "-c", "HEAD~1")
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    # patchid:X AND d:..(commit date + 1 day) matches v1 2/3 only (v2 is newer)
    assert "[PATCH 2/3] feature: part 2 wires up beta" in out
    assert b4.link("v1-2@example.org") in out


def test_prep_from_thread(b4: B4) -> None:
    b4.ok("prep", "-n", "x", "-f", "base", "-F", "cover.v2@example.org")
    assert b4.git("rev-parse", "--abbrev-ref", "HEAD").strip() == "b4/x"
    subjects = b4.git("log", "--format=%s", "base..b4/x").split("\n")
    assert subjects[:3] == list(reversed(b4_corpus.PATCH_SUBJECTS)), subjects
    assert b4.git("rev-parse", "HEAD^{tree}") == b4.git("rev-parse", "origin/v2^{tree}")  # v2's tree


def test_not_found(b4: B4) -> None:
    p = b4.run("am", "-o", str(b4.out), "nosuch@example.org")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "Could not retrieve thread" in p.stderr
    assert not list(b4.out.iterdir())


def test_bare_host_midmask(b4: B4) -> None:
    # b4 asks {origin}/all/<msgid>/t.mbox.gz, then HEAD {origin}/<msgid>/ (the top-level redirect)
    out = b4.ok("-c", f"b4.midmask={b4.srv.origin}/%s", "am", "-C", "-o", str(b4.out), "v1-3@example.org")
    assert "Total patches: 3" in out
    assert _mids(_only(sorted(b4.out.glob("*.mbx")))) == ["v1-1@example.org", "v1-2@example.org", "v1-3@example.org"]


def test_mbox_nocache_refetches(b4: B4) -> None:
    b4.ok("mbox", "-o", str(b4.out), "v2-3@example.org")
    f = b4.out / "v2-3@example.org.mbx"
    assert set(_mids(f)) == V2_THREAD
    # make liblore's cache lie: without -C b4 believes it, with -C it asks the server
    caches = list(Path(b4.env["XDG_CACHE_HOME"]).glob("b4/lore/*.lore.cache"))
    assert caches
    stale = b"From mboxrd@z Thu Jan  1 00:00:00 1970\nFrom: x@example.org\nSubject: stale\nMessage-ID: <v2-3@example.org>\n\nstale\n"
    for c in caches:
        c.write_bytes(stale)
    b4.ok("mbox", "-o", str(b4.out), "v2-3@example.org")
    assert _mids(f) == ["v2-3@example.org"]  # from the cache
    out = b4.ok("mbox", "-C", "-o", str(b4.out), "v2-3@example.org")
    assert set(_mids(f)) == V2_THREAD and len(_mids(f)) == 4, out


# --------------------------------------------------------------------------
# also worth testing (§1.9)


def test_msgid_with_slash_and_plus_and_from_lines(b4: B4, corpus: Corpus) -> None:
    # the Message-ID goes out as odd%2Fmid%2Btag%40example.org; -M (maildir) keeps bodies exact
    out = b4.ok("mbox", "-M", "-o", str(b4.out), b4_corpus.ODD_MID)
    assert "2 messages in the thread" in out
    files = sorted((b4.out / "odd_mid+tag@example.org.maildir" / "new").iterdir())
    got = {}
    for f in files:
        m = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        got[str(m["Message-ID"]).strip("<>")] = m.get_content()
    assert set(got) == {b4_corpus.ODD_MID, b4_corpus.ODD_REPLY_MID}
    sent = next(raw for mid, raw in b4_corpus.messages(corpus.repo, corpus.commits) if mid == b4_corpus.ODD_MID)
    # exact, but for the blank line an mbox puts after each message
    assert got[b4_corpus.ODD_MID].rstrip("\n") == sent.split(b"\n\n", 1)[1].decode().rstrip("\n")
    for line in b4_corpus.FROM_LINES:
        assert f"\n{line}\n" in got[b4_corpus.ODD_MID]


def test_msgid_with_slash_and_plus_single_message(b4: B4) -> None:
    p = b4.run("mbox", "-o", "-", "--single-message", b4_corpus.ODD_REPLY_MID)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("From mboxrd@z ") == 1
    assert f"In-Reply-To: <{b4_corpus.ODD_MID}>" in p.stdout
