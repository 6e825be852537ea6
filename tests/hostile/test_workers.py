"""A worker or a search that dies never takes the server down (issue 16):
a killed worker is replaced at once and the cause is logged, with ``-W 1``
too; a search process that is killed, stopped or runs out of its memory
budget costs one request a 503, and the next search works.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.hostile.conftest import alive, search_procs, serving, wait_for, workers
from tests.live import LiveServer
from tests.web.conftest import Archive, fetch


def _search(srv: LiveServer, q: str = "erofs", **params: str) -> int:
    url = f"{srv.base}?q={quote(q)}" + "".join(f"&{k}={v}" for k, v in params.items())
    return fetch(url, timeout=30).status


@pytest.mark.parametrize("nworkers", [1, 2])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGABRT, signal.SIGSEGV])
def test_dead_worker_replaced_and_logged(
    sample_hostile: Archive, tmp_path: Path, nworkers: int, sig: signal.Signals
) -> None:
    with serving(sample_hostile, tmp_path, workers=nworkers) as srv:
        wait_for(lambda: len(workers(srv)) == nworkers, what="workers")
        before = workers(srv)
        os.kill(before[0], sig)
        wait_for(lambda: len(workers(srv)) == nworkers and workers(srv) != before, what="a replacement worker")
        alive(srv)
        assert _search(srv) == 200
        wait_for(lambda: f"worker {before[0]} died (signal {sig.name})" in srv.stderr(), what="the log line")
        assert "Traceback" not in srv.stderr()


def test_hung_worker_replaced(sample_hostile: Archive, tmp_path: Path) -> None:
    """A worker that stops answering the parent's health check (SIGSTOP) is killed and replaced."""
    with serving(sample_hostile, tmp_path, workers=2) as srv:
        wait_for(lambda: len(workers(srv)) == 2, what="workers")
        before = workers(srv)
        os.kill(before[1], signal.SIGSTOP)
        wait_for(lambda: before[1] not in workers(srv) and len(workers(srv)) == 2, timeout=30, what="replacement")
        assert f"worker {before[1]} stopped answering" in srv.stderr()
        alive(srv)


def _child(srv: LiveServer) -> int:
    (w,) = workers(srv)
    wait_for(lambda: len(search_procs(w)) == 1, what="a search process")
    return search_procs(w)[0]


def test_killed_search_process_replaced(sample_hostile: Archive, tmp_path: Path) -> None:
    with serving(sample_hostile, tmp_path, workers=1) as srv:
        assert _search(srv) == 200
        child = _child(srv)
        os.kill(child, signal.SIGKILL)
        time.sleep(0.2)
        assert _search(srv) == 200  # a new child answers
        assert _child(srv) != child
        alive(srv)


def test_stuck_search_hits_deadline(sample_hostile: Archive, tmp_path: Path) -> None:
    """A search that does not answer within pubinbox.searchTimeout: 503 with
    a page saying so; the child is replaced; cheap pages never waited."""
    with serving(sample_hostile, tmp_path, workers=1, settings={"searchTimeout": "2"}) as srv:
        assert _search(srv) == 200
        child = _child(srv)
        os.kill(child, signal.SIGSTOP)  # as good as a query that never ends
        t0 = time.monotonic()
        r = fetch(f"{srv.base}?q=erofs", timeout=30)
        took = time.monotonic() - t0
        assert r.status == 503, r.body[:300]
        assert b"longer than 2s" in r.body
        assert r.headers.get("retry-after")
        assert 1.5 < took < 6, took
        assert _search(srv) == 200
        assert _child(srv) != child
        assert re.search(r"search process \d+ ran past the deadline", srv.stderr())
        alive(srv)


def test_cheap_pages_do_not_wait_for_search(sample_hostile: Archive, tmp_path: Path) -> None:
    """While a search hangs (its process stopped), message pages and the
    index answer at once on the same single worker."""
    import threading

    with serving(sample_hostile, tmp_path, workers=1, settings={"searchTimeout": "4"}) as srv:
        assert _search(srv) == 200
        os.kill(_child(srv), signal.SIGSTOP)
        t = threading.Thread(target=_search, args=(srv,))
        t.start()
        time.sleep(0.3)
        lat = []
        for _ in range(20):
            t0 = time.monotonic()
            assert fetch(srv.base, timeout=10).status == 200
            lat.append(time.monotonic() - t0)
        t.join()
        assert max(lat) < 1.0, lat


def test_search_memory_cap(sample_hostile: Archive, tmp_path: Path) -> None:
    """With pubinbox.searchMemory just above what the search process needs,
    a deep page (Tantivy allocates room for every hit up to the offset) hits
    the cap: that request gets a 503, the worker lives, the next search works."""
    with serving(sample_hostile, tmp_path / "a", workers=1) as srv:
        assert _search(srv) == 200
        child = _child(srv)
        with open(f"/proc/{child}/status") as f:
            vmdata_kb = int(re.search(r"VmData:\s+(\d+)", f.read()).group(1))  # type: ignore[union-attr]
    cap = vmdata_kb * 1024 + (3 << 20)  # 3 MB to spare; o=100000 needs >= 4.8 MB
    with serving(sample_hostile, tmp_path / "b", workers=1, settings={"searchMemory": str(cap)}) as srv:
        before = workers(srv)
        assert _search(srv) == 200
        assert _search(srv, "erofs", o="100000") == 503
        assert re.search(r"search process \d+ died", srv.stderr()), srv.stderr()
        assert _search(srv) == 200
        assert workers(srv) == before
        alive(srv)
