"""The served site: every configured inbox, and per-thread read handles.

Handlers run on the event loop's thread, streamed bodies and searches in a
small thread pool, and SQLite connections belong to one thread, so each
thread opens its own :class:`Inbox` per inbox on first use
(:meth:`Site.inbox`).  Streaming bodies must call it again for every chunk
instead of keeping a handle: the next chunk may run on another thread, and
an idle worker closes them all (:meth:`Site.release`).

A handle follows its files: when ``pubinbox index`` replaces a damaged
overview with a new file, the next :meth:`Site.inbox` sees another inode
and reopens.  Searches go to the :class:`SearchService` (a separate process
with a deadline and a memory cap, shared by the workers of ``pubinbox
serve``), never to Tantivy in this process.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pubinbox.config import Config, InboxConfig
from pubinbox.errors import PubinboxError
from pubinbox.extindex.reader import ExtInbox, ext_config
from pubinbox.inbox import Inbox
from pubinbox.net.listeners import Listener
from pubinbox.over.reader import OverRow
from pubinbox.search.isolated import InboxSearch, Limits, SearchService
from pubinbox.store.layout import Layout
from pubinbox.store.packread import BASE_CACHE_BYTES, size_bases
from pubinbox.web.cache import ByteCache
from pubinbox.web.css import Stylesheets
from pubinbox.web.guard import ConnLimits

__all__ = ["InboxInfo", "Site", "conn_limits", "delta_cache_bytes", "search_limits", "served_urls", "service_urls"]

#: SQLite page cache of each overview connection of the web (KiB)
READER_CACHE_KB = 512


@dataclass(frozen=True, slots=True)
class InboxInfo:
    """What pages show about an inbox besides its messages."""

    cfg: InboxConfig
    description: str
    css: Stylesheets = field(default_factory=Stylesheets)  # the site's, shared
    services: dict[str, tuple[str, ...]] = field(default_factory=dict)  # KIND -> URLs (service_urls)
    # (nickname, its coderepo.NAME.cgiturl values) for each coderepo of the inbox
    coderepos: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # the NNTP/IMAP/POP3 listeners of this ``pubinbox serve`` (served_urls)
    served: tuple[Listener, ...] = ()

    @property
    def name(self) -> str:
        return self.cfg.name

    def base_url(self, origin: str) -> str:
        """The inbox's URL as the client reached it (*origin* is the
        request's scheme://host[:port][/root]), ending in ``/``; like
        public-inbox, the web never uses the configured ``url``, so a
        mirror's pages link to the mirror."""
        return f"{origin}/{self.cfg.name}/"

    def hides(self, what: str) -> bool:
        """``hide = www`` (the ``/`` listing) or ``hide = manifest``."""
        return what in {h.strip().lower() for v in self.cfg.extra.get("hide", ()) for h in v.split(",")}

    def url_on(self, host: str) -> str | None:
        """The first configured ``url`` on *host* (any port; ``//host/...``
        too), as public-inbox's match=domain picks it."""
        for u in self.cfg.urls:
            if u.startswith(("http://", "https://", "//")) and (urlsplit(u).hostname or "") == host:
                return u
        return None

    def offers(self, kind: str) -> bool:
        """Whether the inbox has any *kind* URL (``nntp``, ``imap``,
        ``pop3``): configured, or served here (for its newsgroup)."""
        return bool(self.services.get(kind)) or any(lst.proto == kind for lst in self.served if self.cfg.newsgroup)

    def urls(self, kind: str, host: str) -> tuple[str, ...]:
        """The inbox's *kind* URLs as a reader who reached the web at
        *host* can use them: the configured ones (:func:`service_urls`),
        then those of this server's own listeners (:func:`served_urls`)."""
        got = self.services.get(kind, ()) + served_urls(self.served, kind, self.cfg.newsgroup, host)
        return tuple(dict.fromkeys(got))

    @property
    def nntp_urls(self) -> tuple[str, ...]:
        """``nntp://host/newsgroup`` of this inbox (servers, then mirrors)."""
        return self.services.get("nntp", ())

    @property
    def imap_urls(self) -> tuple[str, ...]:
        return self.services.get("imap", ())

    @property
    def pop3_urls(self) -> tuple[str, ...]:
        """``pop3://host`` (the newsgroup goes in the user name)."""
        return self.services.get("pop3", ())


