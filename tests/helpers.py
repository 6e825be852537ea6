"""Factories shared by tests: real inboxes in tmp dirs, real CLI runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pubinbox.config import InboxConfig

REPO = Path(__file__).resolve().parent.parent
PUBINBOX = [sys.executable, "-m", "pubinbox"]


def make_msg(
    n: int,
    *,
    mid: str | None = None,
    subject: str | None = None,
    refs: list[str] | None = None,
    body: str | None = None,
    to: str = "test@example.com",
    date: str | None = None,
    frm: str = "Alice Example <alice@example.com>",
) -> bytes:
    """A small well-formed message."""
    lines = [f"From: {frm}", f"To: {to}"]
    lines.append(f"Subject: {subject if subject is not None else f'message {n}'}")
    lines.append(f"Date: {date or f'Mon, 02 Jan 2023 {n % 24:02d}:00:00 +0000'}")
    if mid is not False:  # type: ignore[comparison-overlap]
        lines.append(f"Message-ID: <{mid or f'm{n}@example.com'}>")
    if refs:
        lines.append(f"In-Reply-To: <{refs[-1]}>")
        lines.append("References: " + " ".join(f"<{r}>" for r in refs))
    text = "\n".join(lines) + "\n\n" + (body if body is not None else f"body of message {n}\n")
    return text.encode()


def inbox_cfg(tmp: Path, name: str = "test", address: str = "test@example.com") -> InboxConfig:
    return InboxConfig(name=name, inboxdir=tmp / name, addresses=(address,))


def init_inbox(tmp: Path, name: str = "test", address: str = "test@example.com", *extra: str) -> Path:
    """`pubinbox init` a v2 inbox; returns its directory."""
    d = tmp / name
    run_cli("init", *extra, name, str(d), f"http://example.com/{name}", address, check=True)
    return d


def run_cli(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None, check: bool = False, timeout: float = 300
) -> subprocess.CompletedProcess[bytes]:
    e = dict(os.environ)
    if env:
        e.update(env)
    proc = subprocess.run([*PUBINBOX, *args], input=stdin, capture_output=True, env=e, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"pubinbox {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}"
        )
    return proc


def git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, check=True, text=True).stdout


def epoch_log(git_dir: Path) -> list[str]:
    """Commit ids of an epoch, oldest first."""
    out = git(git_dir, "rev-list", "--reverse", "refs/heads/master")
    return out.split()


def require_tool(name: str) -> str:
    """The path of a peer program; the test fails (not skips) without it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not on PATH: scripts/setup installs it (Debian package)", pytrace=False)
    return path


#: what mbsync adds to every message it stores
X_TUID = re.compile(rb"^X-TUID: [^\n]*\n", re.MULTILINE)
#: the Received: fetchmail adds when it fetches from 127.0.0.1
FETCHMAIL_RECEIVED = re.compile(rb"^Received: from 127\.0\.0\.1 [^\n]*\n(?:[ \t][^\n]*\n)*", re.MULTILINE)
