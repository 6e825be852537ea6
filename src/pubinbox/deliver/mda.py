"""``pubinbox mda``: one message from an MTA, routed and checked like
``public-inbox-mda``.

Routing: ``ORIGINAL_RECIPIENT`` against the configured addresses (``+detail``
ignored), else ``List-Id`` against ``listid``.  Prechecks (skipped by
``--no-precheck``): exactly one usable Message-ID, From, Subject, a parsable
Date, at most 500 KiB, and an inbox address in To/Cc.  Then the spam check
(``publicinboxmda.spamcheck``: ``spamc`` or ``none``) and the inbox filter
(default: plain text only, as public-inbox's ``Filter::Base``).

Exit statuses are the MTA's, and they tell the truth:

- 0: delivered, that is durable in git (even if updating msgmap, the
  overview or the search index failed afterwards: those catch up from git),
  or dropped on purpose (precheck failure, spam, duplicate: copy kept in the
  emergency Maildir);
- 65: the message itself is refused (the inbox filter, or empty input);
- 67: no inbox for the recipient;
- 75: anything local or transient (full disk, lock timeout, I/O error, a
  missing, unreadable or broken config): the MTA retries.

Whatever happens, the message is in the emergency Maildir until it is safely
stored; if no complete copy can be written there, nothing is tried (75).
"""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pubinbox.config import Config, Env, InboxConfig, load
from pubinbox.deliver.emergency import Emergency, LateEmergency
from pubinbox.errors import ConfigError, PubinboxError, StorageError
from pubinbox.mail import address, dates
from pubinbox.mail.mime import iter_parts
from pubinbox.mail.parse import Headers, strip_from_line

if TYPE_CHECKING:
    from pubinbox.ingest.writer import AddResult

log = logging.getLogger(__name__)

#: how a message is added to one inbox: :func:`store` or the LMTP server's kept writers
StoreFn = Callable[[InboxConfig, bytes, Config], "tuple[AddResult, str | None]"]

EX_OK = 0
EX_DATAERR = 65
EX_NOUSER = 67
EX_TEMPFAIL = 75

MAX_SIZE = 500 * 1024
MAX_MID_SIZE = 244

