"""Thread trees for display: JWZ-style threading of overview rows.

public-inbox threads a set of messages again at display time (its
SearchThread): every row's References link containers together, the last
reference is the parent, missing messages become *ghosts* (shown only when
they have children), messages reusing a Message-ID hang under the first one,
and siblings are ordered by their topmost real message's Date.  The topic
index, the message page's thread overview and the thread pages all use this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pubinbox.over.reader import OverRow


@dataclass(eq=False, slots=True)
class Node:
    """A container: a real message (``row``) or a ghost (``row is None``)."""

    mid: str
    row: OverRow | None = None
    parent: Node | None = None
    kids: dict[int, Node] = field(default_factory=dict)  # id(node) -> node, insertion ordered
    children: list[Node] = field(default_factory=list)  # after ordering

    @property
    def ds(self) -> int:
        return self.row.ds if self.row is not None else 0

    def add_child(self, child: Node) -> None:
        if child.parent is not None:
            child.parent.kids.pop(id(child), None)
        self.kids[id(child)] = child
        child.parent = self

    def has_descendant(self, other: Node | None) -> bool:
        """True if *other* is self or below self (walks *other*'s parents)."""
        seen: set[int] = set()
        while other is not None:
            if other is self or id(other) in seen:
                return True
            seen.add(id(other))
            other = other.parent
        return False

    def topmost(self) -> Node | None:
        """The first real message at or below this node (breadth first)."""
        q = [self]
        while q:
            cur = q.pop(0)
            if cur.row is not None:
                return cur
            q.extend(cur.kids.values())
        return None


def _sort_key(n: Node) -> tuple[int, int]:
    t = n.topmost()
    if t is None or t.row is None:
        return (0, 0)
    return (t.row.ds, t.row.num)


def thread(rows: list[OverRow], *, resolve: Callable[[str], OverRow | None] | None = None) -> list[Node]:
    """Thread *rows* into a list of roots, ordered by Date.

    *resolve* may look up a ghost's Message-ID elsewhere (public-inbox fills
    a ghost in when the message exists outside the given rows).
    """
    table: dict[str, Node] = {}
    imposters: list[Node] = []
    kids: list[Node] = []
    for r in sorted(rows, key=lambda r: (r.ds, r.num)):
        if r.mid in table and table[r.mid].row is not None:
            imposters.append(Node(r.mid, r))
            continue
        node = Node(r.mid, r)
        table[r.mid] = node
        kids.append(node)
    for node in kids:
        prev: Node | None = None
        assert node.row is not None
        for ref in node.row.references:
            cont = table.get(ref)
            if cont is None:
                cont = table[ref] = Node(ref)
            if prev is not None and cont.parent is None and not cont.has_descendant(prev) and cont is not prev:
                prev.add_child(cont)
            prev = cont
        if prev is not None and prev is not node and not node.has_descendant(prev):
            prev.add_child(node)

    def visible(n: Node) -> bool:
        if n.row is not None:
            return True
        if resolve is not None:
            got = resolve(n.mid)
            if got is not None:
                n.row = got
                return True
        return bool(n.kids)

    roots = [n for n in table.values() if n.parent is None and visible(n)]
    for n in table.values():
        n.parent = None
    roots.sort(key=_sort_key)
    for root in roots:
        seen = {id(root)}
        q = [root]
        while q:
            cur = q.pop(0)
            c = [k for k in cur.kids.values() if id(k) not in seen and visible(k)]
            seen.update(id(k) for k in c)
            if len(c) > 1:
                c.sort(key=_sort_key)
            cur.children = c
            for k in c:
                k.parent = cur
            q.extend(c)
    for imp in imposters:
        table[imp.mid].children.insert(0, imp)
        imp.parent = table[imp.mid]
    return roots


def walk(roots: list[Node]) -> Iterator[tuple[int, Node, int]]:
    """Depth-first (level, node, index among siblings), as public-inbox's
    walk_thread visits them."""
    stack: list[tuple[int, Node, int]] = [(0, r, -1) for r in reversed(roots)]
    while stack:
        level, node, idx = stack.pop()
        yield level, node, idx
        for i in range(len(node.children) - 1, -1, -1):
            stack.append((level + 1, node.children[i], i))


def root_first(roots: list[Node], mid: str) -> tuple[list[Node], bool]:
    """Put the root holding *mid* first (loose matches can bring in other
    roots); returns the new order and whether it changed."""
    if len(roots) < 2:
        return roots, False
    for i, r in enumerate(roots):
        for _lvl, n, _ in walk([r]):
            if n.mid == mid:
                if i == 0:
                    return roots, False
                rest = roots[:i] + roots[i + 1 :]
                return [r, *reversed(rest)], True
    return roots, False