def service_urls(cfg: InboxConfig, servers: dict[str, tuple[str, ...]], kind: str) -> tuple[str, ...]:
    """public-inbox's rules: the inbox's ``KINDserver`` (else the global
    ``publicinbox.KINDserver``) with the newsgroup appended when the
    inbox has one, then its ``KINDmirror`` URLs (a bare host gets the
    newsgroup too), duplicates dropped."""
    group = cfg.newsgroup
    hosts = cfg.extra.get(f"{kind}server") or servers.get(kind, ())
    scheme = re.compile(rf"\A{kind}s?://" if kind != "pop3" else r"\Apop3?s?://")
    urls: list[str] = []
    if group:
        for u in hosts:
            u = u if scheme.match(u) else f"{kind}://{u}"
            urls.append(u.rstrip("/") if kind == "pop3" else u.rstrip("/") + "/" + group)
    for u in cfg.extra.get(f"{kind}mirror", ()):
        u = u if scheme.match(u) else f"{kind}://{u}"
        if kind == "pop3":
            u = u.rstrip("/")
        elif re.fullmatch(rf"{kind}s?://[^/]+/?", u):
            if not group:
                continue  # a bare server needs the newsgroup name
            u = u.rstrip("/") + "/" + group
        urls.append(u)
    return tuple(dict.fromkeys(urls))


#: the port a URL of each scheme may leave out
DEFAULT_PORTS = {"nntp": 119, "nntps": 563, "imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995}


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() in ("localhost", "localhost.")


def served_urls(listeners: tuple[Listener, ...], kind: str, group: str | None, host: str) -> tuple[str, ...]:
    """URLs of the *kind* listeners (``--nntp``, ``--imap``, ``--pop3``)
    for an inbox with newsgroup *group*, as seen by a reader who reached
    the web at *host*: a listener on every address (``0.0.0.0``, ``::``)
    is on *host*; one on a given address is at that address, and one on a
    loopback address is only for readers on this machine (*host* a
    loopback address or ``localhost``).  Scheme as served (``nntps://``
    ...), port left out when it is the scheme's; NNTP and IMAP end in the
    newsgroup, POP3 does not (the newsgroup goes in the user name).
    Nothing for an inbox without a newsgroup: none of the three serves it."""
    if not group:
        return ()
    urls: list[str] = []
    for lst in listeners:
        if lst.proto != kind:
            continue
        addr = lst.host
        if addr in ("", "0.0.0.0", "::"):
            addr = host
        elif _loopback(addr) and not _loopback(host):
            continue  # this machine's only
        if not addr:
            continue
        addr = f"[{addr.strip('[]')}]" if ":" in addr else addr
        port = "" if DEFAULT_PORTS.get(lst.scheme) == lst.port else f":{lst.port}"
        urls.append(f"{lst.scheme}://{addr}{port}" + ("" if kind == "pop3" else f"/{group}"))
    return tuple(urls)


def _description(d: Path) -> str:
    try:
        text = (d / "description").read_text("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text.splitlines()[0] if text else f"({d}/description missing)"


def search_limits(config: Config) -> Limits:
    """``pubinbox.searchTimeout``, ``searchMemory`` and ``searchIdle``."""
    return Limits.from_config(config)


def _forget_memos() -> None:
    """Empty every ``functools.lru_cache`` of pubinbox's loaded modules
    (addresses, Message-IDs, headers and HTML pieces parsed before)."""
    for name, module in list(sys.modules.items()):
        if name.startswith("pubinbox.") and module is not None:
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)) and hasattr(value, "cache_info"):
                    value.cache_clear()


def delta_cache_bytes(config: Config) -> int:
    """``pubinbox.deltacache``: bytes of delta bases a server process keeps
    (:mod:`pubinbox.store.packread`), 0 for none."""
    raw = config.get("pubinbox.deltacache")
    if raw is not None and raw.strip() == "0":
        return 0
    return int(config.number("pubinbox.deltacache", BASE_CACHE_BYTES))


