"""Two real inboxes with cross-posts and a cross-inbox index, for the
tests of issue 9: ``a`` holds the first 200 messages of the sample archive
(linux-erofs), ``b`` the last 145 with a ``List-Id`` of its own added, so
the 50 in both are cross-posts with different blobs and the same content
(what a message sent to two lists looks like in their archives)."""

from __future__ import annotations

import mailbox
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pubinbox.store.layout import Layout
from tests.helpers import REPO, run_cli

SAMPLE = REPO / "sample" / "sample.mbox"
SPLIT_A, SPLIT_B = 200, 150


@dataclass(frozen=True)
class Site:
    root: Path
    config: Path
    topdir: Path
    msgs: list[bytes]

    def cli(self, *args: str, stdin: bytes | None = None) -> str:
        return run_cli("--config", str(self.config), *args, stdin=stdin, check=True).stdout.decode()


def _mbox(path: Path, msgs: list[bytes]) -> Path:
    with open(path, "wb") as f:
        for m in msgs:
            f.write(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n")
            f.writelines((b">" + ln if ln.lstrip(b">").startswith(b"From ") else ln) + b"\n" for ln in m.split(b"\n"))
    return path


def _messages() -> list[bytes]:
    box = mailbox.mbox(SAMPLE, create=False)
    try:
        return [m.as_bytes() for m in box]
    finally:
        box.close()


def build_site(root: Path, *, extindex_first: bool) -> Site:
    """Two inboxes; with *extindex_first* the index is configured before
    any mail arrives (so only the ingest hooks build it)."""
    config = root / "config"
    topdir = root / "all"
    msgs = _messages()
    site = Site(root, config, topdir, msgs)
    if extindex_first:
        run_cli("--config", str(config), "init", "a", str(root / "a"), "http://x/a", "a@example.com", check=True)
        _set(config, "extindex.all.topdir", str(topdir))
    else:
        site.cli("init", "a", str(root / "a"), "http://x/a", "a@example.com")
    site.cli("init", "b", str(root / "b"), "http://x/b", "b@example.com")
    site.cli("import", "a", str(_mbox(root / "a.mbox", msgs[:SPLIT_A])))
    b_msgs = [b"List-Id: <b.example.com>\n" + m for m in msgs[SPLIT_B:]]
    site.cli("import", "b", str(_mbox(root / "b.mbox", b_msgs)))
    if not extindex_first:
        _set(config, "extindex.all.topdir", str(topdir))
        site.cli("extindex", "--all")
    return site


def _set(config: Path, key: str, val: str) -> None:
    subprocess.run(["git", "config", "-f", str(config), key, val], check=True)


def _db(site: Site) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Layout(site.topdir).over_db}?mode=ro", uri=True)
