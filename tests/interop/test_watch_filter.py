"""``publicinbox.NAME.filter`` in watch: pubinbox watch and Debian's
public-inbox-watch 1.9 import the same Maildirs into twin inboxes with the
Vger, SubjectTag and Gmane filters (their scrub step) and store the same
bytes; a watchspam copy of a scrubbed message removes it."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import epoch_log, git, make_msg, run_cli
from tests.live import clean_env

pytestmark = pytest.mark.peer

WAIT = 120.0

VGER_TRAILER = (
    "--\n"
    'To unsubscribe from this list: send the line "unsubscribe linux-kernel" in\n'
    "the body of a message to majordomo@vger.kernel.org\n"
    "More majordomo info at  http://vger.kernel.org/majordomo-info.html\n"
    "Please read the FAQ at  http://www.tux.org/lkml/\n"
)

FILTERS = {
    "vger": "PublicInbox::Filter::Vger",
    "tag": "PublicInbox::Filter::SubjectTag -tag [foo]",
    "gmane": "PublicInbox::Filter::Gmane",
}


def _messages(name: str) -> list[bytes]:
    to = f"{name}@example.com"
    if name == "vger":
        return [
            make_msg(1, to=to, body="a patch\n" + VGER_TRAILER),
            make_msg(2, to=to, body="older trailer\n" + VGER_TRAILER.replace("--\n", "-\n").rsplit("Please", 1)[0]),
            make_msg(3, to=to, body="no trailer here\n"),
        ]
    if name == "tag":
        subjects = [
            "[foo] hello",
            "Re: [foo] a reply",
            "[FOO]   spaced out",
            "no tag [foo]",
            "=?UTF-8?Q?[foo]_h=C3=A9llo?=",
            "=?UTF-8?Q?[foo]_" + "=C3=A9t=C3=A9_" * 12 + "?=",
        ]
        return [make_msg(10 + i, to=to, subject=s) for i, s in enumerate(subjects)]
    gm = make_msg(20, to="someone@gmane.example").replace(
        b"\n\n",
        b"\nOriginal-To: gmane@example.com\nOriginal-Received: from a by b\nX-From: x@y\nApproved: yes\n\n",
        1,
    )
    return [gm, make_msg(21, to=to)]


def _drop(md: Path, raws: list[bytes]) -> None:
    for sub in ("new", "cur", "tmp"):
        (md / sub).mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(raws):
        (md / "tmp" / f"{i}.host").write_bytes(raw)
        os.rename(md / "tmp" / f"{i}.host", md / "new" / f"{i}.host")


def _blobs(d: Path) -> list[bytes]:
    g = d / "git" / "0.git"
    return [git(g, "show", f"{c}:m").encode() for c in epoch_log(g)] if (g / "refs").exists() else []


def _count(d: Path) -> int:
    mm = d / "msgmap.sqlite3"
    if not mm.exists():
        return 0
    db = sqlite3.connect(mm)
    try:
        return int(db.execute("SELECT COUNT(*) FROM msgmap").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def test_filter_scrub_like_public_inbox_watch(tmp_path: Path) -> None:
    if shutil.which("public-inbox-watch") is None:
        pytest.fail("public-inbox-watch missing: install Debian's public-inbox (scripts/setup does)")
    sides = {}
    for side in ("ours", "theirs"):
        top = tmp_path / side
        cfg = top / "config"
        env = clean_env(top / "home", PI_CONFIG=str(cfg), PI_EMERGENCY=str(top / "em"))
        for name, flt in FILTERS.items():
            md = top / f"md-{name}"
            d = top / name
            args = [name, str(d), f"http://x/{name}", f"{name}@example.com"]
            if side == "ours":
                run_cli("init", "-L", "basic", *args, env=env, check=True)
            else:
                subprocess.run(["public-inbox-init", "-V2", "-L", "basic", *args], env=env, check=True)
            for k, v in ((f"publicinbox.{name}.watch", f"maildir:{md}"), (f"publicinbox.{name}.filter", flt)):
                subprocess.run(["git", "config", "-f", str(cfg), k, v], check=True)
            _drop(md, _messages(name))
        subprocess.run(["git", "config", "-f", str(cfg), "publicinboxwatch.spamcheck", "none"], check=True)
        sides[side] = (top, env)
    top, env = sides["ours"]
    p = run_cli("watch", "--once", env=env)
    assert p.returncode == 0, p.stderr
    top_pi, env_pi = sides["theirs"]
    log = open(top_pi / "watch.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(["public-inbox-watch"], env=env_pi, stdout=log, stderr=log, start_new_session=True)
    try:
        want = {name: len(_messages(name)) for name in FILTERS}
        deadline = time.monotonic() + WAIT
        while any(_count(top_pi / n) < c for n, c in want.items()):
            assert proc.poll() is None and time.monotonic() < deadline, (top_pi / "watch.log").read_text()
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGQUIT)
        proc.wait(timeout=60)
        log.close()
    for name in FILTERS:
        ours, theirs = _blobs(top / name), _blobs(top_pi / name)
        assert len(ours) == want[name]
        assert sorted(ours) == sorted(theirs), name  # the order each lists a Maildir may differ
    # the scrub did something on each
    assert VGER_TRAILER.encode() not in _blobs(top / "vger")[0]
    assert b"Subject: hello\n" in _blobs(top / "tag")[0]
    assert b"Original-To" not in _blobs(top / "gmane")[0] and b"To: gmane@example.com" in _blobs(top / "gmane")[0]


def test_watchspam_removes_the_scrubbed_copy(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    env = clean_env(tmp_path / "home", PI_CONFIG=str(cfg), PI_EMERGENCY=str(tmp_path / "em"))
    md, spam = tmp_path / "md", tmp_path / "spam"
    run_cli(
        "init", "-L", "basic", "vger", str(tmp_path / "vger"), "http://x/v", "vger@example.com", env=env, check=True
    )
    for k, v in (
        ("publicinbox.vger.watch", f"maildir:{md}"),
        ("publicinbox.vger.filter", FILTERS["vger"]),
        ("publicinboxwatch.watchspam", f"maildir:{spam}"),
    ):
        subprocess.run(["git", "config", "-f", str(cfg), k, v], check=True)
    msgs = _messages("vger")
    _drop(md, msgs)
    _drop(spam, [])
    p = run_cli("watch", "--once", env=env)
    assert p.returncode == 0, p.stderr
    assert _count(tmp_path / "vger") == 3
    # the spam as it came from the list (with the trailer the archive does not have)
    (spam / "cur" / "s.host:2,S").write_bytes(msgs[0])
    p = run_cli("watch", "--once", env=env)
    assert p.returncode == 0, p.stderr
    assert _count(tmp_path / "vger") == 2 and b"removed 1" in p.stderr
