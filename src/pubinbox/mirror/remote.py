"""HTTP GETs to a mirror's origin: bounded in size and time, errors as one
line (:class:`MirrorError`)."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit

from pubinbox import __version__
from pubinbox.errors import MirrorError

__all__ = ["get", "join"]

TIMEOUT = 60.0


def join(base: str, path: str) -> str:
    """*base* (ending in ``/`` or not) + *path* (a site-relative path)."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def get(url: str, *, limit: int, missing_ok: bool = False) -> bytes | None:
    """The body of *url* (at most *limit* bytes, else MirrorError); None for a
    404 when *missing_ok*."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise MirrorError(f"{url}: only http:// and https:// URLs can be mirrored")
    req = urllib.request.Request(url, headers={"User-Agent": f"pubinbox/{__version__}"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            data = r.read(limit + 1)
    except urllib.error.HTTPError as e:
        if e.code == 404 and missing_ok:
            return None
        raise MirrorError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise MirrorError(f"{url}: {reason}") from None
    if len(data) > limit:
        raise MirrorError(f"{url}: more than {limit} bytes; refused")
    return bytes(data)
