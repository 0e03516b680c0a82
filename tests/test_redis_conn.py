"""Redis connections as deployed: Heroku's `rediss://` with a self-signed certificate, and the
persistence check that warns when a restart or eviction could lose accepted events."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bridge.config import load_config
from bridge.delivery.records import Status
from bridge.dev.dev_redis import RedisServer, free_port, redis_server_binary
from bridge.redis_conn import connect, persistence_warnings
from bridge.stripe_events import samples
from tests.conftest import EXAMPLE_CONFIG, SECRET, Bridge, stop_process, wait_until
from tests.fake_graph import FakeGraphAPI

PASSWORD = "p4ssw0rd-like-herokus"


@pytest.fixture
def tls_redis_url(tmp_path: Path) -> Iterator[str]:
    """A redis-server speaking only TLS, with a self-signed certificate and a password (as Heroku's)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    make_cert = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=ec2-host.compute.amazonaws.com"]
    subprocess.run(
        [*make_cert, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    port = free_port()
    args = [redis_server_binary(), "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    args += ["--tls-auth-clients", "no", "--requirepass", PASSWORD, "--save", "", "--dir", str(tmp_path)]
    with open(tmp_path / "redis.log", "wb") as log:
        server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0"
    try:

        def up() -> bool:
            if server.poll() is not None:
                pytest.skip(f"this redis-server has no TLS support: {(tmp_path / 'redis.log').read_text()[-300:]}")
            try:
                return bool(connect(url, connect_timeout=0.5).ping())
            except Exception:
                return False

        wait_until(up, timeout=10, message="the TLS redis-server")
        yield url
    finally:
        stop_process(server)


def test_rediss_with_a_self_signed_certificate_carries_an_event_end_to_end(tls_redis_url: str, fake_graph: FakeGraphAPI):
    # A plain client that verifies certificates is refused: the certificate really is self-signed.
    strict = Redis.from_url(tls_redis_url, socket_connect_timeout=2)
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        strict.ping()
    strict.close()

    env = {
        "REDIS_URL": "redis://127.0.0.1:1/0",  # REDIS_TLS_URL wins, as on Heroku where both are set
        "REDIS_TLS_URL": tls_redis_url,
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "WHATSAPP_ACCESS_TOKEN": fake_graph.token,
        "WHATSAPP_PHONE_NUMBER_ID": fake_graph.phone_number_id,
        "WHATSAPP_API_BASE_URL": fake_graph.base_url,
        "WHATSAPP_API_VERSION": fake_graph.api_version,
    }
    bridge = Bridge(load_config(EXAMPLE_CONFIG, env=env))
    try:
        event = samples.fresh_event("invoice.paid")
        response = bridge.post(event)
        assert (response.status_code, response.get_json()) == (200, {"status": "queued"})
        bridge.work()
        assert [d["status"] for d in bridge.deliveries()] == [Status.SENT]
        assert len(fake_graph.accepted) == 1 and fake_graph.problems == []
    finally:
        bridge.close()


def test_persistence_warnings_name_what_could_lose_jobs():
    volatile, durable = RedisServer().start(), RedisServer(persistent=True).start()
    clients = [Redis.from_url(volatile.url), Redis.from_url(durable.url)]
    try:
        assert persistence_warnings(clients[0]) == [
            "Redis append-only file is off (appendonly no): a Redis restart can lose queued jobs; enable AOF"
        ]
        clients[0].config_set("maxmemory-policy", "allkeys-lru")
        warnings = persistence_warnings(clients[0])
        assert len(warnings) == 2 and "maxmemory-policy is allkeys-lru" in warnings[1]
        assert persistence_warnings(clients[1]) == []  # AOF and noeviction, as production should run
    finally:
        for client in clients:
            client.close()
        volatile.stop()
        durable.stop()


def test_persistence_warnings_when_info_is_hidden():
    unreachable = connect(f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.2)
    (warning,) = persistence_warnings(unreachable)
    assert warning.startswith("could not read Redis INFO (ConnectionError)")
