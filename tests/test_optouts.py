"""Opt-outs: Meta's 131050 suppresses marketing templates for that customer; `bridge optout` for the rest."""

from __future__ import annotations

import json

from redis import Redis

from bridge.delivery.optouts import Scope
from bridge.delivery.records import Status
from bridge.stripe_events import samples
from tests.conftest import Bridge
from tests.fake_graph import FakeGraphAPI, Reply
from tests.test_cli import run_bridge

CUSTOMER, OTHER = "+14155550123", "+14155550199"


def record_of(bridge: Bridge, event: dict) -> dict[str, str]:
    (record,) = [d for d in bridge.deliveries() if d["event_id"] == event["id"]]
    return record


def test_131050_suppresses_that_customers_marketing_templates_only(bridge: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(131050))
    promo = samples.fresh_event("payment_intent.succeeded", phone=CUSTOMER)
    bridge.post(promo)
    bridge.work()
    refused = record_of(bridge, promo)
    assert (refused["status"], refused["error_code"]) == (Status.FAILED, 131050)
    assert bridge.scheduled() == [] and len(fake_graph.requests) == 1

    (optout,) = bridge.worker_runtime.optouts.list()
    assert (optout.phone, optout.scope) == (CUSTOMER, Scope.MARKETING)
    assert optout.info["template"] == "payment_receipt" and optout.info["delivery"] == refused["id"]
    assert optout.info["source"] == "Meta error 131050"
    assert bridge.worker_runtime.optouts.marketing_templates() == {"payment_receipt"}

    again = samples.fresh_event("payment_intent.succeeded", phone=CUSTOMER)  # the same template, same customer
    receipt = samples.fresh_event("invoice.paid", phone=CUSTOMER)  # another template: not known to be marketing
    someone_else = samples.fresh_event("payment_intent.succeeded", phone=OTHER)
    for event in (again, receipt, someone_else):
        bridge.post(event)
    bridge.work()

    skipped = record_of(bridge, again)
    assert skipped["status"] == Status.SKIPPED and skipped["attempts"] == 0
    assert skipped["reason"].startswith("opted out: the customer stopped marketing messages (Meta error 131050, ")
    assert "template payment_receipt" in skipped["reason"]
    assert (record_of(bridge, receipt)["status"], record_of(bridge, someone_else)["status"]) == (Status.SENT, Status.SENT)
    assert sorted((r.json["to"], r.json["template"]["name"]) for r in fake_graph.accepted) == [
        (CUSTOMER, "invoice_paid"),
        (OTHER, "payment_receipt"),
    ]


def test_other_permanent_errors_opt_nobody_out(bridge: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(131026))
    bridge.post(samples.fresh_event("payment_intent.succeeded", phone=CUSTOMER))
    bridge.work()
    assert bridge.worker_runtime.optouts.list() == []
    bridge.post(samples.fresh_event("payment_intent.succeeded", phone=CUSTOMER))
    bridge.work()
    assert len(fake_graph.accepted) == 1


def test_optout_cli_add_list_remove_and_replay(bridge: Bridge, fake_graph: FakeGraphAPI, redis: Redis, redis_url: str):
    env = {"REDIS_URL": redis_url, "BRIDGE_CONFIG": "config.example.toml"}
    added = run_bridge("optout", "add", "+1 (415) 555-0123", "--note", "asked by email", env=env)
    assert (added.returncode, added.stdout.strip()) == (0, "+1******0123: opted out (all)")

    event = samples.fresh_event("invoice.paid", phone=CUSTOMER)
    bridge.post(event)
    bridge.work()
    skipped = record_of(bridge, event)
    assert skipped["status"] == Status.SKIPPED
    assert skipped["reason"].startswith("opted out: the customer asked not to be messaged on WhatsApp (bridge optout add, ")
    assert fake_graph.requests == []

    listed = run_bridge("optout", "list", env=env)
    assert listed.returncode == 0 and "all" in listed.stdout and "+1******0123" in listed.stdout
    assert "4155550123" not in listed.stdout
    (line,) = run_bridge("optout", "list", "--json", env=env).stdout.splitlines()
    expected = {"phone": "+1******0123", "scope": "all", "source": "bridge optout add", "note": "asked by email"}
    assert json.loads(line) | {"at": 0} == expected | {"at": 0}

    bad = run_bridge("optout", "add", "12", env=env)
    assert bad.returncode == 2 and "PHONE" in bad.stderr

    removed = run_bridge("optout", "remove", CUSTOMER, env=env)
    assert (removed.returncode, removed.stdout.strip()) == (0, "+1******0123: opt-out removed (all); opt-in recorded")
    again = run_bridge("optout", "remove", CUSTOMER, env=env)  # an explicit opt-in, with nothing to undo
    assert (again.returncode, again.stdout.strip()) == (0, "+1******0123: no opt-out was on record; opt-in recorded (marketing, all)")
    assert run_bridge("optout", "list", env=env).stdout.strip() == "no opt-outs"

    # The customer opted in again: the skipped notice can be replayed under its own id.
    assert run_bridge("replay", skipped["id"], env=env).returncode == 0
    bridge.work()
    assert record_of(bridge, event)["status"] == Status.SENT
    assert [r.json["to"] for r in fake_graph.accepted] == [CUSTOMER]
