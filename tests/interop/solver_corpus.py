"""The linux-erofs inbox for the blob-solver comparisons (test and bench).

:func:`erofs_inbox` clones the corpus epoch into ``ROOT/erofs/git/0.git``,
indexes it with ``pubinbox index`` at indexlevel medium (the diff terms the
solver searches are there) and gives the inbox an empty ``coderepo`` (as
public-inbox, the solver answers only for inboxes with one; empty, every
blob must come from the archive's patches).  :func:`sample_index_lines`
picks *n* ``index A..B`` lines from real patches, deterministically.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

_DIFF = re.compile(rb"^diff --git a/(\S+) b/(\S+)\n(?:[a-z].*\n)*?index ([a-f0-9]{7,})\.\.([a-f0-9]{7,})", re.MULTILINE)
_NULL = re.compile(rb"\A0+\Z")


def erofs_inbox(root: Path, bundle: Path, pubinbox: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """(config, inboxdir) of inbox ``erofs``, indexed by pubinbox."""
    d = root / "erofs"
    (d / "git").mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", "--mirror", str(bundle), str(d / "git" / "0.git")], env=env, check=True)
    config = root / "pi-config"
    e = dict(env, PI_CONFIG=str(config))
    for args in (["init", "-L", "medium", "erofs", str(d), "http://x/erofs", "erofs@x"], ["index", "-q", str(d)]):
        subprocess.run([str(pubinbox), *args], env=e, check=True, capture_output=True, timeout=1200)
    code = root / "empty-code.git"
    subprocess.run(["git", "init", "-q", "--bare", str(code)], env=env, check=True)
    for args in (
        ["publicinbox.erofs.coderepo", "code"],
        ["coderepo.code.dir", str(code)],
        ["coderepo.code.cgitUrl", "https://git.example.org/linux"],
    ):
        subprocess.run(["git", "config", "-f", str(config), *args], env=env, check=True)
    return config, d


def sample_index_lines(epoch: Path, n: int) -> list[tuple[str, str]]:
    """*n* distinct (post-image id, path) from ``index`` lines of the epoch's
    patches: messages in the order of the SHA-1 of their commit id, one line
    of each (picked by hash too); deleted files (post-image 0000000) skipped."""
    commits = subprocess.run(
        ["git", f"--git-dir={epoch}", "rev-list", "--all"], capture_output=True, check=True
    ).stdout.split()
    commits.sort(key=lambda c: hashlib.sha1(c).digest())
    out: dict[str, str] = {}
    with subprocess.Popen(
        ["git", f"--git-dir={epoch}", "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as p:
        assert p.stdin is not None and p.stdout is not None
        for c in commits:
            if len(out) >= n:
                break
            p.stdin.write(c + b":m\n")
            p.stdin.flush()
            head = p.stdout.readline().split()
            if len(head) != 3:
                continue
            raw = p.stdout.read(int(head[2]) + 1)
            lines = [
                (m.group(4).decode(), m.group(2).decode("utf-8", "replace"))
                for m in _DIFF.finditer(raw)
                if not _NULL.match(m.group(4))
            ]
            lines = [x for x in lines if x[0] not in out]
            if lines:
                oid, path = lines[int(hashlib.sha1(c).hexdigest(), 16) % len(lines)]
                out[oid] = path
        p.stdin.close()
    return list(out.items())
