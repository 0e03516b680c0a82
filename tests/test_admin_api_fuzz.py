"""Schemathesis fuzzes the admin API from its own OpenAPI document, against a running app (a real
socket) with a real Redis: no 5xx, and every answer matches the document (status, content type,
body schema). Bounded: a fixed number of examples per operation and a fixed seed.

`test_every_operation_was_fuzzed` (last in the file) checks that every documented operation ran
its examples, and records the figures in the test run's artifacts.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from redis import Redis
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from bridge.stripe_events import samples
from bridge.web.app import create_app
from tests.browser import live_server
from tests.conftest import Bridge, make_config
from tests.fake_graph import FakeGraphAPI, Reply
from tests.test_admin_api import AUTH, TOKEN

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
"""Examples per operation (FUZZ_EXAMPLES raises it for a longer run)."""
SEED = int(os.environ.get("FUZZ_SEED", "20261202"))
"""The fixed seed (FUZZ_SEED tries another)."""
CASES: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()


@pytest.fixture(scope="module")
def live_api(redis_url: str) -> Iterator[str]:
    """The app on a real socket, with a few deliveries (sent and failed) for the routes to find."""
    Redis.from_url(redis_url).flushdb()
    with FakeGraphAPI() as fake:
        bridge = Bridge(make_config(redis_url, fake, admin={"token": TOKEN}))
        fake.script(Reply.error(131026))
        for event_type in ("invoice.paid", "invoice.paid", "charge.refunded"):
            assert bridge.post(samples.fresh_event(event_type)).status_code == 200
        bridge.work()
        try:
            with live_server(bridge.app) as url:
                yield url
        finally:
            bridge.close()
            Redis.from_url(redis_url).flushdb()


def documented_operations() -> list[str]:
    """`METHOD /path` of every operation, read from the document the app serves (no Redis needed)."""
    app = create_app(make_config("redis://127.0.0.1:1/0", dry_run=True, admin={"token": TOKEN}))
    try:
        document = app.test_client().get("/api/v1/openapi.json").json
    finally:
        app.extensions["bridge"].close()
    methods = ("get", "post", "put", "patch", "delete")
    return [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item if method in methods]


OPERATIONS = documented_operations()


@pytest.fixture(scope="module")
def api_schema(live_api: str):
    return schemathesis.openapi.from_url(f"{live_api}/api/v1/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("label", OPERATIONS)
def test_the_admin_api_answers_every_generated_request_as_documented(
    label: str, mode: GenerationMode, api_schema, live_api: str, redis_url: str
):
    """Positive cases (valid by the document) and negative ones (invalid by it: they must be 4xx)."""
    operation = api_schema.find_operation_by_label(label)
    redis = Redis.from_url(redis_url)

    @given(case=operation.as_strategy(generation_mode=mode))
    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case) -> None:
        # Not positive_data_acceptance: a request valid by the document may still name a delivery,
        # phone number or calendar date that does not exist, which no JSON Schema can say; the
        # bridge answers those 404/409/422 with a reason, as documented.
        response = case.call_and_validate(base_url=live_api, headers=AUTH, excluded_checks=[positive_data_acceptance])
        # The ignored_auth check tries wrong tokens on purpose: forget them, or the door's limit
        # would answer every later case 429 and the fuzzing would stop at the door.
        for key in redis.scan_iter("bridge:admin-auth:*"):
            redis.delete(key)
        CASES[label] += 1
        STATUSES[response.status_code] += 1
        assert response.status_code < 500

    try:
        fuzz()
    finally:
        redis.close()


def test_every_operation_was_fuzzed(live_api: str, tmp_path_factory: pytest.TempPathFactory):
    operations = set(OPERATIONS)
    assert set(CASES) == operations, "every documented operation is fuzzed"
    assert min(CASES.values()) >= 1
    assert not [status for status in STATUSES if status >= 500]
    figures = {"operations": len(operations), "cases": sum(CASES.values()), "by_status": dict(sorted(STATUSES.items())), "seed": SEED}
    out = Path(os.environ.get("TEST_ARTIFACTS") or tmp_path_factory.mktemp("fuzz")) / "admin_api_fuzz.json"
    out.write_text(json.dumps({**figures, "by_operation": dict(sorted(CASES.items()))}, indent=2))
    print(f"\nadmin API fuzz: {figures}")
