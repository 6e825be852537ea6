"""``pubinbox q``: search like ``lei q``, with public-inbox's query language."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, BinaryIO

import click

from pubinbox.cli import cli
from pubinbox.cli.common import find_inbox, load_config


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


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
            with Inbox.open(ibx) as box:
                hits = box.search(text, offset=offset, limit=limit, relevance=relevance, threads=threads)
                total += hits.total
                for row in hits.rows:
                    if fmt == "mboxrd":
                        write_mboxrd(box.raw(row), out)
                        continue
                    records.append(
                        {
                            "inbox": ibx.name,
                            "num": row.num,
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
