"""``pubinbox serve``: the web archive over HTTP (uvicorn, ASGI), NNTP.

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
from pubinbox.net.activation import take
from pubinbox.net.lineio import busy_poll_us
from pubinbox.net.listeners import Listener, ListenerError, parse


def _listeners(given: dict[str, tuple[str, ...]]) -> list[Listener]:
    """Every ``--PROTO [SCHEME://]HOST:PORT``."""
    out: list[Listener] = []
    for proto, specs in given.items():
        for spec in specs:
            try:
                lst = parse(spec, proto)
            except ListenerError as e:
                raise ConfigError(f"--{proto}: {e}") from None
            if lst.proto != proto:
                raise ConfigError(f"--{proto} {spec}: that is {lst.proto}, not {proto}")
            out.append(lst)
    return out


@cli.command("serve")
@click.option(
    "--http",
    "http",
    multiple=True,
    metavar="HOST:PORT",
    help="web archive (default 127.0.0.1:8080 when no listener is given)",
)
@click.option(
    "--nntp", "nntp", multiple=True, metavar="[nntps://]HOST:PORT", help="NNTP, read-only (nntps://: implicit TLS)"
)
@click.option(
    "--imap",
    "imap",
    multiple=True,
    metavar="[imaps://]HOST:PORT",
    help="IMAP, read-only, NEWSGROUP.K mailboxes of 50K messages (imaps://: implicit TLS)",
)
@click.option(
    "--pop3",
    "pop3",
    multiple=True,
    metavar="[pop3s://]HOST:PORT",
    help="POP3, UUID@NEWSGROUP mailboxes (pop3s://: implicit TLS)",
)
@click.option(
    "--lmtp",
    "lmtp",
    multiple=True,
    metavar="HOST:PORT",
    help="LMTP delivery from an MTA (like pubinbox mda per recipient)",
)
@click.option(
    "--cert",
    type=click.Path(dir_okay=False),
    help="TLS certificate (PEM) for nntps://, imaps://, pop3s://, STARTTLS and STLS",
)
@click.option("--key", type=click.Path(dir_okay=False), help="TLS private key (PEM; default: in --cert)")
@click.option(
    "-W", "--workers", default="1", show_default=True, metavar="N|auto", help="worker processes (auto: one per core)"
)
@click.option("--access-log/--no-access-log", default=False, help="log every request on stderr")
@click.pass_context
def serve_cmd(ctx: click.Context, http: tuple[str, ...], nntp: tuple[str, ...], imap: tuple[str, ...], pop3: tuple[str, ...], lmtp: tuple[str, ...], cert: str | None, key: str | None,
              workers: str, access_log: bool) -> None:  # fmt: skip
    """Serve every inbox of the config file: the web archive over HTTP,
    newsgroups over NNTP, mailboxes over IMAP and POP3; every protocol in each
    worker's event loop."""
    from pubinbox.search.isolated import Limits
    from pubinbox.web.site import delta_cache_bytes

    conf = load_config(ctx)  # fail early on a bad config
    if not conf.inboxes:
        raise ConfigError(f"no inboxes in {conf.path}: create one with `pubinbox init`")
    listeners = _listeners({"http": http, "nntp": nntp, "imap": imap, "pop3": pop3, "lmtp": lmtp})
    try:  # sockets from systemd (LISTEN_FDS): net/activation.py
        inherited, listeners = take(os.environ, listeners)
    except ListenerError as e:
        raise ConfigError(str(e)) from None
    if not inherited and not listeners:
        listeners = [Listener("http", "127.0.0.1", 8080)]
    conf.number("pubinbox.nntpidletimeout", 180)  # a bad value fails here, not in the workers
    busy_poll_us(conf)
    delta_cache_bytes(conf)
    n = (os.cpu_count() or 1) if workers == "auto" else int(workers) if workers.isdigit() else 0
    if not 1 <= n <= 256:
        raise ConfigError(f"--workers wants a number from 1 to 256 or 'auto', not {workers!r}")
    tls: list[str] = []
    if cert or key:
        if not cert:
            raise ConfigError("--key needs --cert")
        tls = ["--cert", os.path.abspath(cert), "--key", os.path.abspath(key or cert)]
    elif any(lst.tls for lst in listeners) or any(parse(f"{i.scheme}://0:0").tls for i in inherited):
        raise ConfigError("implicit TLS listeners need --cert (and --key)")
    search = Limits.from_config(conf).argv()
    where = ", ".join(
        [f"{i.scheme}://{i.where} (inherited)" for i in inherited]
        + [lst.spec() + ("/" if lst.proto == "http" else "") for lst in listeners]
    )
    for i in inherited:
        os.set_inheritable(i.fd, True)
    click.echo(f"pubinbox: serving {len(conf.inboxes)} inbox(es) on {where}", err=True)
    argv = [sys.executable, "-m", "pubinbox.web.supervisor", *(a for i in inherited for a in ("--inherit", f"{i.scheme}={i.fd}")),
            *(a for lst in listeners for a in ("--listen", lst.spec())),
            "--workers", str(n), "--config", str(conf.path.resolve()), *tls]  # fmt: skip
    if access_log:
        argv.append("--access-log")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [*argv, "--", *search])
