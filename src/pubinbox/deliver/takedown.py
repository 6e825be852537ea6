"""``pubinbox purge`` and ``pubinbox edit``: takedowns that rewrite history
(like public-inbox-purge and -edit; the rewrite itself is
:mod:`pubinbox.ingest.history`).

A message is found by content, as public-inbox does: one of its
Message-IDs and the same content hash (``purge < message``, ``edit -F
RAW``), or by Message-ID (``edit -m MSGID``).  The inboxes searched are the
ones named (``-I``), every inbox (``--all``), or those the message is
addressed to (To/Cc/List-Id).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pubinbox.config import Config, InboxConfig
from pubinbox.deliver.learn import addressed
from pubinbox.errors import InputError, PubinboxError
from pubinbox.ingest.history import Journal, rewrite
from pubinbox.ingest.message import all_mids, content_key
from pubinbox.ingest.writer import InboxWriter
from pubinbox.mail.parse import strip_from_line

MBOXRD_FROM = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
_ESCAPED = re.compile(rb"^(>*From )", re.MULTILINE)
_UNESCAPE = re.compile(rb"^>(>*From )", re.MULTILINE)

#: (article number, Message-ID, blob, epoch)
Target = tuple[int, str, str, int]


class EditFailed(PubinboxError):
    """The editor failed, or the edit would change what identifies the message."""

    exit_code = 1


@dataclass(slots=True)
class Report:
    """Per inbox: what was (or, with --dry-run, would be) changed."""

    found: dict[str, list[Target]] = field(default_factory=dict)
    journals: list[Journal] = field(default_factory=list)


def inboxes(conf: Config, raw: bytes | None, *, all_: bool, names: tuple[str, ...]) -> list[InboxConfig]:
    if names:
        return [conf.inbox(n) for n in names]
    if all_ or raw is None:
        return list(conf.inboxes)
    return addressed(conf, raw)


def _epoch(w: InboxWriter, num: int) -> int:
    _mm, over, _git, _search = w.stores()
    row = over.db.execute("SELECT epoch FROM over WHERE num = ?", (num,)).fetchone()
    return int(row[0] or 0) if row else 0


def find_by_content(w: InboxWriter, raw: bytes) -> list[Target]:
    _mm, over, git, _search = w.stores()
    key = content_key(raw)
    out: list[Target] = []
    for mid in all_mids(raw):
        for num, blob in over.blobs_for_mid(mid):
            if any(t[2] == blob for t in out):
                continue
            try:
                if content_key(git.blob(blob)) != key:
                    continue
            except PubinboxError:
                continue
            out.append((num, mid, blob, _epoch(w, num)))
    return out


def find_by_mid(w: InboxWriter, mid: str) -> list[Target]:
    _mm, over, _git, _search = w.stores()
    mid = mid.strip().removeprefix("<").removesuffix(">")
    return [(num, mid, blob, _epoch(w, num)) for num, blob in over.blobs_for_mid(mid)]


def _writer(conf: Config, ibx: InboxConfig) -> InboxWriter:
    return InboxWriter(ibx, epoch_size=conf.epoch_size, lock_timeout=conf.lock_timeout)


def purge(
    conf: Config,
    raw: bytes,
    *,
    all_: bool = False,
    names: tuple[str, ...] = (),
    dry_run: bool = False,
    reason: str = "",
) -> Report:
    raw = strip_from_line(raw)
    if not raw.strip():
        raise InputError("purge: empty message on standard input")
    rep = Report()
    for ibx in inboxes(conf, raw, all_=all_, names=names):
        with _writer(conf, ibx) as w:
            targets = find_by_content(w, raw)
            if targets:
                rep.found[ibx.name] = targets
            if targets and not dry_run:
                rep.journals += rewrite(w, "purge", targets, {}, reason=reason)
    return rep


def editor_command(conf: Config) -> str:
    """publicinbox.mailEditor, else git's editor (GIT_EDITOR, core.editor,
    VISUAL, EDITOR)."""
    configured = conf.get("publicinbox.maileditor")
    if configured:
        return configured
    proc = subprocess.run(["git", "var", "GIT_EDITOR"], capture_output=True, check=False)
    got = proc.stdout.decode("utf-8", "surrogateescape").strip()
    if proc.returncode != 0 or not got:
        raise EditFailed("no editor: set publicinbox.mailEditor, GIT_EDITOR, VISUAL or EDITOR")
    return got


def run_editor(command: str, original: bytes, *, raw_mode: bool = False) -> bytes:
    """The message after the editor had it (mboxrd, as public-inbox-edit
    shows it, unless *raw_mode*)."""
    text = original if raw_mode else MBOXRD_FROM + _ESCAPED.sub(rb">\1", original)
    fd, name = tempfile.mkstemp(prefix="pubinbox-edit-", suffix=".eml")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text)
        proc = subprocess.run(["sh", "-c", f'{command} "$@"', shlex.quote(command), name], check=False)
        if proc.returncode != 0:
            raise EditFailed(f"editor {command!r} exited with status {proc.returncode}; nothing changed")
        edited = Path(name).read_bytes()
    finally:
        os.unlink(name)
    if raw_mode:
        return edited
    edited = strip_from_line(edited)
    return _UNESCAPE.sub(rb"\1", edited)


def edit(
    conf: Config,
    *,
    mid: str | None = None,
    raw_file: bytes | None = None,
    all_: bool = False,
    names: tuple[str, ...] = (),
    raw_mode: bool = False,
    force: bool = False,
    dry_run: bool = False,
    reason: str = "",
) -> Report:
    """Edit the message in the editor once; the result replaces it in every
    inbox searched that holds it."""
    if (mid is None) == (raw_file is None):
        raise InputError("edit: give -m MSGID or -F RAWFILE")
    if raw_file is not None:
        raw_file = strip_from_line(raw_file)
    rep = Report()
    edited: dict[str, bytes] = {}  # old blob -> new bytes
    command = None
    for ibx in inboxes(conf, raw_file, all_=all_ or mid is not None, names=names):
        with _writer(conf, ibx) as w:
            targets = find_by_content(w, raw_file) if raw_file is not None else find_by_mid(w, mid or "")
            if not targets:
                continue
            rep.found[ibx.name] = targets
            if dry_run:
                continue
            _mm, _over, git, _search = w.stores()
            for _num, tmid, blob, _epoch in targets:
                if blob in edited:
                    continue
                command = command or editor_command(conf)
                old = git.blob(blob)
                new = run_editor(command, old, raw_mode=raw_mode)
                if not force and set(all_mids(new)) != set(all_mids(old)):
                    raise EditFailed(f"<{tmid}>: the edit changes the Message-ID; nothing changed (--force to do it)")
                edited[blob] = new
            todo = [t for t in targets if edited.get(t[2]) not in (None, git.blob(t[2]))]
            if todo:
                rep.journals += rewrite(w, "edit", todo, {t[2]: edited[t[2]] for t in todo}, reason=reason)
    return rep
