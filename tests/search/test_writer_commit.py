"""SearchWriter.commit(background=True) on a real Tantivy index: documents
added while the commit runs in its thread are kept and committed next,
every reader of the index sees only finished commits, and a commit that
fails is raised where the writer is next used."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pubinbox.errors import IndexingError
from pubinbox.search import writer as search_writer
from pubinbox.search.extract import extract
from pubinbox.search.writer import SearchWriter
from tests.helpers import make_msg


def _add(w: SearchWriter, nums: range) -> None:
    for n in nums:
        raw = make_msg(n, body=f"word{n} shared body text\n")
        w.add(n, extract(raw), blob=f"{n:040x}", ts=n, ds=n, size=len(raw))


def test_documents_added_during_a_background_commit_are_kept(tmp_path: Path) -> None:
    w = SearchWriter(tmp_path, "full")
    try:
        _add(w, range(1, 501))
        w.commit(background=True)
        _add(w, range(501, 601))  # while it commits (or after: either way kept)
        w.commit(background=True)  # finishes the first, then commits these
        _add(w, range(601, 611))
        w.commit()
        assert w.stats() == (610, 610)
        assert w.max_num == 610
        assert set(w.doc_keys(495, 505)) == set(range(495, 506))
    finally:
        w.close()
    again = SearchWriter(tmp_path, "full")
    try:
        assert again.max_num == 610 and again.stats() == (610, 610)
    finally:
        again.close()


def test_close_finishes_a_background_commit(tmp_path: Path) -> None:
    w = SearchWriter(tmp_path, "full")
    _add(w, range(1, 301))
    w.commit(background=True)
    w.close()
    again = SearchWriter(tmp_path, "full")
    try:
        assert again.stats() == (300, 300)
    finally:
        again.close()


def test_a_failed_background_commit_is_raised_and_nothing_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = SearchWriter(tmp_path, "full")
    try:
        _add(w, range(1, 101))
        w.commit()
        real = SearchWriter._commit_now

        go = threading.Event()

        def failing(self: SearchWriter, top: int) -> None:
            go.wait(30)  # fails after the documents below are made
            raise OSError("disk full")

        monkeypatch.setattr(search_writer.SearchWriter, "_commit_now", failing)
        _add(w, range(101, 201))
        w.commit(background=True)
        _add(w, range(201, 211))  # made while it runs
        go.set()
        with pytest.raises(IndexingError, match="disk full"):
            w.commit()
        monkeypatch.setattr(search_writer.SearchWriter, "_commit_now", real)
        assert w.max_num == 100  # the state says what is committed
        w.commit()  # the documents of the failed commit, and those made meanwhile, are still there
        assert w.stats() == (210, 210)
    finally:
        w.close()


def test_documents_wait_while_the_commit_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit held back until documents were made meanwhile: they wait
    in memory, not in the writer the commit is using, and come next."""
    go = threading.Event()
    real = SearchWriter._commit_now

    def slow(self: SearchWriter, top: int) -> None:
        go.wait(30)
        real(self, top)

    monkeypatch.setattr(search_writer.SearchWriter, "_commit_now", slow)
    w = SearchWriter(tmp_path, "full")
    try:
        _add(w, range(1, 51))
        w.commit(background=True)
        _add(w, range(51, 81))
        assert len(w._held) == 30
        go.set()
        w.commit()
        assert w._held == [] and w.stats() == (80, 80)
    finally:
        w.close()
