"""Mappings saved in Redis over the file's: the store, how each process picks a save up (at most one
version read a second, on an injected monotonic clock), the service's findings, the admin API's
PUT/DELETE, and the last verified event time the overview shows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis

from bridge.errors import InvalidRequest, StoreUnavailable
from bridge.keys import Keys
from bridge.mappings.saved import SavedMappings
from bridge.runtime import Runtime
from bridge.services import mappings as service
from bridge.stripe_events import samples
from tests.conftest import Bridge
from tests.test_admin_api import AUTH, Admin, admin_bridge

STAFF = "+14155550199"
DISPUTE_ALERT = {
    "name": "dispute_alert",
    "events": ["charge.dispute.created"],
    "template": "dispute_opened",
    "language": "en_US",
    "body": ["{{ object.reason }}", "{{ object.amount | money(object.currency) }}"],
    "recipients": [STAFF],
}
"""A mapping the file does not have: the file ignores charge.dispute.created."""


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def paced(bridge: Bridge) -> tuple[Runtime, Runtime, Clock]:
    """The bridge's web and worker runtimes (two processes), both on one hand-moved clock."""
    clock = Clock()
    web: Runtime = bridge.app.extensions["bridge"]
    for rt in (web, bridge.worker_runtime):
        rt.live_mappings.monotonic = clock
    return web, bridge.worker_runtime, clock


@pytest.fixture
def two(redis: Redis, redis_url: str) -> Iterator[tuple[Admin, Bridge]]:
    """Two dry-run bridges on one Redis: the first saves through its API, the second stands for another process."""
    first, second = admin_bridge(redis_url, dry_run=True), admin_bridge(redis_url, dry_run=True)
    try:
        yield Admin(first), second
    finally:
        first.close()
        second.close()


def put(admin: Admin, name: str, table: dict[str, Any]):
    return admin.client.put(f"/api/v1/mappings/{name}", json=table, headers=AUTH)


def file_table(bridge: Bridge, name: str) -> dict[str, Any]:
    return dict(next(m.table for m in bridge.config.mappings if m.name == name))


def records_of(bridge: Bridge, event_id: str) -> list[dict[str, Any]]:
    store = bridge.store
    return [store.get_delivery(d.decode()) or {} for d in store.redis.smembers(store.keys.event_deliveries(event_id))]


def templates_sent(bridge: Bridge, event_id: str) -> set[str]:
    return {record["template"] for record in records_of(bridge, event_id)}


# -- another process picks a save up ------------------------------------------------------------


def test_a_saved_mapping_reaches_another_process_webhook_and_worker_after_the_refresh_interval(two: tuple[Admin, Bridge]):
    admin, other = two
    web, worker, clock = paced(other)
    assert other.post(samples.fresh_event("charge.dispute.created")).json == {"status": "ignored"}

    assert put(admin, "dispute_alert", DISPUTE_ALERT).status_code == 200
    clock.now += 0.5
    assert other.post(samples.fresh_event("charge.dispute.created")).json == {"status": "ignored"}, "not re-read within the second"

    clock.now += 0.5
    event = samples.fresh_event("charge.dispute.created")
    assert other.post(event).json == {"status": "queued"}
    other.work()
    sent = other.store.outbox()
    assert [(m["request"]["template"]["name"], m["request"]["to"]) for m in sent] == [("dispute_opened", STAFF)]
    assert "dispute_alert" in worker.mappings and "dispute_alert" in web.mappings


