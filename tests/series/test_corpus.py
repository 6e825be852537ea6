"""Corpus tier: series detection over whole lists (linux-erofs,
linux-f2fs-devel): every series is made of patches of its author, version
and size; the series pages, mboxes and API documents of a sample of them
answer 200 (never a 500) and hold what the database says (issue 12)."""

from __future__ import annotations

import json
import random
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from pubinbox.config import load
from pubinbox.series.detect import author_email
from pubinbox.series.subject import parse_subject
from pubinbox.web.app import build_app
from tests.helpers import run_cli
from tests.live import clean_env, isolated_environ
from tests.web.conftest import asgi_request

pytestmark = [pytest.mark.corpus, pytest.mark.slow]


@pytest.mark.parametrize(
    "bundle", ["linux-erofs.lists.ozlabs.org.0.bundle", "linux-f2fs-devel.lists.sourceforge.net.0.bundle"]
)
def test_corpus_series(bundle: str, corpus_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "l"
    (d / "git").mkdir(parents=True)
    subprocess.run(
        ["git", "clone", "-q", "--mirror", str(corpus_dir / "epochs" / bundle), str(d / "git" / "0.git")],
        env=clean_env(tmp_path / "home"),
        check=True,
    )
    env = {"PI_CONFIG": str(tmp_path / "config")}
    with isolated_environ(tmp_path / "home"):
        run_cli("init", "-L", "basic", "l", str(d), "http://x/l", "l@x", env=env, check=True)
        run_cli("index", str(d), env=env, check=True, timeout=1200)
    db = sqlite3.connect(d / "pubinbox" / "series.sqlite3")
    over = sqlite3.connect(d / "pubinbox" / "over.sqlite3")
    series = db.execute("SELECT id, version, total, email, present, cover FROM series").fetchall()
    assert len(series) > 500
    multi = 0
    for sid, version, total, email, present, cover in series:
        members = db.execute("SELECT num, counter FROM series_msg WHERE series_id = ?", (sid,)).fetchall()
        assert present == len([c for _n, c in members if c]) <= total
        assert (cover is not None) == any(c == 0 for _n, c in members)
        for num, counter in members:
            subject, from_ = over.execute("SELECT subject, from_ FROM over WHERE num = ?", (num,)).fetchone()
            ps = parse_subject(subject)
            assert ps is not None and (ps.version == version or not ps.versioned), (sid, subject)
            assert author_email(from_) == email
            if total > 1:
                assert (ps.counter, ps.total) == (counter, total), (sid, subject)
        multi += total > 1
    assert multi > 100
    app = build_app(load(tmp_path / "config"))
    assert asgi_request(app, "/l/series/").status_code == 200
    rng = random.Random(12)
    for sid, _v, total, _e, present, _c in rng.sample(series, 50):
        q = sid.replace("/", "%2F")
        assert asgi_request(app, f"/l/series/{q}/").status_code == 200, sid
        mbox = asgi_request(app, f"/l/series/{q}/mbox")
        # b4 am's format; a partial reroll is filled from the revision before
        got = len(re.findall(rb"^From git@z ", mbox.content, re.MULTILINE))
        assert mbox.status_code == 200 and present <= got <= total, sid
        doc = json.loads(asgi_request(app, f"/api/v1/inboxes/l/series/{q}").content)
        assert doc["total"] == total and len(doc["patches"]) == total
