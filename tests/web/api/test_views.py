"""The search's JSON written hit by hit (views.search_json/hits_json) is the
very JSON ``json.dumps`` gives of the documented hit (the ``SearchHit``
schema, built here from the message's OverRow, and a ``score``), byte for
byte, for the sample archive's rows and for hostile ones; and the served
search answers are those dicts (issue 12: the API's search at least as fast
as the HTML page of the same hits)."""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from typing import Any

import pytest

from pubinbox.over.reader import SUMMARY_COLUMNS, OverReader, OverRow
from pubinbox.web.api import views
from pubinbox.web.app import App
from pubinbox.web.html import url_mid
from tests.web.api.conftest import API, get_json
from tests.web.conftest import Archive


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")


def _rows(sample_archive: Archive) -> list[OverRow]:
    over = OverReader(sample_archive.inboxdir / "pubinbox" / "over.sqlite3")
    try:
        return over.recent(200)
    finally:
        over.close()


def hit_doc(name: str, row: OverRow, links: views.Links) -> dict[str, Any]:
    """The documented search hit of *row* (openapi.json's SearchHit)."""
    m = url_mid(row.mid)
    return {
        "mid": row.mid,
        "num": row.num,
        "subject": row.subject,
        "from": row.from_,
        "date": views.iso(row.ds),
        "received": views.iso(row.ts),
        "references": list(row.references),
        "bytes": row.bytes,
        "lines": row.lines,
        "url": links.inbox_api(name, "messages", m),
        "html_url": f"{links.html(name)}{m}/",
    }


def summary(row: OverRow) -> tuple[Any, ...]:
    """*row* as OverReader.summaries gives it (refs as the stored text)."""
    refs = " ".join(f"<{r}>" for r in row.references)
    return (row.num, row.ts, row.ds, row.mid, row.subject, row.from_, refs, row.bytes, row.lines)


def test_summaries_are_the_rows(sample_archive: Archive) -> None:
    over = OverReader(sample_archive.inboxdir / "pubinbox" / "over.sqlite3")
    try:
        rows = over.recent(200)
        nums = [r.num for r in rows][::-1] + [10**9]  # any order; a missing number is skipped
        got = over.summaries(nums)
        assert len(SUMMARY_COLUMNS.split(",")) == 9 and len(got) == len(rows)
        by_num = {r.num: r for r in rows}
        for t in got:
            r = by_num[t[0]]
            assert t[:6] == summary(r)[:6] and t[7:] == summary(r)[7:]
            assert views.refs_from_field(t[6]) == r.references
        assert [t[0] for t in got] == nums[:-1]
    finally:
        over.close()


HOSTILE = {
    "mid": 'a"b\\c/d:e%f?g#h</script>\u00e9\udcff@x',
    "subject": 'Re: \x00\x01\x1f\t\n\r "quoted" \\ \u2028\u2029 \u00fc\u4e2d \U0001f600 \udcfe\ud83d',
    "from_": "N\u00e4me \udc80 <a@b>",
    "to": "",
    "cc": "\x7f\ufeff",
    "references": ('x"y@z', "\udcff@q", "\u2028\ufeff@q"),
}


@pytest.mark.parametrize("origin", ["http://testserver", 'http://h"o\\st:8080', "https://\u00e9x.example/"])
def test_hits_json_is_json_dumps_of_hit_doc(sample_archive: Archive, origin: str) -> None:
    rows = _rows(sample_archive)
    assert len(rows) > 100
    rows += [replace(rows[0], num=10**12, bytes=0, lines=0, ds=-7, ts=10**13, **HOSTILE)]  # type: ignore[arg-type]
    links = views.Links(origin)
    for name in ("sample", 'a b/\u00e9"c'):
        for scores in (None, {r.num: i / 7 for i, r in enumerate(rows[:50])} | {rows[1].num: float("nan")}):
            got = views.hits_json(name, [summary(r) for r in rows], scores, links)
            want = []
            for r in rows:
                d = hit_doc(name, r, links)
                if scores is not None:
                    d["score"] = scores.get(r.num, 0.0)
                want.append(_dumps(d))
            assert [h.encode("utf-8", "backslashreplace") for h in got] == want
    # the hostile row's JSON parses back to its fields (lone surrogates as escapes)
    last = json.loads(
        views.hits_json("sample", [summary(rows[-1])], None, links)[-1].encode("utf-8", "backslashreplace")
    )
    assert last["subject"] == HOSTILE["subject"] and last["references"] == list(HOSTILE["references"])


def test_iso_is_strftime() -> None:
    rnd = random.Random(12)
    for ts in [0, -5, 1, 59, 60, 3599, 86399, 86400, 951782400, 253402300799, 253402300800, 10**15]:
        want = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(min(max(ts, 0), 253402300799)))
        assert views.iso(ts) == want, ts
    for ts in (rnd.randrange(0, 253402300800) for _ in range(20_000)):
        assert views.iso(ts) == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)), ts


@pytest.mark.parametrize("sort", ["date", "relevance"])
def test_served_search_is_the_hit_docs(app: App, sample_archive: Archive, sort: str) -> None:
    status, doc = get_json(app, f"{API}/inboxes/sample/search?q=s:erofs&limit=100&sort={sort}")
    assert status == 200 and len(doc["results"]) == 100 and doc["total"] > 100 and isinstance(doc["next"], str)
    origin = doc["results"][0]["url"].split("/api/v1/")[0]
    links = views.Links(origin)
    over = OverReader(sample_archive.inboxdir / "pubinbox" / "over.sqlite3")
    try:
        for hit in doc["results"]:
            row = over.by_num(hit["num"])
            assert row is not None
            want = hit_doc("sample", row, links)
            if sort == "relevance":
                assert isinstance(hit.pop("score"), float)
            assert "score" not in hit and hit == want
    finally:
        over.close()
