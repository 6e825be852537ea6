"""store/packread on the two whole lists of the corpus (second tier): every
object of each epoch, as git clones it, read from the packs equals
libgit2's read."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pygit2
import pytest

from pubinbox.store.packread import Packs

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

BUNDLES = ("epochs/linux-erofs.lists.ozlabs.org.0.bundle", "epochs/linux-f2fs-devel.lists.sourceforge.net.0.bundle")


@pytest.mark.parametrize("bundle", BUNDLES, ids=["erofs", "f2fs"])
def test_every_object_of_a_whole_list(tmp_path: Path, corpus_dir: Path, bundle: str) -> None:
    git_dir = tmp_path / "0.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(corpus_dir / bundle), str(git_dir)], check=True)
    repo = pygit2.Repository(str(git_dir))
    packs = Packs(git_dir)
    n = 0
    try:
        for oid in repo.odb:
            assert packs.read(oid.raw) == repo.odb.read(oid), str(oid)
            n += 1
    finally:
        packs.close()
    assert n > 40_000
