"""Shared helpers for the benchmarks in bench/ (stdlib only, run by hand).

Both programs are always measured in the same run, on identical copies of the
same data, so that the ratio printed at the end compares like with like.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

MAIN = Path(__file__).resolve().parent.parent
#: the shared corpus: $PUBINBOX_CORPUS, else ../shared/corpus beside the checkout
CORPUS = Path(os.environ.get("PUBINBOX_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
EROFS = CORPUS / "epochs" / "linux-erofs.lists.ozlabs.org.0.bundle"
F2FS = CORPUS / "epochs" / "linux-f2fs-devel.lists.sourceforge.net.0.bundle"
EPOCH2MBOX = CORPUS / "tools" / "epoch2mboxrd.py"
DEFAULT_PUBINBOX = MAIN / ".venv" / "bin" / "pubinbox"


def log(*a: object) -> None:
    print("#", *a, file=sys.stderr, flush=True)


def die(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(2)


def which(prog: str) -> str:
    p = shutil.which(prog)
    if p is None:
        die(f"{prog} not found in PATH (Debian: apt-get install public-inbox)")
    return p


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(MAIN), "rev-parse", "--short", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(MAIN), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return out + ("+dirty(src)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions(pubinbox: str) -> tuple[str, str]:
    pb = subprocess.run([pubinbox, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    pb = pb.rsplit("version", 1)[-1].strip()
    pi = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "public-inbox"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return pb or "?", pi or "?"


# ---------------------------------------------------------------- timing


@dataclass
class Timing:
    wall: float
    cpu: float  # user + system of the waited-for children (and their waited-for children)
    rc: int = 0


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_timed(
    cmd: list[str], env: dict[str, str], *, stdin: bytes | None = None, log_path: Path | None = None, check: bool = True
) -> Timing:
    """Run *cmd* to completion; wall clock (time.monotonic) and children's CPU."""
    with open(log_path or os.devnull, "ab") as out:
        cpu0 = _children_cpu()
        t0 = time.monotonic()
        p = subprocess.run(cmd, env=env, input=stdin, stdout=out, stderr=out, check=False)
        wall = time.monotonic() - t0
        cpu = _children_cpu() - cpu0
    if check and p.returncode != 0:
        tail = log_path.read_text(errors="replace")[-2000:] if log_path else ""
        die(f"{' '.join(cmd)} exited {p.returncode}\n{tail}")
    return Timing(wall, cpu, p.returncode)


# ---------------------------------------------------------------- setup


@dataclass
class Side:
    """One program's private world: its config file, emergency Maildir, inbox."""

    label: str
    root: Path
    name: str = "bench"
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def address(self) -> str:
        return f"{self.name}@bench.example"

    @property
    def url(self) -> str:
        return f"http://bench.example/{self.name}"

    def env(self) -> dict[str, str]:
        e = dict(os.environ)
        home = self.root / "home"
        home.mkdir(parents=True, exist_ok=True)
        e.update(
            PI_CONFIG=str(self.config),
            PI_EMERGENCY=str(self.root / "emergency"),
            HOME=str(home),
            TZ="UTC",
            LC_ALL="C.UTF-8",
        )
        e.update(self.extra_env)
        return e

    def log(self, what: str) -> Path:
        return self.root / f"{what}.log"


def clone_epoch(bundle: Path, inbox: Path) -> None:
    (inbox / "git").mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "-q", "--mirror", str(bundle), str(inbox / "git" / "0.git")], check=True)


def init_public_inbox(
    side: Side, *, config: dict[str, str] | None = None, extra: list[str] = (), level: str = "basic"
) -> None:
    cmd = [which("public-inbox-init"), "-V2", "-L", level, *extra, side.name, str(side.inbox), side.url, side.address]
    run_timed(cmd, side.env(), log_path=side.log("init"))
    for k, v in (config or {}).items():
        subprocess.run(["git", "config", "-f", str(side.config), k, v], check=True)


