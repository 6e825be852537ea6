"""A real HTTP server on 127.0.0.1 for end-to-end tests of real clients.

    with live_server(config, "test") as srv:
        srv.base          # http://127.0.0.1:PORT/test/   (the inbox)
        srv.origin        # http://127.0.0.1:PORT
        srv.kind          # "pubinbox" or "public-inbox"

Which server runs is chosen by ``kind``, else by the environment variable
``PUBINBOX_LIVE_SERVER``:

* ``pubinbox`` (the default): ``pubinbox --config CONFIG serve --http
  127.0.0.1:PORT`` from the venv, the server under test;
* ``public-inbox``: Debian's ``public-inbox-httpd -W0 -l http://127.0.0.1:PORT``
  (the Perl reference, 1.9) with ``PI_CONFIG=CONFIG``.  Every inbox of the
  config is first indexed with ``public-inbox-index`` (public-inbox keeps its
  data beside ours, in ``xap15/``), and with ``extindex=True`` an
  ``[extindex "all"]`` is built with ``public-inbox-extindex --all`` so that
  ``/all/`` exists.  Used to check that the tests themselves are right.

Both read the same public-inbox config file.  The server is ready when
``GET /<inbox>/_/text/help/`` answers 200; if it exits first, or does not get
ready within ``timeout`` seconds, the test fails with the server's stderr.  On
exit it gets SIGTERM, then SIGKILL, sent to its own process group only (it is
started in a new session), so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PUBINBOX_BIN = Path(sys.executable).parent / "pubinbox"
KINDS = ("pubinbox", "public-inbox")
ENV_VAR = "PUBINBOX_LIVE_SERVER"


def server_kind(kind: str | None = None) -> str:
    """The server kind to run: ``kind``, else $PUBINBOX_LIVE_SERVER, else pubinbox."""
    value = kind or os.environ.get(ENV_VAR, "") or "pubinbox"
    if value not in KINDS:
        pytest.fail(f"{ENV_VAR}={value!r}: expected one of {', '.join(KINDS)}", pytrace=False)
    return value


@dataclass(frozen=True)
class LiveServer:
    kind: str
    port: int
    inbox: str
    config: Path
    stderr_path: Path
    pid: int = 0  # the server's process (pubinbox: the supervising parent)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        """The inbox URL, with a trailing slash."""
        return f"{self.origin}/{self.inbox}/"

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""


# variables of the caller's environment that must not leak into a client or server
_SCRUB_PREFIXES = ("GIT_", "PI_", "XDG_", "B4_", "LEI_")
_SCRUB_NAMES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "ORIGINAL_RECIPIENT", "EMAIL"}


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """os.environ without git/public-inbox/XDG/proxy settings, HOME=``home``.

    git (and pygit2) read ``home/.gitconfig`` only (created empty when
    missing); no system config.  ``extra`` is added last.
    """
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / ".gitconfig"
    if not gitconfig.exists():
        gitconfig.write_bytes(b"")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_SCRUB_PREFIXES) and k.lower() not in _SCRUB_NAMES and k not in _SCRUB_NAMES
    }
    env.update(
        HOME=str(home),
        TZ="UTC",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(gitconfig),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def isolated_environ(home: Path) -> Iterator[dict[str, str]]:
    """os.environ replaced by :func:`clean_env` for the block (for module fixtures,
    which run before conftest's per-test scrub)."""
    env = clean_env(home)
    with pytest.MonkeyPatch.context() as mp:
        for k in list(os.environ):
            if k not in env:
                mp.delenv(k)
        for k, v in env.items():
            mp.setenv(k, v)
        yield env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config_values(config: Path, regexp: str) -> list[tuple[str, str]]:
    p = subprocess.run(
        ["git", "config", "-f", str(config), "--get-regexp", regexp],
        capture_output=True,
        text=True,
        check=False,
    )
    out = []
    for line in p.stdout.splitlines():
        key, _, value = line.partition(" ")
        out.append((key, value))
    return out


def prepare_public_inbox(config: Path, env: dict[str, str], *, extindex: bool = False) -> None:
    """Index every inbox of ``config`` with public-inbox (and build /all/)."""
    for tool in ("public-inbox-index", "public-inbox-httpd"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not on PATH: install the Debian package public-inbox", pytrace=False)
    dirs = [value for _, value in _config_values(config, r"^publicinbox\..*\.inboxdir$")]
    if not dirs:
        pytest.fail(f"no inbox in {config}", pytrace=False)
    for d in dirs:
        _run_or_fail(["public-inbox-index", d], env)
    if extindex:
        topdir = config.parent / "extindex-all"
        if not _config_values(config, r"^extindex\.all\.topdir$"):
            subprocess.run(["git", "config", "-f", str(config), "extindex.all.topdir", str(topdir)], check=True)
            subprocess.run(["git", "config", "-f", str(config), "extindex.all.url", "all"], check=True)
        _run_or_fail(["public-inbox-extindex", "--all", str(topdir)], env)


def _run_or_fail(cmd: list[str], env: dict[str, str]) -> None:
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if p.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr}", pytrace=False)


def _command(kind: str, config: Path, port: int, args: tuple[str, ...] = ()) -> list[str]:
    if kind == "pubinbox":
        return [str(PUBINBOX_BIN), "--config", str(config), "serve", "--http", f"127.0.0.1:{port}", *args]
    return ["public-inbox-httpd", "-W0", "-l", f"http://127.0.0.1:{port}"]


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy for 127.0.0.1


def _get_status(url: str) -> int | None:
    try:
        with _OPENER.open(url, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (OSError, ValueError):
        return None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)  # its own session: only what we started
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def live_server(
    config: Path,
    inbox: str,
    *,
    kind: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    extindex: bool = False,
    args: tuple[str, ...] = (),
) -> Iterator[LiveServer]:
    """Run an HTTP server for ``config`` on a free port; yields a :class:`LiveServer`.
    *args* are added to ``pubinbox serve`` (e.g. ``("-W", "2")``)."""
    kind = server_kind(kind)
    config = Path(config).resolve()
    e = dict(os.environ if env is None else env)
    e["PI_CONFIG"] = str(config)
    if kind == "public-inbox":
        prepare_public_inbox(config, e, extindex=extindex)
    elif not PUBINBOX_BIN.exists():
        pytest.fail(f"{PUBINBOX_BIN} missing: install the venv (scripts/setup)", pytrace=False)
    errdir = Path(tempfile.mkdtemp(prefix="live-server-"))
    keep_log = False
    try:
        for attempt in range(3):  # a port taken between free_port() and bind: try another
            port = free_port()
            stderr_path = errdir / f"stderr.{attempt}"
            with open(stderr_path, "wb") as errf:
                proc = subprocess.Popen(
                    _command(kind, config, port, args),
                    env=e,
                    stdin=subprocess.DEVNULL,
                    stdout=errf,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            srv = LiveServer(kind, port, inbox, config, stderr_path, proc.pid)
            try:
                if not _wait_ready(srv, proc, timeout):
                    if "in use" in srv.stderr().lower() and attempt < 2:
                        continue
                    keep_log = True
                    pytest.fail(
                        f"{kind} server on port {port} exited with {proc.returncode} before it was ready:\n"
                        f"{' '.join(_command(kind, config, port, args))}\n--- stderr ---\n{srv.stderr()}",
                        pytrace=False,
                    )
                try:
                    yield srv
                except BaseException:
                    keep_log = True
                    sys.stderr.write(f"\n--- {kind} server stderr ({stderr_path}) ---\n{srv.stderr()}\n")
                    raise
                return
            finally:
                _stop(proc)
    finally:
        if not keep_log:
            shutil.rmtree(errdir, ignore_errors=True)


def _wait_ready(srv: LiveServer, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """True when ready; False when the process exited; fails on timeout."""
    url = f"{srv.base}_/text/help/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if _get_status(url) == 200:
            return True
        time.sleep(0.05)
    _stop(proc)
    pytest.fail(
        f"{srv.kind} server not ready after {timeout:.0f}s (GET {url} never answered 200):\n"
        f"--- stderr ---\n{srv.stderr()}",
        pytrace=False,
    )