def test_a_mapping_saved_over_the_files_is_used_and_deleting_it_brings_the_files_back(two: tuple[Admin, Bridge]):
    admin, other = two
    _web, _worker, clock = paced(other)
    other.post(samples.fresh_event("invoice.paid"))  # the first read, at version 0
    table = {**file_table(other, "invoice_paid"), "template": "invoice_receipt"}
    assert put(admin, "invoice_paid", table).json["source"] == "saved_over_file"

    clock.now += 1
    saved_event = samples.fresh_event("invoice.paid")
    assert other.post(saved_event).json == {"status": "queued"}
    assert admin.delete("/api/v1/mappings/invoice_paid").json == {"name": "invoice_paid", "file_applies": True}
    clock.now += 1
    file_event = samples.fresh_event("invoice.paid")
    assert other.post(file_event).json == {"status": "queued"}
    other.work()
    assert (templates_sent(other, saved_event["id"]), templates_sent(other, file_event["id"])) == ({"invoice_receipt"}, {"invoice_paid"})


def test_the_saving_process_uses_its_save_at_once(two: tuple[Admin, Bridge]):
    admin, _other = two
    web: Runtime = admin.bridge.app.extensions["bridge"]
    web.live_mappings.monotonic = Clock()  # frozen: only the save's own expiry can refresh
    assert "dispute_alert" not in web.mappings
    put(admin, "dispute_alert", DISPUTE_ALERT)
    assert "dispute_alert" in web.mappings
    admin.delete("/api/v1/mappings/dispute_alert")
    assert "dispute_alert" not in web.mappings


def test_within_the_interval_the_webhook_path_reads_no_version_from_redis(two: tuple[Admin, Bridge], redis: Redis):
    _admin, other = two
    web, _worker, clock = paced(other)
    other.post(samples.fresh_event("charge.dispute.created"))
    before = redis.info("commandstats").get("cmdstat_get", {}).get("calls", 0)
    for _ in range(5):
        assert other.post(samples.fresh_event("charge.dispute.created")).json == {"status": "ignored"}
        clock.now += 0.1
    assert redis.info("commandstats").get("cmdstat_get", {}).get("calls", 0) == before
    assert web.live_mappings.current().version == 0


def test_a_delivery_whose_saved_mapping_was_deleted_before_sending_fails_as_no_longer_configured(two: tuple[Admin, Bridge]):
    admin, other = two
    _web, _worker, clock = paced(other)
    put(admin, "dispute_alert", DISPUTE_ALERT)
    event = samples.fresh_event("charge.dispute.created")
    assert other.post(event).json == {"status": "queued"}
    admin.delete("/api/v1/mappings/dispute_alert")
    clock.now += 1
    other.work()
    (record,) = records_of(other, event["id"])
    assert (record["status"], record["error_message"]) == ("failed", "mapping 'dispute_alert' is no longer configured")


def test_a_saved_mapping_that_no_longer_compiles_is_skipped_and_logged_and_the_files_applies(
    two: tuple[Admin, Bridge], redis: Redis, caplog: pytest.LogCaptureFixture
):
    _admin, other = two
    web, _worker, _clock = paced(other)
    broken = {**file_table(other, "invoice_paid"), "template": "invoice_receipt", "when": "object.amount_paid >"}
    SavedMappings(redis, keys=Keys("bridge")).save(broken)  # as if saved by an older version that accepted it
    assert web.mappings["invoice_paid"].settings.template == "invoice_paid"
    assert "saved mapping 'invoice_paid' not used" in caplog.text
    (entry,) = [e for e in service.mapping_entries(web) if e.name == "invoice_paid"]
    assert entry.source is service.MappingSource.SAVED_OVER_FILE
    assert [p.key for p in entry.problems] == ["mappings[invoice_paid].when"]


def test_a_process_that_never_read_the_saved_mappings_does_not_guess_when_redis_is_away(redis_url: str):
    bridge = admin_bridge("redis://127.0.0.1:1/0", dry_run=True)
    try:
        with pytest.raises(StoreUnavailable):
            bridge.worker_runtime.mappings  # noqa: B018
        assert bridge.post(samples.fresh_event("charge.dispute.created")).status_code == 503
    finally:
        bridge.close()


# -- the service --------------------------------------------------------------------------------


