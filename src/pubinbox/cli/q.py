"""``pubinbox q``: search like ``lei q``, with public-inbox's query language."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from pubinbox.cli import cli
from pubinbox.cli.common import find_inbox, load_config

if TYPE_CHECKING:
    from pubinbox.config import Config
    from pubinbox.extindex.reader import ExtInbox


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _ext_inbox(conf: Config) -> ExtInbox | None:
    """The cross-inbox index (``[extindex "all"]``) when it is built, each
    inbox's own search index answering for it."""
    from pubinbox.extindex.reader import ExtInbox
    from pubinbox.search.reader import Searcher
    from pubinbox.store.layout import Layout

    top = conf.get("extindex.all.topdir")
    if not top or not Layout(Path(top).expanduser()).over_db.exists():
        return None
    searchers = {
        i.name: Searcher(Layout(i.inboxdir).own_dir, i.indexlevel) for i in conf.inboxes if i.indexlevel != "basic"
    }
    return ExtInbox(Path(top).expanduser(), searchers)


@cli.command("q")
@click.option(
    "-I", "--include", "inboxes", multiple=True, metavar="INBOX", help="inbox name or directory (repeat; default: all)"
)
@click.option("-t", "--threads", is_flag=True, help="return whole threads of the matches")
@click.option(
    "-o", "--output", default="json", show_default=True, metavar="FORMAT", help="json, or mboxrd:FILE (- for stdout)"
)
@click.option("-n", "--limit", default=200, show_default=True, type=click.IntRange(0, 10_000), help="hits per inbox")
@click.option("--offset", default=0, type=click.IntRange(0), help="skip this many hits")
@click.option("--relevance", is_flag=True, help="order by relevance instead of newest first")
@click.argument("query", nargs=-1, required=True)
@click.pass_context
def q_cmd(
    ctx: click.Context,
    inboxes: tuple[str, ...],
    threads: bool,
    output: str,
    limit: int,
    offset: int,
    relevance: bool,
    query: tuple[str, ...],
) -> None:
    """Search for QUERY (public-inbox's language: s: f: b: dfn: d: …)."""
    from pubinbox.errors import ConfigError
    from pubinbox.inbox import Inbox
    from pubinbox.mail.mbox import write_mboxrd

    conf = load_config(ctx)
    targets = [find_inbox(conf, i, need_config=False) for i in inboxes] or [
        i for i in conf.inboxes if i.indexlevel != "basic"
    ]
    ext = _ext_inbox(conf) if not inboxes else None
    if ext is not None:  # every inbox at once: the cross-inbox index, cross-posts once (issue 9)
        targets = [ext.cfg]
    if not targets:
        raise ConfigError("no inbox to search: give -I INBOX or configure one with indexlevel medium/full")
    text = " ".join(query)
    fmt, _, dest = output.partition(":")
    if fmt not in ("json", "mboxrd"):
        raise click.UsageError(f"unknown output format {fmt!r} (json or mboxrd:FILE)")
    out: BinaryIO = sys.stdout.buffer
    if fmt == "mboxrd" and dest not in ("", "-"):
        out = open(dest, "ab")  # noqa: SIM115 - closed below
    records: list[dict[str, Any]] = []
    total = 0
    try:
        for ibx in targets:
            with ext if ext is not None else Inbox.open(ibx) as box:
                hits = box.search(text, offset=offset, limit=limit, relevance=relevance, threads=threads)
                total += hits.total
                for row in hits.rows:
                    if fmt == "mboxrd":
                        write_mboxrd(box.raw(row), out)
                        continue
                    copies = ext.copies(row.num) if ext is not None else []
                    records.append(
                        {
                            "inbox": copies[0].inbox if copies else ibx.name,
                            "num": copies[0].num if copies else row.num,
                            **({"inboxes": [c.inbox for c in copies]} if ext is not None else {}),
                            "mid": row.mid,
                            "blob": row.blob,
                            "subject": row.subject,
                            "from": row.from_,
                            "to": row.to,
                            "cc": row.cc,
                            "dt": _iso(row.ds),
                            "rt": _iso(row.ts),
                            "refs": list(row.references),
                            "bytes": row.bytes,
                            "lines": row.lines,
                        }
                    )
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    if fmt == "json":
        json.dump(records, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    sys.stdout.flush()
    click.echo(f"# {total} matches", err=True)
