"""The parent process of ``pubinbox serve``: workers, the search process, signals.

``pubinbox serve`` checks its options and the config, then becomes
``python -m pubinbox.web.supervisor`` (same pid).  This program stays small
on purpose (the standard library only: no web app, no multiprocessing): it
binds the listening sockets (``--listen SCHEME://HOST:PORT``, one per
listener: HTTP, NNTP, ...; see :mod:`pubinbox.net.listeners`) and starts
``-W N`` worker processes (:mod:`pubinbox.web.worker`, also for ``-W 1``)
that inherit them all and serve every protocol in one event loop, each
with a pipe on which it beats once a second from its event loop.  A worker
that dies is replaced at once and the cause logged (``worker 123 died
(signal SIGABRT); replaced by worker 456``); one whose heart stops for
:data:`HANG` seconds (a stopped process, a stuck event loop) is killed and
replaced.

It also holds the listening socket of the search process
(:mod:`pubinbox.search.server`), one for all workers, and starts it when a
worker connects while none runs; the process leaves by itself when idle.
A search process that dies is logged; the next search starts another.

SIGTERM and SIGINT stop everything (workers finish their requests, up to
:data:`GRACEFUL` seconds); SIGHUP starts new workers, which read the config
again, retires each old one once its successor is ready, and retires the
search process (the next one takes the new search settings).
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time

__all__ = ["Supervisor", "main"]

log = logging.getLogger("pubinbox.serve")

#: seconds without a heartbeat after which a worker is taken for hung
HANG = 10.0
#: seconds a new worker has to start serving
STARTUP = 60.0
#: seconds workers get to finish their requests when stopping
GRACEFUL = 7.0
#: exit status of a worker that cannot start (a broken app or config): fatal
STARTUP_FAILURE = 3
#: pubinbox.search.isolated.DEADLINE_EXIT: the search process logged why itself
SEARCH_DEADLINE_EXIT = 124
#: glibc: one malloc arena per process instead of one per thread that ever
#: allocated (measured: a third of a busy worker's heap was free memory
#: stranded in the arenas of its short-lived threads)
MALLOC_ENV = {"MALLOC_ARENA_MAX": "1"}


def describe_exit(status: int) -> str:
    """'exit 3', 'signal SIGABRT', ... from a wait status."""
    if os.WIFSIGNALED(status):
        n = os.WTERMSIG(status)
        try:
            return f"signal {signal.Signals(n).name}"
        except ValueError:
            return f"signal {n}"
    return f"exit {os.waitstatus_to_exitcode(status)}"


def _kill(pid: int, sig: int) -> None:
    """Signal a child we have not reaped yet (so its pid is still ours).
    Popen's own methods are not used: they reap behind our back."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class _Worker:
    """One worker process and its heartbeat pipe."""

    __slots__ = ("beat", "last_beat", "proc", "ready", "started", "why_killed")

    def __init__(self, proc: subprocess.Popen[bytes], beat: int) -> None:
        self.proc = proc
        self.beat = beat  # read end of its heartbeat pipe
        self.started = self.last_beat = time.monotonic()
        self.ready = False  # its event loop beats ("."), not only its start-up thread ("s")
        self.why_killed = ""

    @property
    def pid(self) -> int:
        return self.proc.pid


