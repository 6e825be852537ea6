"""``pubinbox mda``: deliver one message from an MTA (like public-inbox-mda).

The MTA sees the exit status and whatever is on stderr (Postfix puts it in
the bounce or the deferral log), so mda says one line at most: while the
message is delivered, everything written to stderr (our warnings, git's
``fatal:`` lines, a panicking search thread) is held in memory, then
condensed into that one line.  ``-v`` turns this off for debugging.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType

import click

from pubinbox.cli import cli

#: the one stderr line is cut here (Postfix keeps a few hundred bytes anyway)
MAX_LINE = 1000


@cli.command("mda")
@click.option("--no-precheck", is_flag=True, help="skip prechecks (for mirroring a list)")
@click.pass_context
def mda_cmd(ctx: click.Context, no_precheck: bool) -> None:
    """Deliver the message on standard input, routed by ORIGINAL_RECIPIENT
    or List-Id.  Exit: 0 delivered (durable in git), 65 rejected,
    67 unknown recipient, 75 try again later (any local problem)."""
    from pubinbox import config as cfg
    from pubinbox.deliver.mda import EX_TEMPFAIL, Outcome, mda

    with HeldStderr(enabled=ctx.obj.verbose == 0) as held:
        try:
            env = cfg.Env.from_os()
            raw = sys.stdin.buffer.read()
            out = mda(raw, env, env.config_path(ctx.obj.config_path), precheck_enabled=not no_precheck)
        except Exception as e:  # noqa: BLE001 - stdin unreadable, or a bug: the MTA keeps the message
            out = Outcome(EX_TEMPFAIL, f"{type(e).__name__}: {e}")
    line = one_line(out.message, held.text)
    if line:
        click.echo(f"pubinbox mda: {line}", err=True)
    sys.exit(out.status)


class HeldStderr:
    """Point file descriptor 2 at an in-memory file (``memfd``) for the
    duration, so that child processes' output is held too; ``text`` has what
    was written.  Without memfd (not Linux) nothing is held."""

    LIMIT = 64 * 1024

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.text = ""
        self._mem: int | None = None
        self._saved: int | None = None

    def __enter__(self) -> HeldStderr:
        if not self.enabled or not hasattr(os, "memfd_create"):
            return self
        sys.stderr.flush()
        try:
            self._mem = os.memfd_create("pubinbox-mda-stderr", os.MFD_CLOEXEC)
            self._saved = os.dup(2)
            os.dup2(self._mem, 2)  # inheritable: git and hooks write here too
        except OSError:
            self._restore()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._restore()

    def _restore(self) -> None:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = None
        if self._mem is not None:
            try:
                self.text = os.pread(self._mem, self.LIMIT, 0).decode("utf-8", "replace")
            except OSError:
                pass
            os.close(self._mem)
            self._mem = None


def one_line(message: str, held: str) -> str:
    """*message* with what was held from stderr in brackets, as one line:
    no tracebacks (their last line says it), no repeats, no log prefixes."""
    extra: list[str] = []
    for raw in held.splitlines():
        line = raw.strip()
        if not line or raw[:1].isspace() or line.startswith("Traceback (most recent call last)"):
            continue  # blank, a traceback's frames and source lines
        if line.startswith(("During handling of the above exception", "The above exception")):
            continue
        for prefix in ("pubinbox: ", "pubinbox mda: "):
            line = line.removeprefix(prefix)
        if line not in extra and line != message:
            extra.append(line)
    text = " ".join(message.split())
    if extra:
        more = "; ".join(extra)
        text = f"{text} [{more}]" if text else more
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 3] + "..."
