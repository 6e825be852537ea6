"""Real small disks for the ``pubinbox mda`` exit-code table.

:class:`Tmpfs` mounts a tmpfs of a fixed size (``mount -t tmpfs -o size=``)
and fills it with a file when a test wants it full (or nearly full);
:class:`Site` is one inbox on such a disk, its config file and an emergency
Maildir on another.  Deliveries run the installed ``pubinbox`` script
(``.venv/bin/pubinbox``) as a separate process, as an MTA would.

Mounting needs root (CAP_SYS_ADMIN).  Where it is not allowed the tests
fail with a message saying so: they never skip.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.store.inbox_check import tip

PUBINBOX = Path(sys.executable).with_name("pubinbox")
ADDR = "test@example.com"


class Tmpfs:
    """A mounted tmpfs of *size* bytes at *where*; :meth:`unmount` in teardown."""

    def __init__(self, where: Path, size: int) -> None:
        where.mkdir(parents=True, exist_ok=True)
        p = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        if p.returncode != 0:
            pytest.fail(
                f"cannot mount a tmpfs at {where} (these tests need root or CAP_SYS_ADMIN to "
                f"make a real full disk): mount exited {p.returncode}: {p.stderr.strip()}"
            )
        self.path = where
        self.fill_file = where / ".fill"

    def fill(self, leave: int = 0) -> None:
        """Write a file until the disk is full, then give back *leave* bytes."""
        fd = os.open(self.fill_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 20, 1 << 16, 4096, 1):
                buf = b"\0" * chunk
                while True:
                    try:
                        os.write(fd, buf)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        if leave:
            os.truncate(self.fill_file, max(self.fill_file.stat().st_size - leave, 0))
        st = os.statvfs(self.path)
        assert st.f_bavail * st.f_frsize <= leave + 4096, (st.f_bavail, leave)

    def empty(self) -> None:
        """Free what :meth:`fill` (or a test's hook) took."""
        for f in self.path.glob(".fill*"):
            f.unlink()

    def unmount(self) -> None:
        p = subprocess.run(["umount", str(self.path)], capture_output=True, check=False)
        if p.returncode != 0:  # a straggler still has a file open: detach it anyway
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)


@contextlib.contextmanager
def mounted(where: Path, size: int) -> Iterator[Tmpfs]:
    """A tmpfs for the duration of a ``with``."""
    fs = Tmpfs(where, size)
    try:
        yield fs
    finally:
        fs.unmount()


class Site:
    """An inbox on tmpfs *disk*, its config file, an emergency Maildir in *em*."""

    def __init__(self, disk: Tmpfs, em: Tmpfs, home: Path) -> None:
        self.disk = disk
        self.em_disk = em
        self.dir = disk.path / "test"
        self.em = em.path / "emergency"
        self.config = home / ".public-inbox" / "config"
        run_cli("init", "test", str(self.dir), "http://example.com/test", ADDR, check=True)
        with self.config.open("a") as f:
            f.write("[publicinboxmda]\n\tspamcheck = none\n")
        self.epoch = self.dir / "git" / "0.git"

    def mda(
        self, raw: bytes, *args: str, env: dict[str, str] | None = None, modes: bool = False
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``pubinbox mda`` as an MTA does: message on stdin, recipient in
        the environment.  *modes*: without CAP_DAC_OVERRIDE and
        CAP_DAC_READ_SEARCH (``setpriv``), so that file modes bind root too."""
        e = dict(os.environ)
        e.update({"PI_EMERGENCY": str(self.em), "ORIGINAL_RECIPIENT": ADDR, "PI_CONFIG": str(self.config)})
        e.update(env or {})
        cmd = [str(PUBINBOX), "mda", *args]
        if modes:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.fail("setpriv (util-linux) is needed to run mda with file modes that bind root")
            cmd = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
        return subprocess.run(cmd, input=raw, capture_output=True, env=e, timeout=120, check=False)

    def commits(self) -> list[str]:
        """The epoch's commits, newest first (``git log``)."""
        if tip(self.epoch) is None:
            return []
        p = subprocess.run(
            ["git", f"--git-dir={self.epoch}", "log", "--format=%H", "refs/heads/master"],
            capture_output=True,
            text=True,
            check=True,
        )
        return p.stdout.split()

    def newest_blob(self) -> bytes:
        p = subprocess.run(
            ["git", f"--git-dir={self.epoch}", "cat-file", "blob", "refs/heads/master:m"],
            capture_output=True,
            check=True,
        )
        return p.stdout

    def kept(self, sub: str) -> list[bytes]:
        """Contents of the emergency Maildir's *sub* (``new`` or ``tmp``)."""
        d = self.em / sub
        return sorted(p.read_bytes() for p in d.iterdir()) if d.is_dir() else []

    def hook(self, script: str | None) -> None:
        """Install (or remove) the epoch's ``reference-transaction`` hook:
        git runs it around every ref update, fast-import's included."""
        h = self.epoch / "hooks" / "reference-transaction"
        if script is None:
            h.unlink(missing_ok=True)
            return
        h.parent.mkdir(exist_ok=True)
        h.write_text("#!/bin/sh\n" + script)
        h.chmod(0o755)
