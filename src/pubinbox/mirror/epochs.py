"""git on one mirrored epoch: clone it (beside its final name, renamed
into place when complete, so an interrupted clone leaves nothing that looks
like an epoch), fetch it, tell whether its history was rewritten."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from pubinbox.errors import MirrorError

__all__ = ["clone_epoch", "fetch_epoch", "fingerprint", "origin_url", "tip"]

BRANCH = "refs/heads/master"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def _git(args: list[str], *, what: str, quiet: bool) -> None:
    # progress (stderr) goes to the user's terminal unless quiet
    proc = subprocess.run(
        ["git", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if quiet else None,
        env=_env(),
        check=False,
    )
    if proc.returncode != 0:
        err = (proc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise MirrorError(f"{what}: git {args[0]} failed" + (f": {err[-1]}" if err else f" (exit {proc.returncode})"))


def clone_epoch(url: str, dest: Path, *, quiet: bool) -> None:
    """``git clone --mirror URL DEST`` by way of ``DEST.part``."""
    part = dest.with_name(dest.name + ".part")
    if part.exists():
        shutil.rmtree(part)  # an interrupted earlier run
    args = ["clone", "--mirror", "--no-tags"]
    args += ["-q"] if quiet else ["--progress"]
    _git([*args, url, str(part)], what=url, quiet=quiet)
    os.rename(part, dest)


def fetch_epoch(git_dir: Path, *, quiet: bool) -> None:
    """``git fetch --prune origin`` (a mirror's refspec: forced updates, so
    a rewritten history comes over as it is)."""
    args = ["--git-dir", str(git_dir), "fetch", "--prune", "origin"]
    args += ["-q"] if quiet else ["--progress"]
    _git(args, what=str(git_dir), quiet=quiet)


def _out(git_dir: Path, *args: str) -> str | None:
    p = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True, env=_env(), check=False)
    return p.stdout.decode("utf-8", "replace") if p.returncode == 0 else None


def fingerprint(git_dir: Path) -> str | None:
    """SHA-1 of ``git show-ref`` (the manifest's fingerprint); None for a
    repository without refs."""
    out = _out(git_dir, "show-ref")
    return hashlib.sha1(out.encode()).hexdigest() if out else None


def tip(git_dir: Path) -> str | None:
    out = _out(git_dir, "rev-parse", "--verify", "-q", BRANCH)
    return out.strip() if out else None


def descends(git_dir: Path, old: str, new: str) -> bool:
    """*new* has *old* in its history (a fast-forward)."""
    p = subprocess.run(
        ["git", "--git-dir", str(git_dir), "merge-base", "--is-ancestor", old, new], capture_output=True, check=False
    )
    return p.returncode == 0


def origin_url(git_dir: Path) -> str | None:
    out = _out(git_dir, "config", "remote.origin.url")
    return out.strip() if out else None
