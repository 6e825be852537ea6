"""Worker processes of ``pubinbox serve``, and their replacement.

The parent binds the listening socket once, starts ``-W N`` worker
processes (uvicorn servers sharing that socket; with ``-W 1`` too, so that
one worker dying never takes the server down) and replaces a worker that
dies or stops answering the parent's health check, logging why (its exit
status or the signal that killed it).  SIGTERM/SIGINT stop the workers and
the parent; SIGHUP replaces them one by one (a new config is read).
"""

from __future__ import annotations

import logging
import signal

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

__all__ = ["Supervisor", "serve"]

log = logging.getLogger("pubinbox.serve")


def describe_exit(code: int | None) -> str:
    """'exit 3', 'signal SIGABRT', ... for a process's exit code."""
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


class Supervisor(Multiprocess):
    """uvicorn's worker manager, logging every replacement with its cause."""

    def __init__(self, config: Config, sockets: list[object]) -> None:
        super().__init__(config, sockets)  # type: ignore[arg-type]
        self.replaced = 0

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            hung = process.exitcode is None
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("worker %s could not start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            why = "stopped answering (killed)" if hung else f"died ({describe_exit(process.exitcode)})"
            new = Process(self.config, self.sockets)
            new.start()
            self.processes[idx] = new
            self.replaced += 1
            log.warning("worker %s %s; replaced by worker %s", process.pid, why, new.pid)


def serve(config: Config) -> None:
    """Bind, start the workers and supervise them until told to stop."""
    sock = config.bind_socket()
    try:
        Supervisor(config, sockets=[sock]).run()
    finally:
        sock.close()
