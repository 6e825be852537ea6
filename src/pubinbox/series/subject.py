"""``[PATCH vN M/N]`` subjects, with the prefix variants real lists use.

Seen on lore: ``[PATCH v2 03/12]``, ``[PATCHv2 3/12]``, ``[PATCH1/8]``,
``[PATCH-v3 1/2]``, ``[RFC PATCH]``, ``[PATCH RESEND v4 0/7]``,
``[PATCH net-next v2 1/3]``, ``[RFC][PATCH 1/2]``, ``[PATCH 1/2 v2]``,
``[PATCH v2] [PATCH 1/3]``... Anything starting ``Re:``/``Fwd:`` is a
reply, never a patch, and so is a subject without ``PATCH`` in its leading
brackets.  Never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PatchSubject", "normalise_title", "parse_subject"]

_BRACKETS = re.compile(r"\A\s*\[([^\[\]]{0,200})\]\s*")
_PATCH = re.compile(
    r"\A(?:PATCH|PATCHES)(?:[-_ ]?v?([0-9]{1,4}))?(?:[-_ ]?([0-9]{1,5})/([0-9]{1,5}))?\Z", re.IGNORECASE
)
_VERSION = re.compile(r"\Av([0-9]{1,4})\Z", re.IGNORECASE)
_COUNTER = re.compile(r"\A([0-9]{1,5})/([0-9]{1,5})\Z")
_SPLIT = re.compile(r"[\s,]+")
#: most patches one series may claim (a 500-patch series is real; 99999 is not)
MAX_TOTAL = 2000


@dataclass(frozen=True, slots=True)
class PatchSubject:
    """What the prefixes of a patch's subject say."""

    version: int  # 1 when not given
    counter: int | None  # M of M/N (0: cover letter), None for a lone [PATCH]
    total: int | None  # N of M/N
    prefixes: tuple[str, ...]  # the other words: rfc, resend, net-next...
    title: str  # the subject without the brackets
    versioned: bool = True  # the version was written (v2, PATCHv2), not taken as 1

    @property
    def is_cover(self) -> bool:
        return self.counter == 0


def parse_subject(subject: str) -> PatchSubject | None:
    """The patch subject *subject* is, or None for anything else."""
    rest = subject.lstrip()  # the whitespace \s is: a reply's "Re:" is not a "[" either
    if not rest.startswith("["):
        return None  # no leading brackets: no PATCH in them
    words: list[str] = []
    for _ in range(4):  # [RFC][PATCH v2 1/3]: a few bracket groups
        m = _BRACKETS.match(rest)
        if m is None:
            break
        words += [w for w in _SPLIT.split(m.group(1)) if w]
        rest = rest[m.end() :]
    version: int | None = None
    counter: int | None = None
    total: int | None = None
    patch = False
    other: list[str] = []
    for w in words:
        kind, v, c, t = _word(w)
        if kind == _IS_PATCH:
            patch = True
            if v is not None and version is None:
                version = v
            if c is not None and counter is None:
                counter, total = c, t
        elif kind == _IS_VERSION:
            version = version if version is not None else v
        elif kind == _IS_COUNTER:
            if counter is None:
                counter, total = c, t
        else:
            other.append(w.lower())
    if not patch:
        return None
    if total is not None and (total == 0 or total > MAX_TOTAL or counter is None or counter > total):
        counter = total = None  # 3/2, 1/0, 1/99999: not a place in a series
    return PatchSubject(version or 1, counter, total, tuple(dict.fromkeys(other)), rest.strip(), version is not None)


_IS_PATCH, _IS_VERSION, _IS_COUNTER, _IS_OTHER = range(4)
#: what _word() said of each word seen lately (the same few words, PATCH,
#: v2, 1/3, a list's tag, make most subjects)
_WORDS: dict[str, tuple[int, int | None, int | None, int | None]] = {}


def _word(w: str) -> tuple[int, int | None, int | None, int | None]:
    """(kind, version, counter, total) of one word of the leading brackets."""
    got = _WORDS.get(w)
    if got is not None:
        return got
    if (pm := _PATCH.match(w)) is not None:
        got = (
            _IS_PATCH,
            int(pm.group(1)) if pm.group(1) else None,
            int(pm.group(2)) if pm.group(2) else None,
            int(pm.group(3)) if pm.group(2) else None,
        )
    elif (vm := _VERSION.match(w)) is not None:
        got = (_IS_VERSION, int(vm.group(1)), None, None)
    elif (cm := _COUNTER.match(w)) is not None:
        got = (_IS_COUNTER, None, int(cm.group(1)), int(cm.group(2)))
    else:
        got = (_IS_OTHER, None, None, None)
    if len(_WORDS) >= 4096:
        _WORDS.clear()
    _WORDS[w] = got
    return got


_WS = re.compile(r"\s+")


def normalise_title(title: str) -> str:
    """The title as revisions of one series share it: case and blanks
    folded, a trailing period dropped."""
    return _WS.sub(" ", title).strip().rstrip(".").lower()
