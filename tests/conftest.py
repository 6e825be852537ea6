"""Shared test fixtures.

Opt-in fixtures:
    corpus_dir   Path of the shared corpus ($PUBINBOX_CORPUS); fails when unset.
    sample_mbox  Path of sample/sample.mbox.
    hard_dir     Path of tests/data/hard.
    peer         Paths of the public-inbox peer tools; fails when missing.
    require_peer() the same check as a plain function.

Tests marked ``peer`` get the require_peer() check automatically, and tests
marked ``corpus`` fail (never skip) when $PUBINBOX_CORPUS is unset.

The one autouse fixture, ``_scrub_env``, gives every test a clean
environment: no PI_* or GIT_* variables, HOME in a fresh writable temporary
directory, TZ=UTC, git (and pygit2) ignoring the system config and reading
an empty $HOME/.gitconfig as the global one, and EMAIL set so that
``git commit`` works without a configured identity.  It never touches the user's real git configuration.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_MBOX = ROOT / "sample" / "sample.mbox"
HARD_DIR = ROOT / "tests" / "data" / "hard"
PEER_TOOLS = ("public-inbox-mda", "public-inbox-index")
TEST_EMAIL = "pubinbox-tests@example.invalid"


# --------------------------------------------------------------------------
# environment scrub (autouse)


@pytest.fixture(autouse=True)
def _scrub_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Isolate each test from the caller's environment; yields the HOME used."""
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"  # what both git and libgit2 read
    gitconfig.write_bytes(b"")

    for name in list(os.environ):
        if name.startswith(("GIT_", "PI_")) or name in (
            "ORIGINAL_RECIPIENT",
            "XDG_CONFIG_HOME",
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("EMAIL", TEST_EMAIL)

    saved_search_path = _isolate_pygit2(home)
    time.tzset()
    try:
        yield home
    finally:
        _restore_pygit2(saved_search_path)
        monkeypatch.undo()
        time.tzset()


def _pygit2_levels() -> list[Any]:
    """libgit2's config levels whose search path follows HOME."""
    pygit2 = sys.modules.get("pygit2")
    if pygit2 is None:  # not imported yet: it will read the scrubbed HOME
        return []
    level_enum = getattr(getattr(pygit2, "enums", None), "ConfigLevel", None)
    levels: list[Any] = []
    for name in ("GLOBAL", "XDG", "SYSTEM", "PROGRAMDATA"):
        lvl = getattr(level_enum, name, None)
        if lvl is None:
            lvl = getattr(pygit2, f"GIT_CONFIG_LEVEL_{name}", None)
        if lvl is not None:
            levels.append(lvl)
    return levels


def _isolate_pygit2(home: Path) -> dict[Any, str]:
    """pygit2 fixes its config search path at import; point it at ``home``."""
    saved: dict[Any, str] = {}
    levels = _pygit2_levels()
    if not levels:
        return saved
    search_path: Any = sys.modules["pygit2"].settings.search_path
    for lvl in levels:
        try:
            old = search_path[lvl]
            search_path[lvl] = str(home)
        except (AttributeError, TypeError, ValueError, KeyError, OSError):
            continue  # level unknown to this libgit2 build
        saved[lvl] = old
    return saved


def _restore_pygit2(saved: dict[Any, str]) -> None:
    if saved:
        search_path: Any = sys.modules["pygit2"].settings.search_path
        for lvl, path in saved.items():
            search_path[lvl] = path


# --------------------------------------------------------------------------
# data fixtures (opt-in)


@pytest.fixture
def corpus_dir() -> Path:
    """The shared corpus (shared/corpus); the test FAILS when it is unset."""
    return _corpus_dir()


def _corpus_dir() -> Path:
    # read through the scrubbed environment too: PUBINBOX_* is left alone
    value = os.environ.get("PUBINBOX_CORPUS", "")
    if not value:
        pytest.fail(
            "PUBINBOX_CORPUS is not set: corpus tests need the shared corpus "
            "(e.g. PUBINBOX_CORPUS=../shared/corpus scripts/test -m corpus)",
            pytrace=False,
        )
    path = Path(value).resolve()
    if not (path / "epochs").is_dir() or not (path / "hard").is_dir():
        pytest.fail(
            f"PUBINBOX_CORPUS={value} is not the shared corpus (no epochs/ and hard/ in it)",
            pytrace=False,
        )
    return path


@pytest.fixture
def sample_mbox() -> Path:
    """sample/sample.mbox: 295 real linux-erofs messages in whole threads."""
    if not SAMPLE_MBOX.is_file():
        pytest.fail(f"missing {SAMPLE_MBOX}", pytrace=False)
    return SAMPLE_MBOX


@pytest.fixture
def hard_dir() -> Path:
    """tests/data/hard: curated hard cases (see its README.md, MANIFEST.tsv)."""
    if not (HARD_DIR / "MANIFEST.tsv").is_file():
        pytest.fail(f"missing {HARD_DIR}/MANIFEST.tsv", pytrace=False)
    return HARD_DIR


# --------------------------------------------------------------------------
# the public-inbox peer


def require_peer() -> dict[str, str]:
    """Fail the calling test unless the public-inbox tools are on PATH.

    Returns {tool name: absolute path}.  Interop tests must never skip
    silently: scripts/setup installs the Debian package public-inbox.
    """
    found = {tool: shutil.which(tool) for tool in PEER_TOOLS}
    missing = [tool for tool, path in found.items() if path is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not on PATH: install the Debian package public-inbox (scripts/setup does)",
            pytrace=False,
        )
    return {tool: path for tool, path in found.items() if path is not None}


@pytest.fixture
def peer() -> dict[str, str]:
    """Paths of public-inbox-mda and public-inbox-index; fails if missing."""
    return require_peer()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("peer") is not None:
        require_peer()
    if item.get_closest_marker("corpus") is not None:
        _corpus_dir()
