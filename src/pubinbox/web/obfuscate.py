"""Address obfuscation for inboxes with ``publicinbox.<name>.obfuscate = true``.

public-inbox's ``obfuscate_addrs`` (Hval.pm) replaces the first dot of the
domain of every address-looking word with a bullet: ``alice@example•com``
(``&#8226;`` in the page).  Exempt are the addresses of every configured
inbox and what the global multi-valued ``publicinbox.noObfuscate`` lists:
full addresses, or domains (``example.com`` or ``@example.com``, which
also exempt any domain *ending* in that text).  Words containing ``://``
(URLs with a user part) are left alone.

The rules are public-inbox's to the letter, quirks included: in a run of
non-blank characters only the *last* ``user@domain`` is obfuscated
(``a@x.com,b@y.com`` gives ``a@x.com,b@y•com``), and an exempt address
must be written in lower case to be recognised.  :meth:`Obfuscator.html`
is for text already HTML-escaped (headers, names, subjects: public-inbox
works on its 7-bit escaped form, so ``\\w`` is ASCII only);
:meth:`Obfuscator.text` for message bodies before escaping (Unicode
``\\w``); :meth:`Obfuscator.shell` for the ``git send-email`` arguments of
the reply instructions (``$(echo .)`` instead of the bullet).

The work is linear in the length of the text: each run of non-blank
characters is looked at once, from its end, as public-inbox's backtracking
regular expression ``(\\S+)@([\\w-]+\\.[\\w.-]+)`` would match it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pubinbox.config import Config, InboxConfig

__all__ = ["BULLET", "Obfuscator", "git_bool", "obfuscator_for"]

BULLET = "\u2022"  # written as &#8226; by the page encoder

# Perl's \s: Python's str \s but for U+001C..U+001F (Python counts them as
# blanks, Perl does not).  Escaped HTML is 7-bit in public-inbox (non-ASCII
# text is &#NNN;), so there only the ASCII blanks count.
_BLANKS_UNI = "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_BLANKS_ASCII = "\\t\\n\\x0b\\x0c\\r "


@dataclass(frozen=True, slots=True)
class _Syntax:
    """The regular expressions of one flavour (Unicode text or escaped HTML)."""

    run: re.Pattern[str]  # a run of non-blanks holding an '@', from its start
    domain: re.Pattern[str]  # [\w-]+\.[\w.-]+ (possessive: no backtracking)
    user_rev: re.Pattern[str]  # [\w.+=-]+ at the start of the reversed prefix


def _syntax(blanks: str, flags: int) -> _Syntax:
    nb = f"[^{blanks}]"
    return _Syntax(
        run=re.compile(f"(?<!{nb})[^{blanks}@]*+@{nb}*+", flags),
        domain=re.compile(r"[\w\-]++\.[\w.\-]++", flags),
        user_rev=re.compile(r"[\w.+=\-]++", flags),
    )


_UNI = _syntax(_BLANKS_UNI, 0)
_ASCII = _syntax(_BLANKS_ASCII, re.ASCII)


def git_bool(value: str) -> bool | None:
    """git's boolean spelling, as public-inbox's ``git_bool``; None if not one."""
    if re.fullmatch(r"(?:false|no|off|[-+]?(?:0x)?0+)", value, re.IGNORECASE):
        return False
    if re.fullmatch(r"(?:true|yes|on|[-+]?(?:0x)?[0-9]+)", value, re.IGNORECASE):
        return True
    return None


@dataclass(frozen=True, slots=True)
class Obfuscator:
    """The exemptions of one config file (shared by all obfuscated inboxes)."""

    addresses: frozenset[str] = frozenset()  # lower-case, compared as written
    domains: str | None = None  # a pattern matched at the end of the domain

    @classmethod
    def from_config(cls, config: Config) -> Obfuscator:
        """Every inbox address plus ``publicinbox.noObfuscate`` (whitespace-separated)."""
        addrs = {a.lower() for ibx in config.inboxes for a in ibx.addresses}
        domains: list[str] = []
        for value in config.get_all("publicinbox.noobfuscate"):
            for item in value.split():
                if re.search(r"\S@\S", item):
                    addrs.add(item.lower())
                else:
                    item = item.removeprefix("@")
                    if item:
                        domains.append(re.escape(item))
        # public-inbox joins an empty domain list into a pattern that matches
        # every domain (noObfuscate holding only addresses would turn
        # obfuscation off); no domains here means no domain is exempt.
        return cls(frozenset(addrs), f"(?:{'|'.join(domains)})\\Z" if domains else None)

    def _exempt(self, addr: str, domain: str) -> bool:
        if addr in self.addresses:
            return True
        return self.domains is not None and re.search(self.domains, domain, re.IGNORECASE) is not None

    def _sub(self, s: str, repl: str, syn: _Syntax) -> str:
        if "@" not in s:
            return s
        out: list[str] = []
        pos = 0
        for m in syn.run.finditer(s):
            start, end = m.span()
            # the last '@' of the run that a domain follows (greedy \S+),
            # with at least one character before it
            at = s.rfind("@", start + 1, end)
            dm = None
            while at > start:
                dm = syn.domain.match(s, at + 1, end)
                if dm is not None:
                    break
                at = s.rfind("@", start + 1, at)
            if dm is None or at <= start:
                continue
            pfx, domain = s[start:at], dm.group()
            if pfx.find("://") > 0:
                continue
            um = syn.user_rev.match(pfx[::-1])
            if um is None:
                continue
            user = pfx[len(pfx) - um.end() :]
            if self._exempt(f"{user}@{domain}", domain):
                continue
            out.append(s[pos:at])
            out.append("@" + domain.replace(".", repl, 1))
            pos = dm.end()
        if not out:
            return s
        out.append(s[pos:])
        return "".join(out)

    def html(self, s: str) -> str:
        """Escaped HTML text (header values, names, subjects)."""
        return self._sub(s, BULLET, _ASCII)

    def text(self, s: str) -> str:
        """Message body text, before escaping."""
        return self._sub(s, BULLET, _UNI)

    def shell(self, s: str) -> str:
        """An address for a shell command line: ``user@example$(echo .)com``."""
        return self._sub(s, "$(echo .)", _UNI)


def obfuscator_for(config: Config, ibx: InboxConfig) -> Obfuscator | None:
    """The inbox's obfuscator, or None when ``obfuscate`` is not true.

    A value that is not a boolean is ignored, as public-inbox does; of
    several values the last counts (git's rule).
    """
    vals = ibx.extra.get("obfuscate", ())
    if not vals or not git_bool(vals[-1]):
        return None
    return Obfuscator.from_config(config)
