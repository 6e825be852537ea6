"""Fixtures of the NNTP tests: the sample archive as a newsgroup.

``sample_group``: the 295 messages of sample/ imported by ``pubinbox
import`` into an inbox with ``newsgroup = inbox.test.erofs`` (module scope,
built once per module); its config names ``publicinbox.nntpserver``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_MBOX
from tests.helpers import run_cli
from tests.live import isolated_environ

GROUP = "inbox.test.erofs"
SERVER = "news.example.com"


@dataclass(frozen=True)
class SampleGroup:
    config: Path
    inboxdir: Path
    env: dict[str, str]


def make_group(
    tmp: Path, env: dict[str, str], *, sources: tuple[Path, ...] = (SAMPLE_MBOX,), level: str = "basic"
) -> SampleGroup:
    config = tmp / "config"
    env = dict(env, PI_CONFIG=str(config))
    d = tmp / "test"
    args = ["init", "-L", level, "--ng", GROUP, "test", str(d), "http://127.0.0.1/test", "test@example.com"]
    run_cli(*args, env=env, check=True)
    if sources:
        run_cli("import", "test", *map(str, sources), env=env, check=True)
    subprocess.run(["git", "config", "-f", str(config), "publicinbox.nntpserver", SERVER], check=True)
    return SampleGroup(config, d, env)


@pytest.fixture(scope="module")
def sample_group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleGroup]:
    tmp = tmp_path_factory.mktemp("nntp")
    with isolated_environ(tmp / "home") as env:
        yield make_group(tmp, env)
