"""The query tree :func:`pubinbox.search.query.parse` returns: :class:`Term`,
:class:`Phrase`, :class:`Range`, :class:`And`, :class:`Or`, :class:`Xor`,
:class:`Not`; ``str(node)`` prints it canonically."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from pubinbox.search.prefixes import DATE_FIELDS

__all__ = ["And", "Node", "Not", "Or", "Phrase", "Range", "Term", "Xor", "combine"]


@dataclass(frozen=True, slots=True)
class Node:
    """Base class of the query tree; ``str()`` gives the canonical form."""

    def __str__(self) -> str:
        return self.to_str()

    def to_str(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


def _pfx(field: str | None) -> str:
    return "" if field is None else field + ":"


@dataclass(frozen=True, slots=True)
class Term(Node):
    """One word (text fields) or one exact value (boolean fields)."""

    field: str | None
    text: str
    wildcard: bool = False

    def to_str(self) -> str:
        text = self.text
        if not text or re.search(r'[\s()"\u201c\u201d]', text):
            text = '"' + text.replace('"', '""') + '"'
        return _pfx(self.field) + text + ("*" if self.wildcard else "")


@dataclass(frozen=True, slots=True)
class Phrase(Node):
    """Words that must appear next to each other, in order."""

    field: str | None
    words: tuple[str, ...]

    def to_str(self) -> str:
        return _pfx(self.field) + '"' + " ".join(self.words) + '"'


def _fmt_bound(field: str, v: int | None) -> str:
    if v is None:
        return ""
    if field in DATE_FIELDS:
        try:
            d = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=v)
        except OverflowError:
            return str(v)
        return d.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(v)


@dataclass(frozen=True, slots=True)
class Range(Node):
    """``lo <= value < hi`` (``None``: unbounded); dates in unix seconds UTC."""

    field: str
    lo: int | None
    hi: int | None

    def to_str(self) -> str:
        return f"{self.field}:[{_fmt_bound(self.field, self.lo)},{_fmt_bound(self.field, self.hi)})"


@dataclass(frozen=True, slots=True)
class And(Node):
    """Every child matches."""

    children: tuple[Node, ...]

    def to_str(self) -> str:
        return "(" + " AND ".join(c.to_str() for c in self.children) + ")"


@dataclass(frozen=True, slots=True)
class Or(Node):
    """At least one child matches."""

    children: tuple[Node, ...]

    def to_str(self) -> str:
        return "(" + " OR ".join(c.to_str() for c in self.children) + ")"


@dataclass(frozen=True, slots=True)
class Xor(Node):
    """An odd number of children match (Xapian's OP_XOR)."""

    children: tuple[Node, ...]

    def to_str(self) -> str:
        return "(" + " XOR ".join(c.to_str() for c in self.children) + ")"


@dataclass(frozen=True, slots=True)
class Not(Node):
    """The child does not match (inside an And: "but not")."""

    child: Node

    def to_str(self) -> str:
        return "NOT " + self.child.to_str()


def combine(cls: type[And | Or | Xor], children: list[Node]) -> Node:
    flat: list[Node] = []
    for c in children:
        if isinstance(c, cls):
            flat.extend(c.children)
        else:
            flat.append(c)
    return flat[0] if len(flat) == 1 else cls(tuple(flat))
