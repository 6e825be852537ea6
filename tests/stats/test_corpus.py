"""Corpus tier: the figures of linux-erofs and linux-f2fs-devel as
``/$INBOX/_/stats/json`` gives them equal a count made here from git and
Python's ``email`` package (tests/stats/independent.py): every month
(messages, new threads, patches), the dates outside the span, the top 20
posters and reviewers of the default year and the first-reply figures of
every quarter (issue 17)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from pubinbox.config import load
from pubinbox.web.app import build_app
from tests.helpers import run_cli
from tests.live import clean_env, isolated_environ
from tests.stats.independent import figures, first_reply, read_epoch
from tests.web.conftest import asgi_request

pytestmark = [pytest.mark.corpus, pytest.mark.slow]


def _stats(app: Any, name: str) -> dict[str, Any]:
    """The JSON once the review trailers are all read (a fresh archive's
    backlog is read by a background process)."""
    deadline = time.monotonic() + 600
    while True:
        r = asgi_request(app, f"/{name}/_/stats/json")
        assert r.status_code == 200, r.text
        doc: dict[str, Any] = json.loads(r.content)
        if doc["reviews_pending"] == 0:
            return doc
        assert time.monotonic() < deadline, "review trailers still being read after 600 s"
        time.sleep(1)


@pytest.mark.parametrize(
    "bundle", ["linux-erofs.lists.ozlabs.org.0.bundle", "linux-f2fs-devel.lists.sourceforge.net.0.bundle"]
)
def test_corpus_figures_equal_independent_count(bundle: str, corpus_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "l"
    (d / "git").mkdir(parents=True)
    git_dir = d / "git" / "0.git"
    subprocess.run(
        ["git", "clone", "-q", "--mirror", str(corpus_dir / "epochs" / bundle), str(git_dir)],
        env=clean_env(tmp_path / "home"),
        check=True,
    )
    env = {"PI_CONFIG": str(tmp_path / "config")}
    with isolated_environ(tmp_path / "home"):
        run_cli("init", "-L", "basic", "l", str(d), "http://x/l", "l@x", env=env, check=True)
        run_cli("index", str(d), env=env, check=True, timeout=1200)
    app = build_app(load(tmp_path / "config"))
    doc = _stats(app, "l")

    msgs = read_epoch(git_dir)
    ind = figures(msgs)
    assert doc["messages"] == len(msgs) == sum(m["messages"] for m in doc["months"])
    assert doc["span"]["outside"] == ind["outside"]
    ours = {m["month"]: (m["messages"], m["threads"], m["patches"]) for m in doc["months"] if m["messages"]}
    assert ours == ind["months"]
    assert all(m["replies"] == m["messages"] - m["patches"] for m in doc["months"])

    want_posters = sorted(ind["posters"].items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert [p["messages"] for p in doc["posters"]] == [n for _k, n in want_posters]
    for p, (k, _n) in zip(doc["posters"], want_posters, strict=True):
        assert p["address"] == k or k == "via:" + p["name"].lower(), (p, k)

    want_reviewers = sorted(ind["reviewers"].items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert [(r["address"], r["trailers"]) for r in doc["reviewers"]] == want_reviewers
    assert len(want_reviewers) == 20  # both lists have plenty

    fr = {
        q["quarter"]: (q["patches"], q["replied"], q["old_enough"], q["no_reply_30d"], q["median_hours"])
        for q in doc["first_reply"]
    }
    assert fr == first_reply(msgs)
