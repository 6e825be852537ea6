"""IMAP SEARCH BODY on linux-erofs (corpus tier): the search index's sieve
never loses a hit.

The real epoch, indexed at level full; 30 strings (ones aimed at diff header
lines, and cuts of real bodies with an inner word) searched twice over the
whole mailbox with :func:`pubinbox.imap.scan._run` (real Tantivy index
through pubinbox's search process, real git).  Every answer equals the
substring test over every body; the second round rules most messages out
without reading them.
"""

from __future__ import annotations

import random
import subprocess
from array import array
from pathlib import Path
from types import SimpleNamespace

import pytest

from pubinbox.config import Env, load
from pubinbox.imap import scan
from pubinbox.imap.narrow import PlainCache, inner_words
from pubinbox.imap.search import compile_keys, split_raw
from pubinbox.web.site import Site
from tests.helpers import run_cli
from tests.live import isolated_environ

pytestmark = [pytest.mark.corpus, pytest.mark.slow]
BUNDLE = "epochs/linux-erofs.lists.ozlabs.org.0.bundle"


def test_body_search_exact_on_erofs(tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "PLAIN", PlainCache())
    with isolated_environ(tmp_path / "home") as env:
        inbox, config = tmp_path / "erofs", tmp_path / "config"
        env = dict(env, PI_CONFIG=str(config))
        (inbox / "git").mkdir(parents=True)
        subprocess.run(["git", "clone", "-q", "--mirror", str(corpus_dir / BUNDLE), str(inbox / "git" / "0.git")],
                       check=True)  # fmt: skip
        run_cli("init", "-L", "full", "--ng", "erofs.test", "erofs", str(inbox), "http://x/erofs",
                "linux-erofs@lists.ozlabs.org", env=env, check=True)  # fmt: skip
        run_cli("index", str(inbox), env=env, check=True, timeout=1800)
        site = Site(load(Env.from_os().config_path(str(config))))
        try:
            box = site.inbox("erofs")
            bodies = {r.num: split_raw(box.raw(r))[1].decode("utf-8", "replace").lower() for r in box.over.iter_all()}
            uids = array("q", sorted(bodies))
            assert len(uids) > 15000
            rnd = random.Random(7)
            texts = [t for t in bodies.values() if len(t) > 300]
            needles = [" index ", "--- a/fs", " a/fs/erofs/", "\nindex ", " the ", "erofs_fill_super(", "@@ static "]
            while len(needles) < 30:
                t = rnd.choice(texts)
                i = rnd.randrange(len(t) - 40)
                n = t[i : i + rnd.randrange(8, 30)]
                if inner_words(n):
                    needles.append(n)
            skipped = 0
            for round_ in range(2):
                for n in needles:
                    want = [k for k in uids if n in bodies[k]]
                    c = compile_keys([b"BODY", n.encode()], SimpleNamespace(uids=uids))  # type: ignore[arg-type]
                    run = scan._run(site, "erofs", uids, c, True)
                    assert run.hits == want, (round_, n, sorted(set(want) - set(run.hits))[:10])
                    skipped += run.skipped if round_ else 0
            assert skipped > len(needles) * len(uids) // 4  # the index spared reading many
        finally:
            site.close()
