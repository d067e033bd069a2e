"""The hot-path benchmark: clicks, incoming postbacks and deliveries against bare nginx,
in up to three process topologies.

    make bench                                   # both backends, results into docs/BENCHMARKS.md
    .venv/bin/python bench/suite.py --backend sqlite --seconds 3 --rates 100,500 \\
        --topologies a,b --no-docs

Topologies (--topologies):
  a  `postback serve`: the delivery worker runs inside the server process.
  b  `postback serve --no-worker` and one `postback worker` process.
  c  PostgreSQL only: `postback serve --no-worker --workers 2` (two server processes on one
     port) and two `postback worker` processes.

Loads, in each topology. Every load starts from a fresh database (a new SQLite file, or a
newly created PostgreSQL database, dropped afterwards) with its own server and worker
processes: the advertiser, offer, affiliate and postback configs are created through the
API again and the clicks the postbacks need are stored beforehand (Store.insert_clicks),
so no backlog left by one load slows the next.
  - clicks, max: wrk, --connections (64) connections.
  - clicks at 0.6 x 0.25 x nginx req/s, open loop (bench/loadgen.py: each request is due at
    a fixed time and its latency counts from then).
  - postbacks, max: wrk, every request with a click id and a txid of its own.
  - delivery latency at each of --rates conversions/s, open loop for --rate-seconds: two
    active postback configs, so two deliveries per conversion, to two partner endpoints
    (bench/receiver.py). Latency runs from each postback's scheduled send time to the
    partner's arrival time. After the load the run waits at most --grace seconds for the
    replies still owed and as long again for the last arrivals, then settles an exact
    ledger: sent (postbacks answered 2xx) x 2 = delivered (distinct arrivals of those
    txids) + missing (expected 0). p50/p99 are over the delivered ones.
  - deliveries, drain (b and c, whose workers are processes of their own): a backlog made by
    a wrk postback run with the workers stopped, four partners, then the topology's workers
    send it; again on a fresh backlog with the first partner hanging until the timeout.
  - visitors (topology a only): what click intelligence costs (each click's country from its
    address, device, OS, browser and bot flag from its User-Agent, a keyed visitor hash and
    the unique-click upsert). wrk, --connections connections, GET /click with every request
    from a random one of VISITOR_IPS distinct public IPv4 addresses (seeded, private and
    reserved ranges left out) in X-Forwarded-For, believed from 127.0.0.1
    (POSTBACK_TRUSTED_PROXIES), and a random one of the real User-Agents of
    bench/user_agents.txt. The same load against the code just before click intelligence
    (VISITORS_BEFORE: a `git worktree` of that commit, removed at the end, run as
    `python -m postback` with its src/ first on PYTHONPATH) and against this checkout's,
    alternated off/on --visitor-runs times, each run on a fresh database and server; the
    means and on/off ratio (target >= VISITORS_TARGET), and in each run the stored clicks'
    distinct addresses and, with it on, countries, devices, bots and unique clicks.

On PostgreSQL a thread samples pg_stat_activity every 50 ms on a connection of its own
during each load: the benchmark database's active client backends, not the sampler and not
this script's own queries. Lock-wait share = samples waiting on a lock (wait_event_type
'Lock') / active samples.

Pinning: every server and worker process on core 0, in topology c as well (two server
processes and two workers share that one core, so the topologies are compared on the same
CPU); the load generators (wrk, bench/loadgen.py) and the partner endpoints on core 1. Bare
nginx (`return 302`, one worker, no access log) is measured in the same run as the
baseline, on core 0 as well.

Everything runs on 127.0.0.1 and stops by itself: each load has a duration, every child
process is ended at the end of its load, and each PostgreSQL database the run creates is
dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import ipaddress
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The checkout's venv when it has one, otherwise the one running this script.
BIN = (
    ROOT / ".venv" / "bin"
    if (ROOT / ".venv" / "bin" / "postback").exists()
    else Path(sys.executable).parent
)
ADMIN_KEY = "adm_bench_0123456789abcdef"
SERVER_CORE, LOAD_CORE = "0", "1"
DRAIN_PARTNERS = 4  # partner endpoints in the drains, one port each: the first one may hang
LATENCY_PARTNERS = 2  # active postback configs in the other loads: deliveries per conversion
DELIVERY_TIMEOUT = 5  # seconds, for the hanging partner's attempts
CLICKS_PER_SECOND_OF_POSTBACKS = 2500  # clicks stored for each second of a postback wrk run
BACKLOG_RATE = 100_000  # postbacks/s asked of the generator for a backlog: no server keeps up
APPLICATION_NAME = "postback-bench"  # this script's own PostgreSQL sessions
SAMPLE_INTERVAL = 0.05  # seconds between pg_stat_activity samples
# The visitors load: the last commit before click intelligence, the pools, the target.
VISITORS_BEFORE = "007e286f30057a1fa753162eaeb465fcc547be76"
VISITOR_IPS = 200_000  # distinct public IPv4 addresses in X-Forwarded-For
VISITOR_SEED = 20_261_206  # the addresses' and the wrk script's random choices
USER_AGENTS = ROOT / "bench" / "user_agents.txt"
VISITORS_TARGET = 0.85  # clicks/s with click intelligence on / off


def wait_log(
    path: Path,
    text: str,
    count: int,
    timeout: float = 60.0,
    alive: subprocess.Popen[bytes] | None = None,
) -> None:
    """Until `text` appears `count` times in the log at `path`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text(errors="replace").count(text) >= count:
            return
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"{path.name}: the process exited as it started")
        time.sleep(0.05)
    raise RuntimeError(f"{path.name}: no {text!r} x {count} within {timeout:g}s")


@dataclass(frozen=True)
class Topology:
    key: str
    label: str
    servers: int  # server processes: `serve --workers N` when N > 1
    inside: bool  # the delivery worker runs in the server process
    workers: int  # separate `postback worker` processes


@dataclass(frozen=True)
class Code:
    """Which postback a server process runs: `python -m postback` with `src` first on
    PYTHONPATH (this checkout's, or a worktree's of an older commit)."""

    label: str
    src: Path


