"""Reply instructions (``#R`` on the message page), as public-inbox's Reply.pm.

Who a reply goes to follows ``publicinbox.<name>.replyto``:

* ``:all`` (the default): everyone in From, To, Cc and Reply-To; the first
  address (From's) is ``--to``, the others ``--cc``;
* ``:list``: the inbox's primary address only ("reply-to-list");
* ``:none=TEXT``: no instructions at all, *TEXT* instead (a dead list;
  ``:none=`` shows "replies disabled");
* a comma-separated list mixing those with addresses (anything holding an
  ``@``, used as written) and header names (``From``, ``To``, ``Cc``,
  ``Reply-To``: that header's addresses).  Other words are ignored with a
  warning in the log.

Headers count with their first field only, as in public-inbox.  In an
``obfuscate`` inbox the command line carries ``user@example$(echo .)com``
(the shell puts the dot back) and there is no mailto: link.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from pubinbox.mail import address
from pubinbox.mail.msgid import mid_clean
from pubinbox.mail.parse import Headers
from pubinbox.web.html import esc
from pubinbox.web.obfuscate import Obfuscator
from pubinbox.web.site import InboxInfo

__all__ = ["Recipients", "recipients", "reply_instructions", "squote_maybe"]

log = logging.getLogger(__name__)

_HEADERS = {"from": "From", "to": "To", "cc": "Cc", "reply-to": "Reply-To"}
SE_URL = "https://kernel.org/pub/software/scm/git/docs/git-send-email.html"
P_URL = "https://en.wikipedia.org/wiki/Posting_style#Interleaved_style"


def squote_maybe(s: str) -> str:
    """A shell word, single-quoted when needed (public-inbox's squote_maybe)."""
    if re.search(r"[^\w@./,%+\-]", s) is None:
        return s
    return "'" + re.sub(r"(['!])", r"'\\\1'", s) + "'"


def _first(h: Headers, name: str) -> str:
    try:
        vals = h.decoded(name)
    except Exception:  # noqa: BLE001 - hostile header
        vals = h.raw(name)
    return vals[0] if vals else ""


def _emails(v: str) -> list[str]:
    try:
        return address.emails(v)
    except Exception:  # noqa: BLE001 - hostile header: no addresses
        return []


@dataclass(slots=True)
class Recipients:
    """``--to`` (lower-cased) and ``--cc`` (lower-cased -> as written)."""

    to: str | None = None
    cc: dict[str, str] = field(default_factory=dict)
    mode: str = "reply-to-all"

    def add(self, addrs: list[str]) -> None:
        for a in addrs:
            dst = a.lower()
            if not self.cc.get(dst):
                self.cc[dst] = a
            if not self.to:
                self.to = dst


def policy(info: InboxInfo) -> str:
    """The inbox's ``replyto`` (last value; unset, empty or "0" is ``:all``)."""
    vals = info.cfg.extra.get("replyto", ())
    v = vals[-1] if vals else ""
    return v if v and v != "0" else ":all"


def recipients(info: InboxInfo, h: Headers) -> Recipients | str:
    """Who the reply goes to, or the ``:none=`` text."""
    cfg = policy(info)
    m = re.match(r":none=(.*)", cfg)
    if m is not None:
        return m.group(1) or "replies disabled"
    rcpt = Recipients()
    words = re.split(r"\s*,\s*", cfg)
    while words and words[-1] == "":
        words.pop()  # Perl's split drops trailing empty fields
    for word in words:
        if word == ":all":
            for name in _HEADERS.values():
                v = _first(h, name)
                if v:
                    rcpt.add(_emails(v))
        elif word == ":list":
            rcpt.mode = "reply-to-list"
            rcpt.add([info.cfg.primary_address])
        elif word.lower() in _HEADERS:
            v = _first(h, _HEADERS[word.lower()])
            if v:
                rcpt.add(_emails(v))
        elif "@" in word:
            rcpt.add([word])
        else:
            log.warning("%s: unrecognized replyto = %r in config", info.name, word)
    if not rcpt.to:
        rcpt.add([info.cfg.primary_address])
    assert rcpt.to is not None
    rcpt.cc.pop(rcpt.to, None)
    return rcpt


def reply_instructions(info: InboxInfo, h: Headers, obfs: Obfuscator | None = None) -> str:
    """The ``#R`` block: mbox, git send-email, and (unless obfuscated) mailto:."""
    rcpt = recipients(info, h)
    if isinstance(rcpt, str):
        return f"<pre id=R>{esc(rcpt)}</pre>"
    to = rcpt.to
    assert to is not None
    raw_mid = (h.raw("Message-ID") or [""])[0]
    ccs = sorted(rcpt.cc.values())
    args = [f"--in-reply-to={squote_maybe(mid_clean(raw_mid))}"]
    if obfs is not None:
        args.append(f"--to={obfs.shell(to)}")
        args.extend(f"--cc={obfs.shell(a)}" for a in ccs)
    else:
        args.append(f"--to={to}")
        args.extend(f"--cc={a}" for a in ccs)
    args.append("/path/to/YOUR_REPLY")
    cmd = esc("".join(" \\\n    " + a for a in args))
    link = ""
    if obfs is None:  # obfuscated addresses cannot go in a mailto: link
        subj = _first(h, "Subject")
        if not re.search(r"\bRe:", subj, re.IGNORECASE):
            subj = "Re: " + subj

        def q(s: str, safe: str) -> str:
            return quote(s.encode("utf-8", "surrogateescape"), safe=safe)

        irt = q(raw_mid, "-._~!$&'()*+,;=:@")
        cc_q = "&Cc=" + q(",".join(ccs), "") if ccs else ""
        href = esc(f"mailto:{q(to, '-._~@')}?In-Reply-To={irt}{cc_q}&Subject={q(subj, '')}")
        link = (
            "\n* If your mail client supports setting the <b>In-Reply-To</b> header\n"
            f'  via mailto: links, try the <a href="{href}">mailto: link</a>\n'
        )
    return (
        "<hr><pre id=R><b>Reply instructions:</b>\n\n"
        "You may reply publicly to <a href=#t>this message</a> via plain-text email\n"
        "using any one of the following methods:\n\n"
        "* Save the following mbox file, import it into your mail client,\n"
        f"  and {rcpt.mode} from there: <a href=raw>mbox</a>\n\n"
        "  Avoid top-posting and favor interleaved quoting:\n"
        f'  <a href="{P_URL}">{P_URL}</a>\n{_info(info)}\n'
        "* Reply using the <b>--to</b>, <b>--cc</b>, and <b>--in-reply-to</b>\n"
        "  switches of git-send-email(1):\n\n"
        f"  git send-email{cmd}\n\n"
        f'  <a href="{SE_URL}">{SE_URL}</a>\n'
        f"{link}</pre>\n\n"
        "  Be sure your reply has a <b>Subject:</b> header at the top and a blank line\n"
        "  before the message body.\n"
    )


def _info(info: InboxInfo) -> str:
    """public-inbox's "List information:" line for an ``infourl``."""
    urls = info.cfg.extra.get("infourl", ())
    if not urls:
        return ""
    url = urls[-1]
    url = f"https:{url}" if url.startswith("//") else url
    shown = f'<a href="{esc(url)}">{esc(url)}</a>' if url.startswith(("http://", "https://")) else esc(url)
    return f"\n  List information: {shown}\n"