def conn_limits(config: Config) -> ConnLimits:
    """The HTTP connection limits of ``pubinbox.*`` (see SETTINGS)."""
    d = ConnLimits()
    return ConnLimits(
        header_timeout=config.number("pubinbox.headertimeout", d.header_timeout),
        idle_timeout=config.number("pubinbox.idletimeout", d.idle_timeout),
        max_connections=int(config.number("pubinbox.workerconnections", d.max_connections)),
        max_per_client=int(config.number("pubinbox.clientconnections", d.max_per_client)),
    )


class Inboxes(Mapping[str, InboxInfo]):
    """The site's inboxes by name.  Looking a name up also finds ``all``,
    the cross-inbox index (``[extindex "all"]``), so every page of an inbox
    is a page of ``/all/`` too; iterating gives the configured inboxes only
    (the listing, manifests, git and health never show ``all`` as one)."""

    def __init__(self, inboxes: dict[str, InboxInfo], ext: InboxInfo | None) -> None:
        self._inboxes = inboxes
        self.ext = ext if ext is not None and ext.name not in inboxes else None

    def __getitem__(self, name: str) -> InboxInfo:
        if self.ext is not None and name == self.ext.name:
            return self.ext
        return self._inboxes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._inboxes or (self.ext is not None and name == self.ext.name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._inboxes)

    def __len__(self) -> int:
        return len(self._inboxes)