_REJECT_TYPES = re.compile(r"\A(?:text/(?:html|xhtml)|image/|audio/|video/|application/vnd\.)", re.IGNORECASE)
_REJECT_EXT = re.compile(r"\.(?:exe|bat|cmd|com|pif|scr|vbs|cpl|zip|swf|swfl)\Z", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one delivery: exit status, a line for stderr, and
    whether the message is durable in git (then its emergency copy goes)."""

    status: int
    message: str = ""
    stored: bool = False


def route(conf: Config, env: Env, h: Headers) -> list[InboxConfig] | None:
    """Destination inboxes; None when ORIGINAL_RECIPIENT names nobody."""
    if env.original_recipient:
        found = conf.by_address(env.original_recipient)
        return found or None
    dests: list[InboxConfig] = []
    for value in h.raw("List-Id"):
        m = re.search(r"<[ \t]*(.+?)[ \t]*>", value)
        if m:
            for ibx in conf.by_listid(m.group(1)):
                if ibx not in dests:
                    dests.append(ibx)
    return dests or None


def _drop_plus(addr: str) -> str:
    return re.sub(r"\+.*@", "@", addr).lower()


def precheck(h: Headers, raw: bytes, ibx: InboxConfig) -> str | None:
    """None if the message passes public-inbox's prechecks, else the reason."""
    mids = h.decoded("Message-ID")
    if len(mids) != 1:
        return f"{len(mids)} Message-ID headers (want exactly 1)"
    mid = mids[0]
    if len(mid) > MAX_MID_SIZE:
        return "Message-ID too long"
    if len(mid) < len("<m@h>") or "@" not in mid:
        return "unusable Message-ID"
    froms = h.decoded("From")
    if not froms or len(froms[0]) < len("u@h"):
        return "unusable From"
    subjects = h.decoded("Subject")
    if not subjects or len(subjects[0]) < len(":o"):
        return "unusable Subject"
    ds = h.raw("Date")
    if not ds or dates.str2date_zone(ds[0]) is None:
        return "no parsable Date"
    if len(raw) > MAX_SIZE:
        return f"message larger than {MAX_SIZE} bytes"
    ok = {_drop_plus(a) for a in ibx.addresses}
    for line in h.decoded("Cc") + h.decoded("To"):
        for addr in address.emails(line):
            if _drop_plus(addr) in ok:
                return None
    return "not addressed to the list (To/Cc)"


def filter_reject(raw: bytes, ibx: InboxConfig) -> str | None:
    """The default filter (public-inbox's Filter::Base): plain text only."""
    flt = (ibx.filter or "PublicInbox::Filter::Base").rsplit("::", 1)[-1].lower()
    if flt == "mirror":
        return None
    for part in iter_parts(raw):
        if _REJECT_TYPES.match(part.content_type or ""):
            return "*** We only accept plain-text mail, No HTML ***"
        if part.filename and _REJECT_EXT.search(part.filename):
            return f"*** Attachments like {part.filename!r} are not accepted ***"
    return None


def spamcheck(conf: Config, raw: bytes) -> tuple[bool, bytes]:
    """(ham?, message) through ``spamc -E --headers`` unless disabled.  A
    spamc that is missing or fails is a local problem (raises: exit 75),
    not a verdict on the message."""
    if conf.spamcheck == "none":
        return True, raw
    return spamc_check(raw)


def spamc_check(raw: bytes) -> tuple[bool, bytes]:
    """(ham?, message with spamc's headers) from ``spamc -E --headers``."""
    spamc = shutil.which("spamc")
    if spamc is None:
        raise ConfigError("spamc not found; install it or set publicinboxmda.spamcheck=none")
    proc = subprocess.run([spamc, "-E", "--headers"], input=raw, capture_output=True, check=False)
    if proc.returncode == 1:  # -E: spam
        return False, raw
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PubinboxError(f"spamc exited with status {proc.returncode}" + (f": {err[-1]}" if err else ""))
    return True, proc.stdout


def load_config(path: Path) -> Config:
    """The config as mda needs it: a missing or unreadable file is a local
    mistake (:class:`ConfigError`, exit 75), never "no such recipient" (67),
    which would bounce a list's mail for good."""
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise ConfigError(f"no config file {path} (set PI_CONFIG or --config)") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    return load(path)


def mda(
    raw: bytes,
    env: Env,
    config_path: Path,
    *,
    precheck_enabled: bool = True,
    conf: Config | None = None,
    store_fn: StoreFn | None = None,
    late_copy: bool = False,
) -> Outcome:
    """Everything ``pubinbox mda`` does with a message read from the MTA.

    The emergency copy comes first: if it cannot be written completely,
    nothing else is tried (75, the MTA keeps the message).  Then the config
    and :func:`deliver` (*conf*: the config already loaded, *store_fn*:
    another :func:`store`, and *late_copy*: the emergency copy written only
    when the message is not stored, :class:`LateEmergency`; all three for
    the LMTP server).  Every failure becomes an :class:`Outcome`: 75 for
    anything local or transient, unless the message is already durable in
    git, which is 0 whatever fails after that.  The copy is dropped once the
    message is stored, else moved to ``new/``.
    """
    raw = strip_from_line(raw)
    ems = LateEmergency(env.emergency_dir()) if late_copy else Emergency(env.emergency_dir())
    try:
        ems.prepare(raw)
    except StorageError as e:
        return Outcome(EX_TEMPFAIL, str(e))
    try:
        conf = conf if conf is not None else load_config(config_path)
        out = deliver(raw, conf, env, ems, precheck_enabled=precheck_enabled, store_fn=store_fn)
    except PubinboxError as e:
        out = Outcome(EX_TEMPFAIL, str(e))
    except sqlite3.Error as e:
        out = Outcome(EX_TEMPFAIL, f"database error: {e}")
    except (OSError, MemoryError) as e:
        out = Outcome(EX_TEMPFAIL, f"{type(e).__name__}: {e}")
    except Exception as e:  # noqa: BLE001 - a bug is still a local problem: the MTA must retry
        out = Outcome(EX_TEMPFAIL, f"internal error: {type(e).__name__}: {e}")
    if out.stored:
        ems.delivered()
        return out
    try:
        ems.keep()
    except StorageError as e:  # the copy did not reach new/: the MTA must keep it
        return Outcome(EX_TEMPFAIL, _join(out.message, str(e)))
    return out


def deliver(
    raw: bytes,
    conf: Config,
    env: Env,
    ems: Emergency,
    *,
    precheck_enabled: bool = True,
    store_fn: StoreFn | None = None,
) -> Outcome:
    """Route, check and store one message (its emergency copy is in *ems*);
    raises on local or transient failures before the message is in git."""
    from pubinbox.deliver.importer import reject_reason

    h = Headers(raw)
    dests = route(conf, env, h)
    if dests is None:
        if env.original_recipient:
            return Outcome(EX_NOUSER, f"no inbox for ORIGINAL_RECIPIENT {env.original_recipient}")
        return Outcome(EX_NOUSER, "ORIGINAL_RECIPIENT not set and no List-Id matches an inbox")
    if precheck_enabled:
        dests_ok = []
        for ibx in dests:
            why = precheck(h, raw, ibx)
            if why is None:
                dests_ok.append(ibx)
            else:
                log.info("%s: precheck failed: %s", ibx.name, why)
        if not dests_ok:
            return Outcome(EX_OK)  # dropped, kept in the emergency Maildir
        dests = dests_ok
    why = reject_reason(raw)
    if why is not None:  # not mail at all: the sender's problem
        return Outcome(EX_DATAERR, why)
    ham, checked = spamcheck(conf, raw)
    if not ham:
        return Outcome(EX_OK)
    if checked != raw:
        raw = checked
        ems.prepare(raw)  # keep the checked version, as public-inbox does
    reasons = []
    accepted = []
    for ibx in dests:
        why = filter_reject(raw, ibx)
        if why is None:
            accepted.append(ibx)
        else:
            reasons.append(why)
    if not accepted:
        return Outcome(EX_DATAERR, _join(*reasons))
    stored = True
    notes = []
    for ibx in accepted:
        res, late = (store_fn or store)(ibx, raw, conf)
        if late is not None:
            notes.append(late)
        if res.status == "added":
            if res.reused_mid:
                notes.append(f"<{res.reused_mid}> reused for mismatched content")
        else:
            stored = False  # keep the copy: someone may want to compare
            notes.append(f"CONFLICT: Message-ID: <{res.mid}> exists")
    return Outcome(EX_OK, _join(*notes), stored=stored)


def store(ibx: InboxConfig, raw: bytes, conf: Config) -> tuple[AddResult, str | None]:
    """Add *raw* to one inbox.  Returns the result and, when git has the
    message but a later step (msgmap, overview, search index) failed, a
    warning: that is still a delivery, the next writer or ``pubinbox index``
    catches the indexes up from git.  Raises while git does not have it."""
    from pubinbox.ingest.writer import InboxWriter

    w = InboxWriter(ibx, epoch_size=conf.epoch_size, lock_timeout=conf.lock_timeout)
    w.open()
    try:
        res = w.add(raw, list_id=True)
    except BaseException:
        w.abort()
        raise
    try:
        w.close()
    except Exception as e:
        if not w.git_durable:
            raise
        what = str(e) or type(e).__name__
        return res, (
            f"{ibx.name}: stored in git, but updating the indexes failed ({what}); "
            "the next delivery or `pubinbox index` catches them up"
        )
    return res, None


def _join(*parts: str) -> str:
    """One line for the MTA, however many things there are to say."""
    return "; ".join(dict.fromkeys(" ".join(p.split()) for p in parts if p and p.strip()))
