"""``pubinbox init``: create an inbox and its config section, like
``public-inbox-init`` (but v2 is the default)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from pubinbox.cli import cli
from pubinbox.cli.common import load_config
from pubinbox.config import INDEX_LEVELS, add_unique, set_value
from pubinbox.errors import ConfigError

_BAD_NAME = re.compile(r"(\A\.|\.\Z|\.\.|[/:?\[\]^~*\s\x00-\x1f\x7f]|@\{)")
_NEWSGROUP = re.compile(r"\A[A-Za-z0-9/_.\-~@+=:]+\Z")


@cli.command("init")
@click.option("-V", "version", type=click.Choice(["1", "2"]), default="2", help="inbox format (only 2)")
@click.option("-V2", "v2", is_flag=True, hidden=True)
@click.option("-L", "--indexlevel", type=click.Choice(INDEX_LEVELS), help="basic, medium or full")
@click.option("--ng", "--newsgroup", "newsgroup", help="NNTP newsgroup name")
@click.option("-j", "--jobs", type=int, hidden=True, help="accepted for compatibility")
@click.option("-S", "--skip-epoch", type=int, default=0, help="start at this epoch")
@click.option("-c", "extra", multiple=True, metavar="KEY=VAL", help="extra publicinbox.NAME.KEY values")
@click.argument("name")
@click.argument("inboxdir", type=click.Path(file_okay=False))
@click.argument("url")
@click.argument("addresses", nargs=-1, required=True)
@click.pass_context
def init_cmd(
    ctx: click.Context,
    version: str,
    v2: bool,
    indexlevel: str | None,
    newsgroup: str | None,
    jobs: int | None,
    skip_epoch: int,
    extra: tuple[str, ...],
    name: str,
    inboxdir: str,
    url: str,
    addresses: tuple[str, ...],
) -> None:
    """Create inbox NAME in INBOXDIR, served at URL, for ADDRESS..."""
    from pubinbox.over.writer import OverWriter
    from pubinbox.store.layout import Layout, init_epoch, init_inbox
    from pubinbox.store.msgmap import Msgmap

    if version == "1" and not v2:
        raise ConfigError("v1 inboxes are not supported; pubinbox writes v2 (-V2)")
    if not name or _BAD_NAME.search(name):
        raise ConfigError(f"invalid inbox name: {name!r}")
    if newsgroup is not None and not _NEWSGROUP.match(newsgroup):
        raise ConfigError(f"invalid newsgroup name: {newsgroup!r}")
    conf = load_config(ctx)
    path = Path(inboxdir).absolute()
    for other in conf.inboxes:
        if other.name == name and other.inboxdir.absolute() != path:
            raise ConfigError(f"inbox {name!r} already exists at {other.inboxdir}")
    layout = Layout(path)
    if skip_epoch and not layout.epochs():
        path.mkdir(parents=True, exist_ok=True)
        init_epoch(layout, skip_epoch)
    init_inbox(layout, f"public inbox for {addresses[0]}")
    Msgmap(layout.msgmap, create=True).close()
    OverWriter(layout.over_db).close()

    key = f"publicinbox.{name}"
    set_value(conf.path, f"{key}.inboxdir", str(path))
    add_unique(conf.path, f"{key}.url", url)
    for addr in addresses:
        add_unique(conf.path, f"{key}.address", addr)
    if indexlevel:
        set_value(conf.path, f"{key}.indexlevel", indexlevel)
    if newsgroup:
        set_value(conf.path, f"{key}.newsgroup", newsgroup)
    for kv in extra:
        k, eq, v = kv.partition("=")
        if not eq or not k:
            raise ConfigError(f"-c wants KEY=VAL, not {kv!r}")
        add_unique(conf.path, f"{key}.{k}", v)
