"""`bridge check-config` against the templates snapshot: every mismatch Meta would refuse, before deploy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.mappings.check import check
from bridge.stripe_events import samples
from bridge.whatsapp.catalogue import snapshot_json
from tests.conftest import SECRET, Bridge, example_raw, make_config
from tests.fake_graph import DEFAULT_TEMPLATES, FakeGraphAPI
from tests.test_cli import run_bridge

PROMO_RECEIPT = {
    "name": "promo_receipt",
    "parameter_format": "POSITIONAL",
    "components": [{"type": "BODY", "text": "Thanks {{1}}! Enjoy 10% off your next order.", "example": {"body_text": [["Jenny"]]}}],
    "language": "en_US",
    "status": "APPROVED",
    "category": "MARKETING",
    "id": "1387372356726699",
}


def toml_value(value) -> str:
    """A value as TOML: strings as JSON strings (valid TOML basic strings), tables inline."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def write_config(folder: Path, mapping: dict, *, snapshot: bool = True) -> Path:
    """A config with one mapping and, beside it, a snapshot of the fake Graph API's catalogue."""
    if snapshot:
        (folder / "templates.json").write_text(
            snapshot_json("102290129340398", "v23.0", 1_767_225_600.0, [*DEFAULT_TEMPLATES, PROMO_RECEIPT])
        )
    lines = ["[stripe]", f'webhook_secrets = ["{SECRET}"]', "", "[[mappings]]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in mapping.items()]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def findings(folder: Path, mapping: dict) -> tuple[list[str], list[str]]:
    """(problems, warnings) of check-config, each as printed, without the file name."""
    path = write_config(folder, mapping)
    report = check(str(path), env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    strip = f"{path}: "
    return [str(p).removeprefix(strip) for p in report.problems], [w.removeprefix(strip) for w in report.warnings]


RECEIPT = {"name": "m", "events": ["payment_intent.succeeded"], "template": "payment_receipt", "language": "en_US"}
RECEIPT_BODY = ["{{ object.shipping.name }}", "{{ object.amount_received | money(object.currency) }}", "{{ object.id }}"]


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (
            {**RECEIPT, "body": RECEIPT_BODY[:2]},
            "mappings[m].body: the template's body takes 3 parameters ({{1}} {{2}} {{3}}), the mapping gives 2; Meta refuses that (132000)",
        ),
        (
            {
                **RECEIPT,
                "events": ["payment_intent.payment_failed"],
                "template": "payment_failed",
                "body": {"customer_name": "{{ object.shipping.name }}", "amount_due": "x", "reason": "y"},
            },
            "mappings[m].body: the template has no {{amount_due}} (it has {{customer_name}} {{amount}} {{reason}}); "
            "Meta refuses that (132000)",
        ),
        (
            {**RECEIPT, "template": "refund_issued", "language": "es", "body": RECEIPT_BODY},
            "mappings[m].template: refund_issued is PAUSED: Meta paused it for low quality (sends fail with 132015); "
            "edit it or wait for Meta to unpause it",
        ),
        (
            {**RECEIPT, "language": "fr", "body": RECEIPT_BODY},
            "mappings[m].language: payment_receipt has no fr translation (it has ar, en_US, es); Meta refuses the send (132001)",
        ),
        (
            {**RECEIPT, "events": ["invoice.paid"], "template": "invoice_document", "body": ["a", "b", "c"], "buttons": [{"url": "x"}]},
            'mappings[m].header: the template has a DOCUMENT header, the mapping gives none: give header = { document = "https://...", '
            "filename = ... } (132012 otherwise)",
        ),
        (
            {
                **RECEIPT,
                "events": ["invoice.paid"],
                "template": "invoice_document",
                "header": {"document": "{{ object.invoice_pdf }}"},
                "body": ["a", "b", "c"],
            },
            "mappings[m].buttons: the template's button 0 (URL https://billing.example.com/invoices/{{1}}) needs its URL suffix: "
            'add { url = "...", index = 0 }',
        ),
        (
            {**RECEIPT, "events": ["invoice.paid"], "template": "shipping_update", "body": ["a", "b"], "buttons": [{"url": "x"}]},
            'mappings[m].header: the template\'s header takes a text parameter ({{1}}): give header = { text = "..." }',
        ),
        (
            {**RECEIPT, "body": [*RECEIPT_BODY], "buttons": [{"payload": "x"}]},
            "mappings[m].buttons[0]: the template has no button 0 (it has 0); Meta refuses that (132000)",
        ),
        (
            {**RECEIPT, "template": "no_such_template", "body": RECEIPT_BODY},
            "mappings[m].template: no_such_template is not in the templates snapshot",
        ),
    ],
)
def test_each_mismatch_with_the_approved_template_is_an_error(tmp_path: Path, mapping: dict, expected: str):
    problems, _ = findings(tmp_path, mapping)
    assert any(p.startswith(expected) for p in problems), problems


