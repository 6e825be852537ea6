"""Appending messages to one epoch through a long-lived ``git fast-import``.

One commit per message, tree ``m`` (or ``d`` for removals), exactly as
public-inbox writes them, so the same messages give the same commit ids in
both programs.  Blob ids are computed locally (they are needed for the
overview before git has written anything); commit ids are asked of
fast-import with ``get-mark`` only at checkpoints.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from pubinbox.errors import StorageError
from pubinbox.store.layout import BRANCH


def blob_oid(data: bytes) -> str:
    """The git object id of a blob holding *data*."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


class FastImport:
    """A ``git fast-import`` process appending to one epoch's branch."""

    def __init__(self, git_dir: Path, *, lock_fd: int | None = None) -> None:
        self.git_dir = git_dir
        # fast-import inherits the inbox lock: if we are killed, no other
        # writer starts until it has seen EOF and exited (it may still be
        # finishing a checkpoint that moves the branch)
        self._pass_fds = (lock_fd,) if lock_fd is not None else ()
        self._proc: subprocess.Popen[bytes] | None = None
        self._mark = 0
        self._tip: str | None = None  # ":mark" of our last commit, or a sha at start
        self._progress = 0
        self.bytes_added = 0
        self.commits = 0

    # -- process lifecycle -------------------------------------------------
    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None:
            return self._proc
        tip = _rev_parse(self.git_dir, BRANCH)
        try:
            self._proc = subprocess.Popen(
                [
                    "git",
                    f"--git-dir={self.git_dir}",
                    "fast-import",
                    "--quiet",
                    "--done",
                    "--date-format=raw",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                pass_fds=self._pass_fds,
            )
        except OSError as e:
            raise StorageError(f"cannot start git fast-import in {self.git_dir}: {e}") from e
        self._tip = tip
        return self._proc

    def _write(self, *chunks: bytes) -> None:
        proc = self._start()
        assert proc.stdin is not None
        try:
            for c in chunks:
                proc.stdin.write(c)
        except (BrokenPipeError, OSError) as e:
            raise StorageError(f"git fast-import in {self.git_dir} died: {e}") from e

    def _readline(self) -> bytes:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise StorageError(f"git fast-import in {self.git_dir} died: {e}") from e
        line = proc.stdout.readline()
        if not line:
            rc = proc.wait()
            raise StorageError(f"git fast-import in {self.git_dir} exited with status {rc}")
        return line

    # -- writing -----------------------------------------------------------
    def add(
        self,
        raw: bytes,
        *,
        author: bytes,
        author_time: bytes,
        committer: bytes,
        committer_time: bytes,
        subject: bytes,
        path: str = "m",
    ) -> str:
        """Queue one message as a commit; returns the blob id."""
        blob = self._next_mark()
        commit = self._next_mark()
        self._start()
        parts = [b"blob\nmark :%d\ndata %d\n" % (blob, len(raw)), raw, b"\n"]
        if self._tip is None:
            parts.append(b"reset %s\n" % BRANCH.encode())
        parts.append(b"commit %s\nmark :%d\n" % (BRANCH.encode(), commit))
        parts.append(b"author " + author + b" " + author_time + b"\n")
        parts.append(b"committer " + committer + b" " + committer_time + b"\n")
        parts.append(b"data %d\n" % (len(subject) + 1) + subject + b"\n\n")
        if self._tip is not None:
            parts.append(b"from " + self._tip.encode() + b"\n")
        # v2 trees hold exactly one entry: drop whatever the parent had
        other = "d" if path == "m" else "m"
        if self._tip is not None:
            parts.append(b"D " + other.encode() + b"\n")
        parts.append(b"M 100644 :%d %s\n\n" % (blob, path.encode()))
        self._write(*parts)
        self._tip = f":{commit}"
        self.bytes_added += len(raw)
        self.commits += 1
        return blob_oid(raw)

    def _next_mark(self) -> int:
        self._mark += 1
        return self._mark

    def checkpoint(self) -> str | None:
        """Make everything queued so far durable in the repository (packs
        written, branch updated) and return the branch's commit id."""
        if self._proc is None:
            return _rev_parse(self.git_dir, BRANCH)
        self._progress += 1
        self._write(b"checkpoint\nprogress pubinbox-%d\n" % self._progress)
        want = b"progress pubinbox-%d\n" % self._progress
        while self._readline() != want:
            pass
        tip = None
        if self._tip is not None and self._tip.startswith(":"):
            self._write(b"get-mark " + self._tip.encode() + b"\n")
            tip = self._readline().strip().decode()
            self._tip = tip
        return tip or _rev_parse(self.git_dir, BRANCH)

    def done(self) -> str | None:
        """Finish: checkpoint and let fast-import exit."""
        if self._proc is None:
            return _rev_parse(self.git_dir, BRANCH)
        tip = self.checkpoint()
        self._write(b"done\n")
        proc = self._proc
        assert proc.stdin is not None
        try:
            proc.stdin.close()
        except OSError:
            pass
        rc = proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self._proc = None
        if rc != 0:
            raise StorageError(f"git fast-import in {self.git_dir} exited with status {rc}")
        return tip

    def abort(self) -> None:
        """Kill fast-import without checkpointing (used on errors)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for f in (self._proc.stdin, self._proc.stdout):
                if f is not None:
                    try:
                        f.close()
                    except OSError:
                        pass
            self._proc = None


def _rev_parse(git_dir: Path, ref: str) -> str | None:
    """Resolve *ref* without spawning git (loose ref, then packed-refs)."""
    loose = git_dir / ref
    try:
        val = loose.read_text().strip()
        if val:
            return val
    except (FileNotFoundError, NotADirectoryError):
        pass
    try:
        with open(git_dir / "packed-refs") as f:
            for line in f:
                if line.endswith(" " + ref + "\n"):
                    return line.split(" ", 1)[0]
    except FileNotFoundError:
        pass
    return None


def rev_parse(git_dir: Path, ref: str = BRANCH) -> str | None:
    """Public wrapper: the commit id *ref* points at, or None."""
    return _rev_parse(git_dir, ref)
