"""grokmirror manifests: ``/manifest.js.gz`` (every inbox the request's host
serves) and ``/$INBOX/manifest.js.gz`` (one inbox's epochs), as public-inbox
1.9's ManifestJsGz.

The body is gzip'd JSON mapping each repository's path on the site
(``/NAME/git/N.git`` per v2 epoch, ``/NAME`` for a v1 inbox) to
``{fingerprint, modified, description, owner, reference}``.  ``fingerprint``
is the SHA-1 of what ``git show-ref`` prints, so it is computed from the refs
with pygit2 (no fork) and remembered per repository until a stat of its refs,
``packed-refs``, description, config or alternates changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from pubinbox.store.git import resolved_refs
from pubinbox.web.respond import request_host
from pubinbox.web.site import InboxInfo, Site

__all__ = ["ManifestCache", "RepoState", "inbox_manifest", "read_state", "site_manifest"]

log = logging.getLogger(__name__)

POLICIES = ("match=domain", "all", "404")
DEFAULT_POLICY = "match=domain"  # grokmirror keys are site-relative paths, so per host
_EPOCH_RE = re.compile(r"\A([0-9]+)\.git\Z")
_UNNAMED = "Unnamed repository"  # the start of git's template description


@dataclass(frozen=True, slots=True)
class RepoState:
    """What a manifest says about one repository, before the site is known:
    ``reference`` is still the alternate's absolute git directory, and
    ``description`` the repository's own (first line, may be empty)."""

    fingerprint: str
    modified: int
    description: str
    owner: str | None
    reference: str | None
    #: when a ref last moved (newest mtime of packed-refs and loose refs):
    #: commit times follow the messages' dates, so only this grows with
    #: every change, as If-Modified-Since needs
    changed: int = 0


def _decode(b: bytes) -> str:
    # public-inbox's utf8::decode leaves invalid UTF-8 as bytes (Latin-1 chars)
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def read_state(git_dir: Path) -> RepoState | None:
    """Compute the manifest fields of *git_dir*; None when it has no refs
    or cannot be read (public-inbox leaves such a repository out)."""
    import pygit2

    try:
        repo = pygit2.Repository(str(git_dir))
    except (pygit2.GitError, KeyError, OSError):
        return None
    # `git show-ref`: "<oid> <refname>\n" for every ref under refs/, sorted
    # by name, symbolic refs resolved, refs to missing objects left out
    out: list[bytes] = []
    newest = 0
    for _ref, name, obj in resolved_refs(repo):
        out.append(str(obj.id).encode() + b" " + name + b"\n")
        if isinstance(obj, pygit2.Commit):  # committerdate is empty for tags (sorts last)
            newest = max(newest, int(obj.commit_time))
    if not out:
        return None
    desc = (_read(git_dir / "description") or b"").split(b"\n", 1)[0]
    try:
        owner: str | None = str(repo.config["gitweb.owner"]).removesuffix("\n")
    except (KeyError, pygit2.GitError, ValueError):
        owner = None
    return RepoState(
        fingerprint=hashlib.sha1(b"".join(out)).hexdigest(),
        modified=newest,
        description=_decode(desc),
        owner=owner or None,
        reference=_alternate(git_dir),
    )


def _alternate(git_dir: Path) -> str | None:
    """The git directory of the only alternate (grokmirror's ``reference``
    holds one), absolute; None unless there is exactly one line."""
    data = _read(git_dir / "objects" / "info" / "alternates")
    if data is None:
        return None
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if len(lines) != 1:
        return None
    objdir = os.path.join(os.fsdecode(git_dir), "objects")
    return os.path.dirname(os.path.normpath(os.path.join(objdir, os.fsdecode(lines[0]))))


