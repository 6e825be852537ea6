"""``pubinbox serve``: the web archive over HTTP (uvicorn, ASGI).

Like ``public-inbox-httpd``: every inbox of the config file, ``-W N``
worker processes (``auto`` = one per core) under a supervising parent that
replaces a worker that dies (web/supervisor.py), each worker speaking HTTP
within the connection limits of web/guard.py, and one search process for
all of them.  This command checks its options and the config, then *becomes*
the supervisor (exec, same pid), a small program that does not carry the
web app.
"""

from __future__ import annotations

import os
import sys

import click

from pubinbox.cli import cli
from pubinbox.cli.common import load_config
from pubinbox.errors import ConfigError


def _host_port(spec: str) -> tuple[str, int]:
    spec = spec.removeprefix("http://").rstrip("/")
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--http wants HOST:PORT, not {spec!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


@cli.command("serve")
@click.option(
    "--http", "http", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT", help="address to listen on"
)
@click.option(
    "-W", "--workers", default="1", show_default=True, metavar="N|auto", help="worker processes (auto: one per core)"
)
@click.option("--access-log/--no-access-log", default=False, help="log every request on stderr")
@click.pass_context
def serve_cmd(ctx: click.Context, http: str, workers: str, access_log: bool) -> None:
    """Serve every inbox of the config file over HTTP (the web archive)."""
    from pubinbox.search.isolated import Limits

    conf = load_config(ctx)  # fail early on a bad config
    if not conf.inboxes:
        raise ConfigError(f"no inboxes in {conf.path}: create one with `pubinbox init`")
    host, port = _host_port(http)
    n = (os.cpu_count() or 1) if workers == "auto" else int(workers) if workers.isdigit() else 0
    if not 1 <= n <= 256:
        raise ConfigError(f"--workers wants a number from 1 to 256 or 'auto', not {workers!r}")
    search = Limits.from_config(conf).argv()
    click.echo(f"pubinbox: serving {len(conf.inboxes)} inbox(es) on http://{host}:{port}/", err=True)
    argv = [sys.executable, "-m", "pubinbox.web.supervisor", "--host", host, "--port", str(port),
            "--workers", str(n), "--config", str(conf.path.resolve())]  # fmt: skip
    if access_log:
        argv.append("--access-log")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [*argv, "--", *search])
