"""The layout's rules, checked on the source: each foreign library's errors are translated in one place.

redis errors   → StoreUnavailable in bridge/redis_conn.py (the stores use its decorator)
httpcore       → DeliveryError in bridge/whatsapp/client.py (Meta); with httpx, the helpdesk forwarder
                 (bridge/updates/forward.py) and the dev tool `simulate` each call one other
                 party and translate their own
stripe         → only inside bridge/stripe_events/; its errors → the bridge's in bridge/stripe_events/api.py
bridge         never imports workers (RQ finds `workers.jobs` by name)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bridge.delivery.queueing import DeliveryJobs
from bridge.errors import StoreUnavailable
from bridge.runtime import Role, build_runtime
from bridge.stripe_events import samples
from tests.conftest import ROOT, make_config

SOURCES = sorted(p for folder in ("bridge", "workers") for p in (ROOT / folder).rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def importers(prefix: str) -> set[str]:
    return {str(p.relative_to(ROOT)) for p in SOURCES if any(m == prefix or m.startswith(prefix + ".") for m in imported_modules(p))}


def test_redis_errors_are_translated_in_one_module():
    assert importers("redis.exceptions") <= {"bridge/redis_conn.py", "bridge/dev/dev_redis.py"}


def test_httpx_is_used_only_by_the_whatsapp_client_the_forwarder_and_the_simulate_tool():
    assert importers("httpx") <= {"bridge/whatsapp/client.py", "bridge/updates/forward.py", "bridge/dev/simulate.py"}
    assert importers("httpcore") <= {"bridge/whatsapp/client.py"}


def test_stripe_is_used_only_inside_stripe_events():
    assert all(path.startswith("bridge/stripe_events/") for path in importers("stripe"))


def test_stripe_errors_are_translated_in_one_module():
    """Callers catch `stripe.StripeError` and hand it to `api.translate`; only it names the kinds."""
    kinds = ("AuthenticationError", "PermissionError", "APIConnectionError", "RateLimitError", "APIError")
    naming = {str(p.relative_to(ROOT)) for p in SOURCES if any(f"stripe.{kind}" in p.read_text() for kind in kinds)}
    assert naming == {"bridge/stripe_events/api.py"}


def test_bridge_never_imports_workers():
    assert not any(path.startswith("bridge/") for path in importers("workers"))


def test_every_redis_step_of_the_worker_answers_store_unavailable_when_redis_is_away():
    """Nothing answers on port 1: each store's first command fails, and says so in the bridge's terms."""
    config = make_config("redis://127.0.0.1:1/0", dry_run=True)
    rt = build_runtime(config, role=Role.WORKER)
    event = samples.fresh_event("invoice.paid")
    steps = [
        lambda: rt.store.accept_event(event["id"], b"{}", [], DeliveryJobs("q", "qs", "j:", ()), now=1.0),
        lambda: rt.store.claim("evt_1:m", pause_key=rt.pause_key, order_wait=0, mode="normal", now=1.0),
        lambda: rt.store.transition("evt_1:m", ("queued",), "sent", now=1.0),
        lambda: rt.store.query(status="failed"),
        lambda: rt.store.pause_info(""),
        lambda: rt.gate.acquire("+14155550123", "receipt", "en_US", "evt_1:m", 1.0),
        lambda: rt.optouts.list(),
    ]
    try:
        for step in steps:
            with pytest.raises(StoreUnavailable, match="Redis unavailable"):
                step()
    finally:
        rt.close()
