"""A fake Graph API for benchmarks: answers every POST at once with Meta's success body.

    python bench/fast_graph.py PORT

Not the checking fake of the tests (tests/fake_graph.py, which validates every request): this one
must not be the bound, so it is one asyncio process that parses just enough HTTP/1.1 (keep-alive,
Content-Length) to answer, and records when each message arrived, by second and by its
`biz_opaque_callback_data` (the delivery id, for end-to-end latency). `GET /stats` returns
{"total", "per_second": {unix second: count}, "arrivals": {delivery id: unix time}};
`POST /reset` clears them. Prints "ready" once listening. 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import sys
import time

_CALLBACK = re.compile(rb'"biz_opaque_callback_data":\s*"([^"]*)"')


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.per_second: collections.Counter[int] = collections.Counter()
        self.arrivals: dict[str, float] = {}

    def record(self, body: bytes) -> None:
        now = time.time()
        self.total += 1
        self.per_second[int(now)] += 1
        match = _CALLBACK.search(body)
        if match:
            self.arrivals[match.group(1).decode()] = now

    def json(self) -> bytes:
        return json.dumps({"total": self.total, "per_second": self.per_second, "arrivals": self.arrivals}).encode()


STATS = Stats()
_count = 0


def _reply(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _sent(body: bytes) -> bytes:
    global _count
    _count += 1
    to = re.search(rb'"to":\s*"\+?(\d+)"', body)
    wa_id = to.group(1).decode() if to else "0"
    answer = {"messaging_product": "whatsapp", "contacts": [{"input": "+" + wa_id, "wa_id": wa_id}]}
    answer["messages"] = [{"id": f"wamid.bench{_count:012d}", "message_status": "accepted"}]
    return _reply("200 OK", json.dumps(answer).encode())


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, _, headers = head.partition(b"\r\n")
            length = 0
            for line in headers.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            method, path = request_line.split(b" ")[:2]
            if method == b"GET" and path == b"/stats":
                writer.write(_reply("200 OK", STATS.json()))
            elif method == b"POST" and path == b"/reset":
                STATS.reset()
                writer.write(_reply("200 OK", b"{}"))
            elif method == b"POST":
                STATS.record(body)
                writer.write(_sent(body))
            else:
                writer.write(_reply("404 Not Found", b"{}"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
