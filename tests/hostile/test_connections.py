"""Slow, idle and greedy HTTP clients against a live ``pubinbox serve``
(issue 16, defect 6): header and body timeouts, idle keep-alive close, URL
and header limits enforced while reading, caps on connections per worker
and per client address -- with cheap requests still answered throughout.

Clients that must look like other hosts bind to other loopback addresses
(127.0.0.0/8 is all loopback on Linux).  20,000 idle connections need more
file descriptors than one process may have here (20,000), so they are
opened by helper processes (``_hold.py``), 5,000 each.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.conftest import alive, serving, workers
from tests.live import LiveServer
from tests.web.conftest import Archive, fetch

HOLD = Path(__file__).with_name("_hold.py")

SETTINGS = {"headerTimeout": "2", "idleTimeout": "3", "clientConnections": "16", "workerConnections": "512"}


@pytest.fixture(scope="module")
def srv(sample_hostile: Archive, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(sample_hostile, tmp_path_factory.mktemp("conn"), workers=1, settings=SETTINGS) as s:
        yield s


def _conn(srv: LiveServer, source: str = "127.0.0.1", timeout: float = 15) -> socket.socket:
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", srv.port))
    return s


def _read_all(s: socket.socket) -> bytes:
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return out


def test_silent_connection_closed(srv: LiveServer) -> None:
    t0 = time.monotonic()
    with _conn(srv) as s:
        assert _read_all(s) == b""  # closed, nothing said
        took = time.monotonic() - t0
        assert 1.5 < took < 6, took


def test_slowloris_gets_408(srv: LiveServer) -> None:
    with _conn(srv) as s:
        s.sendall(b"GET /sample/ HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        got = b""
        try:
            for _ in range(20):  # one header line a second: never finishes
                s.sendall(b"X-Slow: 1\r\n")
                time.sleep(0.5)
        except OSError:
            pass
        got = _read_all(s)
        assert got.startswith(b"HTTP/1.1 408"), got[:200]
        assert time.monotonic() - t0 < 6


def test_idle_keepalive_closed(srv: LiveServer) -> None:
    with _conn(srv) as s:
        s.sendall(b"GET /sample/_/text/help/ HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.monotonic()
        data = _read_all(s)  # the page, then the close after idleTimeout
        assert data.startswith(b"HTTP/1.1 200")
        took = time.monotonic() - t0
        assert 2 < took < 8, took


def test_huge_url_refused_while_reading(srv: LiveServer) -> None:
    """100 MB of URL: refused after the first 16 KiB, not buffered whole."""
    with _conn(srv) as s:
        t0 = time.monotonic()
        sent = 0
        try:
            s.sendall(b"GET /")
            chunk = b"a" * 65536
            while sent < 100 << 20:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        got = _read_all(s)
        assert got.startswith((b"HTTP/1.1 414", b"HTTP/1.1 431")), got[:200]
        assert sent < 16 << 20, f"the server read {sent} bytes of URL"
        assert time.monotonic() - t0 < 5
    alive(srv)


def test_huge_header_value_refused(srv: LiveServer) -> None:
    with _conn(srv) as s:
        try:
            s.sendall(b"GET /sample/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (10 << 20) + b"\r\n\r\n")
        except OSError:
            pass
        got = _read_all(s)
        assert got.startswith(b"HTTP/1.1 431"), got[:200]
    alive(srv)


def test_too_many_header_fields_refused(srv: LiveServer) -> None:
    with _conn(srv) as s:
        s.sendall(b"GET /sample/ HTTP/1.1\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(500)) + b"\r\n")
        assert _read_all(s).startswith(b"HTTP/1.1 431")


def test_trickled_post_body_gets_408(srv: LiveServer) -> None:
    with _conn(srv) as s:
        s.sendall(b"POST /sample/?q=erofs&x=m HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx=")
        t0 = time.monotonic()
        got = _read_all(s)
        assert got.startswith(b"HTTP/1.1 408"), got[:200]
        assert time.monotonic() - t0 < 6
    alive(srv)


def test_per_client_cap_closes_own_idle(srv: LiveServer) -> None:
    """One address opening 64 idle connections keeps at most 16; the oldest
    are the ones closed, and another address is not affected."""
    socks = [_conn(srv, "127.0.0.9") for _ in range(64)]
    time.sleep(0.3)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed += 1
    assert closed >= 64 - 16, closed
    # the newest ones survive
    socks[-1].setblocking(True)
    socks[-1].sendall(b"GET /sample/_/text/help/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert socks[-1].recv(15) == b"HTTP/1.1 200 OK"
    alive(srv)
    for s in socks:
        s.close()


def _cheap_loop(srv: LiveServer, stop: threading.Event, lat: list[float], errors: list[str]) -> None:
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            r = fetch(f"{srv.base}_/text/help/", timeout=10)
            if r.status != 200:
                errors.append(f"status {r.status}")
        except OSError as e:
            errors.append(repr(e))
        lat.append(time.monotonic() - t0)
        time.sleep(0.02)


def _p99(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else 0.0


@pytest.mark.slow
def test_500_slowloris_connections(srv: LiveServer) -> None:
    """500 connections sending one byte a second from 25 addresses: all are
    cut off within the header timeout, and cheap requests keep working."""
    stop = threading.Event()
    lat: list[float] = []
    errors: list[str] = []
    cheap = threading.Thread(target=_cheap_loop, args=(srv, stop, lat, errors))
    cheap.start()
    socks = []
    try:
        for i in range(500):
            socks.append(_conn(srv, f"127.0.2.{1 + i % 25}"))
        head = b"GET /sample/ HTTP/1.1\r\nHost: x\r\nX-Slow: "
        dead = set()
        t0 = time.monotonic()
        for k in range(12):  # a byte a second for up to 12 s
            for n, s in enumerate(socks):
                if n in dead:
                    continue
                try:
                    s.sendall(head[k : k + 1] if k < len(head) else b"a")
                except OSError:
                    dead.add(n)
            time.sleep(1)
            if len(dead) == len(socks):
                break
        for n, s in enumerate(socks):
            s.setblocking(False)
            try:
                if s.recv(65536) in (b"",) or n in dead:
                    dead.add(n)
            except BlockingIOError:
                pass
            except OSError:
                dead.add(n)
        # every slow connection was cut (408 or closed) within the 2 s timeout (+ slack)
        assert time.monotonic() - t0 < 14
        assert len(dead) >= 490, f"only {len(dead)} of 500 slow connections were closed"
    finally:
        stop.set()
        cheap.join()
        for s in socks:
            s.close()
    assert not errors, errors[:5]
    assert len(lat) > 20
    print(f"cheap requests during slowloris: n={len(lat)} p99={_p99(lat) * 1000:.1f} ms")
    alive(srv)


@pytest.mark.slow
def test_20000_idle_connections(sample_hostile: Archive, tmp_path: Path) -> None:
    """20,000 idle connections from 200 addresses against the default caps
    (4,096 per worker, 128 per address) and a long header timeout: the
    worker stays within its caps (and its file limit), the oldest idle
    connections are the ones closed, and cheap requests keep working."""
    with serving(sample_hostile, tmp_path, workers=1, settings={"headerTimeout": "120"}) as srv:
        (worker,) = workers(srv)
        stop = threading.Event()
        lat: list[float] = []
        errors: list[str] = []
        cheap = threading.Thread(target=_cheap_loop, args=(srv, stop, lat, errors))
        cheap.start()
        holders = []
        try:
            for k in range(4):  # 4 processes x 5,000 connections, 50 addresses each
                sources = ",".join(f"127.1.{k}.{i}" for i in range(1, 51))
                holders.append(
                    subprocess.Popen(
                        [sys.executable, str(HOLD), str(srv.port), "5000", sources, "20"],
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            peak = 0
            deadline = time.monotonic() + 60
            while any(h.poll() is None for h in holders) and time.monotonic() < deadline:
                peak = max(peak, _open_fds(worker))
                time.sleep(0.2)
            outs = [h.communicate(timeout=60)[0] for h in holders]
        finally:
            stop.set()
            cheap.join()
            for h in holders:
                if h.poll() is None:
                    h.kill()
        opened = sum(int(o.split()[0]) for o in outs)
        assert opened == 20000, outs
        assert peak <= 4096 + 200, f"worker had {peak} files open"
        assert not errors, errors[:5]
        print(f"20,000 idle: worker peak {peak} fds; cheap requests n={len(lat)} p99={_p99(lat) * 1000:.1f} ms")
        assert workers(srv) == [worker]
        alive(srv)


def _open_fds(pid: int) -> int:
    try:
        import os

        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0