def init_pubinbox(side: Side, pubinbox: str, *, config: dict[str, str] | None = None, level: str = "basic") -> None:
    cmd = [pubinbox, "init", "-L", level, side.name, str(side.inbox), side.url, side.address]
    run_timed(cmd, side.env(), log_path=side.log("init"))
    for k, v in (config or {}).items():
        subprocess.run(["git", "config", "-f", str(side.config), k, v], check=True)


def sql_count(db: Path, query: str) -> int | None:
    """Read-only count; None while the file is missing or locked by a writer."""
    if not db.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5)
        try:
            return int(con.execute(query).fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return None


OVER_Q = "SELECT COUNT(*) FROM over WHERE num > 0"
MSGMAP_Q = "SELECT COUNT(*) FROM msgmap"


def pi_over(inbox: Path) -> Path:
    return inbox / "xap15" / "over.sqlite3"


def pb_over(inbox: Path) -> Path:
    return inbox / "pubinbox" / "over.sqlite3"


# ---------------------------------------------------------------- mbox

FROM_LINE = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"


def make_mbox(bundle: Path, work: Path, limit: int | None) -> Path:
    """Clone *bundle* and write its first *limit* messages as mboxrd."""
    src = work / "src.git"
    if not src.exists():
        subprocess.run(["git", "clone", "-q", "--mirror", str(bundle), str(src)], check=True)
    out = work / "bench.mbox"
    cmd = [sys.executable, str(EPOCH2MBOX), str(src), str(out)]
    if limit:
        cmd += ["--limit", str(limit)]
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    return out


def read_mboxrd(path: Path) -> list[bytes]:
    """Split an mboxrd written by epoch2mboxrd.py back into raw messages.

    Each entry is FROM_LINE + escaped message (ending in LF) + one blank line;
    '>From ' quoting is undone by removing one '>'.
    """
    data = path.read_bytes()
    if not data.startswith(FROM_LINE):
        die(f"{path}: not an mboxrd from epoch2mboxrd.py")
    parts = data.split(b"\n\n" + FROM_LINE)
    parts[0] = parts[0][len(FROM_LINE) :]
    msgs = []
    last = len(parts) - 1
    for i, p in enumerate(parts):
        # the split ate each message's final LF; the last part still has its separator
        p = p[:-1] if i == last else p + b"\n"
        msgs.append(_unescape(p))
    return msgs


def _unescape(raw: bytes) -> bytes:
    import re

    return re.sub(rb"(?m)^>(>*From )", rb"\1", raw)


def write_maildir(msgs: list[bytes], md: Path) -> None:
    for sub in ("new", "cur", "tmp"):
        (md / sub).mkdir(parents=True, exist_ok=True)
    host = "bench"
    for i, raw in enumerate(msgs):
        (md / "new" / f"1700000000.{i:06d}.{host}").write_bytes(raw)


# ---------------------------------------------------------------- output


def rate(n: int | None, secs: float) -> float:
    return (n or 0) / secs if secs > 0 else 0.0


def table(rows: list[list[str]], header: list[str], left: int = 1) -> str:
    """Columns before *left* are left-aligned, the others right-aligned."""
    cols = [header, *rows]
    w = [max(len(r[i]) for r in cols) for i in range(len(header))]
    line = lambda r: "  ".join(c.rjust(w[i]) if i >= left else c.ljust(w[i]) for i, c in enumerate(r))
    sep = "  ".join("-" * x for x in w)
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def workdir(arg: str | None, prefix: str) -> tuple[Path, bool]:
    """(directory, created_by_us)."""
    if arg:
        p = Path(arg).resolve()
        if p.exists() and any(p.iterdir()):
            die(f"--workdir {p} is not empty")
        p.mkdir(parents=True, exist_ok=True)
        return p, False
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp")), True


def cleanup(path: Path, keep: bool, created: bool) -> None:
    if keep:
        log(f"kept {path}")
    elif created:
        shutil.rmtree(path, ignore_errors=True)
    else:
        for c in path.iterdir():
            shutil.rmtree(c, ignore_errors=True) if c.is_dir() else c.unlink()


def stop(proc: subprocess.Popen, sig: int = signal.SIGQUIT, timeout: float = 60) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
