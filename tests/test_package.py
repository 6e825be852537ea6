"""Smoke tests: the package imports, and the repository's data is intact."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pubinbox

ROOT = Path(__file__).resolve().parent.parent
MBOXRD_SEP = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"


def test_version() -> None:
    assert isinstance(pubinbox.__version__, str)
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?([.-]?\w+)*", pubinbox.__version__)


def test_license_is_agpl3() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    assert lines[0] == "GNU AFFERO GENERAL PUBLIC LICENSE"
    assert lines[1] == "Version 3, 19 November 2007"
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(text.encode()) > 33000


def test_env_is_scrubbed(tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    assert home.is_dir() and os.access(home, os.W_OK)
    assert os.environ["TZ"] == "UTC"
    assert Path(os.environ["GIT_CONFIG_GLOBAL"]).read_bytes() == b""
    assert os.environ["GIT_CONFIG_NOSYSTEM"] == "1"
    extra = {k for k in os.environ if k.startswith(("GIT_", "PI_"))}
    assert extra == {"GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM"}
    # git works, commits included, without any configured identity
    repo = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "a").write_text("a\n")
    subprocess.run(["git", "-C", str(repo), "add", "a"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "x"], check=True)
    out = subprocess.run(
        ["git", "config", "--global", "--list"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.stdout == ""


def test_sample_mbox(sample_mbox: Path) -> None:
    data = sample_mbox.read_bytes()
    assert data.startswith(MBOXRD_SEP)
    msgs = data.split(MBOXRD_SEP)[1:]
    assert 250 <= len(msgs) <= 600
    assert len(data) < 10 * 1024 * 1024
    for m in msgs:
        # each entry: message, ending in a newline, then one blank line
        assert m.endswith(b"\n\n")
        assert not re.search(rb"^From ", m, re.MULTILINE)  # escaped as mboxrd


def test_hard_dir(hard_dir: Path) -> None:
    with open(hard_dir / "MANIFEST.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows
    listed = {r["file"] for r in rows}
    on_disk = {p.relative_to(hard_dir).as_posix() for p in hard_dir.rglob("*.eml")}
    assert listed == on_disk
    for r in rows:
        path = hard_dir / r["file"]
        assert path.stat().st_size == int(r["bytes"]), r["file"]
        assert path.stat().st_size <= 1024 * 1024
    assert (hard_dir / "mbox-escaping" / "from-lines.mboxrd").is_file()


@pytest.mark.corpus
def test_hard_dir_matches_corpus(hard_dir: Path, corpus_dir: Path) -> None:
    src = corpus_dir / "hard" / "from-large"
    categories = {p.name for p in src.iterdir() if p.is_dir()}
    copied = {p.name for p in hard_dir.iterdir() if p.is_dir()}
    # every category but "huge" (all its files are over 1 MB)
    assert categories - copied == {"huge"}
    for p in hard_dir.rglob("*"):
        if p.is_file() and p.name not in (
            "README.md",
            ".gitattributes",
            "MANIFEST.tsv",
        ):
            rel = p.relative_to(hard_dir)
            orig = corpus_dir / "hard" / rel if rel.parts[0] == "mbox-escaping" else src / rel
            assert p.read_bytes() == orig.read_bytes(), rel


@pytest.mark.corpus
@pytest.mark.slow
def test_sample_regenerates(sample_mbox: Path, corpus_dir: Path, tmp_path: Path) -> None:
    bundle = corpus_dir / "epochs" / "linux-erofs.lists.ozlabs.org.0.bundle"
    out = tmp_path / "sample.mbox"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "sample" / "make_sample.py"),
            str(bundle),
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(sample_mbox.read_bytes()).hexdigest()
