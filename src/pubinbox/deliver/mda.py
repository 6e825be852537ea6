"""``pubinbox mda``: one message from an MTA, routed and checked like
``public-inbox-mda``.

Routing: ``ORIGINAL_RECIPIENT`` against the configured addresses (``+detail``
ignored), else ``List-Id`` against ``listid``.  Prechecks (skipped by
``--no-precheck``): exactly one usable Message-ID, From, Subject, a parsable
Date, at most 500 KiB, and an inbox address in To/Cc.  Then the spam check
(``publicinboxmda.spamcheck``: ``spamc`` or ``none``) and the inbox filter
(default: plain text only, as public-inbox's ``Filter::Base``).

Exit statuses are the MTA's: 0 delivered or dropped on purpose (copy kept
in the emergency Maildir), 65 rejected by the filter, 67 unknown recipient,
75 transient failure (the MTA retries).  Whatever happens, the message is
in the emergency Maildir until it is safely stored.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass

from pubinbox.config import Config, Env, InboxConfig
from pubinbox.deliver.emergency import Emergency
from pubinbox.errors import PubinboxError
from pubinbox.mail import address, dates
from pubinbox.mail.mime import iter_parts
from pubinbox.mail.parse import Headers, strip_from_line

log = logging.getLogger(__name__)

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
    """The result of one delivery: exit status and a line for stderr."""

    status: int
    message: str = ""


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
    """(ham?, message) through ``spamc -E --headers`` unless disabled."""
    if conf.spamcheck == "none":
        return True, raw
    spamc = shutil.which("spamc")
    if spamc is None:
        log.warning("spamc not found; set publicinboxmda.spamcheck=none to deliver without it")
        return False, raw
    proc = subprocess.run([spamc, "-E", "--headers"], input=raw, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        return False, raw
    return True, proc.stdout


def deliver(
    raw: bytes,
    conf: Config,
    env: Env,
    *,
    precheck_enabled: bool = True,
) -> Outcome:
    """Deliver one message; the emergency copy is kept unless stored."""
    from pubinbox.store.writer import InboxWriter

    raw = strip_from_line(raw)
    ems = Emergency(env.emergency_dir())
    ems.prepare(raw)  # StorageError here: nothing else is safe, the MTA keeps it
    try:
        h = Headers(raw)
        dests = route(conf, env, h)
        if dests is None:
            ems.keep()
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
                ems.keep()
                return Outcome(EX_OK)
            dests = dests_ok
        ham, raw = spamcheck(conf, raw)
        if not ham:
            ems.keep()
            return Outcome(EX_OK)
        if raw is not None:
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
            ems.keep()
            return Outcome(EX_DATAERR, "\n".join(dict.fromkeys(reasons)))
        stored = False
        notes = []
        for ibx in accepted:
            with InboxWriter(ibx, epoch_size=conf.epoch_size, lock_timeout=conf.lock_timeout) as w:
                res = w.add(raw, list_id=True)
            if res.status == "added":
                stored = True
                if res.reused_mid:
                    notes.append(f"<{res.reused_mid}> reused for mismatched content")
            else:
                notes.append(f"CONFLICT: Message-ID: <{res.mid}> exists")
        if stored and not any(n.startswith("CONFLICT") for n in notes):
            ems.delivered()
        else:
            ems.keep()
        return Outcome(EX_OK, "\n".join(notes))
    except PubinboxError as e:
        ems.keep()
        return Outcome(EX_TEMPFAIL, str(e))
    except (OSError, MemoryError) as e:
        ems.keep()
        return Outcome(EX_TEMPFAIL, f"{type(e).__name__}: {e}")
    except Exception as e:
        ems.keep()
        log.exception("unexpected error delivering message")
        return Outcome(EX_TEMPFAIL, f"internal error: {type(e).__name__}: {e}")
