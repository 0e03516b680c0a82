"""Slow clients, as an attacker runs them: N connections that each send a POST's headers, then its
body one byte a second, reconnecting whenever the server closes one.

    python bench/slow_clients.py PORT N

Unauthenticated: the body never completes, so no signature is ever checked; the point is whether
the server keeps taking legitimate requests meanwhile. Prints "ready" once N connections are open;
runs until killed. 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import sys

HEAD = (
    b"POST /stripe/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Stripe-Signature: t=1,v1=00\r\nContent-Length: 100000\r\n\r\n"
)


async def one(port: int, opened: asyncio.Event, count: list[int], n: int) -> None:
    while True:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(HEAD)
            await writer.drain()
            count[0] += 1
            if count[0] >= n:
                opened.set()
            while True:
                writer.write(b"{")
                await writer.drain()
                await asyncio.sleep(1)
        except (ConnectionError, OSError):
            await asyncio.sleep(0.1)  # closed by the server: come back


async def main(port: int, n: int) -> None:
    opened, count = asyncio.Event(), [0]
    tasks = [asyncio.create_task(one(port, opened, count, n)) for _ in range(n)]
    await opened.wait()
    print("ready", flush=True)
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