def test_a_refused_save_stores_nothing_and_carries_the_findings(two: tuple[Admin, Bridge], redis: Redis):
    admin, _other = two
    rt: Runtime = admin.bridge.app.extensions["bridge"]
    with pytest.raises(service.MappingRefused) as refused:
        service.save_mapping(rt, {**DISPUTE_ALERT, "body": ["{{ object.reason | nosuchfilter }}"]})
    assert isinstance(refused.value, InvalidRequest)
    assert [p.key for p in refused.value.report.problems] == ["mappings[dispute_alert].body[0]"]
    assert not redis.exists("bridge:saved-mappings", "bridge:saved-mappings-version")


def test_entries_list_the_files_mappings_then_the_saved_ones_each_with_its_own_findings(two: tuple[Admin, Bridge]):
    admin, _other = two
    rt: Runtime = admin.bridge.app.extensions["bridge"]
    service.save_mapping(rt, {**DISPUTE_ALERT, "when": "object.amount > 100000000"})
    entries = {e.name: e for e in service.mapping_entries(rt)}
    assert list(entries) == [*(m.name for m in rt.config.mappings), "dispute_alert"]
    assert entries["dispute_alert"].source is service.MappingSource.SAVED
    assert entries["invoice_paid"].source is service.MappingSource.FILE
    assert entries["dispute_alert"].warnings == ["mappings[dispute_alert]: `when` is false for the sample charge.dispute.created event"]
    assert all("mappings[dispute_alert]" not in w for e in entries.values() if e.name != "dispute_alert" for w in e.warnings)
    assert all(not e.problems for e in entries.values())


def test_deleting_a_name_nothing_was_saved_under_changes_nothing(two: tuple[Admin, Bridge], redis: Redis):
    admin, _other = two
    rt: Runtime = admin.bridge.app.extensions["bridge"]
    assert service.delete_saved_mapping(rt, "invoice_paid") is False
    assert not redis.exists("bridge:saved-mappings-version")