def test_a_marketing_template_for_a_payment_notice_is_a_warning_not_an_error(tmp_path: Path):
    problems, warnings = findings(tmp_path, {**RECEIPT, "template": "promo_receipt", "body": ["{{ object.shipping.name }}"]})
    assert problems == []
    assert any(w.startswith("mappings[m].template: promo_receipt is a MARKETING template") for w in warnings), warnings


def test_each_language_of_a_mapping_is_checked(tmp_path: Path):
    problems, _ = findings(tmp_path, {**RECEIPT, "language": ["en_US", "ar", "de"], "body": RECEIPT_BODY[:2]})
    assert "mappings[m].language: payment_receipt has no de translation (it has ar, en_US, es); Meta refuses the send (132001)" in problems
    assert any(p.startswith("mappings[m].body: [ar] the template's body takes 3 parameters") for p in problems), problems
    assert any(p.startswith("mappings[m].body: [en_US] the template's body takes 3 parameters") for p in problems), problems


def test_without_a_snapshot_template_checks_are_skipped_and_said_so(tmp_path: Path):
    path = write_config(tmp_path, {**RECEIPT, "body": RECEIPT_BODY[:2]}, snapshot=False)
    report = check(str(path), env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert report.ok
    assert (
        f"template checks skipped: no templates snapshot at {tmp_path / 'templates.json'} (run `bridge templates pull`)" in report.warnings
    )


def test_values_that_would_be_cut_or_cleaned_for_a_sample_are_warned_about(tmp_path: Path):
    body = ["{{ object.shipping.name ~ '\\n' ~ ('x' * 2000) }}", RECEIPT_BODY[1], RECEIPT_BODY[2]]
    problems, warnings = findings(tmp_path, {**RECEIPT, "body": body})
    assert problems == []
    assert any(w.startswith("mappings[m].body[0]: line breaks, tabs, control characters or runs of spaces were cleaned") for w in warnings)
    # The template's own text takes 56 of the body's 1,024 characters; "$19.99" and the id take 33.
    assert any(w.startswith("mappings[m].body[0]: cut from 2,012 to 935 characters to fit the body (968 left)") for w in warnings), warnings


def test_check_config_exits_1_on_mismatches_and_0_with_only_warnings(tmp_path: Path):
    bad = run_bridge("check-config", "--config", str(write_config(tmp_path, {**RECEIPT, "body": RECEIPT_BODY[:2]})))
    assert bad.returncode == 1
    assert f"{tmp_path / 'config.toml'}: mappings[m].body: the template's body takes 3 parameters" in bad.stderr
    fine = run_bridge("check-config", "--config", str(write_config(tmp_path, {**RECEIPT, "template": "promo_receipt", "body": ["x"]})))
    assert fine.returncode == 0, fine.stderr
    assert "warning: " in fine.stderr and "MARKETING" in fine.stderr


def test_a_config_that_passes_the_checks_is_never_refused_by_the_strict_fake(
    tmp_path: Path, redis, redis_url: str, fake_graph: FakeGraphAPI
):
    """The example config, alerts included, against the catalogue: check-config passes, and every
    sample event then goes through a fake Graph API that refuses what Meta would (132000/132001/132012)."""
    config_path = tmp_path / "config.toml"
    config_path.write_text((Path(__file__).parent.parent / "config.example.toml").read_text())
    (tmp_path / "templates.json").write_text(snapshot_json("102290129340398", "v23.0", 1_767_225_600.0, DEFAULT_TEMPLATES))
    report = check(str(config_path), env={"REDIS_URL": redis_url, "STRIPE_WEBHOOK_SECRET": SECRET})
    assert report.ok, report.problems
    fake_graph.know_templates()
    bridge = Bridge(make_config(redis_url, fake_graph, mappings=example_raw()["mappings"]))
    try:
        for event_type in samples.event_types():
            bridge.post(samples.fresh_event(event_type))
        bridge.work_all()
    finally:
        bridge.close()
    assert fake_graph.problems == []
    assert {r.status for r in fake_graph.requests} == {200}
