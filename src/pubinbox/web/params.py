"""Request parameters parsed into bounded ranges before anything uses them.

public-inbox reads numbers leniently (the first run of digits in ``o=``,
``l=``); so do we, but a number outside its range is a 400, never a huge
allocation in native code or a 4,300-digit ``int()`` in Python.
"""

from __future__ import annotations

import re

from pubinbox.errors import BadRequest

__all__ = ["MAX_ARTNUM", "lenient_int"]

#: article numbers are SQLite integers; anything larger names no message
MAX_ARTNUM = (1 << 62) - 1
_SIGNED = re.compile(r"-?[0-9]+")
_UNSIGNED = re.compile(r"[0-9]+")


def lenient_int(value: str | None, name: str, default: int, lo: int, hi: int, *, signed: bool = False) -> int:
    """The first run of digits in *value* (with a leading ``-`` when
    *signed*), as public-inbox reads ``o=`` and ``l=``; *default* when
    there is none; :class:`BadRequest` when it is outside ``lo..hi``."""
    m = (_SIGNED if signed else _UNSIGNED).search(value or "")
    if m is None:
        return default
    digits = m.group(0)
    if len(digits.lstrip("-").lstrip("0")) > 18:
        raise BadRequest(f"{name}={digits[:24]}... is out of range ({lo} to {hi})")
    n = int(digits)
    if not lo <= n <= hi:
        raise BadRequest(f"{name}={n} is out of range ({lo} to {hi})")
    return n