def _signature(git_dir: Path) -> tuple[object, ...] | None:
    """Stats that change whenever a ref moves (loose refs are renamed into
    place: new inode, directory mtime) or the other fields may have."""
    parts: list[object] = []
    extra = [git_dir.parent.parent / "all.git" / "config"]  # an epoch's config includes it
    for p in [git_dir / n for n in ("packed-refs", "description", "config", "objects/info/alternates")] + extra:
        try:
            st = os.stat(p)
        except OSError:
            parts.append(None)
            continue
        parts.append((st.st_mtime_ns, st.st_size, st.st_ino))
    stack = [os.path.join(git_dir, "refs")]
    try:
        st = os.stat(stack[0])
    except OSError:
        return None
    parts.append(("refs", st.st_mtime_ns, st.st_ino))
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                ents = sorted(it, key=lambda e: e.name)
        except OSError:
            return None
        for e in ents:
            try:
                st = e.stat()
            except OSError:
                continue
            parts.append((e.path, st.st_mtime_ns, st.st_size, st.st_ino))
            if e.is_dir():
                stack.append(e.path)
    return tuple(parts)


def _refs_changed(git_dir: Path) -> int:
    """Newest mtime (seconds) of ``packed-refs`` and the files under ``refs/``."""
    newest = 0
    for root, _dirs, files in os.walk(git_dir / "refs"):
        for f in files:
            with contextlib.suppress(OSError):
                newest = max(newest, int(os.stat(os.path.join(root, f)).st_mtime))
    with contextlib.suppress(OSError):
        newest = max(newest, int(os.stat(git_dir / "packed-refs").st_mtime))
    return newest


class ManifestCache:
    """:class:`RepoState` per repository, kept while its stat signature
    holds, plus the last few finished bodies."""

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._states: dict[str, tuple[tuple[object, ...], RepoState | None]] = {}
        self._bodies: dict[tuple[object, ...], bytes] = {}

    def state(self, git_dir: Path) -> RepoState | None:
        sig = _signature(git_dir)
        if sig is None:
            return None
        key = str(git_dir)
        got = self._states.get(key)
        if got is not None and got[0] == sig:
            return got[1]
        state = read_state(git_dir)
        if state is not None:
            state = dataclasses.replace(state, changed=_refs_changed(git_dir))
        with self._lock:
            self._states[key] = (sig, state)
            if len(self._states) > self.size:
                self._states.pop(next(iter(self._states)))
        return state

    def body(self, key: tuple[object, ...], make: Iterable[bytes]) -> bytes:
        data = self._bodies.get(key)
        if data is None:
            data = b"".join(make)
            with self._lock:
                self._bodies[key] = data
                if len(self._bodies) > 16:
                    self._bodies.pop(next(iter(self._bodies)))
        return data


# A memo of disk state keyed by path and stat signature: sharing it between
# Site instances (tests build many) cannot mix their answers up.
_CACHE = ManifestCache()


def inbox_description(inboxdir: Path) -> str:
    """The inbox description as public-inbox reads it for epochs: the whole
    file, whitespace runs folded to one space."""
    data = _read(inboxdir / "description")
    text = re.sub(r"\s+", " ", _decode(data.removesuffix(b"\n"))) if data else ""
    return text or "($INBOX_DIR/description missing)"


def _repos(info: InboxInfo) -> list[tuple[str, Path, int | None]]:
    """(url path, git dir, epoch) of every repository of an inbox."""
    d = info.cfg.inboxdir
    if not (d / "inbox.lock").is_file():  # v1: the inbox is the repository
        return [(f"/{info.name}", d, None)]
    try:
        names = os.listdir(d / "git")
    except OSError:
        return []
    nums = sorted({int(m.group(1)) for n in names if (m := _EPOCH_RE.match(n))})
    return [(f"/{info.name}/git/{n}.git", d / "git" / f"{n}.git", n) for n in nums if (d / "git" / f"{n}.git").is_dir()]


