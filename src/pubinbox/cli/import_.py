"""``pubinbox import``: bulk import of mbox / Maildir / .eml / stdin."""

from __future__ import annotations

import sys

import click

from pubinbox.cli import cli
from pubinbox.cli.common import find_inbox, load_config


@cli.command("import")
@click.option("-q", "--quiet", is_flag=True, help="no progress bar or summary")
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="messages between checkpoints (what a crash can cost to redo)",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1),
    default=None,
    help="parser processes (default: cores beyond the writer's and git's)",
)
@click.argument("inbox")
@click.argument("paths", nargs=-1)
@click.pass_context
def import_cmd(
    ctx: click.Context, quiet: bool, batch_size: int, jobs: int | None, inbox: str, paths: tuple[str, ...]
) -> None:
    """Import messages into INBOX (a name or directory) from mbox files
    (mboxrd, mboxo, mboxcl2: detected), Maildirs, .eml files, or stdin."""
    from pubinbox.cli.progress import Progress
    from pubinbox.deliver.importer import import_messages
    from pubinbox.mail.sources import count_hint, iter_sources

    conf = load_config(ctx)
    ibx = find_inbox(conf, inbox)
    with Progress(count_hint(paths) if paths else None, f"importing into {ibx.name}", unit="B", quiet=quiet) as bar:
        stats = import_messages(
            ibx,
            iter_sources(paths, sys.stdin.buffer),
            epoch_size=conf.epoch_size,
            progress=bar.update,
            checkpoint_every=batch_size,
            lock_timeout=conf.lock_timeout,
            jobs=jobs,
        )
    handled = stats.added + stats.duplicates + sum(stats.rejected.values())
    if (not quiet and stats.stopped is None) or handled:
        click.echo(f"{ibx.name}: {stats.summary()}", err=True)
    if stats.stopped is not None:
        raise stats.stopped
