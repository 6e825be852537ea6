"""``pubinbox learn spam|ham|rm [--all | -I NAME] < message`` (like
public-inbox-learn): one line per inbox changed on stdout, "not found" on
stderr (exit 0) when there was nothing to remove."""

from __future__ import annotations

import sys

import click

from pubinbox.cli import cli
from pubinbox.cli.common import load_config


@cli.command("learn")
@click.argument("mode", type=click.Choice(["spam", "ham", "rm"]))
@click.option("--all", "all_", is_flag=True, help="rm: every inbox, not only those the message is addressed to")
@click.option("-I", "--inbox", "names", multiple=True, metavar="NAME", help="only this inbox (repeatable)")
@click.pass_context
def learn_cmd(ctx: click.Context, mode: str, all_: bool, names: tuple[str, ...]) -> None:
    """Remove (spam, rm) or add (ham) the message on standard input; spam
    and ham also train SpamAssassin (spamc -L) when
    publicinboxmda.spamcheck is spamc."""
    from pubinbox.deliver.learn import learn

    if all_ and names:
        raise click.UsageError("--all and -I exclude each other")
    conf = load_config(ctx)
    raw = sys.stdin.buffer.read()
    report = learn(conf, raw, mode, all_=all_, names=names)
    for name, num, mid in report.removed:
        click.echo(f"{name}: removed #{num} <{mid}>")
    for name, anum, status in report.added:
        click.echo(f"{name}: {status}" + (f" #{anum}" if anum is not None else ""))
    if report.not_found:
        where = ", ".join(report.inboxes) if report.inboxes else "no inbox addressed"
        click.echo(f"pubinbox learn: not found ({where})", err=True)
