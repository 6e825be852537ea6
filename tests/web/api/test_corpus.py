"""Corpus tier: the API's search on the whole linux-erofs epoch (15,218
messages) gives the Message-IDs of ``pubinbox q`` and of the HTML search,
in the same order, for 50 queries of every kind (issue 12)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pubinbox.config import load
from pubinbox.errors import QueryError
from pubinbox.web.app import App, build_app
from tests.helpers import run_cli
from tests.interop.test_search_differential import queries
from tests.live import clean_env, isolated_environ
from tests.web.api.conftest import api_mids, html_mids, q_mids

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

BUNDLE = "epochs/linux-erofs.lists.ozlabs.org.0.bundle"
#: hits compared per query (paged through 200 at a time)
CAP = 3000


@pytest.fixture(scope="module")
def erofs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, App]:
    from tests.conftest import _corpus_dir

    root = tmp_path_factory.mktemp("api-erofs")
    d = root / "erofs"
    (d / "git").mkdir(parents=True)
    cfg = root / "config"
    env = {"PI_CONFIG": str(cfg)}
    subprocess.run(
        ["git", "clone", "-q", "--mirror", str(_corpus_dir() / BUNDLE), str(d / "git" / "0.git")],
        env=clean_env(root / "home"),
        check=True,
    )
    with isolated_environ(root / "home"):
        run_cli(
            "init", "-L", "full", "erofs", str(d), "http://x/erofs", "linux-erofs@lists.ozlabs.org", env=env, check=True
        )
        run_cli("index", str(d), env=env, check=True, timeout=1200)
    return cfg, build_app(load(cfg))


def test_corpus_api_search_same_as_q_and_html(erofs: tuple[Path, App]) -> None:
    cfg, app = erofs
    inboxdir = next(i for i in load(cfg).inboxes if i.name == "erofs").inboxdir
    picked: list[str] = []
    for q in queries(inboxdir / "git" / "0.git"):
        try:
            q_mids(cfg, "erofs", q, limit=1)
        except QueryError:
            continue  # the errors are tested on the sample
        picked.append(q)
        if len(picked) == 50:
            break
    assert len(picked) == 50
    nonempty = 0
    for q in picked:
        want = q_mids(cfg, "erofs", q, limit=CAP)
        got = api_mids(app, "erofs", q, cap=CAP)[:CAP]
        assert got == want, q
        assert html_mids(app, "erofs", q) == want[:200], q
        nonempty += bool(want)
    assert nonempty >= 40  # the queries find things: the comparison means something