def test_two_concurrent_saves_each_get_their_own_version_and_the_version_only_grows(redis: Redis, redis_url: str):
    saved = [SavedMappings(Redis.from_url(redis_url), keys=Keys("bridge")) for _ in range(2)]
    versions: list[list[int]] = [[], []]

    def save_many(n: int) -> None:
        for i in range(50):
            versions[n].append(saved[n].save({**DISPUTE_ALERT, "template": f"t{n}_{i}"}))

    threads = [threading.Thread(target=save_many, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(v == sorted(v) for v in versions)
    assert sorted(versions[0] + versions[1]) == list(range(1, 101))
    last = saved[0].read()
    assert last.version == 100
    assert last.tables["dispute_alert"]["template"] in {"t0_49", "t1_49"}


# -- the admin API --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("put", "/api/v1/mappings/dispute_alert"), ("delete", "/api/v1/mappings/dispute_alert")],
)
def test_saving_and_deleting_need_the_admin_token(two: tuple[Admin, Bridge], redis: Redis, method: str, path: str):
    admin, _other = two
    answer = getattr(admin.client, method)(path, json=DISPUTE_ALERT, headers={"Authorization": "Bearer wrong-token-0123456789abcdef"})
    assert answer.status_code == 401
    assert not redis.exists("bridge:saved-mappings")


@pytest.mark.parametrize(
    ("table", "status", "found"),
    [
        ({**DISPUTE_ALERT, "name": "other_name"}, 422, "is not the path's"),
        ({**DISPUTE_ALERT, "name": 7}, 422, "did not validate"),
        ({**DISPUTE_ALERT, "events": ["charge.nope"]}, 422, "unknown Stripe event type"),
        ({k: v for k, v in DISPUTE_ALERT.items() if k != "template"}, 422, "template"),
        ({**DISPUTE_ALERT, "recipients": ["not a number"]}, 422, "recipients"),
    ],
    ids=["name-differs", "name-not-text", "unknown-event", "no-template", "bad-staff-number"],
)
def test_a_put_that_cannot_be_saved_is_refused_with_its_reason_and_stores_nothing(
    two: tuple[Admin, Bridge], redis: Redis, table: dict[str, Any], status: int, found: str
):
    admin, _other = two
    answer = put(admin, "dispute_alert", table)
    assert answer.status_code == status
    assert found in answer.get_data(as_text=True)
    assert not redis.exists("bridge:saved-mappings")


def test_a_refused_put_answers_422_with_check_configs_problems_and_warnings(two: tuple[Admin, Bridge]):
    admin, _other = two
    answer = put(admin, "dispute_alert", {**DISPUTE_ALERT, "body": ["{{ object.nope.deeper }}"]})
    assert answer.status_code == 422
    assert set(answer.json) == {"error", "problems", "warnings"}
    assert [p["key"] for p in answer.json["problems"]] == ["mappings[dispute_alert].body[0]"]
    assert answer.json["problems"][0]["file"] == "saved mapping"


def test_a_put_without_a_name_takes_the_paths_and_the_list_shows_it_with_its_source(two: tuple[Admin, Bridge]):
    admin, _other = two
    table = {k: v for k, v in DISPUTE_ALERT.items() if k != "name"}
    saved = put(admin, "dispute_alert", table).json
    assert (saved["name"], saved["table"]["name"], saved["source"], saved["events"]) == (
        "dispute_alert",
        "dispute_alert",
        "saved",
        ["charge.dispute.created"],
    )
    items = {item["name"]: item for item in admin.get("/api/v1/mappings").json["items"]}
    assert items["dispute_alert"]["source"] == "saved" and items["invoice_paid"]["source"] == "file"
    assert all({"problems", "warnings"} <= set(item) for item in items.values())


def test_deleting_what_was_never_saved_is_404(two: tuple[Admin, Bridge]):
    admin, _other = two
    assert admin.delete("/api/v1/mappings/invoice_paid").status_code == 404
    put(admin, "dispute_alert", DISPUTE_ALERT)
    assert admin.delete("/api/v1/mappings/dispute_alert").json == {"name": "dispute_alert", "file_applies": False}
    assert admin.delete("/api/v1/mappings/dispute_alert").status_code == 404


# -- last verified event ------------------------------------------------------------------------


def test_the_last_verified_event_time_is_noted_for_queued_duplicate_and_ignored_events(two: tuple[Admin, Bridge], redis: Redis):
    admin, other = two
    assert admin.get("/api/v1/status").json["last_event_at"] is None
    times = iter([1_800_000_000.0, 1_800_000_010.0, 1_800_000_020.0, 1_800_000_020.5, 1_800_000_030.0])
    web: Runtime = other.app.extensions["bridge"]
    web.clock = lambda: next(times)
    event = samples.fresh_event("invoice.paid")
    other.post(event)
    assert other.store.last_event_at() == 1_800_000_000.0
    other.post(event)  # the duplicate: Stripe's webhook still reaches the bridge
    assert other.store.last_event_at() == 1_800_000_010.0
    other.post(samples.fresh_event("charge.dispute.created"))  # ignored: noted, at most once a second
    assert other.store.last_event_at() == 1_800_000_020.0
    other.post(samples.fresh_event("charge.dispute.created"))
    assert other.store.last_event_at() == 1_800_000_020.0, "half a second later: not written again"
    other.post(samples.fresh_event("charge.dispute.created"))
    assert admin.get("/api/v1/status").json["last_event_at"] == 1_800_000_030.0


def test_an_ignored_event_is_still_answered_200_when_the_time_cannot_be_noted(redis: Redis, redis_url: str):
    bridge = admin_bridge(redis_url, dry_run=True)
    try:
        web: Runtime = bridge.app.extensions["bridge"]
        assert web.mappings  # read once, while Redis answers
        web.redis.connection_pool.connection_kwargs["port"] = 1
        web.redis.connection_pool.disconnect()
        assert bridge.post(samples.fresh_event("charge.dispute.created")).json == {"status": "ignored"}
    finally:
        bridge.close()
