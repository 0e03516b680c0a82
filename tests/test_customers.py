"""Customer lookup through the stripe SDK, against a local fake of Stripe's API over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bridge import samples
from bridge.store import Status
from tests.conftest import Bridge, make_config
from tests.fake_graph import FakeGraphAPI

API_KEY = "rk_test_51FakeKeyForTests"


class FakeStripe:
    """GET /v1/customers/{id}: the sample Customer (with a chosen phone), or Stripe's 404."""

    def __init__(self, phone: str | None):
        self.phone = phone
        self.requests: list[tuple[str, str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append((self.path, self.headers.get("Authorization")))
                customer = samples.sample_customer()
                if self.path == f"/v1/customers/{customer['id']}" and self.headers.get("Authorization") == f"Bearer {API_KEY}":
                    customer["phone"] = fake.phone
                    status, body = 200, customer
                else:
                    status, body = (
                        404,
                        {"error": {"code": "resource_missing", "message": "No such customer", "type": "invalid_request_error"}},
                    )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_test")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe(phone="+5511987654321")
    yield fake
    fake.stop()


def test_refund_without_a_phone_uses_the_customers_phone(redis, redis_url, fake_graph: FakeGraphAPI, fake_stripe: FakeStripe):
    config = make_config(redis_url, fake_graph, stripe={"api_key": API_KEY, "api_base_url": fake_stripe.url})
    bridge = Bridge(config)
    try:
        event = samples.fresh_event("refund.created")
        obj = event["data"]["object"]
        del obj["metadata"]["whatsapp"]
        obj["customer"] = samples.sample_customer()["id"]
        # The example mapping only handles refunds with metadata.whatsapp; use one without `when`.
        bridge.worker_runtime.mappings["refund_created"] = _without_when(bridge.worker_runtime.mappings["refund_created"])
        bridge.post(event)
        bridge.work()
        (request,) = fake_graph.requests
        assert request.json["to"] == "+5511987654321"
        assert request.json["template"]["components"][0]["parameters"][0]["text"] == "Jenny Rosen"  # customer.name
        assert fake_stripe.requests == [(f"/v1/customers/{obj['customer']}", f"Bearer {API_KEY}")]
        assert bridge.deliveries()[0]["status"] == Status.SENT
    finally:
        bridge.close()


def test_unknown_customer_is_skipped(redis, redis_url, fake_graph: FakeGraphAPI, fake_stripe: FakeStripe):
    bridge = Bridge(make_config(redis_url, fake_graph, stripe={"api_key": API_KEY, "api_base_url": fake_stripe.url}))
    try:
        event = samples.fresh_event("invoice.paid")
        event["data"]["object"].update(customer_phone=None, customer="cus_DoesNotExist1")
        bridge.post(event)
        bridge.work()
        assert fake_graph.requests == []
        record = bridge.deliveries()[0]
        assert record["status"] == Status.SKIPPED and "no phone number" in record["reason"]
    finally:
        bridge.close()


def _without_when(mapping):
    from dataclasses import replace

    return replace(mapping, when=None)
