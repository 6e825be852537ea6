"""``pubinbox purge`` and ``pubinbox edit`` (like public-inbox-purge/-edit):
takedowns that rewrite git history, keeping every other article number."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pubinbox.cli import cli
from pubinbox.cli.common import load_config


def _print(report: object, dry_run: bool, verb: str) -> None:
    from pubinbox.deliver.takedown import Report

    assert isinstance(report, Report)
    done = {(j.inbox, c.num) for j in report.journals for c in j.changes}
    for name, targets in report.found.items():
        for num, mid, blob, epoch in targets:
            if dry_run:
                what = f"would {verb}"
            elif (name, num) in done:
                what = verb + ("d" if verb.endswith("e") else "ed")
            else:
                what = "unchanged"
            click.echo(f"{name}: {what} #{num} <{mid}> (blob {blob}, epoch {epoch})")
    for j in report.journals:
        click.echo(f"{j.inbox}: epoch {j.epoch}: {j.old_tip} -> {j.new_tip}")
    if not report.found:
        click.echo(f"pubinbox {verb}: not found", err=True)


@cli.command("purge")
@click.option("--all", "all_", is_flag=True, help="every inbox (default: those the message is addressed to)")
@click.option("-I", "--inbox", "names", multiple=True, metavar="NAME", help="only this inbox (repeatable)")
@click.option("-n", "--dry-run", is_flag=True, help="list what would be purged")
@click.option("--reason", default="", help="why (kept in the inbox's audit log)")
@click.pass_context
def purge_cmd(ctx: click.Context, all_: bool, names: tuple[str, ...], dry_run: bool, reason: str) -> None:
    """Erase the message on standard input from git history."""
    from pubinbox.deliver.takedown import purge

    if all_ and names:
        raise click.UsageError("--all and -I exclude each other")
    rep = purge(load_config(ctx), sys.stdin.buffer.read(), all_=all_, names=names, dry_run=dry_run, reason=reason)
    _print(rep, dry_run, "purge")


@cli.command("edit")
@click.option("-m", "mid", metavar="MSGID", help="the message with this Message-ID")
@click.option("-F", "raw_file", type=click.Path(dir_okay=False, path_type=Path), help="the message with this content")
@click.option("--all", "all_", is_flag=True, help="every inbox")
@click.option("-I", "--inbox", "names", multiple=True, metavar="NAME", help="only this inbox (repeatable)")
@click.option("--raw", "raw_mode", is_flag=True, help="no mboxrd From line or >From escaping in the editor")
@click.option("-f", "--force", is_flag=True, help="allow changing the Message-ID")
@click.option("-n", "--dry-run", is_flag=True, help="list what would be edited")
@click.option("--reason", default="", help="why (kept in the inbox's audit log)")
@click.pass_context
def edit_cmd(
    ctx: click.Context,
    mid: str | None,
    raw_file: Path | None,
    all_: bool,
    names: tuple[str, ...],
    raw_mode: bool,
    force: bool,
    dry_run: bool,
    reason: str,
) -> None:
    """Edit a message in publicinbox.mailEditor (or git's editor) and
    rewrite history with the result (same article number)."""
    from pubinbox.deliver.takedown import edit

    if all_ and names:
        raise click.UsageError("--all and -I exclude each other")
    if (mid is None) == (raw_file is None):
        raise click.UsageError("give -m MSGID or -F RAWFILE")
    raw = None
    if raw_file is not None:
        try:
            raw = raw_file.read_bytes()
        except OSError as e:
            raise click.UsageError(f"{raw_file}: {e.strerror or e}") from None
    rep = edit(
        load_config(ctx),
        mid=mid,
        raw_file=raw,
        all_=all_,
        names=names,
        raw_mode=raw_mode,
        force=force,
        dry_run=dry_run,
        reason=reason,
    )
    _print(rep, dry_run, "edit")
