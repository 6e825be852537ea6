"""Everything the store and the overview need from one message, in one parse.

``extract_meta`` reproduces public-inbox 1.9's ``Smsg->populate`` and
``Import::extract_cmt_info``: the overview fields (subject, from, to, cc,
dates, Message-IDs, threading references, subject key) and the git commit
fields as the exact bytes ``git fast-import`` receives (author ident, author
and committer times, commit subject).  The quirks are kept on purpose because
commit ids must match: several From: or Subject: fields make public-inbox
use the first one without UTF-8 decoding it, 8-bit addresses that are not
valid UTF-8 get UTF-8 encoded twice, ``<``/``>`` are removed from names and
addresses, negative times become 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

from pubinbox.mail import address
from pubinbox.mail.dates import msg_datestamp, msg_timestamp
from pubinbox.mail.msgid import (
    drop_primary,
    mids_for_index_perl,
    mids_perl,
    subject_path,
    thread_candidates_perl,
)
from pubinbox.mail.parse import Headers
from pubinbox.mail.perlstr import PerlStr, friendly, perl_utf8_decode, perl_utf8_encode

__all__ = ["META_FIELDS", "MessageMeta", "extract_meta", "smsg_value"]

#: the header fields :func:`extract_meta` reads (lower-case): what its
#: :class:`Headers` need index (``Headers(..., only=META_FIELDS)``)
META_FIELDS = frozenset(
    (
        b"subject",
        b"from",
        b"to",
        b"cc",
        b"sender",
        b"date",
        b"received",
        b"message-id",
        b"x-alt-message-id",
        b"references",
        b"in-reply-to",
    )
)


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """Fields derived from a message's header (see module docstring).

    ``mids``/``references`` are decoded as UTF-8 (latin-1 if invalid);
    ``*_bytes`` variants are the exact octets public-inbox handles.
    ``references`` are the overview's when the message is numbered under
    its first Message-ID; ``thread_candidates`` (references, then its own
    ids when it has several) and ``index_mids`` (Message-ID and
    X-Alt-Message-ID ids, what the overview maps to the message) serve a
    writer that numbers it under another (:func:`msgid.drop_primary`).
    ``subject_path`` is the overview subject key ("" means no sid).
    """

    mids: tuple[str, ...]
    references: tuple[str, ...]
    thread_candidates: tuple[str, ...]
    index_mids: tuple[str, ...]
    mids_bytes: tuple[bytes, ...]
    references_bytes: tuple[bytes, ...]
    subject: str
    from_: str
    to: str
    cc: str
    ds: int
    ds_zone: str
    ts: int
    ts_zone: str
    subject_path: str
    author_ident: bytes
    author_time: bytes
    committer_time: bytes
    commit_subject: bytes

    def __reduce__(self) -> tuple[type[MessageMeta], tuple[object, ...]]:
        # positional fields: ~4x cheaper to pickle than the dataclass's
        # per-field state (parsing processes send one per message)
        return MessageMeta, _META_FIELDS(self)


_META_FIELDS = attrgetter(*MessageMeta.__slots__)
_BLANKS = {0: " ", 9: " ", 10: " "}


def _clean(s: str) -> str:
    if "\r" in s:
        s = s.replace("\r", "")
    # str.translate goes character by character: only when there is work
    if "\t" in s or "\n" in s or "\0" in s:
        s = s.translate(_BLANKS)
    return s


def smsg_value(vals: list[PerlStr]) -> PerlStr:
    """A field as ``Smsg->populate`` keeps it (overview and search alike):
    every ``header_str`` value joined with ", ", CR dropped, NUL/TAB/LF
    as spaces, then ``utf8::decode``."""
    joined = _clean(", ".join(v for v, _ in vals))
    return perl_utf8_decode(joined, any(f for _, f in vals))


def _populate_field(h: Headers, field: str) -> tuple[str, bool, str | None, bool]:
    """(lower-case field value, its flag, Capitalised value|None, its flag)."""
    raw = h.raw_values(field)
    if len(raw) == 1 and raw[0].isascii() and b"=?" not in raw[0]:
        # the usual field: one value, plain ASCII, no encoded word, where
        # header_str gives the value itself and utf8::decode leaves it
        v = _clean(raw[0].decode("ascii"))
        return v, False, (v if v != "" else None), False
    vals = h.perl_decoded(field)
    low, low_flag = smsg_value(vals)
    if len(vals) > 1:
        cap, cap_flag = _clean(vals[0][0]), vals[0][1]
    else:
        cap, cap_flag = low, low_flag
    return low, low_flag, (cap if cap != "" else None), cap_flag


def _git_time(t: tuple[int, str]) -> bytes:
    ts, zone = t
    return b"%d %s" % (max(ts, 0), zone.encode("ascii"))


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def _ident(h: Headers, from_val: str | None, from_flag: bool) -> bytes:
    src = from_val if from_val is not None else ""
    email = _first(address.emails(src, utf8=from_flag))
    name = _first(address.names(src))
    if name is None or email is None:
        sender = h.perl_decoded("Sender")
        sval, sflag = sender[0] if sender else ("", False)
        if name is None:
            name = _first(address.names(sval))
        if email is None:
            email = _first(address.emails(sval, utf8=sflag))
    e = perl_utf8_encode(email.replace("<", "").replace(">", "")) if email is not None else b""
    n = perl_utf8_encode(name.replace("<", "").replace(">", "")) if name is not None else b""
    return n + b" <" + e + b">"


def extract_meta(raw: bytes, now: int, *, commit: bool = True, headers: Headers | None = None) -> MessageMeta:
    """Parse ``raw`` (without mbox From line) once and derive every field.

    ``now`` replaces Date:/Received: when neither parses (public-inbox uses
    the current time there).  ``commit=False`` skips the git commit fields
    (``author_ident``, ``commit_subject`` are then empty): indexing a blob
    already in git does not need them.  *headers*: ``Headers(raw)`` when the
    caller has it already.
    """
    h = headers if headers is not None else Headers(raw, only=META_FIELDS)
    subj, subj_flag, subj_cap, _ = _populate_field(h, "Subject")
    frm, _, from_cap, from_cap_flag = _populate_field(h, "From")
    to = _populate_field(h, "To")[0]
    cc = _populate_field(h, "Cc")[0]
    ds = msg_datestamp(h, now)
    ts = msg_timestamp(h, now)
    mid_list = mids_perl(h)
    own = mids_for_index_perl(h)
    cands = thread_candidates_perl(h, own=own)
    refs = drop_primary(cands, mid_list[0] if mid_list else "")
    uni = subj_flag or subj.isascii()
    spath = subject_path(subj, unicode_rules=uni) if subj != "" else ""
    if not commit:
        commit_subject = b""
    elif subj_cap is not None:
        commit_subject = perl_utf8_encode(subj_cap)
    else:
        commit_subject = b"(no subject)"
    return MessageMeta(
        mids=tuple(friendly(m) for m in mid_list),
        references=tuple(friendly(r) for r in refs),
        thread_candidates=tuple(friendly(r) for r in cands),
        index_mids=tuple(friendly(m) for m in own),
        mids_bytes=tuple(m.encode("latin-1") for m in mid_list),
        references_bytes=tuple(r.encode("latin-1") for r in refs),
        subject=subj,
        from_=frm,
        to=to,
        cc=cc,
        ds=ds[0],
        ds_zone=ds[1],
        ts=ts[0],
        ts_zone=ts[1],
        subject_path=spath,
        author_ident=_ident(h, from_cap, from_cap_flag) if commit else b"",
        author_time=_git_time(ds),
        committer_time=_git_time(ts),
        commit_subject=commit_subject,
    )
