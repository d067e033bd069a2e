"""An open-loop load generator for 127.0.0.1: requests at a steady rate, whatever the
server's speed, over keep-alive connections (raw asyncio HTTP/1.1).

Each request is due at a fixed time; its latency counts from when it was due, not from
when a free connection sent it, so a slow server cannot hide its queue (no coordinated
omission). For each request whose URL carries a `txid` it notes when the request was due,
when its reply arrived and the reply's status, for the delivery latency (scheduled send ->
partner arrival) and its ledger. Stops after --seconds, plus at most --drain-seconds for
replies still owed.

    python bench/loadgen.py --port 18080 --rate 500 --seconds 10 \
        --paths paths.txt --out replies.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit


class Results:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.replied_at: dict[str, float] = {}
        self.due_at: dict[str, float] = {}
        self.status_of: dict[str, int] = {}


def txid_of(path: str) -> str:
    for key, value in parse_qsl(urlsplit(path).query):
        if key == "txid":
            return value
    return ""


async def connection(
    port: int, queue: asyncio.Queue[tuple[float, str] | None], results: Results
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (item := await queue.get()) is not None:
            due, path = item
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: loadgen\r\n\r\n".encode()
            )
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:].strip())
                if length:
                    await reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError):
                results.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            now = time.time()
            status = int(head.split(b" ", 2)[1])
            results.statuses[status] += 1
            results.latencies_ms.append((now - due) * 1000)
            if txid := txid_of(path):
                results.replied_at[txid] = now
                results.due_at[txid] = due
                results.status_of[txid] = status
    finally:
        writer.close()


async def run(
    port: int, rate: float, seconds: float, paths: list[str], connections: int, drain: float
) -> Results:
    results = Results()
    queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
    workers = [asyncio.create_task(connection(port, queue, results)) for _ in range(connections)]
    start = time.time()
    total = min(int(rate * seconds), len(paths))
    interval = 1.0 / rate
    for n in range(total):
        due = start + n * interval
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, paths[n]))
    for _ in workers:
        queue.put_nowait(None)
    _done, pending = await asyncio.wait(workers, timeout=drain)
    for task in pending:
        task.cancel()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--paths", type=Path, required=True, help="one request path a line")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--drain-seconds", type=float, default=15.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    paths = args.paths.read_text().split()
    import uvloop

    results = uvloop.run(
        run(args.port, args.rate, args.seconds, paths, args.connections, args.drain_seconds)
    )
    args.out.write_text(
        json.dumps(
            {
                "latencies_ms": results.latencies_ms,
                "statuses": {str(k): v for k, v in results.statuses.items()},
                "errors": results.errors,
                "replied_at": results.replied_at,
                "due_at": results.due_at,
                "status_of": results.status_of,
            }
        )
    )


if __name__ == "__main__":
    main()
