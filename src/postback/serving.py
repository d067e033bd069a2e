"""Serving one port from N processes (`postback serve --workers N`).

The parent binds the listening socket, then forks N children before it starts anything
else (no event loop, thread or database connection exists yet, so each child begins
clean). Each child runs the whole server on the inherited socket: its own event loop,
group committers and database connections; the kernel hands each new connection to one
of the children waiting in accept. The parent only supervises: SIGTERM or SIGINT is
passed on to every child, which finishes its requests and commits what it holds; a child
that dies on its own is started again, unless it keeps dying as it starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: A child that dies this soon after its start, this many times in a row, is not
#: started again: something it needs (the database, a setting) is missing.
EARLY_DEATH_SECONDS = 10.0
EARLY_DEATHS = 3
RESTART_PAUSE_SECONDS = 1.0


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_server(app: Any, sock: socket.socket) -> None:
    """One server process on an already bound socket (uvicorn handles SIGTERM/SIGINT)."""
    import uvicorn

    # The caller's address and a proxy's headers are believed only from
    # POSTBACK_TRUSTED_PROXIES (domain/client_address.py): uvicorn's own rewriting, which
    # trusts 127.0.0.1 by default, would hide the proxy that sent them.
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, proxy_headers=False
    )
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Forks `workers` children, each `child(index, sock)`, and keeps them running."""

    def __init__(
        self, sock: socket.socket, workers: int, child: Callable[[int, socket.socket], None]
    ) -> None:
        self._sock = sock
        self._workers = workers
        self._child = child
        self._running: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
        self._early: dict[int, int] = {}  # index -> deaths in a row soon after start
        self._stopping = False
        self.failed = False

    def _fork(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the child: run, then leave without the parent's exit handlers
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                self._child(index, self._sock)
                code = 0
            except BaseException:
                log.exception("server process %d failed", index)
            finally:
                logging.shutdown()
                os._exit(code)
        self._running[pid] = (index, time.monotonic())

    def _stop(self, signum: int, _frame: object) -> None:
        self._stopping = True
        for pid in self._running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def run(self) -> int:
        """Until every child has stopped; 0 after a requested stop, 1 when children kept
        dying as they started."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for index in range(self._workers):
            self._fork(index)
        while self._running:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            entry = self._running.pop(pid, None)
            if entry is None or self._stopping:
                continue
            index, started = entry
            code = os.waitstatus_to_exitcode(status)
            log.warning("server process %d (pid %d) ended with %d", index, pid, code)
            early = time.monotonic() - started < EARLY_DEATH_SECONDS
            self._early[index] = self._early.get(index, 0) + 1 if early else 0
            if self._early[index] >= EARLY_DEATHS:
                log.error("server process %d keeps failing as it starts: stopping", index)
                self.failed = True
                self._stop(signal.SIGTERM, None)
                continue
            time.sleep(RESTART_PAUSE_SECONDS)
            if not self._stopping:
                self._fork(index)
        self._sock.close()
        return 1 if self.failed else 0
