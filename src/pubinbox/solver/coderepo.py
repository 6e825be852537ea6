"""An inbox's code repositories (``[coderepo "NICK"] dir``), read with git.

``git cat-file`` finds an object by full or abbreviated id (asked of this
process's long-lived ``--batch-command``, see batch.py); an abbreviation
with several candidates is *ambiguous*, and then a one-shot ``git cat-file
--batch-check`` gets the candidates from git's hint on stderr
(``core.abbrev=40`` makes it print full ids).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pubinbox.config import Config
from pubinbox.solver.absent import surely_absent
from pubinbox.solver.batch import BatchError, batch_for, git_argv, git_env

__all__ = ["CodeRepo", "Lookup", "git_env", "repos_of"]

_CANDIDATE = re.compile(r"\b([a-f0-9]{40,64}) (blob|tree|commit|tag)\b")


@dataclass(frozen=True, slots=True)
class Lookup:
    """What ``cat-file --batch-check`` said about an id in one repository."""

    oid: str | None = None  # full id when found
    type: str = ""
    size: int = 0
    candidates: tuple[tuple[str, str], ...] = ()  # (full id, type) when ambiguous


@dataclass(frozen=True, slots=True)
class CodeRepo:
    nick: str
    git_dir: Path
    urls: tuple[str, ...]

    @property
    def label(self) -> str:
        """How the debug log names it: its first cgit URL, else its nickname
        (never the server's directory)."""
        return self.urls[0] if self.urls else f"coderepo {self.nick}"

    def _git(self, *args: str, data: bytes = b"", timeout: float = 5.0) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            git_argv("-c", "core.abbrev=40", f"--git-dir={self.git_dir}", *args),
            input=data,
            capture_output=True,
            env=git_env(),
            timeout=max(timeout, 0.1),
            check=False,
        )

    def lookup(self, oid: str, timeout: float = 5.0) -> Lookup:
        if surely_absent(self.git_dir, oid):  # most pre-images: no need to ask git
            return Lookup()
        try:
            words, _ = batch_for(self.git_dir).ask("info", oid, timeout)
        except BatchError:
            return self._lookup_once(oid, timeout)
        if len(words) == 3 and words[2].isdigit():
            return Lookup(words[0], words[1], int(words[2]))
        if len(words) == 2 and words[1] == "ambiguous":
            return self._lookup_once(oid, timeout)
        return Lookup()

    def _lookup_once(self, oid: str, timeout: float) -> Lookup:
        p = self._git("cat-file", "--batch-check", data=oid.encode() + b"\n", timeout=timeout)
        words = p.stdout.decode("ascii", "replace").split()
        if len(words) == 3 and words[2].isdigit():
            return Lookup(words[0], words[1], int(words[2]))
        if len(words) == 2 and words[1] == "ambiguous":
            err = p.stderr.decode("utf-8", "replace")
            return Lookup(candidates=tuple((m.group(1), m.group(2)) for m in _CANDIDATE.finditer(err)))
        return Lookup()

    def read(self, oid: str, timeout: float = 5.0, max_size: int = 1 << 62) -> bytes | None:
        """The blob *oid* (a full id), None if it is not one."""
        try:
            words, data = batch_for(self.git_dir).ask("contents", oid, timeout, max_size)
        except BatchError:
            pass
        else:
            return data if len(words) == 3 and words[1] == "blob" else None
        p = self._git("cat-file", "blob", oid, timeout=timeout)
        return p.stdout if p.returncode == 0 else None

    def show(self, oid: str, timeout: float = 5.0) -> str:
        """A commit, tree or tag as text (``git show``)."""
        p = self._git("show", "--no-color", "--no-ext-diff", "--pretty=medium", oid, "--", timeout=timeout)
        return p.stdout.decode("utf-8", "replace")


def repos_of(config: Config, nicks: tuple[str, ...]) -> tuple[CodeRepo, ...]:
    """The ``[coderepo "NICK"]`` sections of *nicks* that have a ``dir``."""
    out = []
    for nick in nicks:
        d = config.get(f"coderepo.{nick}.dir")
        if d:
            out.append(CodeRepo(nick, Path(d), config.get_all(f"coderepo.{nick}.cgiturl")))
    return tuple(out)
