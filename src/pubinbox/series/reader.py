"""Reading ``pubinbox/series.sqlite3`` (what :mod:`pubinbox.series.store`
writes): one series as a :class:`SeriesRow`, and :class:`SeriesReader`'s
read-only queries for the pages and the API (the series list, one series,
its members and revisions)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from pubinbox.errors import IndexDamaged
from pubinbox.series.store import SCHEMA, series_db
from pubinbox.store.layout import Layout

__all__ = ["COLS", "S_COLS", "SeriesReader", "SeriesRow", "row"]


@dataclass(frozen=True, slots=True)
class SeriesRow:
    id: str
    version: int
    total: int
    title: str
    norm: str
    author: str
    email: str
    ts: int
    ds: int
    prefixes: tuple[str, ...]
    cover: int | None
    present: int
    dups: int
    change_id: str | None = None
    base_commit: str | None = None
    #: patches with a Reviewed-by/Acked-by from someone else than their
    #: author (their own, in replies, or given to the cover letter)
    reviewed: int = 0

    @property
    def missing(self) -> int:
        return max(self.total - self.present, 0)

    @property
    def is_reviewed(self) -> bool:
        """Every patch there, and each reviewed."""
        return self.total > 0 and self.present >= self.total and self.reviewed >= self.total


COLS = (
    "id, version, total, title, norm, author, email, ts, ds, prefixes, cover, present, dups, change_id, base_commit,"
    " reviewed"
)
#: the same, of the table aliased ``s``
S_COLS = ", ".join(f"s.{c.strip()}" for c in COLS.split(","))


def row(r: Any) -> SeriesRow:
    return SeriesRow(
        str(r[0]), int(r[1] or 0), int(r[2] or 0), str(r[3] or ""), str(r[4] or ""), str(r[5] or ""),
        str(r[6] or ""), int(r[7] or 0), int(r[8] or 0), tuple(str(r[9] or "").split()),
        None if r[10] is None else int(r[10]), int(r[11] or 0), int(r[12] or 0),
        None if r[13] is None else str(r[13]), None if r[14] is None else str(r[14]), int(r[15] or 0),
    )  # fmt: skip


class SeriesReader:
    """Read-only queries over ``series.sqlite3`` (one per thread)."""

    def __init__(self, layout: Layout) -> None:
        path = series_db(layout)
        if not path.exists():
            raise IndexDamaged(f"{path} does not exist yet: run `pubinbox index`")
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=2)
        self.db.execute("PRAGMA query_only = 1")
        got = self._q("SELECT val FROM meta WHERE key = 'schema'")
        if not got or got[0][0] != SCHEMA:
            self.db.close()
            raise IndexDamaged(f"{path} was written by another version of pubinbox: run `pubinbox index`")

    def close(self) -> None:
        self.db.close()

    def _q(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise IndexDamaged(f"series database: {e}") from e

    def count(self) -> int:
        return int(self._q("SELECT COUNT(*) FROM series")[0][0])

    def recent(self, offset: int, limit: int) -> list[SeriesRow]:
        """Newest first (first received), then by id."""
        return [
            row(r)
            for r in self._q(f"SELECT {COLS} FROM series ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?", (limit, offset))
        ]

    def get(self, sid: str) -> SeriesRow | None:
        got = self._q(f"SELECT {COLS} FROM series WHERE id = ?", (sid,))
        return row(got[0]) if got else None

    def of_num(self, num: int) -> str | None:
        got = self._q("SELECT series_id FROM series_msg WHERE num = ?", (num,))
        return str(got[0][0]) if got else None

    def members(self, sid: str) -> list[tuple[int, int]]:
        """(counter, article number), by counter."""
        return [
            (int(c), int(n))
            for c, n in self._q("SELECT counter, num FROM series_msg WHERE series_id = ? ORDER BY counter", (sid,))
        ]

    def patchids(self, sid: str) -> dict[int, str]:
        """counter -> patch-id (``git patch-id --stable``) of the patches of *sid*."""
        return {
            int(c): str(p)
            for c, p in self._q(
                "SELECT counter, patchid FROM series_msg WHERE series_id = ? AND patchid IS NOT NULL", (sid,)
            )
        }

    def same_patch(self, patchid: str, sid: str) -> list[int]:
        """Article numbers of the same patch (same patch-id) in other series."""
        return [
            int(n)
            for (n,) in self._q(
                "SELECT num FROM series_msg WHERE patchid = ? AND series_id != ? ORDER BY num LIMIT 20", (patchid, sid)
            )
        ]

    def revisions(self, s: SeriesRow) -> list[SeriesRow]:
        """Every revision of *s* (itself too), by version: the series with
        its ``change-id:``, then those sharing a patch (patch-id) with it,
        then those of the same author and title."""
        return [
            row(r)
            for r in self._q(
                f"SELECT {S_COLS} FROM series s WHERE s.id = ?"
                f" OR (? IS NOT NULL AND s.change_id = ?)"
                " OR (s.email = ? AND s.id IN (SELECT m.series_id FROM series_msg m WHERE m.patchid IN"
                "  (SELECT patchid FROM series_msg WHERE series_id = ? AND patchid IS NOT NULL)))"
                " OR (s.email = ? AND s.norm = ?)"
                " ORDER BY s.version, s.ts LIMIT 100",
                (s.id, s.change_id, s.change_id, s.email, s.id, s.email, s.norm),
            )
        ]
