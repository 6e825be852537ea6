"""``pubinbox watch``: follow Maildirs named by ``publicinbox.NAME.watch``
(like public-inbox-watch) and store what appears in them.

- Sources: ``maildir:/path`` (``new/`` and ``cur/``; drafts and trashed
  messages, flags ``D``/``T``, are skipped; files are never moved or
  deleted).  ``publicinbox.NAME.watchheader = Header:value`` (several: any
  may match) and ``listid`` (``List-Id:<id>``) route mail from a Maildir
  shared by several inboxes; mail matching none is skipped.
- ``publicinboxwatch.watchspam = maildir:/path`` (or ``imap://``): a
  message there with the Seen flag is removed from every inbox (a ``d``
  commit, ``spam``), like ``pubinbox learn spam``; in a watchspam newsgroup
  (``nntp://``) every new article is spam.
- ``nntp://[USER@]HOST[:PORT]/GROUP`` (``nntps://``): articles above the
  last number handled (kept per source), polled every
  ``nntp.pollInterval`` seconds (:mod:`pubinbox.deliver.nntpsource`).
- ``publicinbox.NAME.filter``: only its scrub step (:mod:`pubinbox.deliver.scrub`),
  as public-inbox-watch; nothing is rejected.
- ``publicinboxwatch.spamcheck = spamc`` runs ``spamc -E --headers`` on each
  message first (default ``none``); spam is skipped.
- Files are noticed through inotify (one rescan of every Maildir at start,
  and on an inotify queue overflow); without inotify every Maildir is
  listed each ``--poll`` seconds.  Which files were handled is kept in a
  small SQLite file (``pubinbox.watchstate``, default
  ``pubinbox-watch.sqlite3`` next to the config), so a restart imports
  nothing twice and picks up whatever arrived while it was down; a crash
  between storing a message and recording it is harmless (the writer drops
  exact duplicates).
- New mail is stored in batches (at most :data:`BATCH_SECONDS` or
  :data:`BATCH_MAX` messages): the writer holds ``inbox.lock`` only while it
  writes one, and the overview and search index are updated before the lock
  is released, so a message is searchable within a second or two.
- A Maildir that is missing is logged once and tried again; a file that
  vanishes while read is skipped, an unreadable one logged once.
- SIGHUP reloads the config, SIGUSR1 rescans, SIGTERM/SIGINT/SIGQUIT store
  the message in hand (and the batch it is in) and exit.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from pubinbox.config import Config, InboxConfig
from pubinbox.deliver.imapsource import ImapError, ImapSource
from pubinbox.deliver.importer import reject_reason
from pubinbox.deliver.inotify import Inotify, open_inotify
from pubinbox.deliver.nntpsource import NntpError, NntpSource
from pubinbox.deliver.scrub import scrubber
from pubinbox.deliver.watchconf import (
    IMAP,
    NNTP,
    Batch,
    Source,
    State,
    net_sources,
    net_spam,
    sources,
    split_name,
    state_path,
    wanted,
)
from pubinbox.errors import PubinboxError
from pubinbox.mail.parse import Headers, strip_from_line

log = logging.getLogger(__name__)

BATCH_SECONDS = 1.0
BATCH_MAX = 2000
#: seconds between attempts to find a Maildir that is missing
RETRY_SECONDS = 10.0
SUBDIRS = ("new", "cur")


class Watcher:
    """The daemon: :meth:`run` until a stop signal."""

    def __init__(self, load: Callable[[], Config], *, poll: float = 1.0, use_inotify: bool = True) -> None:
        self._load = load
        self.conf = load()
        self.poll = poll
        self.inotify: Inotify | None = open_inotify() if use_inotify else None
        self.state = State(state_path(self.conf))
        self.sources: dict[Path, Source] = {}
        self.seen: dict[str, set[str]] = {}
        self._failed: set[tuple[str, str]] = set()
        # IMAP folders and newsgroups, and the inboxes they feed (none: watchspam)
        self.imaps: dict[str, tuple[ImapSource, list[InboxConfig]]] = {}
        self.nntps: dict[str, tuple[NntpSource, list[InboxConfig]]] = {}
        self._imap_ready: set[str] = set()
        self._stop = False
        self._reload = False
        self._rescan = True
        self._next_retry = 0.0
        self.stats = {"added": 0, "duplicate": 0, "skipped": 0, "spam": 0, "removed": 0}
        self._configure()

    # -- signals ---------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload = True
        elif signum == signal.SIGUSR1:
            self._rescan = True
        else:
            self._stop = True

    def stop(self) -> None:
        self._stop = True

    # -- configuration ------------------------------------------------------------
    def _configure(self) -> None:
        self.sources = {s.path: s for s in sources(self.conf)}
        self.seen = {str(p): self.state.load(str(p)) for p in self.sources}
        for src, _ibxs in self.imaps.values():
            src.close()
        for nsrc, _ibxs in self.nntps.values():
            nsrc.close()
        self.imaps, self.nntps = {}, {}
        imaps, nntps = net_sources(self.conf, IMAP), net_sources(self.conf, NNTP)
        for urls, schemes in ((imaps, IMAP), (nntps, NNTP)):
            for url in net_spam(self.conf, schemes):
                if url in urls:
                    log.warning("%s is both an inbox's watch and watchspam; watched for the inbox only", url)
                else:
                    urls[url] = []  # no inbox: spam
        for url, ibxs in imaps.items():
            try:
                self.imaps[url] = (ImapSource(url, self.conf), ibxs)
            except ValueError as e:
                log.warning("%s", e)
                continue
            self.seen[url] = self.state.load(url)
        for url, ibxs in nntps.items():
            try:
                self.nntps[url] = (NntpSource(url, self.conf), ibxs)
            except ValueError as e:
                log.warning("%s", e)
        if not self.sources and not self.imaps and not self.nntps:
            log.warning(
                "no publicinbox.NAME.watch = maildir:|imap://|nntp://... in %s: nothing to watch", self.conf.path
            )
        self._add_watches()

    def _add_watches(self) -> None:
        if self.inotify is not None:
            self.inotify.clear()
        for src in self.sources.values():
            ok = all((src.path / sub).is_dir() for sub in SUBDIRS)
            if ok and self.inotify is not None:
                ok = all(self.inotify.add(src.path / sub) for sub in SUBDIRS)
            if not ok and not src.missing:
                log.warning(
                    "%s: not a readable Maildir (new/, cur/); trying again every %.0fs", src.path, RETRY_SECONDS
                )
            elif ok and src.missing:
                log.warning("%s: Maildir is back", src.path)
            src.missing = not ok

    def _do_reload(self) -> None:
        self._reload = False
        try:
            conf = self._load()
        except PubinboxError as e:
            log.warning("reload: %s; keeping the previous config", e)
            return
        self.conf = conf
        self._configure()
        self._rescan = True
        log.warning(
            "config reloaded: %d Maildir(s), %d IMAP folder(s), %d newsgroup(s)",
            len(self.sources),
            len(self.imaps),
            len(self.nntps),
        )

    # -- main loop ------------------------------------------------------------------
    def run(self, *, once: bool = False) -> None:
        old = {
            s: signal.signal(s, self._on_signal)
            for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
        }
        rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_wakeup = signal.set_wakeup_fd(wfd)
        try:
            while not self._stop:
                if self._reload:
                    self._do_reload()
                pending = self._pending(rfd)
                if pending:
                    self._process(pending)
                if self.imaps:
                    self._imap_round(once=once)
                if self.nntps:
                    self._nntp_round(once=once)
                if once and not pending:
                    break
        finally:
            signal.set_wakeup_fd(old_wakeup)
            os.close(rfd)
            os.close(wfd)
            for s, h in old.items():
                signal.signal(s, h)
            for src, _ibxs in self.imaps.values():
                src.close()
            for nsrc, _ibxs in self.nntps.values():
                nsrc.close()
            self.state.close()
            if self.inotify is not None:
                self.inotify.close()

    def _pending(self, wake_fd: int) -> dict[Path, set[Path] | None]:
        """What to look at: per source, files (or None: list the Maildir)."""
        now = time.monotonic()
        if now >= self._next_retry and any(s.missing for s in self.sources.values()):
            self._next_retry = now + RETRY_SECONDS
            before = {p for p, s in self.sources.items() if s.missing}
            self._add_watches()
            if any(not self.sources[p].missing for p in before):
                self._rescan = True
        if self._rescan or self.inotify is None:
            full = self._rescan
            self._rescan = False
            if full or self.inotify is None:
                out: dict[Path, set[Path] | None] = {p: None for p, s in self.sources.items() if not s.missing}
                if full or any(self._new_files(p) for p in out):
                    return out
        fds = [wake_fd] + ([self.inotify.fd] if self.inotify is not None else [])
        imap_fds = {}
        timeout = self.poll
        for url, (src, _ibxs) in self.imaps.items():
            fd = src.fileno()
            if fd is not None:
                imap_fds[fd] = url
                if src.buffered():  # already read from the socket: select() would not tell
                    self._imap_ready.add(url)
                    timeout = 0.0
            timeout = min(timeout, max(0.0, src.next_try - now))
        for nsrc, _ibxs in self.nntps.values():
            timeout = min(timeout, max(0.0, nsrc.next_try - now))
        try:
            ready, _w, _x = select.select(fds + list(imap_fds), [], [], timeout)
        except InterruptedError:
            ready = []
        self._imap_ready.update(imap_fds[fd] for fd in ready if fd in imap_fds)
        if wake_fd in ready:
            try:
                while os.read(wake_fd, 512):
                    pass
            except BlockingIOError:
                pass
        if self.inotify is None or self.inotify.fd not in ready:
            return {}
        return self._events()

    def _events(self) -> dict[Path, set[Path] | None]:
        assert self.inotify is not None
        out: dict[Path, set[Path] | None] = {}
        time.sleep(0.02)  # let a burst of deliveries land in one read
        for where, name in self.inotify.read():
            if where is None:  # queue overflow
                self._rescan = True
                continue
            src = self.sources.get(where.parent)
            if src is None:
                continue
            if name is None:
                src.missing = True
                log.warning("%s: Maildir went away; trying again every %.0fs", src.path, RETRY_SECONDS)
                continue
            have = out.setdefault(src.path, set())
            if have is not None:
                have.add(where / name)
        return out

    def _new_files(self, path: Path) -> bool:
        seen = self.seen.get(str(path), set())
        return any(split_name(f.name)[0] not in seen for f in self._list(path))

    def _list(self, path: Path) -> list[Path]:
        files: list[Path] = []
        for sub in SUBDIRS:
            try:
                with os.scandir(path / sub) as it:
                    files.extend(Path(e.path) for e in it if not e.name.startswith("."))
            except OSError:
                continue
        return files

    # -- handling files ------------------------------------------------------------
    def _process(self, pending: dict[Path, set[Path] | None]) -> None:
        batch = Batch(started=time.monotonic())
        for path, files in pending.items():
            src = self.sources.get(path)
            if src is None:
                continue
            for f in sorted(files) if files is not None else sorted(self._list(path)):
                if self._stop:
                    break
                self._read(src, f, batch)
                if len(batch) >= BATCH_MAX or time.monotonic() - batch.started >= BATCH_SECONDS:
                    self._flush(batch)
                    batch = Batch(started=time.monotonic())
        self._flush(batch)

    def _read(self, src: Source, f: Path, batch: Batch) -> None:
        base, flags = split_name(f.name)
        seen = self.seen.setdefault(str(src.path), set())
        if base in seen or not f.is_file():
            return
        if "T" in flags or "D" in flags or (src.spam and "S" not in flags):
            return  # trashed, a draft, or unread spam: maybe later (new name)
        try:
            raw = strip_from_line(f.read_bytes())
        except FileNotFoundError:
            return  # moved (new/ -> cur/) or deleted while we looked: the new name comes
        except OSError as e:
            if (str(src.path), base) not in self._failed:
                self._failed.add((str(src.path), base))
                log.warning("%s: cannot read: %s; skipped until the next start", f, e.strerror or e)
            return
        batch.names.append((str(src.path), base))
        if src.spam:
            if reject_reason(raw) is None:
                batch.spam.append(raw)
            return
        self._accept(raw, src.inboxes, batch, str(f))

    def _accept(self, raw: bytes, inboxes: list[InboxConfig], batch: Batch, where: str) -> None:
        """Route one message read from a source into the batch."""
        why = reject_reason(raw)
        if why is not None:
            self.stats["skipped"] += 1
            log.warning("%s: %s; skipped", where, why)
            return
        h = Headers(raw)
        dests = [ibx for ibx in inboxes if wanted(ibx, h)]
        if not dests:
            self.stats["skipped"] += 1
            return
        if not self._ham(raw, where):
            return
        for ibx in dests:
            scrub = scrubber(ibx)  # publicinbox.NAME.filter: its scrub step only, as public-inbox-watch
            batch.adds.setdefault(ibx.name, (ibx, []))[1].append(scrub(raw) if scrub else raw)

    def _ham(self, raw: bytes, f: str) -> bool:
        if (self.conf.get("publicinboxwatch.spamcheck") or "none").lower() != "spamc":
            return True
        from pubinbox.deliver.mda import spamc_check

        try:
            ham, _checked = spamc_check(raw)
        except PubinboxError as e:
            log.warning("%s: spam check failed (%s); stored unchecked", f, e)
            return True
        if not ham:
            self.stats["spam"] += 1
            log.info("%s: spam, skipped", f)
        return ham

    def _flush(self, batch: Batch) -> bool:
        """Store the batch; False when some of it could not be stored."""
        if not batch.names and not batch.marks:
            return True
        from pubinbox.ingest.writer import InboxWriter

        ok = True
        for ibx, raws in batch.adds.values():
            try:
                with InboxWriter(ibx, epoch_size=self.conf.epoch_size, lock_timeout=self.conf.lock_timeout) as w:
                    for raw in raws:
                        res = w.add(raw)
                        self.stats[res.status] += 1
                        if res.status == "added":
                            log.info("%s: added #%s <%s>", ibx.name, res.num, res.mid)
            except (PubinboxError, OSError, sqlite3.Error) as e:
                ok = False
                log.warning("%s: %d message(s) not stored (%s); trying again", ibx.name, len(raws), e)
        if batch.spam:
            for ibx in self.conf.inboxes:
                try:
                    with InboxWriter(ibx, epoch_size=self.conf.epoch_size, lock_timeout=self.conf.lock_timeout) as w:
                        scrub = scrubber(ibx)
                        for raw in batch.spam:
                            found = w.remove_matching(raw, "spam")
                            if scrub is not None and scrub(raw) != raw:  # stored scrubbed
                                found += w.remove_matching(scrub(raw), "spam")
                            for num, mid in found:
                                self.stats["removed"] += 1
                                log.info("%s: removed spam #%d <%s>", ibx.name, num, mid)
                except (PubinboxError, OSError, sqlite3.Error) as e:
                    ok = False
                    log.warning("%s: spam not removed (%s); trying again", ibx.name, e)
        if not ok:
            self._rescan = True
            time.sleep(1.0)
            return False
        self.state.add(batch.names)
        self.state.set_marks(batch.marks)
        for key, base in batch.names:
            self.seen.setdefault(key, set()).add(base)
        return True

    # -- IMAP folders ------------------------------------------------------------------
    def _imap_round(self, *, once: bool) -> None:
        """Connect, fetch, or wait in IDLE, each folder as it needs."""
        now = time.monotonic()
        for url, (src, ibxs) in list(self.imaps.items()):
            if self._stop:
                return
            ready = url in self._imap_ready
            self._imap_ready.discard(url)
            try:
                if src.conn is None:
                    if now < src.next_try and not once:
                        continue
                    src.connect()
                elif src.idling:
                    if ready:
                        if not src.idle_read():
                            continue
                    elif now < src.next_try:
                        continue
                    src.idle_done()
                elif now < src.next_try and not once:
                    continue
                self._imap_fetch(url, src, ibxs)
                if not once:
                    src.idle_start()
            except ImapError as e:
                src.failed(e)

    def _imap_fetch(self, url: str, src: ImapSource, ibxs: list[InboxConfig]) -> None:
        seen = self.seen.setdefault(url, set())
        prefix = f"{src.uidvalidity}:"
        last = max((int(n[len(prefix) :]) for n in seen if n.startswith(prefix)), default=0)
        stop = [self._stop]
        got = src.fetch_new(last, stop)
        batch = Batch(started=time.monotonic())
        for uid, raw, flags in got:
            batch.names.append((url, f"{prefix}{uid}"))
            if "\\Deleted" in flags or "\\Draft" in flags:
                continue
            if not ibxs:  # watchspam: what is marked Seen is spam
                if "\\Seen" in flags and reject_reason(raw) is None:
                    batch.spam.append(raw)
                continue
            self._accept(raw, ibxs, batch, f"{url} UID {uid}")
            if len(batch) >= BATCH_MAX:
                if not self._flush(batch):
                    return
                batch = Batch(started=time.monotonic())
        self._flush(batch)

    # -- newsgroups ----------------------------------------------------------------------
    def _nntp_round(self, *, once: bool) -> None:
        """Poll each newsgroup that is due (connecting first if needed)."""
        now = time.monotonic()
        for url, (src, ibxs) in list(self.nntps.items()):
            if self._stop:
                return
            if now < src.next_try and not once:
                continue
            try:
                if not src.connected:
                    src.connect()
                self._nntp_fetch(url, src, ibxs)
                src.polled()
            except NntpError as e:
                src.failed(e)

    def _nntp_fetch(self, url: str, src: NntpSource, ibxs: list[InboxConfig]) -> None:
        """Store the articles above the source's mark; the mark moves only
        with what was stored."""
        stop = [self._stop]
        batch = Batch(started=time.monotonic())
        for num, raw in src.fetch_new(self.state.mark(url), stop):
            batch.marks[url] = num
            batch.marked += 1
            if raw is None:
                pass
            elif not ibxs:  # watchspam: every article there is spam
                if reject_reason(raw) is None:
                    batch.spam.append(strip_from_line(raw))
            else:
                self._accept(strip_from_line(raw), ibxs, batch, f"{url} article {num}")
            if len(batch) >= BATCH_MAX or time.monotonic() - batch.started >= BATCH_SECONDS:
                if not self._flush(batch):
                    return
                batch = Batch(started=time.monotonic())
            if self._stop:
                stop[0] = True
        self._flush(batch)
