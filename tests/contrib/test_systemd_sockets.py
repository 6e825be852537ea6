"""contrib/systemd socket activation: pubinbox-serve.service and its .socket
units verify, each socket's name gives the protocol it is meant for, and the
service's ExecStart, given those sockets the way systemd gives them
(``systemd-socket-activate`` with the units' FileDescriptorName=), serves
HTTP, NNTP, IMAP and POP3 on them."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubinbox.net.activation import WELL_KNOWN, classify
from tests.helpers import REPO
from tests.live import _stop, free_port, isolated_environ
from tests.nntp.conftest import SampleGroup, make_group

UNITS = REPO / "contrib" / "systemd"
SOCKETS = ("pubinbox-http.socket", "pubinbox-nntp.socket", "pubinbox-imap.socket", "pubinbox-pop3.socket")
GREETING = {"nntp": b"201", "imap": b"* OK", "pop3": b"+OK"}


def _unit(name: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string((UNITS / name).read_text())
    return cp


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleGroup]:
    tmp = tmp_path_factory.mktemp("units")
    with isolated_environ(tmp / "home") as env:
        yield make_group(tmp, env, sources=())


def test_socket_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze missing (Debian package systemd)", pytrace=False)
    exe = Path(sys.executable).with_name("pubinbox")
    names = ["pubinbox-serve.service", *SOCKETS]
    for name in names:
        (tmp_path / name).write_text((UNITS / name).read_text().replace("/usr/local/bin/pubinbox", str(exe)))
    p = subprocess.run([analyze, "verify", *names], cwd=tmp_path, capture_output=True, text=True, check=False)
    problems = [ln for ln in (p.stdout + p.stderr).splitlines() if "pubinbox" in ln]
    assert p.returncode == 0 and not problems, p.stdout + p.stderr


def test_socket_names_give_their_protocol() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        for name in SOCKETS:
            sec = _unit(name)["Socket"]
            proto = name.removeprefix("pubinbox-").removesuffix(".socket")
            assert sec["Service"] == "pubinbox-serve.service"
            assert classify(s, sec["FileDescriptorName"], []) == (proto, None)
            assert classify(s, name, []) == (proto, None)  # systemd's default name works too
            port = int(sec["ListenStream"].rpartition(":")[2])
            assert WELL_KNOWN.get(port, proto) == proto
    exec_start = _unit("pubinbox-serve.service")["Service"]["ExecStart"]
    assert not {"--http", "--nntp", "--imap", "--pop3"} & set(shlex.split(exec_start))


def test_service_serves_the_sockets(group: SampleGroup) -> None:
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        pytest.skip("systemd-socket-activate is not installed (Debian package systemd)")
    names = [_unit(n)["Socket"]["FileDescriptorName"] for n in SOCKETS]
    ports = {n: free_port() for n in names}
    argv = shlex.split(_unit("pubinbox-serve.service")["Service"]["ExecStart"])
    argv = [str(Path(sys.executable).with_name("pubinbox")), "--config", str(group.config), *argv[1:]]
    cmd = [tool, *(a for n in names for a in ("-l", f"127.0.0.1:{ports[n]}")), f"--fdname={':'.join(names)}",
           "-E", "PATH", "-E", "HOME", *argv]  # fmt: skip
    log = group.config.parent / "serve-units.log"
    with open(log, "wb") as errf:
        proc = subprocess.Popen(cmd, env=dict(os.environ), stdin=subprocess.DEVNULL, stdout=errf,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while log.read_bytes().count(b"Listening on") < len(names) and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        for n, greeting in GREETING.items():
            with socket.create_connection(("127.0.0.1", ports[n]), timeout=60) as c:
                got = c.recv(100)
                if not got.startswith(greeting):
                    pytest.fail(f"{n}: {got!r}\n{log.read_text()}", pytrace=False)
        with socket.create_connection(("127.0.0.1", ports["http"]), timeout=60) as c:
            c.sendall(b"GET /_/health HTTP/1.0\r\nHost: x\r\n\r\n")
            assert c.recv(100).startswith(b"HTTP/1.1 200"), log.read_text()
        line = [ln for ln in log.read_text().splitlines() if "(inherited)" in ln]
        assert len(line) == 1 and all(f"127.0.0.1:{p} (inherited)" in line[0] for p in ports.values()), line
    finally:
        _stop(proc)
