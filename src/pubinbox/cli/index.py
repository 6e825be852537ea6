"""``pubinbox index``: bring msgmap, the overview and the search index up to
date with git, repairing whichever is damaged (exit 0 when git objects are
missing: they are reported, as public-inbox does, not fatal)."""

from __future__ import annotations

import dataclasses
import sys
import time

import click

from pubinbox.cli import cli
from pubinbox.cli.common import find_inbox, load_config


@cli.command("index")
@click.option("--reindex", is_flag=True, help="rebuild the overview and the search index from git")
@click.option("--all", "all_", is_flag=True, help="every configured inbox")
@click.option("-j", "--jobs", type=int, default=None, help="parser processes (default: CPUs)")
@click.option(
    "-L", "--indexlevel", type=click.Choice(["basic", "medium", "full"]), help="override the configured indexlevel"
)
@click.option("-q", "--quiet", is_flag=True)
@click.argument("inboxes", nargs=-1)
@click.pass_context
def index_cmd(
    ctx: click.Context,
    reindex: bool,
    all_: bool,
    jobs: int | None,
    indexlevel: str | None,
    quiet: bool,
    inboxes: tuple[str, ...],
) -> None:
    """Index INBOXDIR... (or NAME...) from git."""
    from pubinbox.cli.progress import Progress
    from pubinbox.ingest.indexing import index_inbox

    conf = load_config(ctx)
    targets = [i.name for i in conf.inboxes] if all_ else list(inboxes)
    if not targets:
        raise click.UsageError("give INBOXDIR... or --all")
    for target in targets:
        ibx = find_inbox(conf, target, need_config=False)
        if indexlevel is not None:
            ibx = dataclasses.replace(ibx, indexlevel=indexlevel)
        t0 = time.monotonic()
        with Progress(None, f"indexing {ibx.name}", quiet=quiet) as bar:
            stats = index_inbox(ibx, reindex=reindex, jobs=jobs, progress=bar.update, on_total=bar.set_total)
        dt = time.monotonic() - t0
        if not quiet:
            n = stats.added + stats.removed
            rate = f", {n / dt:.0f} msg/s" if dt > 0 and n else ""
            copies = f" ({stats.skipped} exact copies skipped)" if stats.skipped else ""
            print(
                f"# {ibx.inboxdir}: indexed {stats.added} messages{copies}, removed {stats.removed} in {dt:.1f}s{rate}",
                file=sys.stderr,
            )
            if stats.search_fixed:
                print(
                    f"# {ibx.inboxdir}: search index: {stats.search_fixed} documents added or redone", file=sys.stderr
                )
        if stats.unreadable:
            # even with -q: the archive lacks messages until the objects are restored
            print(
                f"# {ibx.inboxdir}: {stats.unreadable} unreadable git object(s) skipped, their messages not indexed;"
                " `git fsck` in the epochs lists them",
                file=sys.stderr,
            )
