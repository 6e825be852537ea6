"""Find or rebuild one git blob, as public-inbox's SolverGit does.

1. Each code repository of the inbox is asked for the id (``cat-file
   --batch-check``); a blob found there is the answer.  An abbreviation
   with several candidates is reported in the log and not guessed.
2. Else the archive is searched for patches producing it (``dfpost:ID``,
   plus ``dfpre:``/``dfn:`` from the hints), most relevant first.  For each
   ``diff --git`` section whose ``index A..B`` matches, the pre-image A is
   solved the same way (recursively; a new file starts empty), the section
   is applied with ``git apply --cached`` to an index holding only A, and
   the result must hash to B.  The first section that works wins.

All work happens in a temporary bare repository (scratch.py: its object
store borrows the code repositories' through ``objects/info/alternates``;
later solves reuse it); the code repositories are asked through one
long-lived ``cat-file`` each (batch.py), and the index ``git apply`` starts
from and the one it leaves are written and read here (gitfiles.py), so a
patch tried costs one ``git`` spawn;
``--cached`` never writes a work tree and git refuses paths with ``..``
or a leading ``/``, so a hostile file name in a patch cannot reach the
file system.  Limits: :class:`Limits` (recursion depth, patch sections
tried, wall-clock budget, blob size); past one the solve stops and its
log says what was tried.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pubinbox.errors import PubinboxError
from pubinbox.solver import scratch
from pubinbox.solver.applyhere import apply_exact, blob_id, simple_header
from pubinbox.solver.batch import git_argv
from pubinbox.solver.coderepo import CodeRepo, git_env
from pubinbox.solver.gitfiles import GitFileError, read_index, read_loose, write_index, write_loose
from pubinbox.solver.patch import FilePatch, find_patches, oid_matches
from pubinbox.solver.scratch import Scratch

__all__ = ["Limits", "Result", "Solver", "Want", "valid_oid"]

_OID = re.compile(r"[a-f0-9]{7,64}")
_SEARCHABLE = re.compile(r"[\w/. \-]+")

#: (Message-ID, raw message) of the messages a query finds, most relevant first
Search = Callable[[str], Iterable[tuple[str, bytes]]]


def valid_oid(s: str) -> bool:
    return _OID.fullmatch(s) is not None


@dataclass(frozen=True, slots=True)
class Limits:
    depth: int = 64  # patches in one chain
    patches: int = 200  # diff sections tried per solve
    seconds: float = 5.0
    max_blob: int = 32 << 20  # bytes of a blob read back
    results: int = 100  # messages asked of one search


@dataclass(frozen=True, slots=True)
class Want:
    oid: str
    path_b: str | None = None
    oid_a: str | None = None
    path_a: str | None = None

    @property
    def has_hints(self) -> bool:
        return bool(self.path_b or self.oid_a or self.path_a)


@dataclass(frozen=True, slots=True)
class Result:
    """``status``: found, missing, or limit (a limit stopped the search)."""

    status: str
    log: str
    oid: str = ""  # full id
    type: str = ""  # blob, commit, tree, tag
    data: bytes = b""  # the blob; for other types, ``git show`` text
    path: str | None = None


@dataclass(frozen=True, slots=True)
class _Blob:
    oid: str
    mode: str
    path: str | None


class _Stop(Exception):
    """A limit was reached."""


@dataclass
class Solver:
    repos: tuple[CodeRepo, ...]
    search: Search | None  # None: no search index
    msg_url: Callable[[str], str]
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        self._log: list[str] = []
        self._memo: dict[str, _Blob | None] = {}
        self._data: dict[str, bytes] = {}  # blobs made here (applyhere.py), by id
        self._tried = 0
        self._deadline = 0.0
        self._tmp: Scratch | None = None

    # -- entry point -----------------------------------------------------------------
    def solve(self, want: Want) -> Result:
        self._deadline = time.monotonic() + self.limits.seconds
        ok = False
        try:
            res = self._solve_top(want)
            ok = True
            return res
        finally:
            if self._tmp is not None:
                scratch.release(self._tmp, ok)
                self._tmp = None

    def _solve_top(self, want: Want) -> Result:
        self.log(f"solving {want.oid} ...")
        try:
            for repo in self.repos:
                lk = repo.lookup(want.oid, self._left())
                if lk.oid is not None and (lk.type == "blob" or not want.has_hints):
                    self.log(f"found {want.oid} in {repo.label}")
                    if lk.type == "blob":
                        if lk.size > self.limits.max_blob:
                            return self._result("limit", f"blob of {lk.size} bytes: too large")
                        data = repo.read(lk.oid, self._left())
                        if data is not None:
                            return Result("found", self._text(), lk.oid, "blob", data, want.path_b)
                    else:
                        text = repo.show(lk.oid, self._left()).encode()
                        return Result("found", self._text(), lk.oid, lk.type, text, None)
                self._ambiguous(repo, want.oid, lk.candidates)
            blob = self._from_patches(want, 0)
            if blob is None or not blob.oid.startswith(want.oid):
                return self._result("missing", None)
            data = self._read_result(blob.oid)
        except _Stop as e:
            return self._result("limit", str(e))
        except (subprocess.TimeoutExpired, TimeoutError):
            return self._result("limit", f"gave up after {self.limits.seconds:g} s")
        except _GitFailed as e:
            return self._result("limit", f"could not read the result back: {e}")
        if data is None:
            return self._result("limit", f"could not read {blob.oid} back")
        return Result("found", self._text(), blob.oid, "blob", data, blob.path)

    def _read_result(self, oid: str) -> bytes | None:
        """A blob git apply made: a loose object of the temporary repository,
        or (an existing blob, not written again) in a code repository."""
        if oid in self._data:
            return self._data[oid]
        try:
            data = read_loose(self._tmp_dir().git_dir, oid, self.limits.max_blob)
        except GitFileError:
            return self._tmp_git("cat-file", "blob", oid)
        for repo in self.repos:
            if data is not None:
                break
            data = repo.read(oid, self._left(), self.limits.max_blob)
        return data

    def _result(self, status: str, why: str | None) -> Result:
        if why:
            self.log(f"stopped: {why} (tried {self._tried} patch(es))")
        self.log(f"could not find {self._log[0].split()[1]}")
        return Result(status, self._text())

    # -- the log ---------------------------------------------------------------------
    def log(self, line: str) -> None:
        self._log.append(line)

    def _text(self) -> str:
        return "\n".join(self._log) + "\n"

    def _ambiguous(self, repo: CodeRepo, oid: str, candidates: tuple[tuple[str, str], ...]) -> None:
        if candidates:
            lines = "".join(f"\n{c} {t}" for c, t in candidates)
            self.log(f"`{oid}' ambiguous in {repo.label}{lines}\n")

    def _left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _Stop(f"gave up after {self.limits.seconds:g} s")
        return left

    # -- recursion -------------------------------------------------------------------
    def _find(self, want: Want, depth: int) -> _Blob | None:
        """A pre-image: from a code repository, else from patches."""
        if want.oid in self._memo:  # solved (or being solved) already: not in a code repository
            return self._memo[want.oid]
        for repo in self.repos:
            lk = repo.lookup(want.oid, self._left())
            if lk.oid is not None and lk.type == "blob":
                self.log(f"found {want.oid} in {repo.label}")
                return _Blob(lk.oid, "", want.path_b)
            self._ambiguous(repo, want.oid, lk.candidates)
        return self._from_patches(want, depth)

    def _from_patches(self, want: Want, depth: int) -> _Blob | None:
        if want.oid in self._memo:
            return self._memo[want.oid]
        self._memo[want.oid] = None  # a cycle finds nothing
        if self.search is None:
            return None
        if depth >= self.limits.depth:
            raise _Stop(f"a chain of more than {self.limits.depth} patches")
        for mid, fp in self._candidates(want):
            self._tried += 1
            if self._tried > self.limits.patches:
                raise _Stop(f"more than {self.limits.patches} patches tried")
            self.log(f"found {want.oid} in {self.msg_url(mid)}")
            pre: _Blob | None = None
            if not fp.is_new:
                pre = self._find(Want(fp.oid_a, fp.path_a), depth + 1)
                if pre is None:
                    continue
            got = self._apply(pre, fp, mid)
            if got is not None and got.oid.startswith(want.oid):
                self._memo[want.oid] = got
                return got
        return None

    def _candidates(self, want: Want) -> Iterable[tuple[str, FilePatch]]:
        assert self.search is not None
        # patches write ids abbreviated (7 to 12 digits, usually): ask for
        # the first 7, find_patches keeps the sections that really match
        q = f"dfpost:{want.oid[:7]}"
        if want.oid_a and valid_oid(want.oid_a):
            q += f" dfpre:{want.oid_a[:7]}"
        if want.path_b and _SEARCHABLE.fullmatch(want.path_b):
            q += _dfn(want.path_b)
            if want.path_a and want.path_a != want.path_b and _SEARCHABLE.fullmatch(want.path_a):
                q += _dfn(want.path_a)
        try:
            for mid, raw in itertools.islice(self.search(q), self.limits.results):
                self._left()
                for fp in find_patches(raw, want.oid, want.path_b):
                    yield mid, fp
        except PubinboxError as e:
            self.log(f"search failed: {e}")

    # -- git apply in the temporary repository ---------------------------------------
    def _tmp_dir(self) -> Scratch:
        if self._tmp is None:
            self._tmp = scratch.acquire([(r.git_dir / "objects").resolve() for r in self.repos])
        return self._tmp

    def _tmp_git(self, *args: str, data: bytes = b"", check: bool = True) -> bytes:
        tmp = self._tmp_dir()
        env = git_env(GIT_DIR=str(tmp.git_dir), GIT_WORK_TREE=str(tmp.root / "wt"), GIT_INDEX_FILE=str(tmp.index))
        p = subprocess.run(
            git_argv(*args),
            input=data,
            capture_output=True,
            cwd=tmp.root / "wt",
            env=env,
            timeout=self._left(),
            check=False,
        )
        if check and p.returncode != 0:
            raise _GitFailed(p.stderr.decode("utf-8", "replace"))
        if not check:
            self.log(p.stderr.decode("utf-8", "replace").rstrip("\n"))
            if p.returncode != 0:
                raise _GitFailed("")
        return p.stdout

    def _apply(self, pre: _Blob | None, fp: FilePatch, mid: str) -> _Blob | None:
        header = fp.text.split("\n@@ ", 1)[0]
        self.log(f"applying {self.msg_url(mid)}\n{header}\n")
        if (here := self._apply_here(pre, fp)) is not None:
            return here
        index = self._tmp_dir().index
        index.unlink(missing_ok=True)
        try:
            if pre is not None:
                if pre.oid in self._data:  # made here: git needs it as an object
                    write_loose(self._tmp_dir().git_dir, pre.oid, self._data[pre.oid])
                self._index_pre(index, pre.mode or fp.mode_b, pre.oid, fp.path_a)
            self._tmp_git(
                "apply", "--cached", "--verbose", "--whitespace=warn", data=fp.text.encode("utf-8", "surrogateescape"),
                check=False,
            )  # fmt: skip
            entries = self._entries(index)
        except _GitFailed as e:
            self.log(f"git apply failed{': ' + str(e).strip() if str(e).strip() else ''}")
            return None
        for mode, oid, path in entries:
            name = path.decode("utf-8", "surrogateescape")
            if name == fp.path_b:
                self.log(f"index at:\n{mode} {oid}\t{name}\n")
                if not oid_matches(fp.oid_b, oid):
                    self.log(f"result {oid} is not {fp.oid_b}")
                    return None
                return _Blob(oid, mode, name)
        self.log(f"{fp.path_b} missing from the index after git apply")
        return None

    def _apply_here(self, pre: _Blob | None, fp: FilePatch) -> _Blob | None:
        """The section applied in this process, if it applies exactly and
        the result has the id the patch names (else git decides)."""
        if not simple_header(fp.text) or not (fp.is_new or fp.path_a == fp.path_b):
            return None
        data = b"" if pre is None else self._bytes(pre.oid)
        if data is None:
            return None
        new = apply_exact(data, fp.text.encode("utf-8", "surrogateescape"))
        if new is None or len(new) > self.limits.max_blob:
            return None
        oid = blob_id(new)
        if not oid_matches(fp.oid_b, oid):
            return None
        self._data[oid] = new
        mode = (pre.mode if pre is not None else "") or fp.mode_b
        self.log(
            f"Applied patch {fp.path_b} cleanly (every hunk where it says).\nindex at:\n{mode} {oid}\t{fp.path_b}\n"
        )
        return _Blob(oid, mode, fp.path_b)

    def _bytes(self, oid: str) -> bytes | None:
        """A pre-image's bytes: made here, by git apply, or in a code repository."""
        if oid in self._data:
            return self._data[oid]
        if self._tmp is not None:
            try:
                if (data := read_loose(self._tmp.git_dir, oid, self.limits.max_blob)) is not None:
                    return data
            except GitFileError:
                return None
        for repo in self.repos:
            if (data := repo.read(oid, self._left(), self.limits.max_blob)) is not None:
                return data
        return None

    def _index_pre(self, index: Path, mode: str, oid: str, path: str) -> None:
        """The index git apply starts from: the pre-image alone."""
        name = path.encode("utf-8", "surrogateescape")
        try:
            write_index(index, mode, oid, name)
        except GitFileError:  # git says why it cannot be
            self._tmp_git("update-index", "--add", "-z", "--index-info", data=f"{mode} {oid}\t".encode() + name + b"\0")

    def _entries(self, index: Path) -> list[tuple[str, str, bytes]]:
        try:
            return read_index(index)
        except (GitFileError, OSError):
            pass
        out = []
        for rec in self._tmp_git("ls-files", "-s", "-z").split(b"\0"):
            meta, _, path = rec.partition(b"\t")
            words = meta.split()
            if len(words) == 3:
                out.append((words[0].decode(), words[1].decode(), path))
        return out


class _GitFailed(Exception):
    pass


def _dfn(path: str) -> str:
    """public-inbox's filename_query: each ``..``-free piece as a phrase."""
    return "".join(f' dfn:"{p}"' for p in path.split("..") if p)
