"""``pubinbox convert OLD_V1 NEW_V2`` (like public-inbox-convert)."""

from __future__ import annotations

from pathlib import Path

import click

from pubinbox.cli import cli
from pubinbox.cli.common import load_config


@cli.command("convert")
@click.option("--no-index", is_flag=True, help="do not index the new inbox")
@click.option("-L", "--indexlevel", type=click.Choice(["basic", "medium", "full"]), help="indexlevel of the new inbox")
@click.argument("old", type=click.Path(file_okay=False, path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.pass_context
def convert_cmd(ctx: click.Context, no_index: bool, indexlevel: str | None, old: Path, new: Path) -> None:
    """Copy the v1 inbox OLD_V1 into a new v2 inbox NEW_V2, keeping its
    article numbers.  OLD_V1 and the config are not changed: point the
    inbox's inboxdir at NEW_V2 yourself."""
    import dataclasses

    from pubinbox import config as cfg
    from pubinbox.errors import ConfigError, InboxNotFound
    from pubinbox.ingest.convert import convert
    from pubinbox.ingest.indexing import index_inbox

    try:
        conf: cfg.Config | None = load_config(ctx)
    except ConfigError:
        conf = None
    ibx = None
    if conf is not None:
        try:
            ibx = conf.inbox(str(old.resolve()))
        except InboxNotFound:
            ibx = None
    new = new.absolute()
    added, removed = convert(old, new, epoch_size=conf.epoch_size if conf else cfg.DEFAULT_EPOCH_SIZE)
    click.echo(f"# {new}: {added} messages, {removed} removals copied from {old}", err=True)
    if no_index:
        return
    if ibx is None:
        ibx = cfg.InboxConfig(name=new.name, inboxdir=new, addresses=(f"{new.name}@localhost",))
    ibx = dataclasses.replace(ibx, inboxdir=new, indexlevel=indexlevel or ibx.indexlevel)
    stats = index_inbox(ibx)
    click.echo(f"# {new}: indexed {stats.added} messages", err=True)
