"""The hot-path benchmark: clicks, incoming postbacks and deliveries against bare nginx.

    make bench                                   # both backends, results into docs/BENCHMARKS.md
    .venv/bin/python bench/suite.py --backend sqlite --seconds 10 --no-docs

Everything runs on 127.0.0.1 and stops by itself: each load has a duration, every child
process is ended at the end of its phase, and the PostgreSQL database the run creates is
dropped. The server (`postback serve --no-worker`) and the worker (`postback worker`) run
on core 0, the load generators (wrk, bench/loadgen.py) and the partner endpoints
(bench/receiver.py) on core 1. Bare nginx (`return 302`, one worker, no access log) is
measured in the same run as the baseline, on core 0 as well.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
ADMIN_KEY = "adm_bench_0123456789abcdef"
SERVER_CORE, LOAD_CORE = "0", "1"
PARTNERS = 4  # partner endpoints, one port each: the first one hangs in the hang phases
LATENCY_RATE = 500  # conversions per second in the latency phases
DELIVERY_TIMEOUT = 5  # seconds, for the hanging partner's attempts


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
    """VmHWM: the process's peak resident set since it started."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


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


# ---- the database -------------------------------------------------------------------------


class Database:
    """The run's own database: a SQLite file, or a PostgreSQL database created and dropped."""

    def __init__(self, backend: str, work: Path, pg: str) -> None:
        self.backend = backend
        self.name = f"postback_bench_{os.getpid()}"
        self._pg = pg.rstrip("/")
        if backend == "sqlite":
            self.path = work / "bench.db"
            self.url = f"sqlite:///{self.path}"
        else:
            self.url = f"{self._pg}/{self.name}"

    def __enter__(self) -> Database:
        if self.backend == "postgres":
            self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.backend == "postgres":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        import asyncpg  # type: ignore[import-untyped]

        async def run() -> None:
            conn = await asyncpg.connect(f"{self._pg}/postgres")
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
            conn = await asyncpg.connect(self.url)
            try:
                return [tuple(row) for row in await conn.fetch(sql)]
            finally:
                await conn.close()

        return asyncio.run(run())

    def count(self, table: str, where: str = "") -> int:
        return int(self.query(f"SELECT count(*) FROM {table} {where}")[0][0])


# ---- postback processes ---------------------------------------------------------------------


