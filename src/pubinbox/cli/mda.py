"""``pubinbox mda``: deliver one message from an MTA (like public-inbox-mda)."""

from __future__ import annotations

import sys

import click

from pubinbox.cli import cli


@cli.command("mda")
@click.option("--no-precheck", is_flag=True, help="skip prechecks (for mirroring a list)")
@click.pass_context
def mda_cmd(ctx: click.Context, no_precheck: bool) -> None:
    """Deliver the message on standard input, routed by ORIGINAL_RECIPIENT
    or List-Id.  Exit: 0 delivered, 65 rejected, 67 unknown recipient,
    75 try again later."""
    from pubinbox import config as cfg
    from pubinbox.deliver.mda import EX_TEMPFAIL, deliver
    from pubinbox.errors import PubinboxError

    env = cfg.Env.from_os()
    raw = sys.stdin.buffer.read()
    try:
        conf = cfg.load(env.config_path(ctx.obj.config_path))
    except PubinboxError as e:
        # keep the message before failing: the config may be fixed and the mail retried
        from pubinbox.deliver.emergency import Emergency

        em = Emergency(env.emergency_dir())
        try:
            em.prepare(raw)
            em.keep()
        except PubinboxError:
            pass
        click.echo(f"pubinbox mda: {e}", err=True)
        sys.exit(EX_TEMPFAIL)
    out = deliver(raw, conf, env, precheck_enabled=not no_precheck)
    if out.message:
        click.echo(out.message, err=True)
    sys.exit(out.status)
