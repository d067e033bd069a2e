"""A fast partner endpoint for the delivery benchmark: raw asyncio HTTP/1.1 on 127.0.0.1.

Listens on one port per partner, answers every request `200 ok` (keep-alive), and notes
when each arrived and the `txid` it carries. A port given with --hang reads requests and
never answers (a partner that hangs until the sender's timeout). On SIGTERM or SIGINT, or
after --max-seconds, it writes what it saw as JSON to --out and exits.

    python bench/receiver.py --ports 19101,19102 --hang 19101 --out arrivals.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
MAX_HEAD = 65_536


class Arrivals:
    def __init__(self) -> None:
        self.by_port: dict[int, list[tuple[float, str]]] = {}

    def note(self, port: int, target: bytes) -> None:
        txid = ""
        query = urlsplit(target.decode("latin-1")).query
        for key, value in parse_qsl(query):
            if key == "txid":
                txid = value
                break
        self.by_port.setdefault(port, []).append((time.time(), txid))


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    port: int,
    hang: bool,
    arrivals: Arrivals,
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > MAX_HEAD:
                break
            lines = head.split(b"\r\n")
            target = lines[0].split(b" ")[1] if b" " in lines[0] else b"/"
            length = 0
            for line in lines[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if length:
                await reader.readexactly(length)
            if hang:
                # Never answer: the sender's timeout ends the attempt.
                await reader.read()
                break
            arrivals.note(port, target)
            writer.write(REPLY)
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    except asyncio.CancelledError:
        pass  # the receiver is stopping
    finally:
        writer.close()


async def main(ports: list[int], hang: set[int], out: Path, max_seconds: float) -> None:
    arrivals = Arrivals()
    servers = []
    for port in ports:

        async def handle(
            reader: asyncio.StreamReader,
            writer: asyncio.StreamWriter,
            port: int = port,
        ) -> None:
            await serve_connection(reader, writer, port, port in hang, arrivals)

        servers.append(await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    Path(str(out) + ".ready").write_text("ready")  # noqa: ASYNC240 (a few bytes, once)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max_seconds)
    for server in servers:
        server.close()
    text = json.dumps({str(port): seen for port, seen in arrivals.by_port.items()})
    out.write_text(text)  # noqa: ASYNC240 (the servers are closed: nothing else to wait for)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ports", required=True, help="comma-separated ports")
    parser.add_argument("--hang", default="", help="comma-separated ports that never answer")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    hang_ports = {int(p) for p in args.hang.split(",") if p}
    asyncio.run(
        main([int(p) for p in args.ports.split(",")], hang_ports, args.out, args.max_seconds)
    )
