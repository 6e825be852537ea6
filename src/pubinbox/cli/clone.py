"""``pubinbox clone`` and ``pubinbox fetch``: mirror an inbox or a whole
site over git (pubinbox or public-inbox origins), like public-inbox-clone
and public-inbox-fetch, but configured and indexed when they return."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from pubinbox.cli import cli
from pubinbox.cli.common import find_inbox, load_config

#: public-inbox-fetch --exit-code: nothing changed
UNCHANGED = 127


def _say(quiet: bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        if not quiet:
            click.echo(f"# {line}", err=True)

    return say


@cli.command("clone")
@click.option(
    "-I", "--include", "include", multiple=True, metavar="GLOB", help="only inboxes whose name matches (site URLs)"
)
@click.option("-p", "--progress", is_flag=True, help="git's progress display even when stderr is not a terminal")
@click.option("-q", "--quiet", is_flag=True, help="no progress, one line per inbox")
@click.option("-L", "--indexlevel", type=click.Choice(["basic", "medium", "full"]), default="full", show_default=True)
@click.argument("url")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.pass_context
def clone_cmd(
    ctx: click.Context,
    include: tuple[str, ...],
    progress: bool,
    quiet: bool,
    indexlevel: str,
    url: str,
    directory: str | None,
) -> None:
    """Mirror the inbox at URL (http://host/NAME/) or every inbox of a site
    (http://host/, from its manifest.js.gz) into DIRECTORY, add it to the
    config and index it: the article numbers are the origin's."""
    from pubinbox.mirror.clone import clone

    conf = load_config(ctx)
    git_quiet = quiet or not (progress or sys.stderr.isatty())
    t0 = time.monotonic()
    reports = clone(url, Path(directory) if directory else None, conf.path, conf, include=include,
                    level=indexlevel, quiet=git_quiet, say=_say(quiet))  # fmt: skip
    for r in reports:
        click.echo(f"# {r.name}: {r.messages} messages in {r.inboxdir} ({time.monotonic() - t0:.1f}s)", err=True)


@cli.command("fetch")
@click.option("-C", "directory", type=click.Path(file_okay=False), help="the mirror's directory (default: .)")
@click.option("--exit-code", is_flag=True, help=f"exit {UNCHANGED} when nothing changed")
@click.option(
    "--every", type=click.IntRange(1, 86400 * 7), metavar="SECONDS", help="fetch again every SECONDS, for ever"
)
@click.option("-p", "--progress", is_flag=True, help="git's progress display even when stderr is not a terminal")
@click.option("-q", "--quiet", is_flag=True)
@click.argument("inboxes", nargs=-1)
@click.pass_context
def fetch_cmd(
    ctx: click.Context, directory: str | None, exit_code: bool, every: int | None, progress: bool, quiet: bool,
    inboxes: tuple[str, ...],
) -> None:  # fmt: skip
    """Update mirrors (NAME... from the config, or -C DIR, or the current
    directory) from their origins, then index what came."""
    from pubinbox.errors import MirrorError
    from pubinbox.mirror.clone import fetch

    if directory and inboxes:
        raise click.UsageError("give -C DIR or NAME..., not both")
    targets = list(inboxes) or [directory or "."]
    git_quiet = quiet or not (progress or sys.stderr.isatty())
    while True:
        conf = load_config(ctx)
        changed = False
        for t in targets:
            ibx = find_inbox(conf, t, need_config=False)
            if ibx.name not in {i.name for i in conf.inboxes}:  # a directory: its configured settings if any
                ibx = next((i for i in conf.inboxes if i.inboxdir.resolve() == ibx.inboxdir), ibx)
            try:
                r = fetch(ibx, quiet=git_quiet, say=_say(quiet))
            except MirrorError as e:
                if every is None:
                    raise
                click.echo(f"pubinbox: {e}", err=True)
                continue
            changed |= r.changed
            if r.changed and not quiet:
                click.echo(f"# {r.name}: {r.messages} messages indexed", err=True)
        if every is None:
            if exit_code and not changed:
                sys.exit(UNCHANGED)
            return
        time.sleep(every)
