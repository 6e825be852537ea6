"""Fixtures of the hostile-request suite: a real archive served by a real
``pubinbox serve`` (``-W 1`` or ``-W 2``) on 127.0.0.1, and the means to
watch it: its worker processes, its search process, their memory.

* ``sample_hostile`` (module): sample/sample.mbox (295 real linux-erofs
  messages) imported at ``-L full``.
* :func:`serving` -- ``pubinbox serve -W N`` over an archive, with
  ``pubinbox.*`` settings for the run (short timeouts keep tests quick).
* :func:`alive` -- a cheap page answers 200 quickly.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_MBOX
from tests.live import LiveServer, live_server
from tests.web.conftest import Archive, build_inbox, config_with, fetch


@pytest.fixture(scope="module")
def sample_hostile(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """sample/sample.mbox in inbox ``sample`` (-L full), imported once per module."""
    return build_inbox(tmp_path_factory.mktemp("hostile-sample"), "sample", "sample@example.com", SAMPLE_MBOX)


@contextlib.contextmanager
def serving(
    archive: Archive, tmp: Path, *, workers: int = 1, settings: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """``pubinbox serve -W workers`` over *archive* with ``pubinbox.KEY = VALUE`` *settings*."""
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = config_with(archive.config, tmp, *((f"pubinbox.{k}", v) for k, v in (settings or {}).items()))
    with live_server(cfg, archive.name, kind="pubinbox", args=("-W", str(workers))) as srv:
        yield srv


def alive(srv: LiveServer, *, within: float = 5.0) -> None:
    """Assert that a cheap page answers 200 within *within* seconds."""
    t0 = time.monotonic()
    r = fetch(f"{srv.base}_/text/help/", timeout=within)
    took = time.monotonic() - t0
    assert r.status == 200, (r.status, r.body[:200])
    assert took < within, f"cheap page took {took:.2f}s"


def children(pid: int) -> list[int]:
    """Direct child processes of *pid* (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == pid:
            out.append(int(d))
    return sorted(out)


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def workers(srv: LiveServer) -> list[int]:
    """The worker processes of a running ``pubinbox serve``."""
    return [p for p in children(srv.pid) if "pubinbox.web.worker" in cmdline(p)]


def search_procs(parent: int) -> list[int]:
    """The search process(es) started by *parent* (``pubinbox serve``'s
    supervisor starts the one its workers share)."""
    return [p for p in children(parent) if "pubinbox.search.server" in cmdline(p)]


def rss(pid: int) -> int:
    """Resident bytes of a process (0 when gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def wait_for(cond: object, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll *cond* (a callable) until true; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


__all__ = [
    "SAMPLE_MBOX",
    "alive",
    "children",
    "cmdline",
    "rss",
    "search_procs",
    "serving",
    "wait_for",
    "workers",
]
