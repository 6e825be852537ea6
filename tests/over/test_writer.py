"""OverWriter's threading with its in-memory rows (_Threads) gives the same
overview as asking SQLite for every reference."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from pubinbox.over import writer as W
from pubinbox.over.writer import NewRow, OverWriter


def _row(num: int, mids: tuple[str, ...], refs: tuple[str, ...]) -> NewRow:
    return NewRow(
        num=num, mids=mids, references=refs, subject=f"s{num % 7}", subject_path=f"s{num % 7}", from_="a@b",
        to="", cc="", ts=num, ds=num, blob=f"{num:040x}", bytes=1, lines=1, epoch=0,
    )  # fmt: skip


def _script(seed: int) -> list[tuple[str, int, tuple[str, ...], tuple[str, ...]]]:
    """Adds (some out of order, some sharing Message-IDs, replacing rows)
    and removals, with references to earlier, later and unknown messages."""
    rng = random.Random(seed)
    pool = [f"m{i}@x" for i in range(120)]
    ops: list[tuple[str, int, tuple[str, ...], tuple[str, ...]]] = []
    for num in range(1, 260):
        mids = tuple(rng.sample(pool, rng.choice((0, 1, 1, 1, 1, 2))))
        refs = tuple(rng.sample(pool, rng.randint(0, 5)))
        ops.append(("add", num, mids, refs))
        if rng.random() < 0.08:
            ops.append(("add", rng.randint(1, num), mids, refs[:1]))  # a row replaced
        if rng.random() < 0.05:
            ops.append(("remove", rng.randint(1, num), (), ()))
    return ops


def _build(path: Path, ops: list[tuple[str, int, tuple[str, ...], tuple[str, ...]]], *, mirror: bool) -> list[object]:
    w = OverWriter(path)
    if not mirror:
        w._threads = None
    done: set[int] = set()
    for i, (op, num, mids, refs) in enumerate(ops):
        if op == "add":
            w.add(_row(num, mids, refs), fresh=num not in done)
            done.add(num)
        else:
            w.remove(num)
            done.discard(num)
        if i % 50 == 49:
            w.commit()
    w.commit()
    w.close()
    db = sqlite3.connect(path)
    out = [
        db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
        for t in ("over", "id2num", "msgid", "subject", "counter")
    ]
    db.close()
    return out


@pytest.mark.parametrize("seed", range(6))
def test_the_rows_kept_in_memory_give_the_same_overview(tmp_path: Path, seed: int) -> None:
    ops = _script(seed)
    with_mirror = _build(tmp_path / "a.sqlite3", ops, mirror=True)
    assert with_mirror == _build(tmp_path / "b.sqlite3", ops, mirror=False)
    assert len(with_mirror[0]) > 200  # rows and ghosts were written


def test_a_cut_of_the_id_cache_drops_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ops = _script(99)
    want = _build(tmp_path / "a.sqlite3", ops, mirror=False)
    monkeypatch.setattr(W, "_ID_CACHE_MAX", 40)
    assert _build(tmp_path / "b.sqlite3", ops, mirror=True) == want


def test_they_are_used(tmp_path: Path) -> None:
    """A new overview answers references and subjects from memory: adding
    a reply asks SQLite nothing."""
    w = OverWriter(tmp_path / "o.sqlite3")
    w.add(_row(1, ("a@x",), ()), fresh=True)
    queries: list[str] = []
    w.db.set_trace_callback(queries.append)
    w.add(_row(2, ("b@x",), ("a@x",)), fresh=True)
    w.db.set_trace_callback(None)
    assert not any(q.lstrip().upper().startswith("SELECT") for q in queries), queries
    assert w._threads is not None and w._threads.rows(w._id_cache["a@x"]) == [(1, w._threads.tid[1])]
    w.close()
