"""The web's one cache: least recently used entries, bounded in bytes.

Everything a worker remembers between requests lives here, owned by the
:class:`~pubinbox.web.site.Site`: rendered message bodies (by blob id: a
blob never changes), inbox-wide pages (the index, new.atom: by ETag, so a
new message makes new keys), small ``t.mbox.gz`` bodies (by the thread's
exact membership) and ``/raw`` of small messages (by blob ids).  Keys are
tuples whose first element names the kind.  The budget is
``pubinbox.webCache`` bytes per worker; an entry larger than an eighth of
it is never kept.  Thread-safe (searches and streamed bodies run in
threads).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

__all__ = ["ByteCache", "size_of"]

T = TypeVar("T")

#: bookkeeping per entry (key tuple, OrderedDict node, object headers)
OVERHEAD = 200


def size_of(value: object) -> int:
    """Roughly the bytes *value* holds: str/bytes by length, tuples summed."""
    if isinstance(value, (str, bytes)):
        return len(value) + 50
    if isinstance(value, tuple):
        return sum(size_of(v) for v in value) + 50
    if isinstance(value, dict):
        return sum(size_of(k) + size_of(v) for k, v in value.items()) + 100
    return 100


class ByteCache:
    """An LRU map holding at most *max_bytes* (by :func:`size_of`)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, max_bytes)
        self._data: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def get(self, key: Hashable) -> object | None:
        with self._lock:
            got = self._data.get(key)
            if got is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return got[0]

    def put(self, key: Hashable, value: object, size: int | None = None) -> None:
        n = (size_of(value) if size is None else size) + OVERHEAD
        if n > self.max_bytes // 8:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._data[key] = (value, n)
            self._bytes += n
            while self._bytes > self.max_bytes and self._data:
                _k, (_v, m) = self._data.popitem(last=False)
                self._bytes -= m

    def get_or_make(self, key: Hashable, make: Callable[[], T]) -> T:
        """The cached value for *key*, else ``make()`` (remembered)."""
        got = self.get(key)
        if got is not None:
            return got  # type: ignore[return-value]
        value = make()
        self.put(key, value)
        return value
