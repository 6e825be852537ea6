"""An origin archive for the git-over-HTTP and mirroring tests: sample/
imported at ``-L basic`` with a small ``pubinbox.epochSize``, so that it has
several epochs; and what a clone is compared on (refs, objects)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import SAMPLE_MBOX
from tests.helpers import run_cli
from tests.live import isolated_environ
from tests.web.conftest import Archive, git_config

#: raw bytes per epoch: sample/sample.mbox (5 MB) gives 3 epochs
EPOCH_SIZE = "2000000"


def build_origin(
    root: Path, name: str = "sample", *, level: str = "basic", sources: tuple[Path, ...] = (SAMPLE_MBOX,)
) -> Archive:
    """A v2 inbox *name* under *root* with several epochs (own config file)."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "pi-config"
    inboxdir = root / name
    env = {"PI_CONFIG": str(config)}
    address = f"{name}@example.com"
    with isolated_environ(root / "home"):
        run_cli("init", "-L", level, name, str(inboxdir), f"http://127.0.0.1/{name}", address, env=env, check=True)
        git_config(config, "pubinbox.epochSize", EPOCH_SIZE)
        if sources:
            run_cli("import", name, *map(str, sources), env=env, check=True)
    return Archive(config, name, inboxdir, address)


def git_out(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, check=True, text=True).stdout


def refs(git_dir: Path) -> str:
    """``git show-ref`` of a repository."""
    return git_out(git_dir, "show-ref")


def objects(git_dir: Path) -> set[str]:
    """Every object reachable from a ref (ids)."""
    return {line.split()[0] for line in git_out(git_dir, "rev-list", "--all", "--objects").splitlines()}


def epochs(inboxdir: Path) -> list[int]:
    return sorted(int(p.name[:-4]) for p in (inboxdir / "git").glob("*.git") if p.name[:-4].isdigit())
