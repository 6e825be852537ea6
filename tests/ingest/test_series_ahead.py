"""The series brought up to date in a parsing process near the end of a
long index (Indexer._series_start), then finished by the usual sync: the
same series.sqlite3 as one sync from scratch, on the real sample archive."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from pubinbox.ingest import indexer
from pubinbox.ingest.indexing import index_inbox
from pubinbox.series.store import series_db
from pubinbox.store.layout import Layout
from tests.helpers import inbox_cfg, run_cli

TABLES = ("series", "series_msg", "review", "marks")
MARKER = "PUBINBOX_TEST_SERIES_AHEAD"
REAL_JOB = indexer.series_job


def _tables(inboxdir: Path) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(series_db(Layout(inboxdir)))
    try:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in TABLES}
    finally:
        db.close()


def spy(args: tuple[str, str]) -> None:
    """indexer.series_job, leaving a mark that it ran (in the worker)."""
    Path(os.environ[MARKER]).write_text(args[1])
    REAL_JOB(args)


def test_series_made_ahead_equal_one_sync(tmp_path: Path, sample_mbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "test"
    run_cli("init", "test", str(d), "http://example.com/test", "test@example.com", check=True)
    run_cli("import", str(d), str(sample_mbox), check=True, timeout=600)
    ibx = inbox_cfg(tmp_path)
    index_inbox(ibx, reindex=True, jobs=1)
    alone = _tables(d)
    assert len(alone["series"]) > 20 and len(alone["review"]) > 5
    mark = tmp_path / "ran"
    monkeypatch.setenv(MARKER, str(mark))
    monkeypatch.setattr(indexer, "series_job", spy)
    monkeypatch.setattr(indexer, "BATCH", 64)
    monkeypatch.setattr(indexer, "PARALLEL_MIN", 16)
    monkeypatch.setattr(indexer, "CHUNK", 8)
    index_inbox(ibx, reindex=True, jobs=2)
    # it ran, on the overview being built, before the last messages were in it
    assert mark.read_text().endswith("over.sqlite3.rebuild")
    assert _tables(d) == alone