def _entries(infos: Iterable[InboxInfo], cache: ManifestCache) -> list[tuple[str, str, RepoState, str]]:
    """(url path, git dir, state, description) of every repository listed."""
    out = []
    for info in infos:
        try:
            repos = _repos(info)
            default = inbox_description(info.cfg.inboxdir) if repos else ""
            for url_path, git_dir, epoch in repos:
                state = cache.state(git_dir)
                if state is None:
                    continue
                desc = state.description or _UNNAMED
                if epoch is not None and desc.startswith(_UNNAMED):
                    desc = f"{default} [epoch {epoch}]"
                out.append((url_path, os.path.normpath(git_dir), state, desc))
        except OSError as e:
            log.warning("manifest: %s: %s", info.name, e)
    return out


def manifest(entries: list[tuple[str, str, RepoState, str]]) -> dict[str, dict[str, object]]:
    """The manifest object; a ``reference`` names a repository only when
    that repository is listed in the same manifest."""
    by_dir = {git_dir: url_path for url_path, git_dir, _s, _d in entries}
    return {
        url_path: {
            "fingerprint": s.fingerprint,
            "modified": s.modified,
            "description": desc,
            "owner": s.owner,
            "reference": by_dir.get(s.reference) if s.reference is not None else None,
        }
        for url_path, _g, s, desc in entries
    }


def _response(request: Request, infos: Iterable[InboxInfo], cache: ManifestCache = _CACHE) -> Response:
    entries = _entries(infos, cache)
    key = tuple(entries)

    def make() -> Iterable[bytes]:
        text = json.dumps(manifest(entries), separators=(",", ":"), ensure_ascii=True)
        yield gzip.compress(text.encode("ascii"), mtime=0)

    data = cache.body(key, make())
    # the newest commit time (public-inbox's Last-Modified), or later when
    # a ref moved since: a message dated in the past still changes it
    newest = max((max(s.modified, s.changed) for _u, _g, s, _d in entries), default=0)
    if newest >= int(time.time()):
        # this second is not over: a ref may still move within it, and a
        # client asking If-Modified-Since this second would miss that
        newest -= 1
    headers = {
        "Last-Modified": formatdate(newest or time.time(), usegmt=True),  # public-inbox: now when empty
        "ETag": '"' + hashlib.sha1(data).hexdigest() + '"',  # the body: the same on every worker and mirror
    }
    if _unchanged(request, headers["ETag"], newest):
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(len(data))
    body = b"" if request.method == "HEAD" else data
    return Response(body, media_type="application/gzip", headers=headers)


def _unchanged(request: Request, etag: str, newest: int) -> bool:
    """A conditional request the client's copy still answers (grokmirror
    sends If-Modified-Since with the Last-Modified it saw)."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return etag in [t.strip().removeprefix("W/") for t in inm.split(",")] or inm.strip() == "*"
    ims = request.headers.get("if-modified-since")
    if not ims or not newest:
        return False
    try:
        return newest <= parsedate_to_datetime(ims).timestamp()
    except (TypeError, ValueError, IndexError):
        return False


def _policy(v: str | None) -> str:
    v = v or DEFAULT_POLICY
    if v not in POLICIES:
        log.warning("publicinbox.grokmanifest=%r is not one of %s", v, ", ".join(POLICIES))
        v = DEFAULT_POLICY
    return v


def site_manifest(site: Site, request: Request) -> Response:
    """``/manifest.js.gz``: the inboxes with a configured ``url`` that
    matches the policy (an inbox without one is never listed, as in
    public-inbox), less those with ``hide = manifest``.  ``404`` gives an
    empty manifest (status 200), as public-inbox does."""
    policy = _policy(site.config.get("publicinbox.grokmanifest"))
    host = request_host(request)
    infos = [
        i
        for i in site.inboxes.values()
        if policy != "404" and i.cfg.urls and not i.hides("manifest") and (policy == "all" or i.url_on(host))
    ]
    return _response(request, infos)


def inbox_manifest(site: Site, request: Request, name: str) -> Response:
    """``/$INBOX/manifest.js.gz``: that inbox's repositories (``hide`` and
    the policy do not apply, as in public-inbox)."""
    return _response(request, [site.inboxes[name]])
