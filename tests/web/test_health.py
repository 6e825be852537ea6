"""/_/health: 200, the inbox count and the newest commit's age (issue 11)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from pubinbox.config import load
from pubinbox.web.app import build_app
from tests.helpers import make_msg, run_cli
from tests.web.conftest import asgi_request


def test_health(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg), "PI_EMERGENCY": str(tmp_path / "em")}
    for name in ("a", "b"):
        run_cli(
            "init", "-L", "basic", name, str(tmp_path / name), f"http://x/{name}", f"{name}@x.org", env=env, check=True
        )
    # nothing stored yet: no age
    r = asgi_request(build_app(load(cfg)), "/_/health")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"
    assert json.loads(r.content) == {"status": "ok", "inboxes": 2, "newest_commit_age": None}
    subprocess.run(["git", "config", "-f", str(cfg), "publicinboxmda.spamcheck", "none"], check=True)
    old = "Mon, 02 Jan 2023 10:00:00 +0000"
    p = run_cli("mda", stdin=make_msg(1, to="a@x.org", date=old), env=dict(env, ORIGINAL_RECIPIENT="a@x.org"))
    assert p.returncode == 0, p.stderr
    now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(time.time() - 3600))
    p = run_cli("mda", stdin=make_msg(2, to="b@x.org", date=now), env=dict(env, ORIGINAL_RECIPIENT="b@x.org"))
    assert p.returncode == 0, p.stderr
    got = json.loads(asgi_request(build_app(load(cfg)), "/_/health").content)
    assert got["inboxes"] == 2
    assert 3600 <= got["newest_commit_age"] < 3600 + 600  # b's, not a's from 2023
