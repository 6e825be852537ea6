"""``pubinbox index``: bring msgmap and the overview up to date with git."""

from __future__ import annotations

import dataclasses
import sys
import time

import click

from pubinbox.cli import cli
from pubinbox.cli.common import find_inbox, load_config


@cli.command("index")
@click.option("--reindex", is_flag=True, help="rebuild the overview from git alone")
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
    from pubinbox.store.writer import index_inbox

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
