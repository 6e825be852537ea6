"""A grokmirror manifest from an origin, checked before anything is done
with it: only ``/NAME/git/N.git`` keys of sane inbox names and epoch
numbers, and values of the right types and sizes.  Anything else (``..``,
absolute paths elsewhere, v1 inboxes, huge numbers, bad gzip or JSON) is a
one-line :class:`MirrorError`."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass

from pubinbox.errors import MirrorError

__all__ = ["MAX_BYTES", "Epoch", "parse"]

#: compressed and uncompressed bytes of a manifest (lore.kernel.org's is ~1 MB)
MAX_BYTES = 64 << 20
MAX_ENTRIES = 200_000
MAX_EPOCH = 99_999
_KEY_RE = re.compile(r"/([\w-][\w.-]{0,199})/git/([0-9]{1,5})\.git")
_FPR_RE = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


@dataclass(frozen=True, slots=True)
class Epoch:
    """One repository of the manifest: inbox *name*, epoch *n*."""

    name: str
    n: int
    fingerprint: str | None
    modified: int

    @property
    def path(self) -> str:
        return f"/{self.name}/git/{self.n}.git"


def _gunzip(data: bytes, where: str) -> bytes:
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(data, MAX_BYTES + 1)
    except zlib.error as e:
        raise MirrorError(f"{where}: not a gzip file ({e})") from None
    if len(out) > MAX_BYTES or d.unconsumed_tail:
        raise MirrorError(f"{where}: manifest larger than {MAX_BYTES} bytes; refused")
    return out


def parse(data: bytes, where: str) -> list[Epoch]:
    """The epochs of manifest *data* (gzip'd JSON, or plain JSON), sorted by
    inbox then epoch; *where* names it in errors."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, where)
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise MirrorError(f"{where}: bad JSON: {str(e)[:80]}") from None
    if not isinstance(obj, dict):
        raise MirrorError(f"{where}: a manifest is a JSON object, not {type(obj).__name__}")
    if len(obj) > MAX_ENTRIES:
        raise MirrorError(f"{where}: more than {MAX_ENTRIES} repositories; refused")
    out = []
    for key, val in obj.items():
        shown = repr(key[:80])
        m = _KEY_RE.fullmatch(key)
        if m is None or ".." in key:
            if isinstance(key, str) and re.fullmatch(r"/[\w-][\w.-]*", key) and ".." not in key:
                raise MirrorError(f"{where}: {shown} is a v1 inbox; only v2 inboxes can be mirrored")
            raise MirrorError(f"{where}: {shown} is not a /NAME/git/N.git path; refused")
        if not isinstance(val, dict):
            raise MirrorError(f"{where}: {shown}: value is not an object")
        fpr = val.get("fingerprint")
        if fpr is not None and not (isinstance(fpr, str) and _FPR_RE.fullmatch(fpr)):
            raise MirrorError(f"{where}: {shown}: bad fingerprint")
        mod = val.get("modified", 0)
        if mod is None:
            mod = 0
        if not isinstance(mod, int) or isinstance(mod, bool) or not 0 <= mod < 1 << 40:
            raise MirrorError(f"{where}: {shown}: bad 'modified' value")
        n = int(m.group(2))
        if n > MAX_EPOCH:
            raise MirrorError(f"{where}: {shown}: epoch number too large")
        out.append(Epoch(m.group(1), n, fpr, mod))
    return sorted(out, key=lambda e: (e.name, e.n))


def load_local(data: bytes | None) -> dict[str, Epoch]:
    """A manifest we saved earlier (by path), empty when missing or unreadable."""
    if not data:
        return {}
    try:
        return {e.path: e for e in parse(data, "saved manifest")}
    except MirrorError:
        return {}


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)
