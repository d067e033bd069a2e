"""Real processes and real HTTP peers for end-to-end tests, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

ADMIN_KEY = "adm_e2e_0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Child:
    """A child process the tests stop gently (SIGTERM, `grace` seconds) or kill."""

    process: subprocess.Popen[bytes] | None
    grace: float

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(self.grace)
            except subprocess.TimeoutExpired:
                self.kill()


class ServerProcess(_Child):
    """`python -m postback serve` as a child process that tests can kill and restart."""

    grace = 15.0

    def __init__(
        self, database_url: str, workdir: Path, *, args: tuple[str, ...] = (), **env: str
    ) -> None:
        self.args = args
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "POSTBACK_DATABASE_URL": database_url,
            "POSTBACK_ADMIN_KEY": ADMIN_KEY,
            "POSTBACK_ALLOW_PRIVATE_TARGETS": "true",
            "POSTBACK_RETRY_SCHEDULE": "0.3,0.3,0.3,0.3",
            "POSTBACK_WORKER_POLL_INTERVAL": "0.1",
            **env,
        }
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "postback", "serve", "--port", str(self.port), *self.args],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()[-4000:]}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server not ready:\n{self.log_path.read_text()[-4000:]}")

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`python -m postback ARGS` against this server's database and settings."""
        return subprocess.run(
            [sys.executable, "-m", "postback", *args],
            env={**self.env, "COLUMNS": "200"},
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10)

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url + "/api/v1",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=10,
        )


class WorkerProcess(_Child):
    """`python -m postback worker`: delivery workers only, killable like the server."""

    grace = 20.0

    def __init__(self, server: ServerProcess) -> None:
        self.env = server.env
        self.workdir = server.workdir
        self.log_path = server.workdir / f"worker-{server.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "postback", "worker"],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()


@dataclass
class Received:
    method: str
    path_qs: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    # What the receiver answered.
    status: int = 0


@dataclass
class Receiver:
    """An HTTP server that records every request; `plan` scripts answers per path."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    plan: dict[str, list[int]] = field(default_factory=dict)
    # Share of unplanned requests answered 500, to make deliveries retry.
    failure_rate: float = 0.0
    # Decides instead of failure_rate which unplanned requests fail (answered 500).
    fails: Callable[[Received], bool] | None = None
    _runner: web.AppRunner | None = None

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if self.port == 0:
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        received = Received(
            request.method,
            request.path_qs,
            dict(request.query),
            dict(request.headers),
            body,
        )
        statuses = self.plan.get(request.path)
        if statuses:
            status = statuses.pop(0)
        elif self.fails is not None:
            status = 500 if self.fails(received) else 200
        else:
            status = 500 if random.random() < self.failure_rate else 200
        received.status = status
        self.requests.append(received)
        return web.Response(status=status, text="ok" if status < 300 else "no")

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path_qs.split("?")[0] == path]


async def eventually(
    check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05
) -> Any:
    """Poll an (async or sync) check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