class Postback:
    """`postback serve --no-worker` and `postback worker` for one database."""

    def __init__(self, db: Database, work: Path) -> None:
        self.db = db
        self.work = work
        self.port = free_port()
        self.env = {
            **os.environ,
            "POSTBACK_DATABASE_URL": db.url,
            "POSTBACK_ADMIN_KEY": ADMIN_KEY,
            "POSTBACK_ALLOW_PRIVATE_TARGETS": "true",
            "POSTBACK_DELIVERY_TIMEOUT": str(DELIVERY_TIMEOUT),
            "POSTBACK_AUTH_FAILURES_PER_MINUTE": "1000000",
        }
        self.server: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.peak_server_mb = 0.0

    def start_server(self) -> None:
        log = (self.work / "server.log").open("ab")
        argv = [str(BIN / "postback"), "serve", "--port", str(self.port), "--no-worker"]
        self.server = subprocess.Popen(
            pinned(SERVER_CORE, argv), env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        wait_http(f"http://127.0.0.1:{self.port}/healthz")

    def sample_rss(self) -> float:
        assert self.server is not None
        self.peak_server_mb = max(self.peak_server_mb, peak_rss_mb(self.server.pid))
        return self.peak_server_mb

    def stop_server(self) -> None:
        if self.server is not None:
            self.sample_rss()
            stop(self.server)
            self.server = None

    @contextlib.contextmanager
    def worker(self) -> Iterator[subprocess.Popen[bytes]]:
        log = (self.work / "worker.log").open("ab")
        proc = subprocess.Popen(
            pinned(SERVER_CORE, [str(BIN / "postback"), "worker"]),
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            stop(proc, grace=DELIVERY_TIMEOUT + 10)

    def api(self, path: str, body: dict[str, Any], method: str = "POST") -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/{path}",
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


@contextlib.contextmanager
def receiver(work: Path, ports: list[int], hang: list[int], out: Path) -> Iterator[Path]:
    argv = [
        str(BIN / "python"),
        str(ROOT / "bench" / "receiver.py"),
        "--ports",
        ",".join(map(str, ports)),
        "--hang",
        ",".join(map(str, hang)),
        "--out",
        str(out),
        "--max-seconds",
        "300",
    ]
    ready = Path(str(out) + ".ready")
    proc = subprocess.Popen(pinned(LOAD_CORE, argv))
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield out
    finally:
        stop(proc)


def load_arrivals(out: Path) -> dict[int, list[tuple[float, str]]]:
    return {
        int(port): [(t, txid) for t, txid in seen]
        for port, seen in json.loads(out.read_text()).items()
    }


# ---- the phases -----------------------------------------------------------------------------


@dataclass
class BackendResults:
    backend: str
    rows: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, load: str, **figures: str) -> None:
        self.rows.append({"load": load, **figures})
        print(f"  {self.backend:8} {load}: {figures}", flush=True)


def fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def run_backend(
    backend: str, args: argparse.Namespace, nginx_rps: float, work: Path
) -> BackendResults:
    results = BackendResults(backend)
    work = work / backend
    work.mkdir()
    partner_ports = [free_port() for _ in range(PARTNERS)]
    with Database(backend, work, args.pg) as db:
        pb = Postback(db, work)
        pb.start_server()
        try:
            pb.setup(partner_ports)
            base = f"http://127.0.0.1:{pb.port}"
            click_url = f"{base}/click?offer_id=1&aff_id=1&sub1=abc"

            # Clicks, as fast as 64 connections go.
            before = db.count("clicks")
            got = wrk(click_url, args.seconds, args.connections)
            stored = db.count("clicks") - before
            results.add(
                "clicks, max",
                rps=fmt(got.rps),
                ratio=f"{got.rps / nginx_rps:.3f}",
                p50=f"{got.p50_ms:.2f}",
                p99=f"{got.p99_ms:.2f}",
                check=f"{stored:,} stored / {got.requests:,} answered, {got.errors} errors",
                rss=fmt(pb.sample_rss(), 1),
            )
            if stored < got.requests - got.errors:
                results.notes.append(
                    f"clicks: fewer stored ({stored}) than answered ({got.requests})"
                )

            # Clicks at 60% of the target rate (0.25 x nginx), open loop: bench/loadgen.py
            # sends each request when it is due and counts its latency from then.
            rate = 0.6 * 0.25 * nginx_rps
            rated = open_loop(
                work, pb.port, rate, args.seconds, "/click?offer_id=1&aff_id=1&sub1=abc"
            )
            results.add(
                f"clicks at {fmt(rate)}/s (0.6 x 0.25 x nginx), open loop",
                rps=fmt(rated["rate"]),
                ratio=f"{rated['rate'] / nginx_rps:.3f}",
                p50=f"{rated['p50']:.2f}",
                p99=f"{rated['p99']:.2f}",
                check=f"{rated['answered']:,} answered of {rated['due']:,} due, {rated['errors']} errors",
                rss=fmt(pb.sample_rss(), 1),
            )

            # Incoming postbacks: distinct clicks and txids, each a conversion + 4 deliveries.
            ids = work / "click_ids.txt"
            ids.write_text(
                "\n".join(row[0] for row in db.query("SELECT click_id FROM clicks LIMIT 200000"))
            )
            script = work / "postback.lua"
            script.write_text(POSTBACK_SCRIPT.format(ids=ids, token=pb.token, prefix="max"))
            before = db.count("conversions")
            got = wrk(f"{base}/postback", args.seconds, args.connections, script)
            created = db.count("conversions") - before
            owed = db.count("deliveries", "WHERE state = 'pending'")
            results.add(
                "postbacks, max",
                rps=fmt(got.rps),
                ratio=f"{got.rps / nginx_rps:.3f}",
                p50=f"{got.p50_ms:.2f}",
                p99=f"{got.p99_ms:.2f}",
                check=f"{created:,} conversions / {got.requests:,} answered, {got.errors} errors; {owed:,} deliveries owed",
                rss=fmt(pb.sample_rss(), 1),
            )

            # Deliveries: drain the backlog with one worker process; every partner fast.
            drained = drain(pb, db, work, partner_ports, [], args.drain_seconds, "drain")
            results.add(
                "deliveries, drain (4 fast partners)",
                rps=fmt(drained["all"]),
                ratio="",
                p50="",
                p99="",
                check=f"{drained['count']:,} arrived in {drained['window']:.1f}s; healthy 3: {fmt(drained['healthy'])}/s",
                rss=f"worker {fmt(drained['worker_rss'], 1)}",
            )
            # The same with the first partner hanging until the timeout: a fresh backlog as large.
            got = wrk(
                f"{base}/postback",
                args.seconds,
                args.connections,
                write_script(work, pb, ids, "hang"),
            )
            hung = drain(
                pb, db, work, partner_ports, partner_ports[:1], args.drain_seconds, "drain-hang"
            )
            change = (
                hung["healthy"] / drained["healthy"] - 1 if drained["healthy"] else float("nan")
            )
            results.add(
                "deliveries, drain, 1 partner hangs",
                rps=fmt(hung["healthy"]),
                ratio="",
                p50="",
                p99="",
                check=f"healthy 3 partners {change:+.0%} vs all fast",
                rss=f"worker {fmt(hung['worker_rss'], 1)}",
            )

            # Latency at a steady 500 conversions/s: postback reply -> partner arrival.
            # Two deliveries per conversion here (the affiliate's postback and one network
            # integration): 500 postbacks/s and 1,000 deliveries/s share the server's core.
            for config_id in range(3, PARTNERS + 1):
                pb.api(f"postbacks/{config_id}", {"active": False}, method="PATCH")
            steady_ports = partner_ports[:2]
            for hang in ([], steady_ports[:1]):
                lat = steady(pb, db, work, steady_ports, hang, ids, args.seconds)
                label = "2 partners, both fast" if not hang else "2 partners, 1 hangs"
                results.add(
                    f"delivery latency at {LATENCY_RATE}/s, {label}",
                    rps=fmt(lat["healthy_rate"]),
                    ratio="",
                    p50=f"{lat['p50']:.1f}",
                    p99=f"{lat['p99']:.1f}",
                    check=f"{lat['arrived']:,}/{lat['expected']:,} healthy deliveries arrived; postback p99 {lat['postback_p99']:.1f} ms",
                    rss=fmt(pb.sample_rss(), 1),
                )
            results.add(
                "server peak RSS (VmHWM), MB",
                rps="",
                ratio="",
                p50="",
                p99="",
                check="",
                rss=fmt(pb.sample_rss(), 1),
            )
        finally:
            pb.stop_server()
    return results


def write_script(work: Path, pb: Postback, ids: Path, prefix: str) -> Path:
    script = work / f"postback-{prefix}.lua"
    script.write_text(POSTBACK_SCRIPT.format(ids=ids, token=pb.token, prefix=prefix))
    return script


def drain(
    pb: Postback,
    db: Database,
    work: Path,
    ports: list[int],
    hang: list[int],
    limit: float,
    name: str,
) -> dict[str, float]:
    """One worker process sends the backlog; throughput over the busy window."""
    healthy = [p for p in ports if p not in hang]
    out = work / f"{name}.json"
    with receiver(work, ports, hang, out):
        with pb.worker() as proc:
            deadline = time.monotonic() + limit
            worker_rss = 0.0
            while time.monotonic() < deadline:
                time.sleep(0.5)
                worker_rss = max(worker_rss, peak_rss_mb(proc.pid))
                if db.count("deliveries", "WHERE state = 'delivered'") and not _pending_healthy(
                    db, ports, hang
                ):
                    break
    seen = load_arrivals(out)
    times = sorted(t for port in healthy for t, _ in seen.get(port, []))
    all_times = sorted(t for port in ports for t, _ in seen.get(port, []))

    def rate(ts: list[float]) -> float:
        # Over the middle 80 % of the arrivals: the worker's start and the last
        # stragglers say little about its throughput.
        if len(ts) < 10:
            return 0.0
        first, last = len(ts) // 10, len(ts) - 1 - len(ts) // 10
        return (last - first) / (ts[last] - ts[first]) if ts[last] > ts[first] else 0.0

    return {
        "all": rate(all_times),
        "healthy": rate(times),
        "count": float(len(all_times)),
        "window": (all_times[-1] - all_times[0]) if len(all_times) > 1 else 0.0,
        "worker_rss": worker_rss,
    }


def _pending_healthy(db: Database, ports: list[int], hang: list[int]) -> int:
    urls = " OR ".join(f"url LIKE 'http://127.0.0.1:{p}/%'" for p in ports if p not in hang)
    return db.count("deliveries", f"WHERE state = 'pending' AND ({urls})")


def open_loop(work: Path, port: int, rate: float, seconds: int, path: str) -> dict[str, float]:
    """The same request at a steady rate from bench/loadgen.py; latency from when due."""
    paths = work / "open-loop.txt"
    count = int(rate * seconds)
    paths.write_text("\n".join([path] * count))
    out = work / "open-loop.json"
    subprocess.run(
        pinned(LOAD_CORE, [
            str(BIN / "python"), str(ROOT / "bench" / "loadgen.py"),
            "--port", str(port), "--rate", str(rate), "--seconds", str(seconds),
            "--paths", str(paths), "--connections", "64", "--out", str(out),
        ]),
        check=True, timeout=seconds + 60,
    )  # fmt: skip
    got = json.loads(out.read_text())
    answered = sum(n for status, n in got["statuses"].items() if status.startswith(("2", "3")))
    return {
        "rate": answered / seconds,
        "p50": percentile(got["latencies_ms"], 0.50),
        "p99": percentile(got["latencies_ms"], 0.99),
        "answered": float(answered),
        "due": float(count),
        "errors": float(got["errors"] + sum(got["statuses"].values()) - answered),
    }


def steady(
    pb: Postback,
    db: Database,
    work: Path,
    ports: list[int],
    hang: list[int],
    ids: Path,
    seconds: int,
) -> dict[str, float]:
    """Postbacks at LATENCY_RATE/s with a worker running; reply -> arrival per txid."""
    tag = f"steady{len(hang)}-{int(time.time())}"
    clicks = ids.read_text().split()
    count = LATENCY_RATE * seconds
    paths = work / f"{tag}.txt"
    paths.write_text(
        "\n".join(
            f"/postback?click_id={clicks[n % len(clicks)]}&token={pb.token}&txid={tag}-{n}"
            for n in range(count)
        )
    )
    out = work / f"{tag}-arrivals.json"
    replies = work / f"{tag}-replies.json"
    with receiver(work, ports, hang, out):
        with pb.worker():
            time.sleep(1.0)  # the worker's start-up
            subprocess.run(
                pinned(
                    LOAD_CORE,
                    [
                        str(BIN / "python"),
                        str(ROOT / "bench" / "loadgen.py"),
                        "--port",
                        str(pb.port),
                        "--rate",
                        str(LATENCY_RATE),
                        "--seconds",
                        str(seconds),
                        "--paths",
                        str(paths),
                        "--connections",
                        "32",
                        "--out",
                        str(replies),
                    ],
                ),
                check=True,
                timeout=seconds + 60,
            )
            time.sleep(3.0)  # the last deliveries
    sent = json.loads(replies.read_text())
    replied_at: dict[str, float] = sent["replied_at"]
    seen = load_arrivals(out)
    healthy = [p for p in ports if p not in hang]
    latencies: list[float] = []
    arrivals: list[float] = []
    for port in healthy:
        for t, txid in seen.get(port, []):
            if txid in replied_at:
                latencies.append((t - replied_at[txid]) * 1000)
                arrivals.append(t)
    arrivals.sort()
    return {
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "arrived": float(len(latencies)),
        "expected": float(sent["statuses"].get("200", 0) * len(healthy)),
        "healthy_rate": len(arrivals) / seconds,
        "postback_p99": percentile(sent["latencies_ms"], 0.99),
    }


# ---- the report -----------------------------------------------------------------------------


def report(
    info: dict[str, str],
    nginx: WrkResult,
    floor: dict[str, float],
    results: list[BackendResults],
    args: argparse.Namespace,
) -> str:
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: `{' '.join(sys.argv)}`, {args.seconds}s per load, "
        f"{args.connections} connections.",
        f"Machine: {info['nproc']} cores ({info['cpu']}), load average before the run {info['load']}; "
        f"Python {info['python']}, {info['nginx']}.",
        "",
        f"Baseline, bare nginx `return 302` (1 worker, no access log): **{fmt(nginx.rps)} req/s**, "
        f"p50 {nginx.p50_ms:.2f} ms, p99 {nginx.p99_ms:.2f} ms. The same nginx through the "
        f"open-loop generator at {fmt(floor['due'] / args.seconds)}/s (the rate of the rate-limited "
        f"click run): p50 {floor['p50']:.2f} ms, p99 {floor['p99']:.2f} ms, the floor that run "
        "can show on this machine.",
        "",
        "| backend | load | req/s (or deliveries/s) | x nginx | p50 ms | p99 ms | check | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for backend in results:
        for row in backend.rows:
            lines.append(
                f"| {backend.backend} | {row['load']} | {row['rps']} | {row['ratio']} | {row['p50']} "
                f"| {row['p99']} | {row['check']} | {row['rss']} |"
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each load")
    parser.add_argument(
        "--drain-seconds", type=float, default=30.0, help="longest a drain may take"
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--pg", default=os.environ.get("POSTBACK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.md")
    parser.add_argument(
        "--no-docs", action="store_true", help="do not copy the table into docs/BENCHMARKS.md"
    )
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(
                f"{tool} is missing: apt-get install wrk nginx-light (make bench does it as root)"
            )
    if not any(h in args.pg for h in ("@127.0.0.1", "@localhost", "@[::1]")):
        sys.exit("--pg must point at 127.0.0.1")
    info = machine()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="postback-bench-") as tmp:
        work = Path(tmp)
        with nginx(work) as port:
            base = wrk(
                f"http://127.0.0.1:{port}/click?offer_id=1&aff_id=1", args.seconds, args.connections
            )
            # The open-loop generator's own floor: nginx at the rate the clicks get below.
            floor = open_loop(work, port, 0.6 * 0.25 * base.rps, args.seconds, "/click?offer_id=1")
        print(f"  nginx: {fmt(base.rps)} req/s, p99 {base.p99_ms:.2f} ms", flush=True)
        results = [run_backend(b, args, base.rps, work) for b in backends]
    text = report(info, base, floor, results, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    if not args.no_docs:
        update_docs(text)


if __name__ == "__main__":
    main()