TOPOLOGIES = {
    "a": Topology("a", "`serve` (worker inside)", 1, True, 0),
    "b": Topology("b", "`serve --no-worker` + 1 `worker`", 1, False, 1),
    "c": Topology("c", "`serve --no-worker --workers 2` + 2 `worker`", 2, False, 2),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", core, *argv] if shutil.which("taskset") else argv


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "python": sys.version.split()[0],
        "nginx": subprocess.run(
            ["nginx", "-v"], capture_output=True, text=True, check=False
        ).stderr.strip(),
    }


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set since it started (0 once it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    """The process's children (the server processes `serve --workers N` forks)."""
    with contextlib.suppress(OSError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def supports_server_workers() -> bool:
    """Whether this `postback serve` takes --workers N."""
    out = subprocess.run(
        [str(BIN / "postback"), "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    return "--workers" in out.stdout


# ---- wrk ----------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> WrkResult:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run(
        pinned(LOAD_CORE, [*argv, url]),
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        errors += sum(int(n) for n in match.groups())
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(match.group(1))
    return WrkResult(rps, p50, p99, requests, errors)


VISITORS_SCRIPT = """
-- Clicks from many visitors: each request a random public address in X-Forwarded-For
-- (the server believes 127.0.0.1 as its proxy) and a random real User-Agent.
local ips, agents = {{}}, {{}}
for line in io.lines("{ips}") do ips[#ips + 1] = line end
for line in io.lines("{agents}") do
  if line ~= "" and line:sub(1, 1) ~= "#" then agents[#agents + 1] = line end
end
math.randomseed({seed})
local headers = {{}}
request = function()
  headers["X-Forwarded-For"] = ips[math.random(#ips)]
  headers["User-Agent"] = agents[math.random(#agents)]
  return wrk.format("GET", "{path}", headers)
end
"""


def user_agents() -> int:
    """How many User-Agents bench/user_agents.txt holds."""
    lines = USER_AGENTS.read_text().splitlines()
    return sum(1 for line in lines if line and not line.startswith("#"))


def public_ipv4(count: int, seed: int) -> list[str]:
    """`count` distinct addresses spread over the whole IPv4 space, every registry's, none
    of them private, reserved, shared, loopback or multicast; the same ones for a seed."""
    rng = random.Random(seed)
    chosen: dict[str, None] = {}
    while len(chosen) < count:
        address = ipaddress.IPv4Address(rng.getrandbits(32))
        if address.is_global and not address.is_multicast:
            chosen[str(address)] = None
    return list(chosen)


POSTBACK_SCRIPT = """
-- Walks a list of pre-created click ids; every request carries a txid of its own.
local ids = {{}}
for line in io.lines("{ids}") do ids[#ids + 1] = line end
local n = 0
local prefix = "{prefix}-" .. tostring(math.random(1, 1e9)) .. "-"
request = function()
  n = n + 1
  local click = ids[(n - 1) % #ids + 1]
  return wrk.format("GET", "/postback?click_id=" .. click .. "&token={token}&txid=" .. prefix .. n)
end
"""


# ---- nginx ------------------------------------------------------------------------------


@contextlib.contextmanager
def nginx(work: Path) -> Iterator[int]:
    port = free_port()
    home = work / "nginx"
    home.mkdir()
    conf = home / "nginx.conf"
    conf.write_text(
        f"""worker_processes 1;
daemon off;
pid {home}/nginx.pid;
error_log {home}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {home}/body;
  proxy_temp_path {home}/proxy;
  fastcgi_temp_path {home}/fastcgi;
  uwsgi_temp_path {home}/uwsgi;
  scgi_temp_path {home}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 302 https://shop.example/?cid=abc; }}
  }}
}}
"""
    )
    proc = subprocess.Popen(pinned(SERVER_CORE, ["nginx", "-c", str(conf), "-p", str(home)]))
    try:
        wait_http(f"http://127.0.0.1:{port}/", expect_any=True)
        yield port
    finally:
        stop(proc)


def wait_http(url: str, timeout: float = 60.0, expect_any: bool = False) -> None:
    """Wait until `url` answers 200 (any status with `expect_any`); redirects not followed."""
    parts = urllib.parse.urlsplit(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=2)
            conn.request("GET", parts.path or "/")
            status = conn.getresponse().status
            conn.close()
            if status == 200 or expect_any:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:g}s")


def stop(proc: subprocess.Popen[Any], grace: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


# ---- the database -------------------------------------------------------------------------

_numbers = itertools.count(1)


class Database:
    """One load's own database: a new SQLite file, or a PostgreSQL database created for it
    and dropped at the end."""

    def __init__(self, backend: str, work: Path, pg: str) -> None:
        self.backend = backend
        self.name = f"postback_bench_{os.getpid()}_{next(_numbers)}"
        self.pg = pg.rstrip("/")
        if backend == "sqlite":
            self.path = work / "bench.db"
            self.url = f"sqlite:///{self.path}"
        else:
            self.url = f"{self.pg}/{self.name}"

    def __enter__(self) -> Database:
        if self.backend == "postgres":
            self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.backend == "postgres":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        import asyncpg

        async def run() -> None:
            conn = await asyncpg.connect(
                f"{self.pg}/postgres", server_settings={"application_name": APPLICATION_NAME}
            )
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run())

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.backend == "sqlite":
            with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as conn:
                return list(conn.execute(sql))
        import asyncpg

        async def run() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(
                self.url, server_settings={"application_name": APPLICATION_NAME}
            )
            try:
                return [tuple(row) for row in await conn.fetch(sql)]
            finally:
                await conn.close()

        return asyncio.run(run())

    def count(self, table: str, where: str = "") -> int:
        return int(self.query(f"SELECT count(*) FROM {table} {where}")[0][0])

    def seed_clicks(self, count: int) -> list[str]:
        """Store `count` clicks of offer 1 and affiliate 1 through the store's own write path
        (in batches, as the edge's group committer does); their click ids."""
        from postback.domain.ids import new_click_id
        from postback.domain.records import Click
        from postback.settings import Settings
        from postback.store.factory import open_store

        now = datetime.now(UTC)
        made = [
            Click(
                new_click_id(now),
                1,
                1,
                ("abc", None, None, None, None),
                "127.0.0.1",
                "bench",
                None,
                None,
                now,
            )
            for _ in range(count)
        ]

        async def run() -> None:
            store = open_store(Settings(database_url=self.url))
            try:
                for at in range(0, len(made), 5000):
                    await store.insert_clicks(made[at : at + 5000])
            finally:
                await store.close()

        asyncio.run(run())
        return [click.click_id for click in made]


class LockSampler:
    """pg_stat_activity every SAMPLE_INTERVAL from a thread and connection of its own: the
    benchmark database's active client backends (not the sampler, not this script's own
    queries), and how many of them wait on a lock. Nothing on SQLite."""

    SQL = """
        SELECT wait_event_type FROM pg_stat_activity
        WHERE datname = $1 AND state = 'active' AND backend_type = 'client backend'
          AND pid <> pg_backend_pid() AND application_name <> $2
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.samples = self.active = self.lock = 0
        self.error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LockSampler:
        if self.db.backend == "postgres":
            self._thread = threading.Thread(target=self._run, name="lock-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._sample())
        except Exception as exc:
            self.error = repr(exc)

    async def _sample(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(
            f"{self.db.pg}/postgres", server_settings={"application_name": APPLICATION_NAME}
        )
        try:
            due = time.monotonic()
            while not self._stop.is_set():
                rows = await conn.fetch(self.SQL, self.db.name, APPLICATION_NAME)
                self.samples += 1
                self.active += len(rows)
                self.lock += sum(1 for row in rows if row[0] == "Lock")
                due += SAMPLE_INTERVAL
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        finally:
            await conn.close()

    def share(self) -> str:
        if self.db.backend != "postgres":
            return ""
        if self.error:
            return f"sampler failed: {self.error}"
        if not self.active:
            return f"no active backend in {self.samples:,} samples"
        return f"{self.lock / self.active:.1%} ({self.lock:,}/{self.active:,})"


# ---- processes ------------------------------------------------------------------------------


class Receiver:
    """bench/receiver.py on core 1: the partner endpoints, one port each."""

    def __init__(self, work: Path, ports: list[int], hang: list[int], max_seconds: float) -> None:
        self.ports = ports
        self.hang = hang
        self.out = work / "arrivals.json"
        self.argv = [
            str(BIN / "python"),
            str(ROOT / "bench" / "receiver.py"),
            "--ports",
            ",".join(map(str, ports)),
            "--hang",
            ",".join(map(str, hang)),
            "--out",
            str(self.out),
            "--max-seconds",
            str(max_seconds),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        ready = Path(str(self.out) + ".ready")
        self.proc = subprocess.Popen(pinned(LOAD_CORE, self.argv))
        deadline = time.monotonic() + 30
        while not ready.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("bench/receiver.py did not start")
            time.sleep(0.05)

    def stop(self) -> dict[int, list[tuple[float, str]]]:
        """Stop it; what arrived on each port: (time, txid) in order."""
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
        if not self.out.exists():
            return {}
        return {
            int(port): [(t, txid) for t, txid in seen]
            for port, seen in json.loads(self.out.read_text()).items()
        }


class Postback:
    """The server process(es) and worker processes of one topology, for one database; the
    installed `postback` command, or `code`'s with `env` added to the environment."""

    def __init__(
        self,
        db: Database,
        work: Path,
        topology: Topology,
        code: Code | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.db = db
        self.work = work
        self.topology = topology
        self.code = code
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "POSTBACK_DATABASE_URL": db.url,
            "POSTBACK_ADMIN_KEY": ADMIN_KEY,
            "POSTBACK_ALLOW_PRIVATE_TARGETS": "true",
            "POSTBACK_DELIVERY_TIMEOUT": str(DELIVERY_TIMEOUT),
            "POSTBACK_AUTH_FAILURES_PER_MINUTE": "1000000",
            **(env or {}),
        }
        self.command = [str(BIN / "postback")]
        if code is not None:
            self.env["PYTHONPATH"] = str(code.src)
            self.command = [str(BIN / "python"), "-m", "postback"]
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.token = ""
        self.server_mb = 0.0  # the largest server process's peak RSS
        self.worker_mb = 0.0  # the largest worker process's peak RSS

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                pinned(SERVER_CORE, [*self.command, *argv]),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def start_server(self) -> None:
        argv = ["serve", "--port", str(self.port)]
        if not self.topology.inside:
            argv.append("--no-worker")
        if self.topology.servers > 1:
            argv += ["--workers", str(self.topology.servers)]
        log = self.work / "server.log"
        self.server = self._spawn(argv, log)
        try:
            wait_http(f"{self.base}/healthz")
            # Every server process says so in the log once it is ready.
            wait_log(log, "postback.runtime started", self.topology.servers)
        except RuntimeError:
            print(tail(log), file=sys.stderr)
            raise

    def start_workers(self) -> None:
        for n in range(self.topology.workers):
            self.workers.append(self._spawn(["worker"], self.work / f"worker{n}.log"))
        for n, proc in enumerate(self.workers):
            log = self.work / f"worker{n}.log"
            try:
                # Listening for wake-ups and claiming once it has said so.
                wait_log(log, "delivery worker started", 1, alive=proc)
            except RuntimeError:
                print(tail(log), file=sys.stderr)
                raise

    def sample_rss(self) -> float:
        """The server's peak RSS (the largest of its processes) so far."""
        if self.server is not None:
            for pid in [self.server.pid, *children(self.server.pid)]:
                self.server_mb = max(self.server_mb, peak_rss_mb(pid))
        for proc in self.workers:
            self.worker_mb = max(self.worker_mb, peak_rss_mb(proc.pid))
        return self.server_mb

    def stop_all(self) -> None:
        self.sample_rss()
        try:
            for proc in self.workers:
                proc.send_signal(signal.SIGTERM)
            for proc in self.workers:
                stop(proc, grace=DELIVERY_TIMEOUT + 10)
        finally:
            self.workers = []
            if self.server is not None:
                stop(self.server, grace=DELIVERY_TIMEOUT + 10)
                self.server = None

    def api(self, path: str, body: dict[str, Any], method: str = "POST") -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.base}/api/v1/{path}",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())  # type: ignore[no-any-return]

    def setup(self, partner_ports: list[int]) -> None:
        """One advertiser, offer and affiliate; the affiliate's postback goes to the first
        partner, network-level integrations to the others: one delivery each per sale."""
        self.token = self.api("advertisers", {"name": "bench"})["postback_token"]
        offer = self.api(
            "offers",
            {
                "advertiser_id": 1,
                "name": "bench offer",
                "destination_url": "https://shop.example/?cid={click_id}&s={sub1}",
                "revenue": 10,
                "payout": 7,
            },
        )
        assert offer["id"] == 1
        self.api("affiliates", {"name": "bench affiliate"})
        for n, port in enumerate(partner_ports):
            self.api(
                "postbacks",
                {
                    "affiliate_id": 1 if n == 0 else None,
                    "url": f"http://127.0.0.1:{port}/pb?txid={{txid}}&cid={{click_id}}&p={{payout}}",
                },
            )


@dataclass
class Phase:
    db: Database
    pb: Postback
    receiver: Receiver
    work: Path

    @property
    def ports(self) -> list[int]:
        return self.receiver.ports


@contextlib.contextmanager
def phase(
    ctx: Context,
    topology: Topology,
    name: str,
    partners: int = LATENCY_PARTNERS,
    hang: int = 0,
    workers: bool = True,
    code: Code | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Phase]:
    """One load's fresh database, partner endpoints (the first `hang` of them never answer),
    server and, unless `workers` is false (started later by the load), worker processes,
    running `code` (default: the installed `postback`) with `env` added. All of them are
    stopped and the database dropped at the end."""
    work = ctx.work / topology.key / f"{next(_numbers):02d}-{name}"
    work.mkdir(parents=True)
    ports = [free_port() for _ in range(partners)]
    longest = 120 + 3 * ctx.args.seconds + 3 * ctx.args.grace + ctx.args.drain_seconds
    receiver = Receiver(work, ports, ports[:hang], longest)
    with Database(ctx.backend, work, ctx.args.pg) as db:
        pb = Postback(db, work, topology, code, env)
        try:
            receiver.start()
            pb.start_server()
            pb.setup(ports)
            if workers:
                pb.start_workers()
            yield Phase(db, pb, receiver, work)
        finally:
            try:
                pb.stop_all()
            finally:
                receiver.stop()
            ctx.server_mb[topology.key] = max(ctx.server_mb.get(topology.key, 0), pb.server_mb)
            ctx.worker_mb[topology.key] = max(ctx.worker_mb.get(topology.key, 0), pb.worker_mb)


# ---- the loads ------------------------------------------------------------------------------


@dataclass
class BackendResults:
    backend: str
    rows: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        topology: str,
        load: str,
        *,
        rate: str = "",
        rps: str = "",
        ratio: str = "",
        p50: str = "",
        p99: str = "",
        check: str = "",
        locks: str = "",
        rss: str = "",
    ) -> None:
        row = dict(
            topology=topology,
            load=load,
            rate=rate,
            rps=rps,
            ratio=ratio,
            p50=p50,
            p99=p99,
            check=check,
            locks=locks,
            rss=rss,
        )
        self.rows.append(row)
        shown = ", ".join(f"{k} {v}" for k, v in row.items() if v and k not in ("topology", "load"))
        print(f"  {self.backend:8} {topology} {load}: {shown}", flush=True)


@dataclass
class Context:
    backend: str
    args: argparse.Namespace
    nginx_rps: float
    work: Path
    results: BackendResults
    server_mb: dict[str, float] = field(default_factory=dict)
    worker_mb: dict[str, float] = field(default_factory=dict)
    visitors: Visitors | None = None


def fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def write_ids(work: Path, ids: list[str]) -> Path:
    path = work / "click_ids.txt"
    path.write_text("\n".join(ids))
    return path


def write_script(ph: Phase, ids: Path, prefix: str) -> Path:
    script = ph.work / f"postback-{prefix}.lua"
    script.write_text(POSTBACK_SCRIPT.format(ids=ids, token=ph.pb.token, prefix=prefix))
    return script


def run_backend(
    backend: str,
    args: argparse.Namespace,
    nginx_rps: float,
    work: Path,
    server_workers: bool,
    visitors: Visitors | None = None,
) -> BackendResults:
    results = BackendResults(backend)
    work = work / backend
    work.mkdir()
    ctx = Context(backend, args, nginx_rps, work, results, visitors=visitors)
    for key in args.topologies:
        topology = TOPOLOGIES[key]
        if key == "c":
            if backend != "postgres":
                continue
            if not server_workers:
                topology = Topology("c", "`serve --no-worker` + 2 `worker`", 1, False, 2)
                results.notes.append(
                    "topology c ran with one server process: this `postback serve` has no "
                    "--workers option"
                )
        run_topology(ctx, topology)
    return results


LOADS = ("clicks", "postbacks", "latency", "drain", "visitors")


def run_topology(ctx: Context, topology: Topology) -> None:
    args, results, key = ctx.args, ctx.results, topology.key
    print(f"  {ctx.backend} topology {key}: {topology.label}", flush=True)

    loads = args.loads
    if "clicks" in loads:
        # Clicks, as fast as 64 connections go.
        with phase(ctx, topology, "clicks-max") as ph:
            with LockSampler(ph.db) as locks:
                got = wrk(
                    f"{ph.pb.base}/click?offer_id=1&aff_id=1&sub1=abc",
                    args.seconds,
                    args.connections,
                )
                stored = ph.db.count("clicks")
            results.add(
                key,
                "clicks, max",
                rate="max",
                rps=fmt(got.rps),
                ratio=f"{got.rps / ctx.nginx_rps:.3f}",
                p50=f"{got.p50_ms:.2f}",
                p99=f"{got.p99_ms:.2f}",
                check=f"{stored:,} stored / {got.requests:,} answered, {got.errors} errors",
                locks=locks.share(),
                rss=fmt(ph.pb.sample_rss(), 1),
            )
            if stored < got.requests - got.errors:
                results.notes.append(
                    f"{key}, clicks: fewer stored ({stored}) than answered ({got.requests})"
                )

        # Clicks at 60% of the target rate (0.25 x nginx), open loop: bench/loadgen.py sends each
        # request when it is due and counts its latency from then.
        rate = 0.6 * 0.25 * ctx.nginx_rps
        with phase(ctx, topology, "clicks-rated") as ph:
            with LockSampler(ph.db) as locks:
                rated = open_loop(
                    ph.work,
                    ph.pb.port,
                    rate,
                    args.seconds,
                    "/click?offer_id=1&aff_id=1&sub1=abc",
                    args.connections,
                )
            results.add(
                key,
                "clicks (0.6 x 0.25 x nginx), open loop",
                rate=fmt(rate),
                rps=fmt(rated["rate"]),
                ratio=f"{rated['rate'] / ctx.nginx_rps:.3f}",
                p50=f"{rated['p50']:.2f}",
                p99=f"{rated['p99']:.2f}",
                check=f"{rated['answered']:,.0f} answered of {rated['due']:,.0f} due, "
                f"{rated['errors']:,.0f} errors",
                locks=locks.share(),
                rss=fmt(ph.pb.sample_rss(), 1),
            )

    postbacks_max = 0
    if "postbacks" in loads:
        # Incoming postbacks, as fast as 64 connections go: distinct clicks and txids, each a
        # conversion and two deliveries, which this topology's worker(s) send meanwhile.
        with phase(ctx, topology, "postbacks-max") as ph:
            ids = ph.db.seed_clicks(CLICKS_PER_SECOND_OF_POSTBACKS * args.seconds)
            script = write_script(ph, write_ids(ph.work, ids), "max")
            with LockSampler(ph.db) as locks:
                got = wrk(f"{ph.pb.base}/postback", args.seconds, args.connections, script)
                created = ph.db.count("conversions")
                owed = ph.db.count("deliveries", "WHERE state = 'pending'")
            postbacks_max = got.requests
            reused = f"; click ids reused ({len(ids):,} stored)" if got.requests > len(ids) else ""
            results.add(
                key,
                "postbacks, max",
                rate="max",
                rps=fmt(got.rps),
                ratio=f"{got.rps / ctx.nginx_rps:.3f}",
                p50=f"{got.p50_ms:.2f}",
                p99=f"{got.p99_ms:.2f}",
                check=f"{created:,} conversions / {got.requests:,} answered, {got.errors} errors; "
                f"{owed:,} deliveries still owed{reused}",
                locks=locks.share(),
                rss=fmt(ph.pb.sample_rss(), 1),
            )

    # Reply -> arrival latency at steady rates, two deliveries per conversion.
    for rate_n in args.rates if "latency" in loads else []:
        latency(ctx, topology, rate_n)

    # Deliveries: a backlog as large as the postbacks of the max run, made with the
    # workers stopped, drained by this topology's worker processes.
    if topology.workers and "drain" in loads:
        conversions = max(1000, postbacks_max)
        fast = drain(ctx, topology, 0, conversions)
        results.add(
            key,
            f"deliveries, drain ({DRAIN_PARTNERS} fast partners)",
            rps=fmt(fast.all),
            check=f"backlog {fast.backlog:,} ({conversions:,} postbacks): {fast.count:,} "
            f"arrived in {fast.window:.1f}s; healthy {DRAIN_PARTNERS - 1}: {fmt(fast.healthy)}/s",
            locks=fast.locks,
            rss=f"worker {fmt(fast.worker_mb, 1)}",
        )
        # The same with the first partner hanging until the timeout, on a fresh backlog
        # as large.
        hung = drain(ctx, topology, 1, conversions)
        change = hung.healthy / fast.healthy - 1 if fast.healthy else float("nan")
        results.add(
            key,
            "deliveries, drain, 1 partner hangs",
            rps=fmt(hung.healthy),
            check=f"backlog {hung.backlog:,}; healthy {DRAIN_PARTNERS - 1} partners "
            f"{change:+.0%} vs all fast",
            locks=hung.locks,
            rss=f"worker {fmt(hung.worker_mb, 1)}",
        )

    per = "per process, " if topology.servers > 1 or topology.workers > 1 else ""
    worker = f"; worker {fmt(ctx.worker_mb.get(key, 0), 1)}" if topology.workers else ""
    if key in ctx.server_mb:  # not when the visitors load (below) is the only one
        results.add(
            key,
            "peak RSS (VmHWM), MB",
            check=f"{per}server {fmt(ctx.server_mb[key], 1)}{worker}",
            rss=fmt(ctx.server_mb[key], 1),
        )

    # Click intelligence on against off, last: its servers (older code among them) stay out
    # of the peak RSS row above; each of its rows has its own.
    if "visitors" in loads and key == "a" and ctx.visitors is not None:
        visitors(ctx, topology, ctx.visitors)


# ---- click intelligence, on against off -----------------------------------------------------


@dataclass(frozen=True)
class Visitors:
    """What the visitors load compares, and the addresses its clicks come from."""

    off: Code
    on: Code
    ips: Path
    on_state: str  # this checkout's commit, and whether src/ differed from it


def checkout_state() -> str:
    """This checkout's commit, and how many files of src/ differ from it (the "on" side runs
    the files as they are when it starts)."""
    git = ["git", "--no-optional-locks", "-C", str(ROOT)]
    head = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--", "src"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return (head or "unknown commit") + (
        f" + uncommitted changes to {len(changed)} files of src/" if changed else ""
    )