def _identity(path: Path | str) -> tuple[int, int]:
    """(device, inode) of a file; (0, 0) when it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0)
    return (st.st_dev, st.st_ino)


class Site:
    """All inboxes of one config file."""

    def __init__(self, config: Config, *, search_socket: str | None = None, served: tuple[Listener, ...] = ()) -> None:
        """*search_socket*: the search process of ``pubinbox serve``'s
        supervisor; without, the site starts a search process of its own.
        *served*: the NNTP/IMAP/POP3 listeners of this ``pubinbox serve``,
        which the pages advertise besides the configured servers."""
        self.config = config
        self.css = Stylesheets.from_config(config.get_all("publicinbox.css"))
        servers = {k: config.get_all(f"publicinbox.{k}server") for k in ("nntp", "imap", "pop3")}
        inboxes = {
            c.name: InboxInfo(
                c,
                _description(c.inboxdir),
                self.css,
                {k: service_urls(c, servers, k) for k in servers},
                tuple((cr, config.get_all(f"coderepo.{cr}.cgiturl")) for cr in c.extra.get("coderepo", ())),
                tuple(lst for lst in served if lst.proto in ("nntp", "imap", "pop3")),
            )
            for c in config.inboxes
        }
        top = config.get("extindex.all.topdir")
        ext = InboxInfo(ext_config(Path(top).expanduser()), "All of this site's inboxes", self.css) if top else None
        self.inboxes = Inboxes(inboxes, ext)
        self.by_newsgroup: dict[str, str] = {c.newsgroup: c.name for c in config.inboxes if c.newsgroup}
        # thread id -> that thread's handles, so that release() reaches them all
        self._handles: dict[int, dict[str, tuple[Inbox, tuple[int, int]]]] = {}
        self._handles_lock = threading.Lock()
        listing = (config.get("publicinbox.wwwlisting") or "all").lower()
        self.listing = listing
        self.search = SearchService(
            {c.name: (Layout(c.inboxdir).own_dir, c.indexlevel) for c in config.inboxes},
            search_limits(config),
            search_socket,
        )
        self.cache = ByteCache(int(config.number("pubinbox.webcache", 6 << 20)))
        size_bases(delta_cache_bytes(config))
        self._generations: dict[str, tuple[tuple[int, ...], str, int]] = {}
        self._over_paths: dict[str, str] = {}

    def close(self) -> None:
        self.search.close()

    def info(self, name: str) -> InboxInfo | None:
        return self.inboxes.get(name)

    def inbox(self, name: str) -> Inbox:
        """This thread's read handle on inbox *name* (opened on first use,
        reopened when its overview file was replaced)."""
        cache = self._handles.get(threading.get_ident())
        if cache is None:
            with self._handles_lock:
                alive = {t.ident for t in threading.enumerate()}
                for gone in [t for t in self._handles if t not in alive]:  # threads that ended
                    for box, _ident in self._handles.pop(gone).values():
                        with contextlib.suppress(Exception):
                            box.close()
                cache = self._handles.setdefault(threading.get_ident(), {})
        cfg = self.inboxes[name].cfg
        over_db = self._over_paths.get(name)
        if over_db is None:  # a Layout per request costs more than the stat
            over_db = self._over_paths[name] = str(Layout(cfg.inboxdir).over_db)
        ident = _identity(over_db)  # a replaced or deleted overview is seen at once
        got = cache.get(name)
        if got is not None:
            if got[1] == ident:
                return got[0]
            del cache[name]
            got[0].close()
        if self.inboxes.ext is not None and name == self.inboxes.ext.name:
            box = self._ext_inbox()
        else:
            box = Inbox.open(cfg, InboxSearch(self.search, name), direct=True)
        # SQLite's default page cache is 2 MB per connection, and a worker has
        # one connection per thread; the pages are in the OS's cache anyway
        box.over.db.execute(f"PRAGMA cache_size = -{READER_CACHE_KB}")
        cache[name] = (box, ident)
        return box

    def _ext_inbox(self) -> ExtInbox:
        """``all``: the cross-inbox index, searching through every inbox's own index."""
        assert self.inboxes.ext is not None
        searchable = {
            i.name: InboxSearch(self.search, i.name) for i in self.inboxes.values() if i.cfg.indexlevel != "basic"
        }
        return ExtInbox(self.inboxes.ext.cfg.inboxdir, searchable)

    def rows(self, name: str, mid: str) -> list[OverRow]:
        """The messages carrying Message-ID *mid* (b4 sends ``quote_plus``:
        a ``+`` may have been a space)."""
        over = self.inbox(name).over
        rows = over.by_mid(mid)
        if not rows and "+" in mid:
            rows = over.by_mid(mid.replace("+", " "))
        return rows

    def generation(self, name: str) -> tuple[str, int]:
        """(content tag, newest received time) of inbox *name*
        (:meth:`OverReader.generation`), read again only when the overview's
        files changed."""
        over_db = Layout(self.inboxes[name].cfg.inboxdir).over_db
        stamp: list[int] = []
        for f in (over_db, over_db.with_name(over_db.name + "-wal")):
            try:
                st = os.stat(f)
            except OSError:
                stamp += [0, 0, 0]
                continue
            stamp += [st.st_ino, st.st_mtime_ns, st.st_size]
        got = self._generations.get(name)
        if got is not None and got[0] == tuple(stamp):
            return got[1], got[2]
        tag, newest = self.inbox(name).over.generation()
        self._generations[name] = (tuple(stamp), tag, newest)
        return tag, newest

    def forget(self, name: str) -> None:
        """Drop this thread's handle on *name* (after a database error), so
        the next request opens the files afresh."""
        cache = self._handles.get(threading.get_ident())
        got = cache.pop(name, None) if cache is not None else None
        if got is not None:
            with contextlib.suppress(Exception):  # a damaged handle may fail to close
                got[0].close()

    def release(self) -> None:
        """Close every thread's handles and forget what can be made again.
        Only while no request is being answered: an idle worker gives back
        what they hold (libgit2's cache of delta bases, up to 16 MB per
        pack; SQLite's page caches); the next request opens them again (a
        millisecond).  The rendered pages (``pubinbox.webcache``) and the
        memo tables of the parsers go too: after the web bench they hold 11
        MB a worker.  Our own delta bases (``pubinbox.deltacache``, the
        NNTP and POP3 sessions') are kept longer: see
        :data:`pubinbox.web.worker.IDLE_BASES`."""
        with self._handles_lock:
            handles, self._handles = self._handles, {}
        for cache in handles.values():
            for box, _ident in cache.values():
                with contextlib.suppress(Exception):
                    box.close()
        self.cache.clear()
        _forget_memos()

    def try_inbox(self, name: str) -> Inbox | None:
        """Like :meth:`inbox`, None when the inbox cannot be opened (not
        indexed yet, missing directory)."""
        try:
            return self.inbox(name)
        except PubinboxError:
            return None
