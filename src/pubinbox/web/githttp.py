"""git over HTTP for every epoch: ``/$INBOX/git/N.git/…`` and ``/$INBOX/N/…``.

Smart HTTP (protocol v0 and v2: ``info/refs?service=git-upload-pack`` and
``POST git-upload-pack``, request bodies plain or gzip'd) runs ``git
upload-pack --stateless-rpc`` in the epoch's directory, streamed both ways:
the request body goes to git's stdin as it arrives, the pack goes to the
client as git writes it (the client's pace holds git back, so a pack is never
held in memory).  Dumb HTTP (``HEAD``, ``info/refs``, ``objects/info/packs``,
loose objects, packs and their indexes) is served from the files, with
``info/refs`` and ``objects/info/packs`` computed from the repository so that
no ``git update-server-info`` is needed.

Only paths of this module's fixed list are answered, for epochs that exist
on disk (the directory comes from the config, never from the URL): anything
else is a 404 without a process started.  At most ``pubinbox.gitProcesses``
git processes run at once for the whole server (default: the number of
cores); the rest wait in a queue (at most :data:`QUEUE` per worker, for at
most :data:`QUEUE_WAIT` seconds, then a 503).  A client that disconnects, or
reads nothing for ``pubinbox.idleTimeout`` seconds while a pack is being
sent, has git's whole process group killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import signal
import socket
import zlib
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qs, unquote

from starlette.types import Receive, Scope, Send

from pubinbox.store.git import resolved_refs
from pubinbox.store.layout import Layout

__all__ = ["GitHttp", "GitTarget", "Slots", "match"]

log = logging.getLogger("pubinbox.web.git")

#: requests waiting for a git process, per worker; more get a 503
QUEUE = 64
#: seconds a request waits for a git process before a 503
QUEUE_WAIT = 60.0
#: bytes of an upload-pack request (after gunzip): wants and haves only
MAX_REQUEST = 32 << 20
#: bytes read from git at a time
CHUNK = 256 << 10
_INBOX_RE = re.compile(r"[\w-][\w.-]*")
_EPOCH_RE = re.compile(r"(?:git/)?([0-9]{1,6})(?:\.git)?")
_TEXT = frozenset(
    {"HEAD", "info/refs", "objects/info/packs", "objects/info/alternates", "objects/info/http-alternates",
     "cloneurl", "description"}
)  # fmt: skip
_LOOSE_RE = re.compile(r"objects/[0-9a-f]{2}/[0-9a-f]{38}(?:[0-9a-f]{24})?")
_PACK_RE = re.compile(r"objects/pack/pack-[0-9a-f]{40}(?:[0-9a-f]{24})?\.(?:pack|idx)")
_PROTO_RE = re.compile(r"[A-Za-z0-9=:._,-]{1,200}")

NO_CACHE = [
    (b"expires", b"Fri, 01 Jan 1980 00:00:00 GMT"),
    (b"pragma", b"no-cache"),
    (b"cache-control", b"no-cache, max-age=0, must-revalidate"),
]
FOREVER = [(b"cache-control", b"public, max-age=31536000, immutable")]


@dataclass(frozen=True, slots=True)
class GitTarget:
    """One git request: inbox *name*, its epoch directory and the path in it."""

    name: str
    git_dir: Path | None  # None: the epoch does not exist (404)
    path: str


def _is_git_path(path: str) -> bool:
    return path in _TEXT or path == "git-upload-pack" or bool(_LOOSE_RE.fullmatch(path) or _PACK_RE.fullmatch(path))


def match(raw_path: str, inboxes: dict[str, Path]) -> GitTarget | None:
    """The git request *raw_path* asks for, or None when it is not one (then
    the web app answers it).  *inboxes* maps inbox names to their directories."""
    segs = [unquote(s, errors="replace") for s in raw_path.split("/")[1:]]
    if len(segs) < 3 or segs[0] not in inboxes:
        return None
    name = segs[0]
    if segs[1] == "git" and len(segs) >= 4:
        epoch_part, rest = "/".join(segs[1:3]), segs[3:]
    else:
        epoch_part, rest = segs[1], segs[2:]
    m = _EPOCH_RE.fullmatch(epoch_part)
    path = "/".join(rest)
    if m is None or not _is_git_path(path):
        return None
    layout = Layout(inboxes[name])
    n = int(m.group(1))
    return GitTarget(name, layout.epoch(n) if n in layout.epochs() else None, path)


class Slots:
    """At most *n* git processes at once for every worker of one server.

    A slot is an abstract Unix socket name (Linux): binding it is taking
    it, and the kernel releases it when its holder closes it or dies, so
    nothing is left on disk and a killed worker cannot leak a slot.  Where
    abstract sockets do not exist, the limit holds per process."""

    def __init__(self, n: int, key: str) -> None:
        self.n = max(1, n)
        self.key = hashlib.sha1(key.encode()).hexdigest()[:16]
        self.waiting = 0
        self._local = asyncio.Semaphore(self.n) if not _abstract_ok() else None
        self._held: set[int] = set()

    def _try(self) -> socket.socket | None:
        for i in range(self.n):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.bind(f"\0pubinbox-git-{self.key}-{i}")
                return s
            except OSError:
                s.close()
        return None

    async def acquire(self, deadline: float) -> socket.socket | None:
        """A slot (close it to give it back), or None when none came free
        before *deadline* (``loop.time()``) or the queue is full."""
        loop = asyncio.get_running_loop()
        if self._local is not None:
            if self.waiting >= QUEUE:
                return None
            self.waiting += 1
            try:
                await asyncio.wait_for(self._local.acquire(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                return None
            finally:
                self.waiting -= 1
            a, b = socket.socketpair()
            b.close()
            return _LocalSlot(a, self._local)
        got = self._try()
        if got is not None:
            return got
        if self.waiting >= QUEUE:
            return None
        self.waiting += 1
        try:
            delay = 0.01
            while loop.time() < deadline:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)
                got = self._try()
                if got is not None:
                    return got
            return None
        finally:
            self.waiting -= 1


class _LocalSlot(socket.socket):
    """A per-process slot: closing it releases the semaphore."""

    def __init__(self, sock: socket.socket, sem: asyncio.Semaphore) -> None:
        super().__init__(sock.family, sock.type, sock.proto, sock.detach())
        self._sem: asyncio.Semaphore | None = sem

    def close(self) -> None:
        if self._sem is not None:
            self._sem.release()
            self._sem = None
        super().close()


def _abstract_ok() -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(f"\0pubinbox-git-probe-{os.getpid()}")
        return True
    except OSError:
        return False
    finally:
        s.close()


def _git_env(protocol: str | None) -> dict[str, str]:
    # the server's environment without its GIT_* variables (the operator's
    # system and global git config still apply: safe.directory, pack settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    if protocol:
        env["GIT_PROTOCOL"] = protocol
    return env


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return bytes(v).decode("latin-1")
    return None


async def _plain(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=UTF-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


class GitHttp:
    """The git part of the site: answers a :class:`GitTarget`."""

    def __init__(self, slots: Slots, stall_timeout: float) -> None:
        self.slots = slots
        self.stall_timeout = stall_timeout

    async def __call__(self, target: GitTarget, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method", "GET")
        if target.git_dir is None:
            await _plain(send, 404, "404 Not Found: no such epoch\n")
            return
        if target.path == "git-upload-pack":
            if method != "POST":
                await _plain(send, 405, "405 Method Not Allowed\n", [(b"allow", b"POST")])
                return
            await self.rpc(target.git_dir, scope, receive, send, advertise=False)
            return
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, "405 Method Not Allowed\n", [(b"allow", b"GET, HEAD")])
            return
        if target.path == "info/refs":
            service = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1")).get("service")
            if service:
                if service[-1] != "git-upload-pack":
                    await _plain(send, 403, "403 Forbidden: only git-upload-pack is served\n")
                    return
                await self.rpc(target.git_dir, scope, receive, send, advertise=True)
                return
            body = await asyncio.get_running_loop().run_in_executor(None, _dumb_refs, target.git_dir)
            await _bytes(send, method, body, NO_CACHE)
            return
        if target.path == "objects/info/packs":
            await _bytes(send, method, _dumb_packs(target.git_dir), NO_CACHE)
            return
        await self.file(target, method, send)

    async def file(self, target: GitTarget, method: str, send: Send) -> None:
        assert target.git_dir is not None
        f = target.git_dir / target.path
        if target.path in ("cloneurl", "description") and not f.is_file():
            f = target.git_dir.parent.parent / target.path  # the inbox's (pubinbox's epochs have none)
        try:
            fh = await asyncio.get_running_loop().run_in_executor(None, f.open, "rb")
        except OSError:
            await _plain(send, 404, "404 Not Found\n")
            return
        with fh:
            st = os.fstat(fh.fileno())
            binary = target.path.startswith("objects/") and target.path not in _TEXT
            ctype = b"application/octet-stream" if binary else b"text/plain"
            if target.path.endswith(".pack"):
                ctype = b"application/x-git-packed-objects"
            elif target.path.endswith(".idx"):
                ctype = b"application/x-git-packed-objects-toc"
            elif binary:
                ctype = b"application/x-git-loose-object"
            headers = [
                (b"content-type", ctype),
                (b"content-length", str(st.st_size).encode()),
                (b"last-modified", formatdate(st.st_mtime, usegmt=True).encode()),
            ] + (FOREVER if binary else NO_CACHE)
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if method == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            loop = asyncio.get_running_loop()
            while True:
                chunk = await loop.run_in_executor(None, fh.read, CHUNK)
                more = len(chunk) == CHUNK
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    return

    async def rpc(self, git_dir: Path, scope: Scope, receive: Receive, send: Send, *, advertise: bool) -> None:
        """``git upload-pack --stateless-rpc`` (``--advertise-refs`` for
        ``info/refs?service=``), the request body in, the answer out."""
        proto = _header(scope, b"git-protocol")
        if proto is not None and not _PROTO_RE.fullmatch(proto):
            proto = None
        v2 = proto is not None and "version=2" in proto.split(":")
        gz = False
        if not advertise:
            ctype = _header(scope, b"content-type") or ""
            if ctype != "application/x-git-upload-pack-request":
                await _plain(send, 415, "415 Unsupported Media Type\n")
                return
            enc = (_header(scope, b"content-encoding") or "").strip().lower()
            if enc in ("gzip", "x-gzip"):
                gz = True
            elif enc not in ("", "identity"):
                await _plain(send, 415, f"415 Unsupported Content-Encoding: {enc[:40]}\n")
                return
        loop = asyncio.get_running_loop()
        slot = await self.slots.acquire(loop.time() + QUEUE_WAIT)
        if slot is None:
            await _plain(
                send, 503, "503 Service Unavailable: too many git requests; try again\n", [(b"retry-after", b"10")]
            )
            return
        try:
            await self._run(git_dir, receive, send, advertise=advertise, proto=proto, v2=v2, gz=gz)
        finally:
            slot.close()

    async def _run(
        self, git_dir: Path, receive: Receive, send: Send, *, advertise: bool, proto: str | None, v2: bool, gz: bool
    ) -> None:
        argv = ["git", "upload-pack", "--stateless-rpc"]
        if advertise:
            argv.append("--advertise-refs")
        argv.append(str(git_dir))
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL if advertise else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_git_env(proto),
            start_new_session=True,  # its pack-objects too: killed as a group
        )
        gone = asyncio.Event()  # the client went away, or stopped reading
        err = bytearray()
        tasks: list[asyncio.Task[None]] = [asyncio.create_task(_drain(proc.stderr, err))]
        if not advertise:
            tasks.append(asyncio.create_task(_feed(proc, receive, gz, gone, self.stall_timeout)))
        else:
            tasks.append(asyncio.create_task(_watch(receive, gone)))
        killer = asyncio.create_task(_kill_when(gone, proc))
        try:
            await self._answer(proc, send, advertise=advertise, v2=v2, gone=gone)
            await proc.wait()
        finally:
            if proc.returncode is None:
                gone.set()
                await proc.wait()
            killer.cancel()
            for t in tasks:
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.gather(*tasks, killer, return_exceptions=True)
            if proc.returncode not in (0, -signal.SIGKILL) and err:
                log.info(
                    "git upload-pack %s: exit %s: %s",
                    git_dir,
                    proc.returncode,
                    bytes(err[-300:]).decode(errors="replace").strip(),
                )

    async def _answer(
        self, proc: asyncio.subprocess.Process, send: Send, *, advertise: bool, v2: bool, gone: asyncio.Event
    ) -> None:
        assert proc.stdout is not None
        first = await proc.stdout.read(CHUNK)
        if not first:
            await proc.wait()
            if gone.is_set():  # a request too big, too slow or broken
                await _plain(send, 400, "400 Bad Request: the request was too large, too slow or not valid\n")
                return
            if proc.returncode != 0:
                await _plain(send, 500, "500 Internal Server Error: git upload-pack failed\n")
                return
        kind = b"advertisement" if advertise else b"result"
        headers = [(b"content-type", b"application/x-git-upload-pack-" + kind)] + NO_CACHE
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if advertise and not v2:
            first = b"001e# service=git-upload-pack\n0000" + first
        chunk = first
        while chunk:
            try:
                await asyncio.wait_for(
                    send({"type": "http.response.body", "body": chunk, "more_body": True}), self.stall_timeout
                )
            except TimeoutError:
                log.info("git: client stopped reading for %.0f s; cut", self.stall_timeout)
                gone.set()
                raise
            if gone.is_set():
                return
            chunk = await proc.stdout.read(CHUNK)
        await send({"type": "http.response.body", "body": b""})


async def _bytes(send: Send, method: str, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())] + extra
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


async def _drain(stream: asyncio.StreamReader | None, keep: bytearray) -> None:
    if stream is None:
        return
    while chunk := await stream.read(4096):
        keep += chunk
        del keep[:-4096]


async def _watch(receive: Receive, gone: asyncio.Event) -> None:
    """Set *gone* when the client disconnects."""
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            gone.set()
            return


async def _feed(
    proc: asyncio.subprocess.Process, receive: Receive, gz: bool, gone: asyncio.Event, stall: float
) -> None:
    """The request body to git's stdin (gunzipped), bounded in size and in
    time (each piece within *stall* seconds, the whole within four times
    that: a client trickling its request cannot hold a git process); then
    watch for a disconnect."""
    assert proc.stdin is not None
    z = zlib.decompressobj(16 + zlib.MAX_WBITS) if gz else None
    total = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 4 * stall
    try:
        while True:
            try:
                msg = await asyncio.wait_for(receive(), min(stall, max(0.0, deadline - loop.time())))
            except TimeoutError:
                log.info("git: request body too slow; cut")
                gone.set()
                return
            if msg["type"] == "http.disconnect":
                gone.set()
                return
            data = msg.get("body", b"")
            if z is not None and data:
                data = z.decompress(data, MAX_REQUEST + 1 - total)
                if z.unconsumed_tail:
                    gone.set()  # over the bound
                    return
            total += len(data)
            if total > MAX_REQUEST:
                gone.set()
                return
            if data:
                proc.stdin.write(data)
                await proc.stdin.drain()
            if not msg.get("more_body", False):
                break
        proc.stdin.close()
    except zlib.error:
        gone.set()
        return
    except (BrokenPipeError, ConnectionResetError):
        pass  # git stopped reading (bad request): its answer says why
    await _watch(receive, gone)


async def _kill_when(gone: asyncio.Event, proc: asyncio.subprocess.Process) -> None:
    await gone.wait()
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _dumb_refs(git_dir: Path) -> bytes:
    """``info/refs`` as ``git update-server-info`` writes it."""
    import pygit2

    repo = pygit2.Repository(str(git_dir))
    out = []
    for ref, name, obj in resolved_refs(repo):
        out.append(f"{obj.id}\t".encode() + name + b"\n")
        if isinstance(obj, pygit2.Tag):
            out.append(f"{ref.peel().id}\t".encode() + name + b"^{}\n")
    return b"".join(out)


def _dumb_packs(git_dir: Path) -> bytes:
    """``objects/info/packs``: every pack that has its index."""
    d = git_dir / "objects" / "pack"
    try:
        names = sorted(os.listdir(d))
    except OSError:
        names = []
    packs = [n for n in names if _PACK_RE.fullmatch(f"objects/pack/{n}") and n.endswith(".pack")]
    return b"".join(f"P {n}\n".encode() for n in packs if n[:-5] + ".idx" in names) + b"\n"
