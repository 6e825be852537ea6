"""Tests of pubinbox.mail.sources: files, gzip, Maildirs, stdin and errors."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from pubinbox.errors import InputError
from pubinbox.mail.mbox import iter_mbox, mboxrd_bytes
from pubinbox.mail.sources import SourceMessage, count_hint, is_maildir, iter_sources

M1 = b"Subject: one\n\nFrom a body line\n"
M2 = b"Subject: two\r\n\r\n>From quoted\r\n"
M3 = b"Subject: three\n\nno final newline"
MBOX = b"".join(mboxrd_bytes(m) for m in (M1, M2, M3))
WANT = [M1, M2, M3 + b"\n"]


def raws(msgs: list[SourceMessage]) -> list[bytes]:
    return [m.raw for m in msgs]


def test_mbox_file_with_offsets(tmp_path: Path) -> None:
    p = tmp_path / "a.mbox"
    p.write_bytes(MBOX)
    msgs = list(iter_sources([str(p)], None))
    assert raws(msgs) == WANT
    for m in msgs:
        path, _, offset = m.origin.rpartition(":")
        assert path == str(p)
        assert MBOX[int(offset) :].startswith(b"From mboxrd@z ")
    assert msgs[0].origin == f"{p}:0"


def test_single_message_file(tmp_path: Path) -> None:
    eml = b"Subject: x\n\nFrom a@b Thu Jan  1 00:00:00 1970\nnot a separator\n"
    p = tmp_path / "x.eml"
    p.write_bytes(eml)
    assert list(iter_sources([str(p)], None)) == [SourceMessage(eml, str(p))]


def test_gzip_file(tmp_path: Path) -> None:
    p = tmp_path / "t.mbox.gz"
    p.write_bytes(gzip.compress(MBOX))
    msgs = list(iter_sources([str(p)], None))
    assert raws(msgs) == WANT
    assert msgs[1].origin == f"{p}:{MBOX.index(b'From mboxrd@z', 1)}"
    # detected by content, not by name; a gzipped .eml works too
    q = tmp_path / "msg"
    q.write_bytes(gzip.compress(M1))
    assert list(iter_sources([str(q)], None)) == [SourceMessage(M1, str(q))]
    assert count_hint([str(p)]) == len(MBOX)


def test_stdin() -> None:
    assert raws(list(iter_sources([], io.BytesIO(MBOX)))) == WANT
    msgs = list(iter_sources(["-"], io.BytesIO(gzip.compress(MBOX))))
    assert raws(msgs) == WANT
    assert msgs[0].origin == "<stdin>:0"
    assert list(iter_sources([], io.BytesIO(M1))) == [SourceMessage(M1, "<stdin>")]
    assert list(iter_sources([], io.BytesIO(b""))) == []
    with pytest.raises(InputError, match="standard input"):
        list(iter_sources(["-"], None))
    assert count_hint([]) is None
    assert count_hint(["-"]) is None


def test_stdin_pipe() -> None:
    """A real pipe (as from curl | pubinbox import), gzipped, not seekable."""
    proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(gzip.compress(MBOX))
    proc.stdin.close()
    try:
        assert raws(list(iter_sources([], cast(BinaryIO, proc.stdout)))) == WANT
    finally:
        proc.stdout.close()
        proc.wait()


def _maildir(root: Path) -> Path:
    md = root / "md"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    files = {
        "new/1700000002.M1P1.host": b"Subject: 2\n\nnew\n",
        "cur/1700000001.M2P2.host:2,S": b"Subject: 1\n\nseen\n",
        "cur/1700000003.M3P3.host:2,ST": b"Subject: trashed\n\n",
        "cur/1700000004.M4P4.host:2,FRS": b"From x Thu Jan  1 00:00:00 1970\nSubject: 4\n\n",
        "cur/1700000004.M0P0.host:2,a": b"Subject: 4a\n\nkeyword flag\n",
        "new/mystery": b"Subject: last\n\nno time prefix\n",
        "new/.hidden": b"Subject: hidden\n\n",
        "new/1700000005.M5P5.host": b"",
        "tmp/1700000000.M9P9.host": b"Subject: in delivery\n\n",
    }
    for name, data in files.items():
        (md / name).write_bytes(data)
    (md / "cur" / "subdir").mkdir()
    return md


def test_maildir(tmp_path: Path) -> None:
    md = _maildir(tmp_path)
    assert is_maildir(str(md))
    msgs = list(iter_sources([str(md)], None))
    assert [os.path.relpath(m.origin, md) for m in msgs] == [
        "cur/1700000001.M2P2.host:2,S",
        "new/1700000002.M1P1.host",
        "cur/1700000004.M0P0.host:2,a",
        "cur/1700000004.M4P4.host:2,FRS",
        "new/mystery",
    ]
    for m in msgs:  # verbatim, a leading From line included
        assert m.raw == Path(m.origin).read_bytes()
    assert count_hint([str(md)]) == sum(len(m.raw) for m in msgs)


def test_maildir_without_tmp(tmp_path: Path) -> None:
    md = tmp_path / "md"
    (md / "cur").mkdir(parents=True)
    (md / "new").mkdir()
    (md / "new" / "1.x.y").write_bytes(M1)
    assert list(iter_sources([str(md)], None)) == [SourceMessage(M1, str(md / "new" / "1.x.y"))]


def test_several_inputs_in_order(tmp_path: Path) -> None:
    mbox = tmp_path / "a.mbox"
    mbox.write_bytes(MBOX)
    eml = tmp_path / "b.eml"
    eml.write_bytes(M1)
    md = _maildir(tmp_path)
    msgs = list(iter_sources([str(eml), str(mbox), str(md), "-"], io.BytesIO(M2)))
    assert raws(msgs)[:4] == [M1, *WANT]
    assert len(msgs) == 4 + 5 + 1
    assert msgs[-1] == SourceMessage(M2, "<stdin>")
    hint = count_hint([str(eml), str(mbox), str(md)])
    assert hint == len(M1) + len(MBOX) + sum(len(m.raw) for m in msgs[4:9])


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.mbox"
    with pytest.raises(InputError) as ei:
        list(iter_sources([str(p)], None))
    assert str(ei.value) == f"cannot read {p}: No such file or directory"
    assert ei.value.exit_code == 66
    assert count_hint([str(p)]) is None


def test_errors_come_lazily(tmp_path: Path) -> None:
    good = tmp_path / "good.eml"
    good.write_bytes(M1)
    it = iter_sources([str(good), str(tmp_path / "missing")], None)
    assert next(it).raw == M1
    with pytest.raises(InputError, match="missing: No such file"):
        next(it)


def test_directory_not_a_maildir(tmp_path: Path) -> None:
    d = tmp_path / "emls"
    d.mkdir()
    (d / "a.eml").write_bytes(M1)
    (d / "cur").mkdir()  # cur/ alone is not enough
    with pytest.raises(InputError) as ei:
        list(iter_sources([str(d)], None))
    assert str(ei.value) == (f"{d} is a directory but not a Maildir (it has no cur/ and new/); give its files instead")
    assert count_hint([str(d)]) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "secret.mbox"
    p.write_bytes(MBOX)
    p.chmod(0)
    with pytest.raises(InputError, match=f"^cannot read {p}: Permission denied$"):
        list(iter_sources([str(p)], None))


def test_corrupt_gzip(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mbox.gz"
    bad.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(InputError, match=f"^error reading {bad}: "):
        list(iter_sources([str(bad)], None))
    # truncated: the messages before the damage come out first
    big = b"".join(mboxrd_bytes(b"Subject: %d\n\n" % i + os.urandom(3000)) for i in range(50))
    cut = tmp_path / "cut.mbox.gz"
    cut.write_bytes(gzip.compress(big)[:-5000])
    got: list[bytes] = []
    with pytest.raises(InputError, match=f"^error reading {cut}: "):
        for m in iter_sources([str(cut)], None):
            got.append(m.raw)
    assert got
    assert got == list(iter_mbox(io.BytesIO(big)))[: len(got)]


def test_read_error_names_stdin() -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: object) -> int:
            raise OSError(5, "Input/output error")

    with pytest.raises(InputError, match="^error reading <stdin>: Input/output error$"):
        list(iter_sources([], cast(BinaryIO, io.BufferedReader(Broken()))))


# --------------------------------------------------------------------------
# the whole hard corpus


def _index(corpus_dir: Path) -> list[dict[str, str]]:
    with open(corpus_dir / "hard" / "INDEX.tsv", encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        return [dict(zip(head, line.rstrip("\n").split("\t"), strict=True)) for line in f]


@pytest.mark.corpus
def test_every_single_message_file_comes_back_whole(corpus_dir: Path) -> None:
    rows = [r for r in _index(corpus_dir) if r["kind"].startswith("message")]
    assert len(rows) > 900
    for row in rows:
        path = str(corpus_dir / "hard" / row["path"])
        raw = Path(path).read_bytes()
        assert list(iter_sources([path], None)) == [SourceMessage(raw, path)], path


@pytest.mark.corpus
def test_every_mbox_file_splits_at_its_from_lines(corpus_dir: Path) -> None:
    # spam/008 has a "From  :<...>" header line, which is not a separator
    exceptions = {"third-party/spamassassin/t/data/spam/008": 1}
    rows = [r for r in _index(corpus_dir) if r["kind"] == "mbox"]
    assert len(rows) == 90
    for row in rows:
        path = str(corpus_dir / "hard" / row["path"])
        n = int(row["flags"].split("(")[1].split()[0])
        msgs = list(iter_sources([path], None))
        assert len(msgs) == exceptions.get(row["path"], n), path
        for m in msgs:  # and every message survives an mboxrd round trip
            assert list(iter_mbox(io.BytesIO(mboxrd_bytes(m.raw)))) == [
                m.raw if m.raw.endswith(b"\n") else m.raw + b"\n"
            ]


def test_unopenable_path(tmp_path: Path) -> None:
    """An error any user gets (root included): a file used as a directory."""
    f = tmp_path / "file.eml"
    f.write_bytes(M1)
    p = f / "x.mbox"
    with pytest.raises(InputError, match=f"^cannot read {p}: Not a directory$"):
        list(iter_sources([str(p)], None))
