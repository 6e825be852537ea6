"""Crash safety: ``pubinbox import`` and ``pubinbox mda`` killed with SIGKILL
at random moments, then run again, leave every acknowledged message stored
exactly once and the overview consistent with git.

Real processes, real git, real SQLite.  Kills are seeded (``CRASH_SEED`` below,
or ``$PUBINBOX_CRASH_SEED``) so a failure reproduces; each kill is either of
the pubinbox process alone (its ``git fast-import`` child is orphaned and
finishes on EOF, as after an OOM kill) or of its whole process group (the
fast-import dies too, as when a service manager stops the job).

The import CLI has no option for the checkpoint interval (2000 messages), so
half of the runs go through a tiny driver that calls the same
:func:`import_messages` with a checkpoint every few messages: those kills
land between checkpoints, after git was flushed but before msgmap and the
overview were committed, and in the middle of epoch rollovers (the inboxes
here use a small ``pubinbox.epochsize``).
"""

from __future__ import annotations

import functools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pubinbox.deliver.mda import filter_reject
from pubinbox.mail.mbox import iter_mbox, mboxrd_bytes
from pubinbox.mail.parse import strip_from_line
from pubinbox.store.fastimport import blob_oid
from tests.helpers import PUBINBOX, REPO, inbox_cfg, init_inbox, run_cli
from tests.store.inbox_check import (
    check_consistent,
    check_reindex_matches,
    expected_blob,
    fast_subprocesses,  # noqa: F401 - fixture
    header_mids,
    stored_messages,
)

pytestmark = pytest.mark.usefixtures("fast_subprocesses")

CRASH_SEED = int(os.environ.get("PUBINBOX_CRASH_SEED", "20240611"))

#: the same import as ``pubinbox import NAME FILE...`` with a small checkpoint interval
DRIVER = r"""
import sys
from pubinbox import config as cfg
from pubinbox.deliver.importer import import_messages
from pubinbox.mail.sources import iter_sources
conf = cfg.load(cfg.Env.from_os().config_path())
ibx = conf.inbox(sys.argv[1])
st = import_messages(ibx, iter_sources(sys.argv[3:], sys.stdin.buffer),
                     epoch_size=conf.epoch_size, checkpoint_every=int(sys.argv[2]))
print(st.summary(), file=sys.stderr)
"""


def _setup(tmp_path: Path, epochsize: str) -> Path:
    d = init_inbox(tmp_path)
    cfg = Path(os.environ["HOME"]) / ".public-inbox" / "config"
    with cfg.open("a") as f:
        f.write(f"[pubinbox]\n\tepochsize = {epochsize}\n[publicinboxmda]\n\tspamcheck = none\n")
    return d


def _env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO / "src") + os.pathsep + e.get("PYTHONPATH", "")
    e.update(extra)
    return e


