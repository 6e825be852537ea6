"""Adaptive busy-polling (net/busypoll.py): windows that follow each
client's pace, polling that stops, and a real line server over loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import pytest

from pubinbox.config import Config
from pubinbox.errors import ConfigError
from pubinbox.net.busypoll import BusyPoll, Pace
from pubinbox.net.lineio import CommandSession, Hub, busy_poll_us, serve_sessions


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _exchange(poll: BusyPoll, clock: Clock, pace: Pace, gap_us: float) -> None:
    """A reply, then the next command *gap_us* later (no loop: the window
    only)."""
    pace.replied_at = clock()
    clock.t += gap_us / 1e6
    poll.arrived(pace)


def test_window_grows_for_a_quick_client_and_stops_growing_once_it_is_caught() -> None:
    clock = Clock()
    poll, pace = BusyPoll(200, clock=clock), Pace()
    seen = []
    for _ in range(8):
        _exchange(poll, clock, pace, 70)
        seen.append(round(pace.window * 1e6))
    assert seen == [20, 40, 80, 80, 80, 80, 80, 80]


def test_window_is_capped_and_shrinks_to_nothing_for_a_slow_client() -> None:
    clock = Clock()
    poll, pace = BusyPoll(200, clock=clock), Pace()
    for _ in range(10):
        _exchange(poll, clock, pace, 190)
    assert pace.window == pytest.approx(200e-6)
    seen = []
    for _ in range(6):
        _exchange(poll, clock, pace, 5000)  # a client across a network
        seen.append(round(pace.window * 1e6))
    assert seen == [100, 50, 25, 0, 0, 0]


def test_zero_never_polls() -> None:
    clock = Clock()
    poll, pace = BusyPoll(0, clock=clock), Pace()
    for _ in range(5):
        _exchange(poll, clock, pace, 1)
    assert pace.window == 0


def test_polling_lasts_the_window_then_stops() -> None:
    async def main() -> tuple[int, bool, int]:
        poll = BusyPoll(100_000)
        pace = Pace()
        pace.window = 0.005
        poll.replied(pace)
        await asyncio.sleep(0.05)
        polls, still = poll.polls, poll.polling
        await asyncio.sleep(0.02)
        return polls, still, poll.polls - polls

    polls, still, later = asyncio.run(main())
    assert polls > 0 and not still and later == 0


def test_no_window_no_polling() -> None:
    async def main() -> int:
        poll = BusyPoll(100_000)
        poll.replied(Pace())
        await asyncio.sleep(0.01)
        return poll.polls

    assert asyncio.run(main()) == 0


def _config(**values: str) -> Config:
    return Config(Path("config"), {k.lower(): (v,) for k, v in values.items()}, ())


def test_setting() -> None:
    assert busy_poll_us(_config()) == 200
    assert busy_poll_us(_config(**{"pubinbox.busypoll": "0"})) == 0
    assert busy_poll_us(_config(**{"pubinbox.busypoll": "50"})) == 50
    for bad in ("-1", "ten", "1000000"):
        with pytest.raises(ConfigError, match="busypoll"):
            busy_poll_us(_config(**{"pubinbox.busypoll": bad}))


class Echo(CommandSession):
    def greeting(self) -> bytes:
        return b"+OK\r\n"

    async def dispatch(self, command: bytes) -> None:
        if command == b"QUIT":
            self.quit = True
        self.send(b"+OK " + command + b"\r\n")
        await self.flush()

    async def too_long(self) -> None:
        self.send(b"-ERR\r\n")
        await self.flush()


def _serve_and_talk(max_us: int, pause: float, n: int) -> int:
    """A real line server on 127.0.0.1 with a client sending *n* commands,
    each after the previous reply and *pause* seconds: the loop's polls."""
    hub = Hub()
    hub.poll = BusyPoll(max_us)
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    done = threading.Event()

    def client() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            f = s.makefile("rb")
            assert f.readline() == b"+OK\r\n"
            for i in range(n):
                s.sendall(b"NOOP %d\r\n" % i)
                assert f.readline() == b"+OK NOOP %d\r\n" % i
                time.sleep(pause)
            s.sendall(b"QUIT\r\n")
            f.readline()
        done.set()

    async def main() -> int:
        async def run(r: asyncio.StreamReader, w: asyncio.StreamWriter, _tls: object) -> None:
            await Echo(r, w, hub).run()

        srv = await serve_sessions(lsock, run, tls=None, implicit=False)
        t = threading.Thread(target=client)
        t.start()
        while not done.is_set():
            await asyncio.sleep(0.01)
        srv.close()
        t.join()
        return hub.poll.polls

    return asyncio.run(main())


def test_a_client_that_waits_for_each_reply_gets_polled_for() -> None:
    # a wide cap: the client's next command comes well within it even on a loaded machine
    assert _serve_and_talk(50_000, 0, 200) > 0


def test_a_slow_client_or_a_zero_setting_costs_no_polling() -> None:
    assert _serve_and_talk(2_000, 0.02, 20) == 0  # each command 20 ms after its reply: past the cap
    assert _serve_and_talk(0, 0, 100) == 0
