"""``pubinbox watch``: the Maildir follower (like public-inbox-watch)."""

from __future__ import annotations

import logging

import click

from pubinbox.cli import cli
from pubinbox.cli.common import load_config


@cli.command("watch")
@click.option(
    "--poll",
    type=click.FloatRange(0.05, 3600),
    default=1.0,
    show_default=True,
    help="seconds between Maildir listings without inotify",
)
@click.option("--no-inotify", is_flag=True, help="list the Maildirs every --poll seconds instead")
@click.option("--once", is_flag=True, help="store what is there now and exit")
@click.option("-q", "--quiet", is_flag=True, help="no line per message")
@click.pass_context
def watch_cmd(ctx: click.Context, poll: float, no_inotify: bool, once: bool, quiet: bool) -> None:
    """Store mail appearing in the Maildirs of publicinbox.NAME.watch
    (maildir:/path); remove mail marked Seen in publicinboxwatch.watchspam.
    SIGHUP reloads the config, SIGUSR1 rescans, SIGTERM stops."""
    from pubinbox.deliver.watch import Watcher

    if not quiet:
        logging.getLogger("pubinbox.deliver.watch").setLevel(logging.INFO)
    w = Watcher(lambda: load_config(ctx), poll=poll, use_inotify=not no_inotify)
    w.run(once=once)
    s = w.stats
    click.echo(
        f"pubinbox watch: added {s['added']}, duplicates {s['duplicate']}, skipped {s['skipped']}, "
        f"spam {s['spam']}, removed {s['removed']}",
        err=True,
    )
