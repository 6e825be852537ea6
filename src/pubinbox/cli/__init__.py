"""The ``pubinbox`` command: a click group whose verbs mirror public-inbox's.

Each verb lives in its own module and imports heavy modules inside the
function, so ``--help`` starts fast.  Errors are turned into one line on
stderr and an exit status here, and only here.
"""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass

import click

from pubinbox import __version__
from pubinbox.errors import PubinboxError


@dataclass(frozen=True, slots=True)
class Ctx:
    """Options shared by every verb."""

    config_path: str | None
    verbose: int


#: verb -> the module (under pubinbox.cli) that registers it: a verb's
#: module is imported when that verb runs (``serve``'s alone, asyncio and
#: all, took 25 ms of every ``mda`` and ``index`` start), all of them for
#: ``--help``
VERBS = {
    "clone": "clone", "fetch": "clone", "convert": "convert", "extindex": "extindex", "import": "import_",
    "index": "index", "info": "info", "init": "init", "learn": "learn", "mda": "mda", "purge": "purge",
    "edit": "purge", "q": "q", "serve": "serve", "watch": "watch",
}  # fmt: skip


class Group(click.Group):
    """Runs a verb, turning pubinbox errors into one line + exit status;
    imports a verb's module when it is asked for (:data:`VERBS`)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = VERBS.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"pubinbox.cli.{module}")
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for module in sorted(set(VERBS.values())):
            importlib.import_module(f"pubinbox.cli.{module}")
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PubinboxError as e:
            click.echo(f"pubinbox: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("pubinbox: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            sys.exit(141)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pubinbox")
@click.option(
    "--config", "config_path", metavar="FILE", help="config file (default: $PI_CONFIG or ~/.public-inbox/config)"
)
@click.option("-v", "--verbose", count=True, help="more messages on stderr")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """A public-inbox compatible mailing-list archive."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="pubinbox: %(message)s", stream=sys.stderr)
    ctx.obj = Ctx(config_path=config_path, verbose=verbose)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="pubinbox")
