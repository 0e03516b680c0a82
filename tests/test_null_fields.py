"""A null is not a value: a null field renders like a missing one, a field missing from `{}` is missing data."""

from __future__ import annotations

import pytest

from bridge.config import parse_config
from bridge.delivery.records import Status
from bridge.errors import MissingDataError, RenderError
from bridge.mappings.compile import compile_mappings
from tests.conftest import Bridge, event_of, example_raw, make_config
from tests.fake_graph import FakeGraphAPI
from tests.test_mapping import compile_one, ctx

DRAFT_INVOICE = {"number": None, "hosted_invoice_url": None, "amount_due": 1999, "currency": "usd", "customer_name": "Jenny"}


def rendered(template: str, obj: dict) -> str:
    return compile_one(body=[template]).render(ctx(obj)).parameters[0].text


def example_mapping(name: str):
    raw = example_raw()
    raw["stripe"]["webhook_secrets"] = ["whsec_x"]
    return next(m for m in compile_mappings(parse_config(raw, source="x.toml")) if m.name == name)


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ("{{ object.number }}", "number"),
        ("Invoice {{ object.number }} is due", "number"),
        ("{{ object['hosted_invoice_url'] }}", "hosted_invoice_url"),
        ("{{ object.number ~ '' }}", "number"),
        ("{{ object.number | upper }}", "number"),
        ("{{ object.amount_due | money(object.currency) }}", "amount_due"),
        ("{{ object.created | date }}", "created"),
    ],
)
def test_a_null_field_never_renders_as_none_but_fails_naming_the_field(template, field):
    with pytest.raises(RenderError, match=rf"^body\[0\]: {field} is null in this event: add \| default") as excinfo:
        rendered(template, {**DRAFT_INVOICE, "amount_due": None, "created": None})
    assert not isinstance(excinfo.value, MissingDataError)


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("{{ object.number | default('draft') }}", "draft"),
        ("{{ object.number | d('draft') }}", "draft"),
        ("{{ object.number | default('draft', true) }}", "draft"),
        ("{{ object.number or 'draft' }}", "draft"),
        ("{{ object.hosted_invoice_url | default(object.customer_name) }}", "Jenny"),
        ("{{ 'null' if object.number is none else 'set' }}", "null"),
        ("{{ object.number is not none }}|{{ object.number == none }}|{{ object.number is defined }}", "False|True|False"),
        ("{{ [object.number, object.customer_name] | select('none') | list | length }}", "1"),
        ("{{ object.shipping.name | default('there') }}", "there"),
    ],
)
def test_default_replaces_a_null_and_null_tests_like_none(template, text):
    assert rendered(template, {**DRAFT_INVOICE, "shipping": None}) == text


def test_a_field_of_a_null_field_is_undefined_naming_the_null_one():
    with pytest.raises(RenderError, match=r"undefined field: 'shipping' is null, so it has no attribute 'name'"):
        rendered("{{ object.shipping.name }}", {"shipping": None})


def test_the_example_when_is_still_false_for_a_null_shipping():
    mapping = example_mapping("payment_received")
    assert mapping.settings.when == "object.shipping is not none"
    assert not mapping.applies(ctx({"shipping": None}, "payment_intent.succeeded"))
    assert mapping.applies(ctx({"shipping": {"name": "Jenny"}}, "payment_intent.succeeded"))


def test_a_null_field_in_when_is_false():
    assert not compile_one(when="object.refunded", body=["x"]).applies(ctx({"refunded": None}))


def test_an_empty_object_lacking_the_field_is_missing_data():
    mapping = example_mapping("payment_received")
    context = ctx({"shipping": {}, "amount_received": 1999, "currency": "usd", "metadata": {}, "id": "pi_1"}, "payment_intent.succeeded")
    assert mapping.applies(context)  # {} is not none
    with pytest.raises(MissingDataError, match=r"^body\[0\]: no 'name' in this event: the object it is read from is empty") as excinfo:
        mapping.render(context)
    assert (excinfo.value.mapping, excinfo.value.key) == ("payment_received", "body[0]")


def test_an_empty_object_read_in_when_is_missing_data_too():
    with pytest.raises(MissingDataError, match=r"^when: no 'status'") as excinfo:
        compile_one(when="object.shipping.status == 'shipped'", body=["x"]).applies(ctx({"shipping": {}}))
    assert excinfo.value.key == "when"


def test_default_rescues_a_field_missing_from_an_empty_object():
    assert rendered("{{ object.metadata.order_id | default(object.id) }}", {"metadata": {}, "id": "pi_1"}) == "pi_1"


@pytest.mark.parametrize("template", ["{{ object.shipping.nmae }}", "{{ object.shipping['nmae'] }}"])
def test_a_field_missing_from_a_non_empty_object_is_a_plain_render_error(template):
    with pytest.raises(RenderError, match="undefined field: the object has no attribute 'nmae'") as excinfo:
        rendered(template, {"shipping": {"name": "Jenny"}})
    assert not isinstance(excinfo.value, MissingDataError)


def test_a_draft_invoice_with_a_null_number_is_never_sent_reading_none(redis, redis_url: str, fake_graph: FakeGraphAPI):
    body = ["{{ object.customer_name }}", "{{ object.number }}", "{{ object.hosted_invoice_url }}"]
    base = {"events": ["invoice.payment_failed"], "template": "invoice_payment_failed", "language": "en_US", "body": body}
    mappings = [{**base, "name": "unguarded"}, {**base, "name": "guarded", "when": "object.number is not none"}]
    bridge = Bridge(make_config(redis_url, fake_graph, mappings=mappings))
    try:
        bridge.post(event_of("invoice.payment_failed", number=None, hosted_invoice_url=None))
        bridge.work()
        deliveries = {d["mapping"]: d for d in bridge.deliveries()}
    finally:
        bridge.close()
    assert fake_graph.requests == []
    assert deliveries["unguarded"]["status"] == Status.FAILED
    assert deliveries["unguarded"]["error_message"].startswith("body[1]: number is null in this event")
    assert deliveries["guarded"]["status"] == Status.SKIPPED


def test_an_empty_shipping_that_passes_when_is_skipped_with_the_reason_not_failed(bridge: Bridge, fake_graph: FakeGraphAPI):
    """The example's payment_received: `when = "object.shipping is not none"` lets `{}` through."""
    bridge.post(event_of("payment_intent.succeeded", shipping={}, metadata={"whatsapp": "+14155550123"}))
    bridge.work()
    assert fake_graph.requests == []
    (record,) = bridge.deliveries()
    assert record["status"] == Status.SKIPPED
    assert "name" in record["reason"] and "empty" in record["reason"]
