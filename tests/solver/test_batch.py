"""solver/batch.py: one long-lived git cat-file per repository, restarted
when it dies; coderepo.py's lookups through it (ambiguity included)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pubinbox.solver import batch
from pubinbox.solver.batch import BatchError, batch_for
from pubinbox.solver.coderepo import CodeRepo
from pubinbox.solver.gitfiles import init_bare


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    g = tmp_path / "code.git"
    subprocess.run(["git", "init", "-q", "--bare", str(g)], check=True)
    files = tmp_path / "blobs"
    files.mkdir()
    contents = [b"blob %d\n" % i for i in range(600)]  # enough for two ids sharing 4 hex digits
    for i, data in enumerate(contents):
        (files / str(i)).write_bytes(data)
    paths = "".join(f"{files / str(i)}\n" for i in range(len(contents))).encode()
    out = subprocess.run(
        ["git", f"--git-dir={g}", "hash-object", "-w", "--stdin-paths"], input=paths, capture_output=True, check=True
    ).stdout.split()
    return g, {oid.decode(): data for oid, data in zip(out, contents, strict=True)}


def test_lookup_read_and_restart(repo: tuple[Path, dict[str, bytes]]) -> None:
    g, blobs = repo
    oid, data = next(iter(blobs.items()))
    b = batch_for(g)
    assert b.ask("info", oid[:12], 5) == ([oid, "blob", str(len(data))], None)
    assert b.ask("contents", oid, 5) == ([oid, "blob", str(len(data))], data)
    assert b.ask("info", "f" * 40, 5)[0] == ["f" * 40, "missing"]
    first = b._proc
    assert first is not None
    first.kill()
    first.wait()
    # a dead process: this question fails, or a new one answers it
    try:
        got = b.ask("info", oid, 5)[0]
    except BatchError:
        got = b.ask("info", oid, 5)[0]
    assert got == [oid, "blob", str(len(data))]
    assert b._proc is not None and b._proc.pid != first.pid
    with pytest.raises(BatchError):  # larger than allowed: not read, the process replaced
        b.ask("contents", oid, 5, max_size=2)
    assert b.ask("contents", oid, 5)[1] == data
    for bad in (f"{oid}\ncontents {oid}", "HEAD", "", "x" * 40):  # never more than one command
        with pytest.raises(BatchError):
            b.ask("info", bad, 5)
    batch.close_all()


def test_coderepo_through_batch(repo: tuple[Path, dict[str, bytes]]) -> None:
    g, blobs = repo
    cr = CodeRepo("code", g, ())
    by4: dict[str, list[str]] = {}
    for oid in blobs:
        by4.setdefault(oid[:4], []).append(oid)
    amb = next(p for p, v in by4.items() if len(v) > 1)
    lk = cr.lookup(amb)
    assert lk.oid is None and sorted(c for c, _t in lk.candidates) == sorted(by4[amb])
    one = next(v[0] for v in by4.values() if len(v) == 1)
    assert cr.lookup(one[:7]).oid == one
    assert cr.read(one) == blobs[one]
    assert cr.lookup("0" * 40).oid is None
    assert len(batch._PROCS) == 1
    batch.close_all()
    assert not batch._PROCS


def test_bounded_number_of_processes(tmp_path: Path) -> None:
    repos = []
    for i in range(batch.MAX_PROCS + 3):
        g = tmp_path / f"r{i}.git"
        init_bare(g, [])
        repos.append(g)
        batch_for(g).ask("info", "0" * 40, 5)
    assert len(batch._PROCS) == batch.MAX_PROCS
    assert list(batch._PROCS) == repos[3:]
    batch.close_all()