def check_import(code: Code) -> Path:
    """Where `python -m postback` with the code's PYTHONPATH imports postback from; fails
    unless it is the code's own src/ (not the venv's editable install of another)."""
    out = subprocess.run(
        [str(BIN / "python"), "-c", "import postback; print(postback.__file__)"],
        env={**os.environ, "PYTHONPATH": str(code.src)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    imported = Path(out.stdout.strip()).resolve()
    if not imported.is_relative_to(code.src.resolve()):
        raise RuntimeError(f"{code.label}: PYTHONPATH={code.src} imports {imported}")
    return imported


@contextlib.contextmanager
def visitors_setup(work: Path) -> Iterator[Visitors]:
    """VISITORS_BEFORE in a git worktree under `work` (removed at the end), this checkout's
    src/, and the pool of addresses, written once for every backend."""
    tree = work / "before-visitors"
    git = ["git", "-C", str(ROOT), "worktree"]
    try:
        subprocess.run(
            [*git, "add", "--detach", "--quiet", str(tree), VISITORS_BEFORE],
            check=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        sys.exit(f"the visitors load needs commit {VISITORS_BEFORE} in a git checkout: {exc}")
    try:
        found = Visitors(
            Code(f"off ({VISITORS_BEFORE[:7]})", tree / "src"),
            Code("on", ROOT / "src"),
            work / "visitor-ips.txt",
            checkout_state(),
        )
        print(f"  visitors, on = {found.on_state}", flush=True)
        for code in (found.off, found.on):
            print(f"  visitors, {code.label}: {check_import(code)}", flush=True)
        found.ips.write_text("\n".join(public_ipv4(VISITOR_IPS, VISITOR_SEED)) + "\n")
        yield found
    finally:
        subprocess.run([*git, "remove", "--force", str(tree)], check=False, timeout=120)


def visitor_mix(db: Database, intelligence: bool) -> str:
    """What the stored clicks tell of their visitors: distinct addresses; with click
    intelligence, countries, the share placed, browsers, devices, bots and unique clicks."""
    ips = int(db.query("SELECT count(DISTINCT ip) FROM clicks")[0][0])
    text = f"{ips:,} distinct IPs"
    if not intelligence:
        return text
    countries, placed, browsers, bots, unique, total = db.query(
        "SELECT count(DISTINCT country), count(country), count(DISTINCT browser), "
        "sum(CASE WHEN is_bot THEN 1 ELSE 0 END), sum(CASE WHEN is_unique THEN 1 ELSE 0 END), "
        "count(*) FROM clicks"
    )[0]
    if not total:
        return text
    devices = db.query("SELECT device, count(*) FROM clicks GROUP BY device ORDER BY 2 DESC")
    shares = ", ".join(f"{device} {n / total:.0%}" for device, n in devices)
    return (
        f"{text}, {countries} countries ({placed / total:.0%} of clicks placed), "
        f"{browsers} browsers; devices {shares}; {int(bots or 0):,} bots, "
        f"{int(unique or 0):,} unique of {total:,}"
    )


def visitors(ctx: Context, topology: Topology, setup: Visitors) -> None:
    """The same wrk load of many visitors against the code before click intelligence (off)
    and this checkout's (on), alternated off/on --visitor-runs times, each run on a fresh
    database and server; every run's figures, then the means and the on/off ratio."""
    args, results, key = ctx.args, ctx.results, topology.key
    env = {"POSTBACK_TRUSTED_PROXIES": "127.0.0.1"}
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for run in range(1, args.visitor_runs + 1):
        for side, code in (("off", setup.off), ("on", setup.on)):
            with phase(ctx, topology, f"visitors-{side}-{run}", code=code, env=env) as ph:
                script = ph.work / "visitors.lua"
                script.write_text(
                    VISITORS_SCRIPT.format(
                        ips=setup.ips,
                        agents=USER_AGENTS,
                        seed=VISITOR_SEED,
                        path="/click?offer_id=1&aff_id=1&sub1=abc",
                    )
                )
                with LockSampler(ph.db) as locks:
                    got = wrk(f"{ph.pb.base}/click", args.seconds, args.connections, script)
                    stored = ph.db.count("clicks")
                seen = visitor_mix(ph.db, side == "on")
                rss = ph.pb.sample_rss()
            rates[side].append(got.rps)
            results.add(
                key,
                f"clicks, visitors, {code.label}, run {run}",
                rate="max",
                rps=fmt(got.rps),
                ratio=f"{got.rps / ctx.nginx_rps:.3f}",
                p50=f"{got.p50_ms:.2f}",
                p99=f"{got.p99_ms:.2f}",
                check=f"{stored:,} stored / {got.requests:,} answered, {got.errors} errors; {seen}",
                locks=locks.share(),
                rss=fmt(rss, 1),
            )
            if stored < got.requests - got.errors:
                results.notes.append(
                    f"{key}, visitors {side} run {run}: fewer stored ({stored}) than answered "
                    f"({got.requests})"
                )
    off = sum(rates["off"]) / len(rates["off"])
    on = sum(rates["on"]) / len(rates["on"])
    ratio = on / off if off else float("nan")
    verdict = "meets" if ratio >= VISITORS_TARGET else "BELOW"
    results.add(
        key,
        "clicks, visitors: on / off, means",
        rate="max",
        rps=f"{fmt(on)} / {fmt(off)}",
        ratio=f"{on / ctx.nginx_rps:.3f}",
        check=f"on/off {ratio:.3f}, {verdict} the target {VISITORS_TARGET:.2f} "
        f"({args.visitor_runs} runs each, alternated; off "
        f"{', '.join(fmt(r) for r in rates['off'])}; on {', '.join(fmt(r) for r in rates['on'])})",
    )
    if ratio < VISITORS_TARGET:
        results.notes.append(
            f"{key}, visitors: clicks/s with click intelligence on are {ratio:.1%} of off, "
            f"below the target {VISITORS_TARGET:.0%}"
        )


def run_loadgen(
    port: int,
    rate: float,
    seconds: float,
    paths: Path,
    connections: int,
    drain: float,
    out: Path,
) -> dict[str, Any]:
    """bench/loadgen.py on core 1: the paths at `rate`/s for `seconds`, then at most `drain`
    seconds for the replies still owed; what it saw."""
    subprocess.run(
        pinned(LOAD_CORE, [
            str(BIN / "python"), str(ROOT / "bench" / "loadgen.py"),
            "--port", str(port), "--rate", str(rate), "--seconds", str(seconds),
            "--paths", str(paths), "--connections", str(connections),
            "--drain-seconds", str(drain), "--out", str(out),
        ]),
        check=True, timeout=seconds + drain + 60,
    )  # fmt: skip
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def write_postback_paths(ph: Phase, clicks: list[str], tag: str) -> Path:
    """One postback per click, each with a txid of its own."""
    paths = ph.work / "postbacks.txt"
    paths.write_text(
        "\n".join(
            f"/postback?click_id={click}&token={ph.pb.token}&txid={tag}-{n}"
            for n, click in enumerate(clicks)
        )
    )
    return paths


def open_loop(
    work: Path, port: int, rate: float, seconds: int, path: str, connections: int
) -> dict[str, float]:
    """The same request at a steady rate from bench/loadgen.py; latency from when due."""
    paths = work / "open-loop.txt"
    count = int(rate * seconds)
    paths.write_text("\n".join([path] * count))
    got = run_loadgen(port, rate, seconds, paths, connections, 15, work / "open-loop.json")
    answered = sum(n for status, n in got["statuses"].items() if status.startswith(("2", "3")))
    return {
        "rate": answered / seconds,
        "p50": percentile(got["latencies_ms"], 0.50),
        "p99": percentile(got["latencies_ms"], 0.99),
        "answered": float(answered),
        "due": float(count),
        "errors": float(got["errors"] + sum(got["statuses"].values()) - answered),
    }


def latency(ctx: Context, topology: Topology, rate: int) -> None:
    """Postbacks at `rate`/s for --rate-seconds, open loop, distinct clicks and txids; the
    latency from each one's scheduled send time to each partner's arrival, and the ledger."""
    args, results = ctx.args, ctx.results
    seconds = args.rate_seconds
    count = rate * seconds
    with phase(ctx, topology, f"latency-{rate}") as ph:
        clicks = ph.db.seed_clicks(count)
        paths = write_postback_paths(ph, clicks, f"r{rate}")
        with LockSampler(ph.db) as locks:
            got = run_loadgen(
                ph.pb.port,
                rate,
                seconds,
                paths,
                args.connections,
                args.grace,
                ph.work / "replies.json",
            )
            status_of: dict[str, int] = got["status_of"]
            sent_txids = {txid for txid, status in status_of.items() if 200 <= status < 300}
            expected = len(sent_txids) * len(ph.ports)
            waited = wait_delivered(ph.db, expected, args.grace)
        seen = ph.receiver.stop()  # the ledger closes here
        rss = ph.pb.sample_rss()

    due_at: dict[str, float] = got["due_at"]
    latencies: list[float] = []
    duplicates = unmatched = 0
    for port in ph.ports:
        first: dict[str, float] = {}
        for t, txid in seen.get(port, []):
            if txid not in sent_txids:
                unmatched += 1
            elif txid in first:
                duplicates += 1
            else:
                first[txid] = t
        latencies.extend((t - due_at[txid]) * 1000 for txid, t in first.items())
    sent = len(sent_txids)
    delivered = len(latencies)
    missing = expected - delivered
    other = count - sent
    check = (
        f"{sent:,} sent x {len(ph.ports)} = {delivered:,} delivered + {missing:,} missing"
        f"{'' if missing == 0 else ' (MISSING)'}"
    )
    if other:
        check += f"; {other:,} of {count:,} not answered 2xx"
    if unmatched:
        check += f"; {unmatched:,} arrivals of postbacks not answered 2xx"
    if duplicates:
        check += f"; {duplicates:,} duplicates"
    check += f"; reply p99 {percentile(got['latencies_ms'], 0.99):.1f} ms"
    if waited > args.grace:
        check += f"; grace of {args.grace:g}s ran out"
    results.add(
        topology.key,
        f"reply -> arrival, {len(ph.ports)} deliveries per conversion",
        rate=fmt(rate),
        rps=fmt(sent / seconds),
        p50=f"{percentile(latencies, 0.50):.1f}",
        p99=f"{percentile(latencies, 0.99):.1f}",
        check=check,
        locks=locks.share(),
        rss=fmt(rss, 1),
    )
    if missing or other:
        results.notes.append(
            f"{topology.key}, {rate}/s: {missing:,} deliveries missing of {expected:,} owed, "
            f"{other:,} of {count:,} postbacks not answered 2xx"
        )


def wait_delivered(db: Database, expected: int, grace: float) -> float:
    """Wait until `expected` deliveries are delivered and none is pending, at most `grace`
    seconds (the partner notes an arrival before it answers, so none is still on its way);
    how long it took (more than `grace` when it ran out)."""
    started = time.monotonic()
    while True:
        waited = time.monotonic() - started
        delivered = db.count("deliveries", "WHERE state = 'delivered'")
        if delivered >= expected and not db.count("deliveries", "WHERE state = 'pending'"):
            return waited
        if waited > grace:
            return waited
        time.sleep(0.25)


@dataclass
class Drained:
    all: float  # deliveries/s to every partner
    healthy: float  # deliveries/s to the partners that answer
    backlog: int
    count: int
    window: float
    worker_mb: float
    locks: str


def drain(ctx: Context, topology: Topology, hang: int, conversions: int) -> Drained:
    """A backlog of `conversions` postbacks made with the workers stopped, then the
    topology's worker processes send it; throughput over the busy window."""
    args = ctx.args
    name = "drain-hang" if hang else "drain"
    with phase(ctx, topology, name, DRAIN_PARTNERS, hang=hang, workers=False) as ph:
        clicks = ph.db.seed_clicks(conversions)
        paths = write_postback_paths(ph, clicks, name)
        # As fast as the connections go: a rate no server reaches, exactly this many.
        run_loadgen(
            ph.pb.port,
            BACKLOG_RATE,
            conversions / BACKLOG_RATE + 1,
            paths,
            args.connections,
            60 + 6 * args.seconds,
            ph.work / "backlog.json",
        )
        backlog = ph.db.count("deliveries", "WHERE state = 'pending'")
        ports, hung = ph.ports, ph.ports[:hang]
        with LockSampler(ph.db) as locks:
            ph.pb.start_workers()
            deadline = time.monotonic() + args.drain_seconds
            while time.monotonic() < deadline:
                time.sleep(0.5)
                ph.pb.sample_rss()
                if ph.db.count("deliveries", "WHERE state = 'delivered'") and not _pending_healthy(
                    ph.db, ports, hung
                ):
                    break
        ph.pb.sample_rss()
        seen = ph.receiver.stop()
    healthy = [p for p in ports if p not in hung]
    times = sorted(t for port in healthy for t, _ in seen.get(port, []))
    all_times = sorted(t for port in ports for t, _ in seen.get(port, []))

    def rate(ts: list[float]) -> float:
        # Over the middle 80 % of the arrivals: the workers' start and the last
        # stragglers say little about their throughput.
        if len(ts) < 10:
            return 0.0
        first, last = len(ts) // 10, len(ts) - 1 - len(ts) // 10
        return (last - first) / (ts[last] - ts[first]) if ts[last] > ts[first] else 0.0

    return Drained(
        all=rate(all_times),
        healthy=rate(times),
        backlog=backlog,
        count=len(all_times),
        window=(all_times[-1] - all_times[0]) if len(all_times) > 1 else 0.0,
        worker_mb=ph.pb.worker_mb,
        locks=locks.share(),
    )


def _pending_healthy(db: Database, ports: list[int], hang: list[int]) -> int:
    urls = " OR ".join(f"url LIKE 'http://127.0.0.1:{p}/%'" for p in ports if p not in hang)
    return db.count("deliveries", f"WHERE state = 'pending' AND ({urls})")


# ---- the report -----------------------------------------------------------------------------


def report(
    info: dict[str, str],
    nginx: WrkResult,
    floor: dict[str, float],
    results: list[BackendResults],
    args: argparse.Namespace,
    visitors: Visitors | None = None,
) -> str:
    run = " ".join(sys.argv)
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: `{run}`, {args.seconds}s per load "
        f"({args.rate_seconds}s per latency rate, then at most {args.grace:g}s for the last "
        f"arrivals), {args.connections} connections; every load on a fresh database.",
        f"Machine: {info['nproc']} cores ({info['cpu']}), load average before the run "
        f"{info['load']}; Python {info['python']}, {info['nginx']}.",
        "",
        f"Baseline, bare nginx `return 302` (1 worker, no access log): **{fmt(nginx.rps)} "
        f"req/s**, p50 {nginx.p50_ms:.2f} ms, p99 {nginx.p99_ms:.2f} ms. The same nginx "
        f"through the open-loop generator at {fmt(floor['due'] / args.seconds)}/s (the rate of "
        f"the rate-limited click runs): p50 {floor['p50']:.2f} ms, p99 {floor['p99']:.2f} ms, "
        "the floor those runs can show on this machine.",
        "",
        "Topologies: "
        + "; ".join(f"**{t.key}** {t.label}" for t in TOPOLOGIES.values())
        + " (c on PostgreSQL only). Every server and worker process on core 0, load "
        "generators and partner endpoints on core 1.",
        "Reply -> arrival rows: postbacks at a steady rate, latency from each one's scheduled "
        "send time to the partner's arrival; ledger: sent (2xx replies) x deliveries per "
        "conversion = delivered + missing. Lock-wait share (PostgreSQL): samples of active "
        "backends waiting on a lock / active samples, pg_stat_activity every 50 ms.",
        *(
            [
                "Visitors rows (topology a): wrk on GET /click, each request from a random one "
                f"of {VISITOR_IPS:,} public IPv4 addresses in X-Forwarded-For (trusted from "
                f"127.0.0.1) with a random one of the {user_agents():,} User-Agents of "
                f"bench/user_agents.txt; off = commit {VISITORS_BEFORE[:7]} (before click "
                f"intelligence), on = this checkout ({visitors.on_state} as the run began), "
                "alternated, each run on a fresh database and server.",
            ]
            if visitors is not None
            else []
        ),
        "",
        "| backend | topology | load | rate/s | req/s (or deliveries/s) | x nginx | p50 ms "
        "| p99 ms | ledger / check | lock-wait share | peak RSS MB |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for backend in results:
        for row in backend.rows:
            lines.append(
                f"| {backend.backend} | {row['topology']} | {row['load']} | {row['rate']} "
                f"| {row['rps']} | {row['ratio']} | {row['p50']} | {row['p99']} "
                f"| {row['check']} | {row['locks']} | {row['rss']} |"
            )
    for backend in results:
        lines.extend(f"\n- {backend.backend}: {note}" for note in backend.notes)
    lines.append(
        f"\nLoad average after the run: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}."
    )
    return "\n".join(lines) + "\n"


MARK_BEGIN = "<!-- bench:latest:begin -->"
MARK_END = "<!-- bench:latest:end -->"


def update_docs(text: str) -> None:
    doc = ROOT / "docs" / "BENCHMARKS.md"
    body = doc.read_text()
    block = f"{MARK_BEGIN}\n{text}{MARK_END}"
    if MARK_BEGIN in body:
        body = re.sub(
            re.escape(MARK_BEGIN) + ".*?" + re.escape(MARK_END), lambda _m: block, body, flags=re.S
        )
    else:
        body += f"\n## Hot paths: latest `make bench`\n\n{block}\n"
    doc.write_text(body)


def comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each load")
    parser.add_argument(
        "--rates",
        default="100,250,500,1000",
        help="conversions per second of the latency loads, comma-separated",
    )
    parser.add_argument(
        "--rate-seconds",
        type=int,
        default=None,
        help="duration of each latency load (default: --seconds)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="longest wait for the last replies and arrivals after each latency load",
    )
    parser.add_argument(
        "--topologies",
        default="a,b,c",
        help="comma-separated: a (serve, worker inside), b (serve --no-worker + 1 worker), "
        "c (PostgreSQL only: serve --no-worker --workers 2 + 2 workers)",
    )
    parser.add_argument(
        "--drain-seconds", type=float, default=30.0, help="longest a drain may take"
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--visitor-runs",
        type=int,
        default=2,
        help="runs of the visitors load with click intelligence off and on each, alternated",
    )
    parser.add_argument(
        "--loads",
        default=",".join(LOADS),
        help=f"comma-separated, some of {','.join(LOADS)}",
    )
    parser.add_argument(
        "--pg", default=os.environ.get("POSTBACK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.md")
    parser.add_argument(
        "--no-docs", action="store_true", help="do not copy the table into docs/BENCHMARKS.md"
    )
    args = parser.parse_args()
    try:
        args.rates = [int(rate) for rate in comma_list(args.rates)]
    except ValueError:
        parser.error("--rates takes whole numbers, comma-separated")
    if any(rate <= 0 for rate in args.rates):
        parser.error("--rates must be positive")
    args.topologies = comma_list(args.topologies)
    if not args.topologies or set(args.topologies) - set(TOPOLOGIES):
        parser.error(f"--topologies takes some of {','.join(TOPOLOGIES)}")
    args.topologies = [key for key in TOPOLOGIES if key in args.topologies]
    args.loads = comma_list(args.loads)
    if not args.loads or set(args.loads) - set(LOADS):
        parser.error(f"--loads takes some of {','.join(LOADS)}")
    if args.rate_seconds is None:
        args.rate_seconds = args.seconds
    if args.visitor_runs < 1:
        parser.error("--visitor-runs must be at least 1")
    want_visitors = "visitors" in args.loads and "a" in args.topologies
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(
                f"{tool} is missing: apt-get install wrk nginx-light (make bench does it as root)"
            )
    if not any(h in args.pg for h in ("@127.0.0.1", "@localhost", "@[::1]")):
        sys.exit("--pg must point at 127.0.0.1")
    info = machine()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    server_workers = "c" in args.topologies and "postgres" in backends and supports_server_workers()
    with (
        tempfile.TemporaryDirectory(prefix="postback-bench-") as tmp,
        contextlib.ExitStack() as stack,  # ends before the directory goes
    ):
        work = Path(tmp)
        setup = stack.enter_context(visitors_setup(work)) if want_visitors else None
        with nginx(work) as port:
            base = wrk(
                f"http://127.0.0.1:{port}/click?offer_id=1&aff_id=1", args.seconds, args.connections
            )
            # The open-loop generator's own floor: nginx at the rate the clicks get below.
            floor = open_loop(
                work,
                port,
                0.6 * 0.25 * base.rps,
                args.seconds,
                "/click?offer_id=1",
                args.connections,
            )
        print(f"  nginx: {fmt(base.rps)} req/s, p99 {base.p99_ms:.2f} ms", flush=True)
        results = [run_backend(b, args, base.rps, work, server_workers, setup) for b in backends]
    text = report(info, base, floor, results, args, setup)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    if not args.no_docs:
        update_docs(text)


if __name__ == "__main__":
    main()
