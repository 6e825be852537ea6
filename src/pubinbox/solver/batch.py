"""One long-lived ``git cat-file --batch-command`` per repository.

A blob solve asks a code repository about an id many times (the wanted
blob, then every pre-image of the patches tried); one ``git`` spawn per
question cost more than everything else a solve does.  So each process
keeps, per repository directory, one ``cat-file --batch-command`` running
and talks to it under a lock (one question at a time: solves run in
threads).  Every read has a deadline; a process that dies, says something
unexpected or misses its deadline is killed and the next question starts
a new one.  At most :data:`MAX_PROCS` are kept (the least recently used
goes first); a forked child never uses its parent's.
"""

from __future__ import annotations

import atexit
import os
import re
import select
import shutil
import subprocess
import threading
import time
from collections import OrderedDict
from pathlib import Path

__all__ = ["MAX_PROCS", "NICE", "Batch", "BatchError", "batch_for", "close_all", "git_argv", "git_env"]

MAX_PROCS = 16
_LINE_MAX = 4096  # an answer's header line
_OID = re.compile(r"[0-9a-f]{4,64}")


#: niceness added to the solver's git (``nice``), so that the CPU goes to
#: the pages first (the worker's threads stay as they are: a thread holding
#: the GIL must never wait behind other processes)
NICE = 10
_NICE_CMD = ("nice", "-n", str(NICE)) if shutil.which("nice") else ()


def git_argv(*args: str) -> list[str]:
    """The command line of a git of the solver (niced)."""
    return [*_NICE_CMD, "git", *args]


def git_env(**extra: str) -> dict[str, str]:
    """The environment of the solver's git commands: no user or system
    configuration, no pager, no prompts, C messages."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    env.update(extra)
    return env


class BatchError(Exception):
    """The process died, timed out or answered something unexpected."""


class Batch:
    """``git cat-file --batch-command`` of one repository, started on demand."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self.lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self._pid = os.getpid()

    # -- process ---------------------------------------------------------------------
    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None and self._pid == os.getpid():
            return self._proc
        self._drop()
        self._pid = os.getpid()
        self._buf = b""
        self._proc = subprocess.Popen(
            git_argv(f"--git-dir={self.git_dir}", "cat-file", "--batch-command"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # ambiguity hints: asked again with a one-shot git
            env=git_env(),
        )
        return self._proc

    def _drop(self) -> None:
        p, self._proc = self._proc, None
        if p is None or self._pid != os.getpid():  # a forked child leaves its parent's alone
            return
        for f in (p.stdin, p.stdout):
            if f is not None:
                f.close()
        if p.poll() is None:
            p.kill()
        p.wait()

    def close(self) -> None:
        with self.lock:
            self._drop()

    # -- reading with a deadline ---------------------------------------------------
    def _fill(self, fd: int, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise BatchError("git cat-file did not answer in time")
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            raise BatchError("git cat-file exited")
        self._buf += chunk

    def _line(self, fd: int, deadline: float) -> bytes:
        while (k := self._buf.find(b"\n")) < 0:
            if len(self._buf) > _LINE_MAX:
                raise BatchError("git cat-file: answer line too long")
            self._fill(fd, deadline)
        line, self._buf = self._buf[:k], self._buf[k + 1 :]
        return line

    def _exact(self, fd: int, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            self._fill(fd, deadline)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    # -- questions -------------------------------------------------------------------
    def ask(self, command: str, oid: str, timeout: float, max_size: int = 1 << 62) -> tuple[list[str], bytes | None]:
        """(words of the answer line, contents) of ``info OID`` or
        ``contents OID``; contents only for ``contents`` of an object found
        and at most *max_size* bytes (a larger one restarts the process
        rather than being read)."""
        if _OID.fullmatch(oid) is None:  # one line of the protocol: never anything else
            raise BatchError(f"not an object id: {oid!r}")
        deadline = time.monotonic() + max(timeout, 0.05)
        with self.lock:
            try:
                return self._ask(command, oid, deadline, max_size)
            except (BatchError, OSError, ValueError):
                self._drop()
                raise BatchError(f"git cat-file --batch-command in {self.git_dir} failed") from None

    def _ask(self, command: str, oid: str, deadline: float, max_size: int) -> tuple[list[str], bytes | None]:
        p = self._start()
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write(f"{command} {oid}\n".encode())
        p.stdin.flush()
        fd = p.stdout.fileno()
        words = self._line(fd, deadline).decode("ascii", "replace").split()
        if command != "contents" or len(words) != 3 or not words[2].isdigit():
            return words, None
        size = int(words[2])
        if size > max_size:
            raise BatchError("object too large")
        data = self._exact(fd, size + 1, deadline)
        if data[-1:] != b"\n":
            raise BatchError("git cat-file: contents not followed by a newline")
        return words, data[:-1]


_PROCS: OrderedDict[Path, Batch] = OrderedDict()
_PROCS_LOCK = threading.Lock()


def batch_for(git_dir: Path) -> Batch:
    """This process's :class:`Batch` of *git_dir* (least recently used
    beyond :data:`MAX_PROCS` closed)."""
    with _PROCS_LOCK:
        b = _PROCS.get(git_dir)
        if b is None:
            b = _PROCS[git_dir] = Batch(git_dir)
        _PROCS.move_to_end(git_dir)
        old = [_PROCS.popitem(last=False)[1] for _ in range(len(_PROCS) - MAX_PROCS)]
    for o in old:
        o.close()
    return b


def close_all() -> None:
    with _PROCS_LOCK:
        old = list(_PROCS.values())
        _PROCS.clear()
    for o in old:
        o.close()


atexit.register(close_all)