class Killer:
    """Runs commands and SIGKILLs them at seeded random moments."""

    def __init__(self, rng: random.Random, log_dir: Path) -> None:
        self.rng = rng
        self.log_dir = log_dir
        self.kills = 0
        self.group_kills = 0
        self.runs = 0
        self.events: list[str] = []
        self._pgids: list[int] = []

    def start(
        self, cmd: list[str], *, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        self.runs += 1
        err = self.log_dir / f"run-{self.runs}.err"
        with err.open("wb") as ef:
            p = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=ef,
                env=env or _env(),
                start_new_session=True,
            )
        self._pgids.append(p.pid)
        if stdin is not None:
            assert p.stdin is not None
            try:
                p.stdin.write(stdin)
                p.stdin.close()
            except BrokenPipeError:
                pass
        return p, err

    def kill(self, p: subprocess.Popen[bytes], what: str) -> str:
        mode = self.rng.choice(("process", "group"))
        try:
            if mode == "group":
                os.killpg(p.pid, signal.SIGKILL)
                self.group_kills += 1
            else:
                os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        self.kills += 1
        self.events.append(f"kill #{self.kills} ({mode}) {what}")
        return mode

    def cleanup(self) -> None:
        """Reap what is left of our own process groups (orphaned fast-imports)."""
        for pg in self._pgids:
            try:
                os.killpg(pg, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _git_ahead_of_overview(inboxdir: Path) -> None:
    """The invariant a kill may never break: git is flushed first, so every
    blob in the overview is in git, and git never holds a blob twice."""
    import sqlite3

    stored = [s.blob for s in stored_messages(inboxdir)]
    assert len(stored) == len(set(stored)), "a message was stored twice in git"
    over = inboxdir / "pubinbox" / "over.sqlite3"
    if not over.exists():
        return
    c = sqlite3.connect(f"file:{over}?mode=ro", uri=True, timeout=30)
    try:
        blobs = {b for (b,) in c.execute("SELECT blob FROM over WHERE num > 0")}
    finally:
        c.close()
    missing = blobs - set(stored)
    assert not missing, f"overview rows for blobs not in git: {sorted(missing)[:5]}"


def _import_with_kills(
    inboxdir: Path,
    chunks: list[Path],
    killer: Killer,
    *,
    max_delay: float,
    max_kills_per_chunk: int,
    small_checkpoint: tuple[int, int],
) -> None:
    """Import each chunk, re-running after every kill until a run completes."""
    rng = killer.rng
    est = max_delay  # how long an uninterrupted run took last time: kills land inside it
    for ci, chunk in enumerate(chunks):
        attempts = 0
        while True:
            attempts += 1
            if rng.random() < 0.5:
                every = rng.randint(*small_checkpoint)
                if _cli_has_batch_size():
                    cmd = [*PUBINBOX, "import", "-q", "--batch-size", str(every), "test", str(chunk)]
                    how = f"pubinbox import --batch-size {every}"
                else:
                    cmd = [sys.executable, "-c", DRIVER, "test", str(every), str(chunk)]
                    how = f"driver (checkpoint every {every})"
            else:
                cmd = [*PUBINBOX, "import", "-q", "test", str(chunk)]
                how = "pubinbox import"
            t0 = time.monotonic()
            p, err = killer.start(cmd)
            if attempts <= max_kills_per_chunk:
                delay = rng.uniform(0, min(max_delay, est))
                try:
                    p.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    killer.kill(p, f"{how} of chunk {ci} after {delay:.2f}s")
                    _git_ahead_of_overview(inboxdir)
                    continue
            rc = p.wait(timeout=600)
            assert rc == 0, f"{how} of chunk {ci} exited {rc}: {err.read_text()}\n" + "\n".join(killer.events)
            est = max(0.3, time.monotonic() - t0)
            break


@functools.cache
def _cli_has_batch_size() -> bool:
    """``pubinbox import --batch-size N`` (checkpoint interval), if this
    version has it; else the driver above does the same."""
    return b"--batch-size" in run_cli("import", "--help").stdout


def _split(messages: list[bytes], n: int, dest: Path) -> list[Path]:
    size = -(-len(messages) // n)
    out = []
    for i in range(0, len(messages), size):
        p = dest / f"chunk{i // size}.mbox"
        p.write_bytes(b"".join(mboxrd_bytes(m) for m in messages[i : i + size]))
        out.append(p)
    return out


def _assert_all_stored_once(inboxdir: Path, messages: list[bytes], *, list_id: str | None = None) -> None:
    st = check_consistent(inboxdir)
    want = {blob_oid(expected_blob(m, list_id_address=list_id)) for m in messages}
    have = {s.blob for s in st.stored}
    assert have == want, f"missing {len(want - have)}, unexpected {len(have - want)}"
    # and by Message-ID: each one in the header of exactly one stored blob
    per_mid: dict[str, int] = {}
    for blob in have:
        for mid in set(header_mids(st.blobs[blob])):
            per_mid[mid] = per_mid.get(mid, 0) + 1
    for m in messages:
        for mid in set(header_mids(strip_from_line(m))):
            assert per_mid.get(mid) == 1, (mid, per_mid.get(mid))


def _sample_messages(sample_mbox: Path) -> list[bytes]:
    with sample_mbox.open("rb") as f:
        return list(iter_mbox(f))


# ---------------------------------------------------------------------------
# pubinbox import


def test_import_survives_sigkill(tmp_path: Path, sample_mbox: Path) -> None:
    """295 real messages in 4 chunks, each import re-run after every kill."""
    t0 = time.monotonic()
    d = _setup(tmp_path, "1500000")  # the 5 MB sample spans several epochs
    messages = _sample_messages(sample_mbox)
    assert len(messages) == 295
    chunks = _split(messages, 4, tmp_path)
    killer = Killer(random.Random(CRASH_SEED), tmp_path)
    try:
        _import_with_kills(d, chunks, killer, max_delay=1.5, max_kills_per_chunk=5, small_checkpoint=(2, 9))
    finally:
        killer.cleanup()
    _assert_all_stored_once(d, messages)
    check_reindex_matches(d, tmp_path)
    assert killer.kills >= 10, killer.events  # the test really killed things
    print(
        f"\nimport: {killer.kills} kills ({killer.group_kills} of the process group) in "
        f"{killer.runs} runs, {len(messages)} messages, {len(list((d / 'git').glob('*.git')))} epochs, "
        f"{time.monotonic() - t0:.1f}s"
    )


@pytest.mark.corpus
@pytest.mark.slow
def test_import_survives_sigkill_corpus(tmp_path: Path, corpus_dir: Path) -> None:
    """3000 messages of linux-erofs, in 6 chunks, killed at random."""
    t0 = time.monotonic()
    bundle = corpus_dir / "epochs" / "linux-erofs.lists.ozlabs.org.0.bundle"
    mirror = tmp_path / "erofs.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(bundle), str(mirror)], check=True)
    mbox = tmp_path / "erofs.mbox"
    subprocess.run(
        [sys.executable, str(corpus_dir / "tools" / "epoch2mboxrd.py"), str(mirror), str(mbox), "--limit", "3000"],
        check=True,
        capture_output=True,
    )
    with mbox.open("rb") as f:
        messages = list(iter_mbox(f))
    assert len(messages) == 3000
    d = _setup(tmp_path, "12m")
    chunks = _split(messages, 6, tmp_path)
    killer = Killer(random.Random(CRASH_SEED + 1), tmp_path)
    try:
        _import_with_kills(d, chunks, killer, max_delay=3.0, max_kills_per_chunk=4, small_checkpoint=(10, 60))
    finally:
        killer.cleanup()
    st = check_consistent(d)
    # exact resends inside the list are dropped as duplicates (public-inbox's
    # rule: a Message-ID already stored with the same content); a reused
    # Message-ID with other content is stored with a generated one appended
    from pubinbox.ingest.message import content_key

    all_mids = [set(header_mids(strip_from_line(m))) for m in messages]
    freq: dict[str, int] = {}
    for mids in all_mids:
        for mid in mids:
            freq[mid] = freq.get(mid, 0) + 1
    keys_by_mid: dict[str, list[bytes]] = {}
    dups = 0
    for m, mids in zip(messages, all_mids, strict=True):
        if all(freq[mid] == 1 for mid in mids):
            continue
        key = content_key(expected_blob(m))
        if any(key in keys_by_mid.get(mid, ()) for mid in mids):
            dups += 1
            continue
        for mid in mids:
            keys_by_mid.setdefault(mid, []).append(key)
    have = {s.blob for s in st.stored}
    assert len(st.stored) == len(messages) - dups, (len(st.stored), len(messages), dups)
    per_mid: dict[str, int] = {}
    for blob in have:
        for mid in set(header_mids(st.blobs[blob])):
            per_mid[mid] = per_mid.get(mid, 0) + 1
    for m in messages:
        for mid in set(header_mids(strip_from_line(m))):
            assert per_mid.get(mid, 0) >= 1, mid
    check_reindex_matches(d, tmp_path)
    assert killer.kills >= 10
    print(
        f"\ncorpus import: {killer.kills} kills ({killer.group_kills} group) in {killer.runs} runs, "
        f"{len(messages)} messages, {len(st.stored)} stored, {time.monotonic() - t0:.1f}s"
    )


# ---------------------------------------------------------------------------
# pubinbox mda


def _mda_messages(messages: list[bytes], n: int) -> list[bytes]:
    """*n* messages the default filter accepts (the sample has some HTML mail)."""
    ibx = inbox_cfg(Path("/nonexistent"))
    out = [m for m in messages if filter_reject(strip_from_line(m), ibx) is None]
    return out[:n]


def _emergency_copies(em: Path, pid: int) -> list[Path]:
    return [p for sub in ("tmp", "new") if (em / sub).is_dir() for p in (em / sub).iterdir() if f".{pid}_" in p.name]


def _mda_with_kills(
    d: Path, msgs: list[bytes], killer: Killer, em: Path, *, kill_probs: tuple[float, ...]
) -> dict[str, int]:
    """Deliver each message, killing some attempts; retry until exit 0 (the MTA).
    Returns counters.  Checks that each killed delivery left its message in
    the emergency Maildir (or had already stored it)."""
    rng = killer.rng
    env = _env(ORIGINAL_RECIPIENT="test@example.com", PI_EMERGENCY=str(em))
    cmd = [*PUBINBOX, "mda", "--no-precheck"]
    stats = {"delivered": 0, "killed_after_copy": 0, "killed_before_copy": 0, "conflict_on_retry": 0}
    for i, raw in enumerate(msgs):
        attempt = 0
        killed = False
        while True:
            p, err = killer.start(cmd, stdin=raw, env=env)
            kp = kill_probs[attempt] if attempt < len(kill_probs) else 0.0
            attempt += 1
            if rng.random() < kp:
                if rng.random() < 0.85:
                    # wait until the emergency copy exists, then kill somewhere in the delivery
                    deadline = time.monotonic() + 30
                    while not _emergency_copies(em, p.pid) and p.poll() is None and time.monotonic() < deadline:
                        time.sleep(0.002)
                    delay = rng.uniform(0, 0.12)  # the rest of a delivery takes ~0.1-0.3 s
                else:
                    delay = rng.uniform(0, 0.6)
                try:
                    p.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    had_copy = bool(_emergency_copies(em, p.pid))
                    killer.kill(p, f"mda of message {i} attempt {attempt}")
                    killed = True
                    copies = _emergency_copies(em, p.pid)
                    body = strip_from_line(raw)
                    if had_copy:
                        stats["killed_after_copy"] += 1
                        stored = {s.blob for s in stored_messages(d)}
                        in_git = blob_oid(expected_blob(raw, list_id_address="test@example.com")) in stored
                        assert any(c.read_bytes() == body for c in copies) or in_git, (
                            f"killed delivery of message {i} lost: no emergency copy and not in git"
                        )
                    else:
                        stats["killed_before_copy"] += 1
                    _git_ahead_of_overview(d)
                    continue
            rc = p.wait(timeout=600)
            msg = err.read_text()
            assert rc == 0, f"mda of message {i} exited {rc}: {msg}"
            if "CONFLICT" in msg:
                # only possible when a killed attempt had already stored it
                assert killed, f"message {i} reported as a duplicate without a prior kill: {msg}"
                stats["conflict_on_retry"] += 1
            stats["delivered"] += 1
            break
    return stats


def test_mda_survives_sigkill(tmp_path: Path, sample_mbox: Path) -> None:
    """Deliveries killed at random; the MTA retries whatever did not exit 0."""
    t0 = time.monotonic()
    d = _setup(tmp_path, "300000")  # rollovers happen during deliveries too
    em = tmp_path / "emergency"
    msgs = _mda_messages(_sample_messages(sample_mbox), 10)
    killer = Killer(random.Random(CRASH_SEED + 2), tmp_path)
    try:
        stats = _mda_with_kills(d, msgs, killer, em, kill_probs=(0.9, 0.6, 0.3))
    finally:
        killer.cleanup()
    assert stats["delivered"] == len(msgs)
    _assert_all_stored_once(d, msgs, list_id="test@example.com")
    check_reindex_matches(d, tmp_path)
    assert killer.kills >= 6, killer.events
    print(
        f"\nmda: {killer.kills} kills ({killer.group_kills} group) in {killer.runs} runs for {len(msgs)} "
        f"messages; {stats}; {time.monotonic() - t0:.1f}s"
    )


@pytest.mark.corpus
@pytest.mark.slow
def test_mda_survives_sigkill_more(tmp_path: Path, sample_mbox: Path) -> None:
    """The same with more messages and kills (second tier)."""
    t0 = time.monotonic()
    d = _setup(tmp_path, "600000")
    em = tmp_path / "emergency"
    msgs = _mda_messages(_sample_messages(sample_mbox), 30)
    killer = Killer(random.Random(CRASH_SEED + 3), tmp_path)
    try:
        stats = _mda_with_kills(d, msgs, killer, em, kill_probs=(0.7, 0.5, 0.3, 0.2))
    finally:
        killer.cleanup()
    _assert_all_stored_once(d, msgs, list_id="test@example.com")
    check_reindex_matches(d, tmp_path)
    print(
        f"\nmda (more): {killer.kills} kills in {killer.runs} runs for {len(msgs)} messages; {stats}; "
        f"{time.monotonic() - t0:.1f}s"
    )


# ---------------------------------------------------------------------------
# states a kill leaves behind in narrow windows, reproduced exactly


def _import_one(d: Path, tmp_path: Path, raw: bytes, name: str) -> None:
    f = tmp_path / f"{name}.eml"
    f.write_bytes(raw)
    run_cli("import", "-q", "test", str(f), check=True)


def _make(n: int) -> bytes:
    from tests.helpers import make_msg

    return make_msg(n, body=f"body {n}\n" + "x" * 2000 + "\n")


def test_kill_between_epoch_dirs_and_alternates(tmp_path: Path) -> None:
    """A writer killed in ``init_epoch`` after the new epoch's directories were
    made but before all.git's alternates were rewritten: the next writer must
    repair the alternates (dedupe reads blobs through all.git)."""
    d = _setup(tmp_path, "1000000")
    _import_one(d, tmp_path, _make(1), "one")
    # what the kill leaves: git/1.git exists, alternates only lists 0.git
    from pubinbox.store.layout import _EPOCH_CONFIG, init_bare

    init_bare(d / "git" / "1.git", _EPOCH_CONFIG)
    alt = d / "all.git" / "objects" / "info" / "alternates"
    assert alt.read_text() == "../../git/0.git/objects\n"
    _import_one(d, tmp_path, _make(2), "two")
    _import_one(d, tmp_path, _make(2), "two-again")  # an exact resend: must be dropped
    _assert_all_stored_once(d, [_make(1), _make(2)])


def test_kill_inside_init_bare(tmp_path: Path) -> None:
    """Killed right after ``git/1.git/objects/info`` was created (HEAD and
    config not written yet): the inbox must stay writable."""
    d = _setup(tmp_path, "1000000")
    _import_one(d, tmp_path, _make(1), "one")
    (d / "git" / "1.git" / "objects" / "info").mkdir(parents=True)
    for n in (2, 3):
        _import_one(d, tmp_path, _make(n), f"m{n}")
    _assert_all_stored_once(d, [_make(1), _make(2), _make(3)])
