"""``pubinbox info``: what an inbox holds (counts, epochs, newest threads)."""

from __future__ import annotations

import time

import click

from pubinbox.cli import cli
from pubinbox.cli.common import find_inbox, load_config


@cli.command("info")
@click.option("-n", "--newest", default=10, show_default=True, help="how many recent messages to list")
@click.argument("inbox")
@click.pass_context
def info_cmd(ctx: click.Context, newest: int, inbox: str) -> None:
    """Print a summary of INBOX (name or directory)."""
    from pubinbox.inbox import Inbox

    conf = load_config(ctx)
    ibx = find_inbox(conf, inbox, need_config=False)
    with Inbox.open(ibx) as box:
        count, lo, hi = box.over.stats()
        threads = box.thread_count()
        click.echo(f"inbox:    {ibx.name} <{ibx.primary_address}>")
        click.echo(f"dir:      {ibx.inboxdir}")
        click.echo(f"epochs:   {', '.join(str(n) for n in box.layout.epochs())}")
        click.echo(f"messages: {count} (articles {lo}-{hi}), threads: {threads}")
        click.echo("newest:")
        for row in box.over.recent(newest):
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(row.ds))
            click.echo(f"  {row.num:>6} {when}  {row.subject[:60]}  <{row.mid}>")
