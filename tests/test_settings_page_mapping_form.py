"""The mapping form on the settings page, through Flask's test client against real Redis: saving
(refused with the findings next to the fields, nothing saved), preview, dry-run test send, delete
of a saved mapping, CSRF; and the pure form ↔ table conversion."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bridge.errors import ConfigProblem
from bridge.services.mappings import MappingSource, mapping_entries
from bridge.settings_page.mapping_form import BodyField, MappingForm, findings_by_field, form_from_table, table_from_form
from bridge.whatsapp.catalogue import snapshot_json
from tests.conftest import Bridge
from tests.fake_graph import DEFAULT_TEMPLATES, FakeGraphAPI, Reply
from tests.settings_page_support import admin_bridge, csrf_of, post_form, sign_in

NAME = "pi_paid"
BROKEN = "{{ object.amount_received | }}"
BODY = ["{{ object.shipping.name }}", "{{ object.amount_received | money(object.currency) }}", "{{ object.id[-8:] }}"]


def write_snapshot(folder: Path) -> str:
    path = folder / "templates.json"
    path.write_text(snapshot_json("102290129340398", "v23.0", 1_767_225_600.0, DEFAULT_TEMPLATES))
    return str(path)


@pytest.fixture
def site(redis: Redis, redis_url: str, tmp_path: Path) -> Iterator[Bridge]:
    bridge = admin_bridge(redis_url, whatsapp={"templates_file": write_snapshot(tmp_path)})  # dry run
    try:
        sign_in(bridge.client)
        yield bridge
    finally:
        bridge.close()


def fields(body: list[str] = BODY, **changes: str) -> dict[str, str]:
    form = {"name": NAME, "events": "payment_intent.succeeded", "template": "payment_receipt", "language": "en_US", "when": ""}
    form |= {f"body-{n}": value for n, value in enumerate(body, start=1)}
    return form | changes


def saved_names(bridge: Bridge) -> list[str]:
    return [e.name for e in mapping_entries(bridge.app.extensions["bridge"]) if e.source is not MappingSource.FILE]


def test_the_new_form_offers_the_snapshot_s_templates_with_their_placeholders(site: Bridge):
    page = site.client.get("/admin/mappings/new").get_data(as_text=True)
    assert "payment_receipt (ar, en_US, es): {{1}} {{2}} {{3}}" in page
    assert "payment_failed (en_US): {{customer_name}} {{amount}} {{reason}}" in page
    for field in ("name", "events", "when", "template", "language", "recipient", "sample", "phone"):
        assert f'<label for="{field}">' in page, field


def test_a_mapping_with_a_jinja_syntax_error_is_refused_with_the_finding_next_to_its_field(site: Bridge):
    response = post_form(
        site.client, "/admin/mappings/new", "/admin/mappings/new", **fields([BODY[0], "{{ object.amount_received | }}", BODY[2]])
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.search(r'id="body-2"[^>]*aria-describedby="body-help body-2-errors"[^>]*aria-invalid="true"', page), page
    errors = re.search(r'<ul class="findings field-errors" id="body-2-errors">(.*?)</ul>', page, re.S)
    assert (errors and "mappings[0].body[1]" in errors.group(1)) or "body[1]" in errors.group(1)
    assert "{{ object.amount_received | }}" in page, "the form keeps what was typed"
    assert saved_names(site) == [], "nothing saved"


def test_a_template_missing_from_the_snapshot_is_refused_next_to_the_template_field(site: Bridge):
    response = post_form(site.client, "/admin/mappings/new", "/admin/mappings/new", **fields(template="no_such_template"))
    assert response.status_code == 200
    assert 'id="template-errors"' in response.get_data(as_text=True)
    assert saved_names(site) == []


def test_a_valid_mapping_is_saved_listed_as_saved_and_can_be_deleted(site: Bridge):
    response = post_form(site.client, "/admin/mappings/new", "/admin/mappings/new", **fields())
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/mappings")
    listing = site.client.get("/admin/mappings").get_data(as_text=True)
    assert f"Mapping {NAME} saved" in listing and "saved on this page" in listing
    assert saved_names(site) == [NAME]
    edit = site.client.get(f"/admin/mappings/{NAME}").get_data(as_text=True)
    assert 'value="{{ object.shipping.name }}"' in edit and "Delete the saved mapping" in edit
    deleted = site.client.post(f"/admin/mappings/{NAME}/delete", data={"csrf_token": csrf_of(site.client.get("/admin/mappings"))})
    assert deleted.status_code == 303
    assert saved_names(site) == []


def test_editing_a_file_mapping_keeps_what_the_form_does_not_show_and_saves_it_over_the_file(site: Bridge):
    page = f"/admin/mappings/{'payment_received'}"
    form = site.client.get(page).get_data(as_text=True)
    assert 'value="{{ object.shipping.name }}"' in form and "Delete the saved mapping" not in form
    response = post_form(site.client, page, page, **fields(name="ignored", when="object.amount_received > 100"))
    assert response.status_code == 303
    (entry,) = [e for e in mapping_entries(site.app.extensions["bridge"]) if e.name == "payment_received"]
    assert entry.source is MappingSource.SAVED_OVER_FILE and entry.table["when"] == "object.amount_received > 100"


@pytest.mark.parametrize("token", [None, "forged"])
def test_saving_without_the_form_s_csrf_token_is_refused_and_saves_nothing(site: Bridge, token: str | None):
    data = fields() | ({"csrf_token": token} if token else {})
    assert site.client.post("/admin/mappings/new", data=data).status_code == 403
    assert saved_names(site) == []


def test_the_preview_shows_the_filled_in_message_and_the_api_body_with_the_number_masked(site: Bridge):
    response = post_form(site.client, "/admin/mappings/new", "/admin/mappings/new/preview", **fields(sample="payment_intent.succeeded"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    bubble = re.search(r'<p class="bubble-body">(.*?)</p>', page, re.S)
    assert bubble and bubble.group(1).startswith("Hi ") and "we received your payment of" in bubble.group(1) and "{{" not in bubble.group(1)
    body = re.search(r'<pre class="api-body"[^>]*>(.*?)</pre>', page, re.S)
    assert body and "&#34;messaging_product&#34;: &#34;whatsapp&#34;" in body.group(1)
    assert re.search(r"&#34;to&#34;: &#34;\+\d{1,3}\*+\d{4}&#34;", body.group(1)), body.group(1)
    assert saved_names(site) == [], "a preview saves nothing"


def test_a_preview_of_an_invalid_form_shows_the_findings_instead(site: Bridge):
    response = post_form(site.client, "/admin/mappings/new", "/admin/mappings/new/preview", **fields(when="object.amount >"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="when-errors"' in page and 'class="bubble-body"' not in page


def test_choosing_a_named_template_gives_one_field_per_named_placeholder(site: Bridge):
    page = post_form(site.client, "/admin/mappings/new", "/admin/mappings/new/preview", **fields(template="payment_failed")).get_data(
        as_text=True
    )
    assert [f for f in re.findall(r'<input id="(body-[^"]+)"', page)] == ["body-customer_name", "body-amount", "body-reason"]


def test_a_dry_run_test_send_says_the_request_is_in_the_outbox(site: Bridge):
    response = post_form(site.client, "/admin/mappings/new", "/admin/mappings/new/test-send", **fields(phone="+14155550123"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "Dry run: nothing was sent to +1******0123; the request is in the outbox." in page
    assert "+14155550123" not in page.replace('value="+14155550123"', "")


def test_findings_land_on_the_field_they_name_and_the_rest_stays_general():
    form = MappingForm(name="m", body=[BodyField("1", ""), BodyField("2", "")])
    problems = [
        ConfigProblem("saved", "mappings[m].body[1]", "bad"),
        ConfigProblem("saved", "mappings[0].when", "bad"),
        ConfigProblem("saved", "mappings[m].header", "bad"),
    ]
    placed = findings_by_field(problems, ["saved: mappings[m].template: no such template"], form)
    assert set(placed) == {"body-2", "when", "general", "template"}


def test_a_table_survives_the_form_unchanged():
    table = {
        "name": "m",
        "events": ["invoice.paid"],
        "template": "t",
        "language": ["en_US", "ar"],
        "when": "object.amount_paid > 0",
        "body": ["{{ object.customer_name }}", {"type": "currency", "amount": "{{ object.amount_paid }}", "currency": "usd"}],
        "buttons": [{"url": "x"}],
    }
    assert table_from_form(form_from_table(table, None), None) == table


def test_a_refused_test_send_shows_meta_s_code_and_meaning(redis: Redis, redis_url: str, tmp_path: Path, fake_graph: FakeGraphAPI):
    bridge = admin_bridge(redis_url, fake_graph, whatsapp={"templates_file": write_snapshot(tmp_path)})
    try:
        sign_in(bridge.client)
        fake_graph.script(Reply.error(131026))
        page = post_form(bridge.client, "/admin/mappings/new", "/admin/mappings/new/test-send", **fields(phone="+14155550123"))
        error = re.search(r'<div class="meta-error bad">(.*?)</div>', page.get_data(as_text=True), re.S)
        assert error and "error 131026" in error.group(1)
        assert "the number is not on WhatsApp or cannot receive this message" in error.group(1)
        assert fake_graph.accepted == []
    finally:
        bridge.close()


def test_an_unknown_mapping_has_no_form_and_deleting_an_unsaved_one_says_so(site: Bridge):
    assert site.client.get("/admin/mappings/no_such_mapping").status_code == 404
    response = post_form(site.client, "/admin/mappings", "/admin/mappings/payment_received/delete")
    assert response.status_code == 303
    assert "No mapping named payment_received was saved here." in site.client.get("/admin/mappings").get_data(as_text=True)
