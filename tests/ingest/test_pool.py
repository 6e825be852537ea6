"""The parsing pool (ingest/pool.py): real forked processes and pipes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from pubinbox.ingest.pool import Pool, PoolBroken, ordered_map


def _square(x: int) -> int:
    return x * x


def _echo_big(n: int) -> bytes:
    return bytes([n % 256]) * (1 << 20)  # 1 MiB: many times a pipe's buffer


def _length(data: bytes) -> int:
    return len(data)


def _fail(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


def _slow(x: int) -> int:
    time.sleep(0.2)
    return x


def _pid(_x: int) -> int:
    return os.getpid()


def test_results_come_in_order() -> None:
    assert list(ordered_map(_square, range(200), jobs=3, window=5)) == [x * x for x in range(200)]


def test_large_tasks_and_results_do_not_block_each_other() -> None:
    """Results of 1 MiB not read yet while tasks of 2 MiB are sent: the
    worker reads its tasks in a thread of its own."""
    with Pool(2) as pool:
        results = [pool.submit(_echo_big, n) for n in range(8)]
        sizes = [pool.submit(_length, b"x" * (2 << 20)) for _ in range(8)]
        assert [len(r.result()) for r in results] == [1 << 20] * 8
        assert [s.result() for s in sizes] == [2 << 20] * 8


def test_an_error_in_a_task_is_raised_where_its_result_is_read() -> None:
    with Pool(2) as pool:
        tasks = [pool.submit(_fail, x) for x in range(6)]
        assert [t.result() for t in tasks[:3]] == [0, 1, 2]
        with pytest.raises(ValueError, match="bad item 3"):
            tasks[3].result()
        assert [t.result() for t in tasks[4:]] == [4, 5]  # the pool goes on


def test_done_never_waits() -> None:
    with Pool(1) as pool:
        task = pool.submit(_slow, 1)
        assert not task.done()
        assert task.result() == 1 and task.done()


def test_a_killed_worker_is_an_error_not_a_hang() -> None:
    with Pool(2) as pool:
        pids = {pool.submit(_pid, 0).result(), pool.submit(_pid, 1).result()}
        assert len(pids) == 2 and os.getpid() not in pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(PoolBroken, match="parsing process is gone"):
            for x in range(10):
                pool.submit(_slow, x).result()


def test_close_stops_every_worker_and_drops_queued_tasks() -> None:
    """Each worker sees the end of its pipe (none keeps another's open) and
    exits by itself, leaving what is still queued."""
    pool = Pool(3)
    for x in range(30):
        pool.submit(_slow, x)  # ~2 s of work per worker if all were done
    workers = list(pool._workers)
    pool.close()
    for w in workers:
        assert not w.proc.is_alive()
        assert w.proc.exitcode == 0  # not killed after the grace time


def test_the_worker_aside_is_another_process() -> None:
    with Pool(1, aside=True) as pool:
        with pytest.raises(ValueError, match="not started"):
            pool.submit_aside(_pid, 0)
        slow = [pool.submit(_slow, x) for x in range(5)]  # a second of work queued
        aside = pool.submit_aside(_pid, 0)
        assert [t.result() for t in slow] == list(range(5))
        assert aside.result() not in (os.getpid(), pool.submit(_pid, 0).result())


def _niceness(_x: int) -> int:
    return os.nice(0)


def test_workers_run_lower_by_nice_and_the_aside_does_not() -> None:
    here = os.nice(0)
    with Pool(2, aside=True, nice=7) as pool:
        assert [pool.submit(_niceness, x).result() for x in range(2)] == [min(here + 7, 19)] * 2
        assert pool.submit_aside(_niceness, 0).result() == here
    with Pool(1) as pool:
        assert pool.submit(_niceness, 0).result() == here


def test_a_task_aside_is_done_while_the_others_are_busy() -> None:
    with Pool(1, aside=True) as pool:
        slow = [pool.submit(_slow, x) for x in range(10)]  # two seconds of work queued
        assert pool.submit_aside(_square, 7).result() == 49
        assert not slow[-1].done()  # answered long before the queue is through


def _touch_and_answer(path: str) -> bytes:
    Path(path).touch()
    return b"r" * (100 << 10)  # a parsed chunk's size


def test_a_worker_goes_on_while_its_results_are_not_read(tmp_path: Path) -> None:
    """Five results of 100 KiB wait in the socket: the worker is not held
    until the writer reads them (it would be with the default buffer)."""
    marks = [tmp_path / f"task{i}" for i in range(5)]
    with Pool(1) as pool:
        tasks = [pool.submit(_touch_and_answer, str(m)) for m in marks]
        deadline = time.monotonic() + 10
        while not all(m.exists() for m in marks) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(m.exists() for m in marks)
        assert all(len(t.result()) == 100 << 10 for t in tasks)