class Supervisor:
    """Workers and the search process of one ``pubinbox serve``."""

    def __init__(self, socks: list[tuple[str, socket.socket]], nworkers: int, worker_args: list[str],
                 search_args: list[str], config: str) -> None:  # fmt: skip
        self.socks = socks  # (scheme, listening socket)
        self.nworkers = nworkers
        self.worker_args = worker_args
        self.search_args = search_args
        self.config = config
        self.slots: list[_Worker | None] = [None] * nworkers
        self.successors: dict[int, _Worker] = {}  # slot -> new worker after SIGHUP
        self.retired: dict[int, _Worker] = {}  # pid -> worker asked to stop
        self.by_beat: dict[int, _Worker] = {}
        self.sel = selectors.DefaultSelector()
        self.signals: list[int] = []
        self.stopping = False
        self.failed = False
        self.replaced = 0
        # the search process's socket, in a directory only we can enter
        base = os.environ.get("TMPDIR") or "/tmp"
        name = f"pubinbox-serve.{os.getpid()}.{os.urandom(4).hex()}"
        self.search_dir = os.path.join(base if len(base) < 60 else "/tmp", name)
        os.mkdir(self.search_dir, 0o700)
        self.search_path = os.path.join(self.search_dir, "search")
        self.search_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.search_sock.bind(self.search_path)
        self.search_sock.listen(64)
        self.search: subprocess.Popen[bytes] | None = None
        self.search_started = 0.0
        self.search_not_before = 0.0  # backoff after a process that died young
        self.search_backoff = 0.0
        self.search_watched = False

    # -- processes ------------------------------------------------------------------
    def _spawn_worker(self) -> _Worker:
        r, w = os.pipe()
        fds = [s.fileno() for _scheme, s in self.socks]
        listen = [a for (scheme, s) in self.socks for a in ("--listen", f"{scheme}={s.fileno()}")]
        cmd = [sys.executable, "-m", "pubinbox.web.worker", *listen, "--beat", str(w),
               "--config", self.config, "--search", self.search_path, *self.worker_args]  # fmt: skip
        env = {**MALLOC_ENV, **os.environ}
        try:
            proc = subprocess.Popen(cmd, pass_fds=(*fds, w), env=env, stdin=subprocess.DEVNULL)
        finally:
            os.close(w)
        os.set_blocking(r, False)
        worker = _Worker(proc, r)
        self.by_beat[r] = worker
        self.sel.register(r, selectors.EVENT_READ)
        return worker

    def _forget_worker(self, worker: _Worker) -> None:
        if self.by_beat.pop(worker.beat, None) is not None:
            self.sel.unregister(worker.beat)
            os.close(worker.beat)

    def _spawn_search(self) -> None:
        fd = self.search_sock.fileno()
        cmd = [sys.executable, "-m", "pubinbox.search.server", "--fd", str(fd), *self.search_args]
        self.search = subprocess.Popen(cmd, pass_fds=(fd,), env={**MALLOC_ENV, **os.environ}, stdin=subprocess.DEVNULL)
        self.search_started = time.monotonic()

    def _watch_search(self, on: bool) -> None:
        if on != self.search_watched:
            if on:
                self.sel.register(self.search_sock, selectors.EVENT_READ)
            else:
                self.sel.unregister(self.search_sock)
            self.search_watched = on

    # -- events --------------------------------------------------------------------------
    def _on_signal(self, sig: int, _frame: object) -> None:
        self.signals.append(sig)

    def _beats(self, fd: int) -> None:
        worker = self.by_beat.get(fd)
        if worker is None:
            return
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            worker.last_beat = time.monotonic()
            worker.ready = worker.ready or b"." in data
        else:  # it is exiting: SIGCHLD follows
            self._forget_worker(worker)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._exited(pid, status)

    def _exited(self, pid: int, status: int) -> None:
        if self.search is not None and pid == self.search.pid:
            self._search_exited(status)
            return
        if pid in self.retired:
            self._forget_worker(self.retired.pop(pid))
            return
        for slot, new in list(self.successors.items()):
            if new.pid == pid:  # a new worker after SIGHUP that did not make it
                del self.successors[slot]
                self._forget_worker(new)
                old = self.slots[slot]
                log.error("new worker %d %s before serving; keeping worker %s",
                          pid, describe_exit(status), old.pid if old else "-")  # fmt: skip
                return
        for slot, w in enumerate(self.slots):
            if w is not None and w.pid == pid:
                self._forget_worker(w)
                self.slots[slot] = None
                w.proc.returncode = os.waitstatus_to_exitcode(status)
                if self.stopping:
                    return
                if not w.ready and os.WIFEXITED(status) and os.WEXITSTATUS(status) == STARTUP_FAILURE:
                    log.error("worker %d could not start; stopping", pid)
                    self.stopping = self.failed = True
                    return
                new = self._spawn_worker()
                self.slots[slot] = new
                self.replaced += 1
                why = w.why_killed or f"died ({describe_exit(status)})"
                log.warning("worker %d %s; replaced by worker %d", pid, why, new.pid)
                return

    def _search_exited(self, status: int) -> None:
        proc, self.search = self.search, None
        assert proc is not None
        proc.returncode = os.waitstatus_to_exitcode(status)
        lived = time.monotonic() - self.search_started
        code = proc.returncode
        if code == 0 or code == SEARCH_DEADLINE_EXIT:
            log.info("search process %d left (%s)", proc.pid, describe_exit(status))
        elif code == -signal.SIGKILL:
            log.warning("search process %d was killed (SIGKILL)", proc.pid)
        else:
            log.warning("search process %d died (%s)", proc.pid, describe_exit(status))
        if code != 0 and lived < 2.0:  # dying young: do not start one per waiting search
            self.search_backoff = min(max(self.search_backoff * 2, 0.5), 10.0)
            self.search_not_before = time.monotonic() + self.search_backoff
        elif lived >= 2.0:
            self.search_backoff = 0.0

    def _check_hearts(self) -> None:
        now = time.monotonic()
        for w in self.slots:
            if w is None or w.why_killed:
                continue
            if now - w.last_beat > HANG:
                w.why_killed = "stopped answering (killed)"
            elif not w.ready and now - w.started > STARTUP:
                w.why_killed = f"did not start within {STARTUP:g}s (killed)"
            else:
                continue
            log.warning("worker %d %s", w.pid, w.why_killed)
            _kill(w.pid, signal.SIGKILL)
        for slot, w in list(self.successors.items()):
            old = self.slots[slot]
            if w.ready:
                del self.successors[slot]
                self.slots[slot] = w
                if old is not None:
                    self._retire(old)
            elif now - w.started > STARTUP or now - w.last_beat > HANG:
                log.error("new worker %d did not start; keeping worker %s", w.pid, old.pid if old else "-")
                _kill(w.pid, signal.SIGKILL)
                del self.successors[slot]
                self.retired[w.pid] = w

    def _retire(self, w: _Worker) -> None:
        self.retired[w.pid] = w
        _kill(w.pid, signal.SIGTERM)

    def _hup(self) -> None:
        log.warning("SIGHUP: starting new workers (the config is read again)")
        from pubinbox.config import Env, load
        from pubinbox.errors import PubinboxError
        from pubinbox.search.isolated import Limits

        try:
            self.search_args = Limits.from_config(load(Env.from_os().config_path(self.config))).argv()
        except (PubinboxError, OSError, ValueError) as e:  # a broken config: the new workers say more
            log.error("SIGHUP: %s", e)
        for slot in range(self.nworkers):
            if slot not in self.successors:
                self.successors[slot] = self._spawn_worker()
        if self.search is not None:
            _kill(self.search.pid, signal.SIGTERM)  # it leaves once its searches are answered

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> int:
        """Supervise until SIGTERM/SIGINT; returns the exit status."""
        rfd, wfd = socket.socketpair()
        rfd.setblocking(False)
        wfd.setblocking(False)
        signal.set_wakeup_fd(wfd.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, self._on_signal)
        self.sel.register(rfd, selectors.EVENT_READ)
        try:
            for slot in range(self.nworkers):
                self.slots[slot] = self._spawn_worker()
            while not self.stopping:
                self._step(rfd)
            return self._stop()
        finally:
            signal.set_wakeup_fd(-1)
            rfd.close()
            wfd.close()
            self._cleanup()

    def _step(self, wake: socket.socket) -> None:
        now = time.monotonic()
        want_search = self.search is None and now >= self.search_not_before
        self._watch_search(want_search)
        timeout = 0.5 if self.search is not None or want_search else max(0.05, self.search_not_before - now)
        for key, _ev in self.sel.select(min(timeout, 0.5)):
            if key.fileobj is wake:
                try:
                    while wake.recv(512):
                        pass
                except BlockingIOError:
                    pass
            elif key.fileobj is self.search_sock:
                if self.search is None:  # a worker waits for a search process
                    self._spawn_search()
                    self._watch_search(False)
            else:
                self._beats(int(key.fd))
        sigs, self.signals = self.signals, []
        for sig in sigs:
            if sig in (signal.SIGTERM, signal.SIGINT):
                self.stopping = True
            elif sig == signal.SIGHUP:
                self._hup()
        self._reap()
        self._check_hearts()

    def _stop(self) -> int:
        live = {w.pid for w in [*self.slots, *self.successors.values(), *self.retired.values()] if w is not None}
        if self.search is not None:
            live.add(self.search.pid)
        for pid in live:
            _kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACEFUL
        while live:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                live.discard(pid)
                continue
            if time.monotonic() > deadline:
                for pid in live:
                    _kill(pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.05)
        return 1 if self.failed else 0

    def _cleanup(self) -> None:
        self.search_sock.close()
        for f in (self.search_path, self.search_dir):
            try:
                os.rmdir(f) if f == self.search_dir else os.unlink(f)
            except OSError:
                pass


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def main(argv: list[str]) -> int:
    """``--listen SCHEME://HOST:PORT ... --inherit SCHEME=FD ... --workers N --config PATH
    [--access-log] [--cert PEM --key PEM] -- SEARCH_OPTIONS`` (what
    ``pubinbox serve`` passes; the search options are
    :meth:`pubinbox.search.isolated.Limits.argv`)."""
    from pubinbox.net.listeners import ListenerError, parse

    logging.basicConfig(level=logging.WARNING, format="pubinbox[%(process)d]: %(message)s", stream=sys.stderr)
    cut = argv.index("--") if "--" in argv else len(argv)
    own, search = argv[:cut], argv[cut + 1 :]
    flags = [a for a in own if a == "--access-log"]
    rest = [a for a in own if a != "--access-log"]
    pairs = list(zip(rest[::2], rest[1::2], strict=True))
    opts = dict(pairs)
    for k in ("--cert", "--key"):  # TLS material: the workers read it
        if k in opts:
            flags += [k, opts[k]]
    socks: list[tuple[str, socket.socket]] = []
    try:
        for k, spec in pairs:
            if k == "--inherit":  # from systemd (LISTEN_FDS), already listening
                scheme, _eq, fd = spec.partition("=")
                socks.append((scheme, socket.socket(fileno=int(fd))))
                continue
            if k != "--listen":
                continue
            try:
                lst = parse(spec)
            except ListenerError as e:
                log.error("%s", e)
                return 1
            try:
                socks.append((lst.scheme, _bind(lst.host, lst.port)))
            except OSError as e:
                log.error("cannot listen on %s: %s", lst.spec(), e.strerror or e)
                return 1
        return Supervisor(socks, int(opts["--workers"]), flags, search, opts["--config"]).run()
    finally:
        for _scheme, sock in socks:
            sock.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
