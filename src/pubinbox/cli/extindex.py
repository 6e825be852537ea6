"""``pubinbox extindex``: build or update the cross-inbox index served at
``/all/`` (``[extindex "all"] topdir``), like ``public-inbox-extindex``.
Every ingest (mda, import, index, fetch, watch) keeps it current by itself;
this is for the first build, after configuring new inboxes, and repairs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from pubinbox.cli import cli
from pubinbox.cli.common import find_inbox, load_config


@cli.command("extindex")
@click.option("--all", "all_", is_flag=True, help="every configured inbox (and forget inboxes no longer configured)")
@click.option("--reindex", is_flag=True, help="rebuild the index from nothing")
@click.option("-q", "--quiet", is_flag=True)
@click.argument("inboxes", nargs=-1)
@click.pass_context
def extindex_cmd(ctx: click.Context, all_: bool, reindex: bool, quiet: bool, inboxes: tuple[str, ...]) -> None:
    """Add INBOX... (names or directories), or --all, to the cross-inbox index."""
    from pubinbox.errors import ConfigError
    from pubinbox.extindex.writer import sync

    conf = load_config(ctx)
    top = conf.get("extindex.all.topdir")
    if not top:
        raise ConfigError(
            f'{conf.path}: no [extindex "all"] topdir; set it with `git config -f {conf.path} extindex.all.topdir DIR`'
        )
    if not all_ and not inboxes:
        raise click.UsageError("give INBOX... or --all")
    targets = list(conf.inboxes) if all_ else [find_inbox(conf, i) for i in inboxes]
    t0 = time.monotonic()
    stats = sync(
        Path(top).expanduser(),
        targets,
        gc=[i.name for i in conf.inboxes] if all_ else None,
        reindex=reindex,
        lock_timeout=conf.lock_timeout,
    )
    if not quiet:
        dt = time.monotonic() - t0
        print(
            f"# {top}: {stats.inboxes} inbox(es), {stats.added} new messages, {stats.copies} copies added,"
            f" {stats.removed} removed in {dt:.1f}s",
            file=sys.stderr,
        )
