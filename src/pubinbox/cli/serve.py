"""``pubinbox serve``: the web archive over HTTP (uvicorn, ASGI).

Like ``public-inbox-httpd``: every inbox of the config file, one process per
worker (``-W auto`` = one per core).
"""

from __future__ import annotations

import os

import click

from pubinbox.cli import cli
from pubinbox.cli.common import load_config
from pubinbox.errors import ConfigError


def _host_port(spec: str) -> tuple[str, int]:
    spec = spec.removeprefix("http://").rstrip("/")
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit():
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
    import uvicorn

    conf = load_config(ctx)  # fail early on a bad config
    if not conf.inboxes:
        raise ConfigError(f"no inboxes in {conf.path}: create one with `pubinbox init`")
    host, port = _host_port(http)
    n = (os.cpu_count() or 1) if workers == "auto" else int(workers) if workers.isdigit() else 0
    if n < 1:
        raise ConfigError(f"--workers wants a number or 'auto', not {workers!r}")
    os.environ["PUBINBOX_SERVE_CONFIG"] = str(conf.path)
    click.echo(f"pubinbox: serving {len(conf.inboxes)} inbox(es) on http://{host}:{port}/", err=True)
    uvicorn.run(
        "pubinbox.web.asgi:create_app",
        factory=True,
        host=host,
        port=port,
        workers=n if n > 1 else None,
        log_level="warning",
        access_log=access_log,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
    )
