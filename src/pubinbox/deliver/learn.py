"""``pubinbox learn spam|ham|rm``: remove or add one message by hand, like
``public-inbox-learn``, training SpamAssassin on the way.

- ``spam``: removed from every inbox (``-I NAME`` narrows it), by content:
  each stored message with one of its Message-IDs and the same content hash
  gets a ``d`` commit with the message ``spam``; msgmap, the overview and
  the search index drop it.  Then ``spamc -L spam``.
- ``rm``: the same without training, from the inboxes the message is
  addressed to (To/Cc against ``address``, List-Id against ``listid``), or
  every inbox with ``--all``; the commit message is ``rm``.
- ``ham``: added to the inboxes it is addressed to, then ``spamc -L ham``.

Training runs only when ``publicinboxmda.spamcheck`` is ``spamc`` (the
default); public-inbox 1.9 trains even with ``none`` (a quirk not copied).
A message that is not archived is no error: nothing changes and the report
says "not found".
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from pubinbox.config import Config, InboxConfig
from pubinbox.errors import InboxNotFound, InputError, PubinboxError
from pubinbox.mail import address
from pubinbox.mail.parse import Headers, strip_from_line

MODES = ("spam", "ham", "rm")

#: seconds spamc may take to learn one message
SPAMC_TIMEOUT = 120


class TrainingFailed(PubinboxError):
    """spamc is missing or failed to learn the message (the archive changed anyway)."""

    exit_code = 1


@dataclass(slots=True)
class LearnReport:
    """What ``learn`` did, for the command's output."""

    mode: str
    inboxes: list[str] = field(default_factory=list)
    removed: list[tuple[str, int, str]] = field(default_factory=list)  # inbox, number, Message-ID
    added: list[tuple[str, int | None, str]] = field(default_factory=list)  # inbox, number, status
    trained: bool = False

    @property
    def not_found(self) -> bool:
        return self.mode != "ham" and not self.removed


def addressed(conf: Config, raw: bytes) -> list[InboxConfig]:
    """Inboxes whose address is in To/Cc or whose listid is the List-Id."""
    h = Headers(raw)
    out: list[InboxConfig] = []
    for line in h.decoded("To") + h.decoded("Cc"):
        for addr in address.emails(line):
            for ibx in conf.by_address(addr):
                if ibx not in out:
                    out.append(ibx)
    for value in h.raw("List-Id"):
        m = re.search(r"<[ \t]*(.+?)[ \t]*>", value)
        if m:
            for ibx in conf.by_listid(m.group(1)):
                if ibx not in out:
                    out.append(ibx)
    return out


def targets(
    conf: Config, raw: bytes, mode: str, *, all_: bool = False, names: tuple[str, ...] = ()
) -> list[InboxConfig]:
    """The inboxes *mode* works on."""
    if names:
        return [conf.inbox(n) for n in names]
    if mode == "spam" or (mode == "rm" and all_):
        return list(conf.inboxes)
    return addressed(conf, raw)


def train(raw: bytes, mode: str) -> None:
    """``spamc -L spam|ham``; raises :class:`TrainingFailed`."""
    spamc = shutil.which("spamc")
    if spamc is None:
        raise TrainingFailed("spamc not found (install it, or set publicinboxmda.spamcheck=none)")
    try:
        proc = subprocess.run([spamc, "-L", mode], input=raw, capture_output=True, timeout=SPAMC_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise TrainingFailed(f"spamc -L {mode} took more than {SPAMC_TIMEOUT}s") from None
    except OSError as e:
        raise TrainingFailed(f"spamc: {e}") from e
    # spamc -L: 5 "learned", 6 "already learned"; 0 from older versions
    if proc.returncode not in (0, 5, 6):
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TrainingFailed(f"spamc -L {mode} exited with status {proc.returncode}" + (f": {err[-1]}" if err else ""))


def learn(conf: Config, raw: bytes, mode: str, *, all_: bool = False, names: tuple[str, ...] = ()) -> LearnReport:
    """Do *mode* with the message *raw*; training errors are raised after
    the archive work is done (the removal of spam never waits for spamc)."""
    from pubinbox.ingest.writer import InboxWriter

    if mode not in MODES:
        raise InputError(f"learn: unknown mode {mode!r} (spam, ham or rm)")
    raw = strip_from_line(raw)
    if not raw.strip():
        raise InputError("learn: empty message on standard input")
    report = LearnReport(mode)
    dests = targets(conf, raw, mode, all_=all_, names=names)
    if mode == "ham" and not dests:
        raise InboxNotFound("learn ham: no inbox is addressed by To/Cc/List-Id (use -I NAME)")
    for ibx in dests:
        report.inboxes.append(ibx.name)
        with InboxWriter(ibx, epoch_size=conf.epoch_size, lock_timeout=conf.lock_timeout) as w:
            if mode == "ham":
                res = w.add(raw)
                report.added.append((ibx.name, res.num, res.status))
            else:
                for num, mid in w.remove_matching(raw, mode):
                    report.removed.append((ibx.name, num, mid))
    if mode != "rm" and conf.spamcheck == "spamc":
        train(raw, mode)
        report.trained = True
    return report
