"""The aggregates in ``stats.sqlite3`` (issue 17): a new generation
aggregates only the new messages (a marker planted in an old day's row
survives the update), and the figures and posters always equal a count
from scratch over the overview (:func:`pubinbox.stats.compute.compute`);
an edit (same number, same count) and a purge start from nothing.  The
``/`` listing's sparkline is taken from them only when they are up to
date."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pubinbox.stats import aggregate
from pubinbox.stats.compute import DAY, compute, parse_since, period, sparkline_weeks
from pubinbox.store.layout import Layout
from tests.helpers import run_cli
from tests.live import isolated_environ
from tests.stats.test_stats import LATER, MESSAGES, _mbox, _msg
from tests.web.conftest import Archive, build_inbox

#: a second patch from Alice and two replies: one from Erin to it, one
#: from Frank to the hostile RFC (its first reply, an old patch's thread)
MORE = [
    LATER,
    _msg("p2@x", "[PATCH v2 0/3] bar: speed up", "Alice <alice@example.org>", "Mon, 05 Feb 2024 09:00:00 +0000",
         "Mon, 05 Feb 2024 09:00:05 +0000", "cover"),
    _msg("r4@x", "Re: [PATCH v2 0/3] bar: speed up", "Erin <erin@example.org>", "Tue, 06 Feb 2024 09:00:00 +0000",
         "Tue, 06 Feb 2024 09:00:05 +0000", "nice", "p2@x"),
]  # fmt: skip
MARK = 1000


def _same_as_from_scratch(layout: Layout) -> dict[str, object]:
    got = aggregate.figures(layout)
    assert got == compute(layout.over_db)
    for since in (None, "2024-01-11", "2024-02-01", "2024-02-03", "1960-01-01", "2030-01-01"):
        t = parse_since(since, got)
        assert aggregate.posters(layout, got, t) == period(layout.over_db, got, t), since
    assert aggregate.current_weeks(layout) == sparkline_weeks(layout.over_db)  # the / listing's
    return got


def _plant(layout: Layout, day: str) -> None:
    """Add MARK messages to an old day's row (as if it had been counted)."""
    db = sqlite3.connect(layout.own_dir / "stats.sqlite3")
    with db:
        cur = db.execute("UPDATE agg_day SET messages = messages + ? WHERE day = ?", (MARK, _day(day)))
        assert cur.rowcount == 1
    db.close()


def _day(day: str) -> int:
    import datetime as dt

    return int(dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp()) // DAY


def _import(a: Archive, tmp_path: Path, *msgs: str) -> None:
    with isolated_environ(tmp_path / "home"):
        run_cli("import", "st", str(_mbox(tmp_path / "more.mbox", *msgs)), env={"PI_CONFIG": str(a.config)}, check=True)


def test_new_mail_alone_is_aggregated(tmp_path: Path) -> None:
    a = build_inbox(tmp_path, "st", "list@example.org", _mbox(tmp_path / "in.mbox", *MESSAGES))
    layout = Layout(a.inboxdir)
    first = _same_as_from_scratch(layout)
    st = aggregate.state(layout)
    assert (st["agg_last"], st["agg_count"]) == ("6", "6")
    assert aggregate.figures(layout) == first  # nothing new: nothing changes

    _plant(layout, "2024-01-10")
    _import(a, tmp_path, *MORE)
    assert aggregate.current_weeks(layout) is None  # behind: the listing counts itself
    got = aggregate.figures(layout)
    st = aggregate.state(layout)
    assert (st["agg_last"], st["agg_count"]) == ("9", "9")
    jan = {m["month"]: m for m in got["months"]}["2024-01"]
    assert jan["messages"] == 5 + MARK  # the old day was not counted again
    assert got["messages"] == 9 + MARK
    # the old RFC's thread got its first reply, the new patch its own
    quarters = got["first_reply"]
    assert [(q["patches"], q["replied"]) for q in quarters] == [(3, 3)]

    _plant(layout, "2024-01-10")  # undo the marker
    db = sqlite3.connect(layout.own_dir / "stats.sqlite3")
    with db:
        db.execute("UPDATE agg_day SET messages = messages - ? WHERE day = ?", (2 * MARK, _day("2024-01-10")))
    db.close()
    after = _same_as_from_scratch(layout)
    assert after["messages"] == 9 and after["first_reply"] == quarters


def test_edit_and_purge_start_from_nothing(tmp_path: Path) -> None:
    a = build_inbox(tmp_path, "st", "list@example.org", _mbox(tmp_path / "in.mbox", *MESSAGES, *MORE))
    layout = Layout(a.inboxdir)
    _same_as_from_scratch(layout)
    _plant(layout, "2024-01-10")
    # an edit keeps the number and the count: the audit log tells
    script = tmp_path / "ed.sh"
    script.write_text('#!/bin/sh\nsed -i "s/^Subject: Re: \\[PATCH v2 0\\/3\\]/Subject: [PATCH v3]/" "$1"\n')
    script.chmod(0o755)
    with isolated_environ(tmp_path / "home"):
        run_cli("edit", "-m", "r4@x", env={"PI_CONFIG": str(a.config), "EDITOR": str(script)}, check=True)
    got = _same_as_from_scratch(layout)  # the marker is gone too
    feb = {m["month"]: m for m in got["months"]}["2024-02"]
    assert feb["patches"] == 2  # the edited reply is a patch now
    _plant(layout, "2024-01-10")
    with isolated_environ(tmp_path / "home"):
        run_cli("purge", "--all", stdin=MESSAGES[0].encode(), env={"PI_CONFIG": str(a.config)}, check=True)
    got = _same_as_from_scratch(layout)
    assert got["messages"] == 8
