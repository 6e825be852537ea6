"""Rewriting history: ``pubinbox purge`` and ``pubinbox edit``, the way
public-inbox-purge and -edit do it, so that a mirror following with
``public-inbox-fetch`` (or ``pubinbox fetch``) sees the same commits.

In the epoch holding the message, the commit that added it and every commit
after it are written again with the same trees, idents, times and messages
(byte for byte, only the ``parent`` changes), except:

- purge: the commit that added the message gets an empty author
  (``author  <> TIME``), the message ``purged <blob>`` and an empty ``m``
  blob; a ``d`` commit naming the blob names the empty blob instead;
- edit: the message's blob is replaced by the edited one (same commit
  otherwise, same article number).

Steps, each safe to be killed after:

1. the new commits are written as unreferenced objects (killed here: the
   inbox is as before; the objects go with the next ``git gc``);
2. a journal (``pubinbox/rewrite.journal``) says what is about to change;
3. ``git update-ref`` moves the branch, atomically and only from the old tip;
4. msgmap, the overview and the search index are updated (numbers of other
   messages untouched), the audit record appended to
   ``pubinbox/audit.log`` (one JSON object a line), the journal removed.

A journal left by a killed run is finished by the next writer that opens
the inbox, or by ``pubinbox index`` (:func:`recover`): if the branch is at the new tip, step 4 is
done again (it is idempotent); if it is still at the old one, the journal
is dropped.  Then unreachable objects are pruned, so the purged text leaves
the object database too.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pubinbox.errors import StorageError
from pubinbox.ingest.indexer import EMPTY_BLOB
from pubinbox.ingest.message import parse_for_commit, parse_stored, search_doc
from pubinbox.store.layout import BRANCH, Layout

if TYPE_CHECKING:
    from pubinbox.config import InboxConfig
    from pubinbox.ingest.writer import InboxWriter

log = logging.getLogger(__name__)

_COMMIT, _TREE, _BLOB = 1, 2, 3


@dataclass(slots=True)
class Change:
    """One message changed by a rewrite."""

    num: int
    mid: str
    blob: str
    new_blob: str | None = None  # None: purged


@dataclass(slots=True)
class Journal:
    """What one rewrite of one epoch does (also the audit record)."""

    action: str  # "purge" | "edit"
    inbox: str
    epoch: int
    old_tip: str
    new_tip: str
    changes: list[Change] = field(default_factory=list)
    user: str = ""
    reason: str = ""
    time: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Journal:
        d: dict[str, Any] = json.loads(text)
        d["changes"] = [Change(**c) for c in d.get("changes", [])]
        return cls(**d)


def who() -> str:
    """The user running the command (and who they are behind sudo)."""
    try:
        name = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        name = str(os.getuid())
    sudo = os.environ.get("SUDO_USER")
    return f"{name} (sudo by {sudo})" if sudo and sudo != name else name


def journal_path(layout: Layout) -> Path:
    return layout.own_dir / "rewrite.journal"


def audit_path(layout: Layout) -> Path:
    return layout.own_dir / "audit.log"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _tree(kind: str, blob: str) -> bytes:
    return b"100644 " + kind.encode() + b"\0" + bytes.fromhex(blob)


def rewrite_epoch(
    repo: Any, tip: str, replace: dict[str, str | None], raws: dict[str, bytes] | None = None
) -> tuple[str, list[str]]:
    """New commits for epoch *repo* with blobs replaced (None: purged);
    returns (the new tip, the blobs found).  An edited message's commit
    gets its author, times and subject from the new text (*raws*: new blob
    -> bytes), as public-inbox-edit does.  Nothing is referenced yet."""
    chain: list[Any] = []
    c = repo.get(tip)
    while c is not None:
        chain.append(c)
        c = c.parents[0] if c.parents else None
    chain.reverse()
    start = None
    for i, commit in enumerate(chain):
        entry = _entry(commit)
        if entry is not None and entry[1] in replace:
            start = i
            break
    if start is None:
        return tip, []
    odb = repo.odb
    parent = str(chain[start].parents[0].id) if chain[start].parents else None
    found: list[str] = []
    for commit in chain[start:]:
        _kind, data = odb.read(commit.id)
        head, _sep, message = bytes(data).partition(b"\n\n")
        lines = head.split(b"\n")
        entry = _entry(commit)
        tree_line = lines[0]
        if entry is not None and entry[1] in replace:
            kind, blob = entry
            found.append(blob)
            new = replace[blob]
            new_tree = odb.write(_TREE, _tree(kind, new or EMPTY_BLOB))
            tree_line = b"tree " + str(new_tree).encode()
            if new is None and kind == "m":
                lines = [_purged_author(ln) if ln.startswith(b"author ") else ln for ln in lines]
                message = b"purged " + blob.encode() + b"\n"
            elif new is not None and kind == "m" and raws and new in raws:
                lines, message = _edited(lines, raws[new], int(commit.commit_time))
        rest = [ln for ln in lines[1:] if not ln.startswith(b"parent ")]
        out = [tree_line] + ([b"parent " + parent.encode()] if parent else []) + rest
        parent = str(odb.write(_COMMIT, b"\n".join(out) + b"\n\n" + message))
    if replace and any(v is None for v in replace.values()):
        odb.write(_BLOB, b"")  # the empty blob the purged commits name
    assert parent is not None
    return parent, found


def _edited(lines: list[bytes], raw: bytes, ctime: int) -> tuple[list[bytes], bytes]:
    """Commit header lines and message for an edited message."""
    m = parse_for_commit(raw, now=ctime).meta
    out = []
    for ln in lines:
        if ln.startswith(b"author "):
            ln = b"author " + m.author_ident + b" " + m.author_time
        elif ln.startswith(b"committer "):
            ident = ln[len(b"committer ") :].rsplit(b" ", 2)[0]
            ln = b"committer " + ident + b" " + m.committer_time
        out.append(ln)
    return out, m.commit_subject + b"\n"


def _purged_author(line: bytes) -> bytes:
    """``author NAME <EMAIL> TIME TZ`` -> ``author  <> TIME TZ``."""
    when = line.rsplit(b" ", 2)[-2:]
    return b"author  <> " + b" ".join(when)


def _entry(commit: Any) -> tuple[str, str] | None:
    try:
        tree = commit.tree
    except Exception:  # noqa: BLE001 - an unreadable tree names no message
        return None
    for kind in ("m", "d"):
        try:
            return kind, str(tree[kind].id)
        except KeyError:
            continue
    return None


def update_ref(git_dir: Path, new: str, old: str) -> None:
    proc = subprocess.run(
        ["git", f"--git-dir={git_dir}", "update-ref", BRANCH, new, old], capture_output=True, check=False
    )
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise StorageError(f"{git_dir}: cannot move {BRANCH} to {new}: {err}")


def prune(git_dir: Path) -> None:
    """Drop what no ref reaches (the purged or edited text) from the epoch."""
    proc = subprocess.run(
        ["git", f"--git-dir={git_dir}", "-c", "gc.reflogExpire=now", "gc", "--prune=now", "--quiet"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        log.warning("%s: git gc failed: %s", git_dir, proc.stderr.decode("utf-8", "replace").strip())


def apply(w: InboxWriter, j: Journal, new_raws: dict[str, bytes]) -> None:
    """Step 4: the databases follow the new history; then the audit record.
    Idempotent: a run that was killed half-way is done again."""
    mm, over, git, search = w.stores()
    git.refresh()
    for ch in j.changes:
        if ch.new_blob is None:
            over.remove(ch.num)
            mm.delete_num(ch.num)
            if search is not None:
                search.delete([ch.num])
            continue
        raw = new_raws.get(ch.new_blob)
        if raw is None:
            raw = git.blob(ch.new_blob, j.epoch)
        _at, ct = _times(git, j.epoch, j.new_tip, ch.new_blob)
        msg = parse_stored(raw, fallback_ts=ct)
        over.remove(ch.num)
        over.add(msg.over_row(num=ch.num, mid0=ch.mid, blob=ch.new_blob, epoch=j.epoch))
        if search is not None:
            m = msg.meta
            search.add(
                ch.num, search_doc(raw, msg), blob=ch.new_blob, ts=m.ts, ds=m.ds, size=msg.crlf_size, replace=True
            )
    over.meta_set(f"last_commit-{j.epoch}", j.new_tip)
    w.checkpoint()
    audit = audit_path(w.layout)
    have = audit.read_text(encoding="utf-8") if audit.exists() else ""
    if f'"new_tip": "{j.new_tip}"' not in have:
        with open(audit, "a", encoding="utf-8") as f:
            f.write(j.to_json() + "\n")
            f.flush()
            os.fsync(f.fileno())
    journal_path(w.layout).unlink(missing_ok=True)


def _times(git: Any, epoch: int, tip: str, blob: str) -> tuple[int, int]:
    """Times of the commit that names *blob* (walking back from *tip*)."""
    repo = git.epoch_repo(epoch)
    c = repo.get(tip)
    while c is not None:
        entry = _entry(c)
        if entry is not None and entry[1] == blob:
            return int(c.author.time), int(c.commit_time)
        c = c.parents[0] if c.parents else None
    return 0, int(time.time())


def finish_pending(ibx: InboxConfig, *, lock_timeout: float = 300.0) -> None:
    """``pubinbox index``'s part: a journal left by a killed purge/edit is
    finished (or dropped) by opening and closing a writer, as the next
    delivery would."""
    from pubinbox.ingest.writer import InboxWriter

    if not journal_path(Layout(ibx.inboxdir)).exists():
        return
    with InboxWriter(ibx, lock_timeout=lock_timeout):
        pass


def recover(w: InboxWriter) -> None:
    """Finish or drop a rewrite a killed run left (the caller holds the lock)."""
    path = journal_path(w.layout)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    try:
        j = Journal.from_json(text)
    except (ValueError, TypeError, KeyError) as e:
        log.warning("%s: unreadable (%s); moved aside", path, e)
        os.replace(path, path.with_name(path.name + ".bad"))
        return
    from pubinbox.store.fastimport import rev_parse

    tip = rev_parse(w.layout.epoch(j.epoch))
    if tip == j.old_tip:
        log.warning("%s: an interrupted %s had not changed git; dropped (run it again)", w.ibx.name, j.action)
        path.unlink()
    elif tip == j.new_tip:
        log.warning("%s: finishing an interrupted %s", w.ibx.name, j.action)
        apply(w, j, {})
        prune(w.layout.epoch(j.epoch))
    else:
        log.warning("%s: %s: epoch %d moved on since; `pubinbox index` reindexes it", w.ibx.name, path, j.epoch)
        os.replace(path, path.with_name(path.name + ".stale"))


def rewrite(
    w: InboxWriter,
    action: str,
    targets: list[tuple[int, str, str, int]],
    new_raws: dict[str, bytes],
    *,
    reason: str = "",
) -> list[Journal]:
    """Rewrite history for *targets* (num, mid, blob, epoch) of an open
    writer's inbox: purged, or replaced by the blob of ``new_raws`` whose
    key is the old blob.  One journal per epoch touched."""
    import pygit2

    _mm, _over, git, _search = w.stores()
    out: list[Journal] = []
    for epoch in sorted({t[3] for t in targets}):
        git_dir = w.layout.epoch(epoch)
        repo = pygit2.Repository(str(git_dir))
        tip = str(repo.references[BRANCH].target)
        replace: dict[str, str | None] = {}
        changes = []
        written: dict[str, bytes] = {}
        for num, mid, blob, e in targets:
            if e != epoch:
                continue
            if action == "purge":
                replace[blob] = None
                changes.append(Change(num, mid, blob))
            else:
                raw = new_raws[blob]
                new = str(repo.odb.write(_BLOB, raw))
                replace[blob] = new
                written[new] = raw
                changes.append(Change(num, mid, blob, new))
        new_tip, found = rewrite_epoch(repo, tip, replace, written)
        changes = [c for c in changes if c.blob in found]
        if not changes:
            continue
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        j = Journal(action, w.ibx.name, epoch, tip, new_tip, changes, who(), reason, stamp)
        _write_atomic(journal_path(w.layout), j.to_json())
        update_ref(git_dir, new_tip, tip)
        apply(w, j, written)
        prune(git_dir)
        out.append(j)
    git.refresh()
    return out
