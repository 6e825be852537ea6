"""/api/v1/ on a real ``pubinbox serve -W 2``: searches through the
supervisor's search process, ETags equal on every worker, CORS and JSON
errors over the wire, the clone URLs it lists work with git, and
schemathesis run against the OpenAPI file (issue 12)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.live import LiveServer, clean_env, live_server
from tests.web.api.conftest import q_mids
from tests.web.conftest import Archive, fetch

SPEC = Path(__file__).resolve().parents[3] / "src/pubinbox/web/api/openapi.json"
ST_CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.fixture(scope="module")
def srv(sample_archive: Archive) -> Iterator[LiveServer]:
    with live_server(sample_archive.config, "sample", kind="pubinbox", args=("-W", "2")) as s:
        yield s


def _json(srv: LiveServer, path: str, **kw: object) -> tuple[int, dict[str, str], object]:
    r = fetch(srv.origin + path, **kw)  # type: ignore[arg-type]
    assert r.media_type == "application/json", (path, r.headers)
    assert r.headers["access-control-allow-origin"] == "*"
    return r.status, r.headers, json.loads(r.body)


def _all_hits(srv: LiveServer, query: str) -> list[str]:
    out: list[str] = []
    cursor = ""
    while True:
        status, _h, doc = _json(srv, f"/api/v1/inboxes/sample/search?q={quote(query, safe='')}&limit=40{cursor}")
        assert status == 200, doc
        assert isinstance(doc, dict)
        out += [h["mid"] for h in doc["results"]]
        if doc["next"] is None:
            return out
        cursor = f"&cursor={doc['next']}"


@pytest.mark.parametrize("query", ["s:erofs", "b:deadlock", "f:hsiangkao@linux.alibaba.com AND s:PATCH", "s:*fix*"])
def test_live_search_same_as_q(srv: LiveServer, sample_archive: Archive, query: str) -> None:
    assert _all_hits(srv, query) == q_mids(sample_archive.config, "sample", query)


def test_live_etags_equal_on_every_worker(srv: LiveServer) -> None:
    """Requests spread over both workers (a new connection each): one ETag."""
    for path in ("/api/v1/inboxes/sample", "/api/v1/inboxes/sample/search?q=s:erofs&limit=3"):
        tags = {fetch(srv.origin + path).headers["etag"] for _ in range(12)}
        assert len(tags) == 1, tags
        tag = tags.pop()
        for _ in range(6):
            r = fetch(srv.origin + path, headers={"If-None-Match": tag})
            assert r.status == 304 and r.body == b""


def test_live_errors_and_cors(srv: LiveServer) -> None:
    status, _h, doc = _json(srv, "/api/v1/inboxes/sample/search?q=a&limit=100000")
    assert status == 400 and doc == {"error": {"status": 400, "message": "limit=100000 is out of range (1 to 200)"}}
    status, _h, doc = _json(srv, "/api/v1/inboxes/sample/search?q=" + quote(" XOR ".join(["b:th*"] * 40)))
    assert status == 400 and isinstance(doc, dict) and "too expensive" in doc["error"]["message"]
    status, h, doc = _json(srv, "/api/v1/inboxes/sample", method="POST")
    assert status == 405 and h["allow"] == "GET, HEAD, OPTIONS"
    r = fetch(srv.origin + "/api/v1/inboxes", method="OPTIONS", headers={"Origin": "https://x.example"})
    assert r.status == 204 and r.headers["access-control-allow-origin"] == "*"


def test_live_clone_urls_work(srv: LiveServer, tmp_path: Path) -> None:
    _s, _h, doc = _json(srv, "/api/v1/inboxes/sample")
    assert isinstance(doc, dict)
    env = clean_env(tmp_path / "home")
    for url in doc["clone_urls"]:
        p = subprocess.run(["git", "ls-remote", url], check=False, env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and "refs/heads/master" in p.stdout, (url, p.stderr)


def test_schemathesis(srv: LiveServer, tmp_path: Path) -> None:
    """Every check of schemathesis (status codes, content types, headers,
    response schemas, negative data rejected, unsupported methods, stateful
    links) against the OpenAPI file and the live server: no failure."""
    served = fetch(srv.origin + "/api/v1/openapi.json").body
    assert served == SPEC.read_bytes()
    p = subprocess.run(
        [str(SCHEMATHESIS), "--no-color", "--config-file", str(ST_CONFIG), "run", str(SPEC),
         "--url", srv.origin, "--checks", "all", "--max-examples", "40", "--seed", "12", "-w", "2"],
        check=False, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=clean_env(tmp_path / "home"),
    )  # fmt: skip
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-6000:]
    assert "No issues found" in out, out[-3000:]
    assert "Tested: 11" in out, out[-3000:]
