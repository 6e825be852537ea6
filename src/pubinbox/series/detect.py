"""Messages grouped into patch series, from the overview alone.

Within a thread, the patches (subjects :func:`parse_subject` accepts) of
one author with one version and one ``N`` are a series; a lone ``[PATCH]``
is a series of one.  A series sent as replies to an earlier revision shares
that revision's thread and is told apart by its version.  Patches sent
without threading (each its own thread, no ``0/N``) are joined when their
author, version and ``N`` agree and they arrived within :data:`WINDOW` of
each other.  A number seen twice in one series keeps its latest message
(the last one received; the others are counted in ``dups``); a series without a cover letter is
named by its lowest-numbered patch, else by its cover letter.  A message
with a patch's subject sent by someone else in reply to that very patch is
a reply whose ``Re:`` got lost, not a patch; a patch without a version
sent in reply to its author's ``[PATCH v3 0/N]`` (or ``v3 1/N``) is of v3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache

from pubinbox.mail.address import emails
from pubinbox.over.reader import OverRow
from pubinbox.series.subject import PatchSubject, normalise_title, parse_subject

__all__ = ["WINDOW", "Found", "author_email", "group"]

#: seconds within which the patches of an unthreaded series arrive
WINDOW = 3600


@lru_cache(maxsize=4096)  # a list's senders repeat: series sync asks for each of them often
def author_email(from_: str) -> str:
    try:
        got = emails(from_)
    except Exception:  # noqa: BLE001 - a hostile From: is no address
        got = []
    return got[0].lower() if got else from_.strip().lower()


@dataclass(slots=True)
class Found:
    """One series as detected."""

    version: int
    total: int  # N of M/N; 1 for a lone patch
    email: str
    resend: bool
    ts: int  # first received
    members: dict[int, OverRow] = field(default_factory=dict)  # counter -> row (0: cover)
    subjects: dict[int, PatchSubject] = field(default_factory=dict)
    dups: int = 0

    @property
    def key(self) -> tuple[str, int, int, bool]:
        return (self.email, self.version, self.total, self.resend)

    @property
    def head(self) -> OverRow:
        """The cover letter, else the lowest-numbered patch."""
        return self.members[min(self.members)]

    @property
    def id(self) -> str:
        return self.head.mid

    @property
    def title(self) -> str:
        return self.subjects[min(self.subjects)].title

    @property
    def prefixes(self) -> tuple[str, ...]:
        return self.subjects[min(self.subjects)].prefixes

    @property
    def complete(self) -> bool:
        return all(n in self.members for n in range(1, self.total + 1))

    @property
    def norm(self) -> str:
        return normalise_title(self.title)

    def add(self, counter: int, row: OverRow, ps: PatchSubject) -> None:
        """Add a patch; a number seen again takes the later message (a
        resend in the same thread replaces the earlier one, as b4 picks)."""
        if counter in self.members:
            self.dups += 1
            if (row.ts, row.num) < (self.members[counter].ts, self.members[counter].num):
                return
        self.members[counter] = row
        self.subjects[counter] = ps
        self.ts = min(self.ts, row.ts)


def _patches(
    rows: Iterable[OverRow], parsed: Mapping[int, PatchSubject | None] | None = None
) -> list[tuple[OverRow, PatchSubject]]:
    if parsed is None:
        got = [(r, ps) for r in rows if (ps := parse_subject(r.subject)) is not None]
    else:
        got = [
            (r, ps) for r in rows if (ps := parsed[r.num] if r.num in parsed else parse_subject(r.subject)) is not None
        ]
    by_mid = {r.mid: (r, ps) for r, ps in got}
    out = [(r, _cover_version(r, ps, by_mid)) for r, ps in got if not _reply_without_re(r, ps, by_mid)]
    out.sort(key=lambda x: (x[0].ts, x[0].num))
    return out


def _cover_version(r: OverRow, ps: PatchSubject, by_mid: dict[str, tuple[OverRow, PatchSubject]]) -> PatchSubject:
    """``[PATCH 21/29]`` sent in reply to ``[PATCH v3 0/29]`` (or to
    ``v3 1/29``) of its author: a patch of v3, as b4 reads it."""
    if ps.versioned or ps.counter is None or not r.references:
        return ps
    parent = by_mid.get(r.references[-1])
    if parent is None:
        return ps
    prow, pps = parent
    if (
        pps.versioned
        and pps.counter in (0, 1)
        and pps.total == ps.total
        and author_email(prow.from_) == author_email(r.from_)
    ):
        return replace(ps, version=pps.version, versioned=True)
    return ps


def _reply_without_re(r: OverRow, ps: PatchSubject, by_mid: dict[str, tuple[OverRow, PatchSubject]]) -> bool:
    """A reply whose mailer dropped the ``Re:``: sent in reply to a patch
    with the very same subject (number, version, title) by someone else."""
    parent = by_mid.get(r.references[-1]) if r.references else None
    if parent is None:
        return False
    prow, pps = parent
    same = (pps.version, pps.counter, pps.total, pps.title) == (ps.version, ps.counter, ps.total, ps.title)
    return same and author_email(prow.from_) != author_email(r.from_)


def group(threads: Iterable[list[OverRow]], parsed: Mapping[int, PatchSubject | None] | None = None) -> list[Found]:
    """The series in *threads* (each a list of the rows of one thread);
    *parsed*: what :func:`parse_subject` gave for some article numbers
    already (their subjects are not parsed again)."""
    found: list[Found] = []
    for rows in threads:
        by_key: dict[tuple[str, int, int, bool], Found] = {}
        for row, ps in _patches(rows, parsed):
            email = author_email(row.from_)
            resend = "resend" in ps.prefixes
            if ps.total is None or ps.counter is None:
                f = Found(ps.version, 1, email, resend, row.ts)
                f.add(1, row, ps)
                found.append(f)
                continue
            key = (email, ps.version, ps.total, resend)
            got = by_key.get(key)
            if got is None:
                got = by_key[key] = Found(ps.version, ps.total, email, resend, row.ts)
                found.append(got)
            got.add(ps.counter, row, ps)
    return _join_unthreaded(found)


def _join_unthreaded(found: list[Found]) -> list[Found]:
    """Incomplete series without a cover letter, of one author, version and
    N, that arrived within WINDOW of each other: one series sent unthreaded."""
    out: list[Found] = []
    open_: dict[tuple[str, int, int, bool], Found] = {}
    for f in sorted(found, key=lambda f: (f.ts, f.head.num)):
        if f.total < 2 or 0 in f.members or f.complete:
            out.append(f)
            continue
        prev = open_.get(f.key)
        if prev is not None and f.ts - prev.ts <= WINDOW and not (set(prev.members) & set(f.members)):
            for c, row in f.members.items():
                prev.add(c, row, f.subjects[c])
            prev.dups += f.dups
            continue
        open_[f.key] = f
        out.append(f)
    return out
