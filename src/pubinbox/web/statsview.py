"""``/$INBOX/_/stats/`` (charts and tables), ``/$INBOX/_/stats/json`` (the
same figures; also ``/api/v1/inboxes/$INBOX/stats``) and the sparkline of
the ``/`` listing (issue 17).

The figures of an inbox are made once per overview generation and worker
(:func:`base`, kept in the site's cache under the generation's tag), never
per request, from the aggregates in ``stats.sqlite3``
(:mod:`pubinbox.stats.aggregate`), which the first request of a generation
brings up to date with the new mail alone; the period figures
(``?since=``) once per generation and date.  Review trailers come from ``stats.sqlite3``
(:mod:`pubinbox.stats.trailers`): a few new replies are read at once, a
large backlog (a freshly indexed archive) by a background process, and
until it is done the page says how far it got.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import subprocess
import sys
import threading
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pubinbox.errors import PubinboxError
from pubinbox.stats import aggregate, charts, trailers
from pubinbox.stats.compute import WEEKS, compute, parse_since, period, sparkline_weeks
from pubinbox.store.layout import Layout
from pubinbox.web.html import ascii_bytes, esc
from pubinbox.web.obfuscate import obfuscator_for
from pubinbox.web.page import html_end, html_top
from pubinbox.web.respond import page_response, validator
from pubinbox.web.site import Site

__all__ = ["document", "page", "sparkline", "stats_path"]

log = logging.getLogger(__name__)

#: replies read at once on a request; more go to a background process
INLINE_SCAN = 3000

_scanners: dict[str, subprocess.Popen[bytes]] = {}
_scan_lock = threading.Lock()


def _layout(site: Site, name: str) -> Layout:
    return Layout(site.inboxes[name].cfg.inboxdir)


def base(site: Site, name: str) -> dict[str, Any]:
    """The generation's figures (computed on the first request after the
    overview changed, in this worker)."""
    tag, _newest = site.generation(name)
    key = ("stats", name, tag)
    got = site.cache.get(key)
    if got is None:
        got = figures(_layout(site, name))
        site.cache.put(key, got, size=len(json.dumps(got)))
    return got  # type: ignore[return-value]


def figures(layout: Layout) -> dict[str, Any]:
    """The figures from the aggregates (updated with the new mail), or
    counted from the overview when ``stats.sqlite3`` cannot be written."""
    try:
        return aggregate.figures(layout)
    except (sqlite3.Error, OSError) as e:
        log.warning("%s: statistics counted without stats.sqlite3: %s", layout.inboxdir, e)
        return compute(layout.over_db)


def _posters(layout: Layout, b: dict[str, Any], since: int) -> dict[str, Any]:
    try:
        return aggregate.posters(layout, b, since)
    except (sqlite3.Error, OSError):  # no aggregates (logged by figures)
        return period(layout.over_db, b, since)


def _reviews_pending(site: Site, name: str) -> int:
    """Messages the trailer scan has still to read; starts it (inline for
    a few, else in the background) when there are any."""
    tag, _newest = site.generation(name)
    if site.cache.get(("stats-read", name, tag)) is not None:
        return 0  # this generation's trailers are all read
    layout = _layout(site, name)
    over = site.inbox(name).over
    key = str(layout.inboxdir)
    failed = False
    with _scan_lock:
        proc = _scanners.get(key)
        if proc is not None and proc.poll() is not None:  # done: reaped
            del _scanners[key]
            failed = proc.returncode != 0
            proc = None
    left = trailers.pending(layout, over)
    if left == 0 and proc is not None:  # it is closing its files: wait for it
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        with _scan_lock:
            if proc.returncode is not None and _scanners.get(key) is proc:
                del _scanners[key]
        proc = None
    if left == 0 or failed:  # a failure is logged (by the scanner) once per generation
        site.cache.put(("stats-read", name, tag), True)
    if left == 0 or failed or proc is not None or trailers.busy(layout):
        return 0 if failed else left
    with _scan_lock:
        if key in _scanners:
            return left
        if left <= INLINE_SCAN:
            try:
                trailers.scan(layout, wait=False)
            except Exception as e:  # noqa: BLE001 - derived data: the page shows what there is
                log.warning("%s: review trailers not read: %s", name, e)
                site.cache.put(("stats-read", name, tag), True)
                return 0
            return trailers.pending(layout, over)
        _scanners[key] = subprocess.Popen(
            [sys.executable, "-m", "pubinbox.stats.trailers", str(layout.inboxdir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
    return left


def document(site: Site, name: str, since_param: str | None) -> tuple[dict[str, Any], int]:
    """(the figures as the JSON document, messages whose trailers are not
    read yet); ``since`` garbage raises BadRequest."""
    b = base(site, name)
    since = parse_since(since_param, b)
    left = _reviews_pending(site, name)
    tag, _newest = site.generation(name)
    key = ("stats-period", name, tag, since, left)
    per = site.cache.get(key)
    if per is None:
        layout = _layout(site, name)
        per = _posters(layout, b, since)
        span = b.get("span")
        per["reviewers"] = trailers.reviewers(layout, since, span["first_ts"], span["last_ts"]) if span else []
        site.cache.put(key, per, size=len(json.dumps(per)))
    assert isinstance(per, dict)
    doc = {"inbox": name, **b, **per, "reviews_pending": left}
    doc.pop("first_reply")
    doc["first_reply"] = b["first_reply"]
    return doc, left


def page(site: Site, request: Request, name: str) -> Response:
    since = request.query_params.get("since")
    doc, left = document(site, name, since)
    v = validator(site, name, request, f"stats|{left}")
    if (nm := v.not_modified(request)) is not None:
        return nm
    key = ("page", v.etag)
    html = site.cache.get(key)
    if html is None:
        html = ascii_bytes(_render(site, request, name, doc, since or ""))
        site.cache.put(key, html)
    assert isinstance(html, bytes)
    return page_response(request, html, validator=v)


# -- rendering ------------------------------------------------------------------


def _table(head: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    """A plain-text table (right-aligned numbers), escaped."""
    cells = [[str(c) for c in head]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = []
    for r in cells:
        parts = [r[i].rjust(widths[i]) if i else r[i].ljust(widths[i]) for i in range(len(r) - 1)]
        parts.append(r[-1])
        lines.append("  ".join(parts).rstrip())
    return esc("\n".join(lines)) + "\n"


def _who(p: dict[str, Any]) -> str:
    return f"{p['name']} <{p['address']}>" if p["address"] != p["name"] else str(p["name"])


def _ticks(labels: list[str], every: str) -> tuple[list[int], list[str]]:
    """Positions of a new year (months, weeks) on the x axis."""
    ks: list[int] = []
    ls: list[str] = []
    prev = ""
    for k, lab in enumerate(labels):
        y = lab[:4]
        if y != prev and (every == "year" or lab[5:7] in ("01", "04", "07", "10")):
            ks.append(k)
            ls.append(y if every == "year" else lab[:7])
        prev = y
    if len(ks) > 12:  # a long life: every other year
        ks, ls = ks[::2], ls[::2]
    return ks, ls


def _render(site: Site, request: Request, name: str, doc: dict[str, Any], since: str) -> str:
    info = site.inboxes[name]
    upfx = request.state.upfx
    obfs = obfuscator_for(site.config, info.cfg)  # `obfuscate = true`: addresses as on every page

    def people(t: str) -> str:
        return obfs.html(t) if obfs is not None else t

    out = [html_top(info, title=f"{name}: activity and statistics", upfx=upfx, search=False)]
    p: list[str] = ['<pre id=stats><a href="json">JSON</a> of this page\n\n']
    span = doc.get("span")
    if not span:
        p.append("No messages yet.</pre>")
        out.append("".join(p))
        out.append(html_end(site, info, upfx))
        return "".join(out)
    p.append(
        esc(f"{doc['messages']} messages received from {span['first']} to {span['last']} (dates by Date:).") + "\n"
    )
    if span["outside"]:
        p.append(
            esc(
                f"{span['outside']} messages are dated outside that span ({span['before']} before, "
                f"{span['after']} after): they are counted in its first and last month."
            )
            + "\n"
        )
    p.append("</pre>")
    weeks = doc["weeks"]
    wl = [w["week"] for w in weeks]
    ks, ls = _ticks(wl, "quarter")
    p.append(f"<h3>Messages and new threads per week</h3><pre>the {WEEKS} weeks up to {esc(span['newest'])}</pre>")
    p.append(
        charts.bars(
            wl,
            [("messages", [w["messages"] for w in weeks]), ("new threads", [w["threads"] for w in weeks])],
            title="per week",
            ticks=ks,
            tick_labels=ls,
        )
    )
    p.append(
        "<details><summary>table</summary><pre>"
        + _table(("week of", "messages", "new threads"), [(w["week"], w["messages"], w["threads"]) for w in weeks])
        + "</pre></details>"
    )
    months = doc["months"]
    ml = [m["month"] for m in months]
    ks, ls = _ticks(ml, "year")
    p.append("<h3>Messages and new threads per month</h3>")
    p.append(
        charts.bars(
            ml,
            [("messages", [m["messages"] for m in months]), ("new threads", [m["threads"] for m in months])],
            title="per month",
            ticks=ks,
            tick_labels=ls,
        )
    )
    p.append("<h3>Patches and replies per month</h3>")
    p.append(
        charts.bars(
            ml,
            [("messages", [m["messages"] for m in months]), ("patches", [m["patches"] for m in months])],
            title="patches ([PATCH...], [RFC...]) and the rest",
            ticks=ks,
            tick_labels=ls,
        )
    )
    p.append(
        "<pre>"
        + _table(
            ("month", "messages", "new threads", "patches", "replies"),
            [(m["month"], m["messages"], m["threads"], m["patches"], m["replies"]) for m in months],
        )
        + "</pre>"
    )
    p.append(
        f'<h3 id=people>Posters and reviewers since {esc(doc["since"])}</h3><form action="./#people"><pre>'
        f'since <input name=since type=text size=10 value="{esc(since or doc["since"])}" aria-label="since (YYYY-MM-DD)">'
        "<input type=submit value=show /> (YYYY-MM-DD; default: a year before the newest message)</pre></form>"
    )
    posters = doc["posters"]
    p.append(charts.hbars([(x["name"], x["messages"]) for x in posters], title="top posters", what="messages"))
    p.append("<pre>" + people(_table(("messages", "poster"), [(x["messages"], _who(x)) for x in posters])) + "</pre>")
    revs = doc["reviewers"]
    if doc["reviews_pending"]:
        p.append(
            "<pre>"
            + esc(f"Reviewers: {doc['reviews_pending']} messages are still being read; reload in a minute.")
            + "</pre>"
        )
    if revs:
        p.append(
            charts.hbars(
                [(x["name"], x["trailers"]) for x in revs],
                title="top reviewers (Reviewed/Acked/Tested-by)",
                what="trailers",
            )
        )
    p.append(
        "<pre>"
        + people(
            _table(
                ("trailers", "reviewer (Reviewed-by, Acked-by, Tested-by given in replies)"),
                [(x["trailers"], _who(x)) for x in revs],
            )
        )
        + "</pre>"
    )
    fr = doc["first_reply"]
    ql = [q["quarter"] for q in fr]
    p.append("<h3>Time to first reply, per quarter</h3>")
    p.append("<pre>Patches that start a thread, and the first message in it from someone else (no patch itself).</pre>")
    p.append(
        charts.bars(
            ql,
            [("90th percentile", [q["p90_hours"] or 0 for q in fr]), ("median", [q["median_hours"] or 0 for q in fr])],
            title="hours to first reply",
            unit=" h",
            ticks=_ticks([q.replace("Q", "-0") for q in ql], "year")[0],
            tick_labels=_ticks([q.replace("Q", "-0") for q in ql], "year")[1],
        )
    )
    p.append(
        "<pre>"
        + _table(
            ("quarter", "patches", "answered", "median h", "90th pct h", "no reply in 30 days"),
            [
                (
                    q["quarter"],
                    q["patches"],
                    q["replied"],
                    q["median_hours"],
                    q["p90_hours"],
                    f"{q['no_reply_30d']}/{q['old_enough']}"
                    + (f" ({100 * q['no_reply_30d_share']:.0f}%)" if q["no_reply_30d_share"] is not None else ""),
                )
                for q in fr
            ],
        )
        + "</pre>"
    )
    out.append("".join(p))
    out.append(html_end(site, info, upfx))
    return "".join(out)


def sparkline(site: Site, name: str) -> str:
    """The last 52 weeks of *name* as a small inline SVG ('' without mail)."""
    try:
        tag, _newest = site.generation(name)
    except Exception:  # noqa: BLE001 - the listing shows the inbox anyway
        return ""
    key = ("spark", name, tag)
    got = site.cache.get(key)
    if got is None:
        try:
            layout = _layout(site, name)
            try:  # the aggregates, when the stats page has brought them up to date
                weeks = aggregate.current_weeks(layout)
            except (sqlite3.Error, OSError):
                weeks = None
            if weeks is None:
                weeks = sparkline_weeks(layout.over_db)
        except (PubinboxError, sqlite3.Error) as e:  # the listing shows the inbox anyway
            log.warning("%s: no sparkline: %s", name, e)
            return ""
        got = (
            charts.sparkline([(w["week"], w["messages"]) for w in weeks], label=f"{name}: messages per week")
            if weeks
            else ""
        )
        site.cache.put(key, got)
    assert isinstance(got, str)
    return got


def stats_path(path: str) -> bool:
    """Whether a request path is one of these pages (the app runs them in a thread)."""
    return "/_/stats/" in path
