"""The mapping form on the settings page, through Flask's test client against real Redis: saving
(refused 422 with the findings next to the fields, nothing saved), preview, dry-run test send,
delete of a saved mapping, CSRF, the header, button and staff-number fields, the mapping named
`new`; and the pure form ↔ table conversion, round-tripping every mapping of config.example.toml."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape as html_text
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from bridge.errors import ConfigProblem
from bridge.services.mappings import MappingSource, mapping_entries
from bridge.settings_page.mapping_form import (
    FIELDS_OF,
    TEXT_FIELDS,
    BodyField,
    HeaderField,
    MappingForm,
    chosen_template,
    findings_by_field,
    form_from_post,
    form_from_table,
    table_from_form,
)
from bridge.whatsapp.catalogue import Catalogue, parse_snapshot, snapshot_json
from tests.conftest import Bridge, example_raw
from tests.fake_graph import DEFAULT_TEMPLATES, FakeGraphAPI, Reply
from tests.settings_page_support import admin_bridge, csrf_of, post_form, sign_in

NAME = "pi_paid"
BROKEN = "{{ object.amount_received | }}"
BODY = ["{{ object.shipping.name }}", "{{ object.amount_received | money(object.currency) }}", "{{ object.id[-8:] }}"]


EXAMPLES = example_raw()["mappings"]
"""Every [[mappings]] table of config.example.toml, staff alerts included."""


def write_snapshot(folder: Path) -> str:
    path = folder / "templates.json"
    path.write_text(snapshot_json("102290129340398", "v23.0", 1_767_225_600.0, DEFAULT_TEMPLATES))
    return str(path)


def default_catalogue() -> Catalogue:
    return parse_snapshot(json.loads(snapshot_json("102290129340398", "v23.0", 1_767_225_600.0, DEFAULT_TEMPLATES)))


@pytest.fixture
def site(redis: Redis, redis_url: str, tmp_path: Path) -> Iterator[Bridge]:
    bridge = admin_bridge(redis_url, whatsapp={"templates_file": write_snapshot(tmp_path)})  # dry run
    try:
        sign_in(bridge.client)
        yield bridge
    finally:
        bridge.close()


@pytest.fixture
def examples(redis: Redis, redis_url: str, tmp_path: Path) -> Iterator[Bridge]:
    """The settings page over every mapping of config.example.toml, staff alerts included."""
    bridge = admin_bridge(redis_url, whatsapp={"templates_file": write_snapshot(tmp_path)}, mappings=EXAMPLES)
    try:
        sign_in(bridge.client)
        yield bridge
    finally:
        bridge.close()


class FormFields(HTMLParser):
    """What a browser posts from the page's form `form_id`: its inputs, textareas and selects, by name."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.fields = form_id, False, {}
        self.textarea: str | None = None
        self.select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = found.get("id") == self.form_id
        elif self.inside and tag == "input" and found.get("name") and found.get("type") not in ("submit", "button"):
            self.fields[found["name"]] = found.get("value", "")
        elif self.inside and tag == "textarea":
            self.textarea = found["name"]
            self.fields[self.textarea] = ""
        elif self.inside and tag == "select":
            self.select = found["name"]
        elif self.select and tag == "option" and (self.select not in self.fields or "selected" in found):
            self.fields[self.select] = found.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        self.inside = self.inside and tag != "form"
        self.textarea = None if tag == "textarea" else self.textarea
        self.select = None if tag == "select" else self.select

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.fields[self.textarea] += data


def form_fields(page: str, form_id: str = "mapping-form") -> dict[str, str]:
    parser = FormFields(form_id)
    parser.feed(page)
    return parser.fields


def entry_named(bridge: Bridge, name: str) -> Any:
    return next(e for e in mapping_entries(bridge.app.extensions["bridge"]) if e.name == name)


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
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="body-2"[^>]*aria-describedby="body-help body-2-errors"[^>]*aria-invalid="true"', page), page
    errors = re.search(r'<ul class="findings field-errors" id="body-2-errors">(.*?)</ul>', page, re.S)
    assert (errors and "mappings[0].body[1]" in errors.group(1)) or "body[1]" in errors.group(1)
    assert "{{ object.amount_received | }}" in page, "the form keeps what was typed"
    assert saved_names(site) == [], "nothing saved"


def test_a_template_missing_from_the_snapshot_is_refused_next_to_the_template_field(site: Bridge):
    response = post_form(site.client, "/admin/mappings/new", "/admin/mappings/new", **fields(template="no_such_template"))
    assert response.status_code == 422
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
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="when-errors"' in page and 'class="bubble-body"' not in page


def test_choosing_a_named_template_gives_one_field_per_named_placeholder(site: Bridge):
    chosen = fields(template="payment_failed", **{FIELDS_OF: "payment_receipt"})  # the page showed payment_receipt's fields
    page = post_form(site.client, "/admin/mappings/new", "/admin/mappings/new/preview", **chosen).get_data(as_text=True)
    assert [f for f in re.findall(r'<input id="(body-[^"]+)"', page)] == ["body-customer_name", "body-amount", "body-reason"]


def test_a_value_the_template_has_no_field_for_stays_on_the_form_until_emptied(site: Bridge):
    kept = post_form(
        site.client, "/admin/mappings/new", "/admin/mappings/new", **fields([*BODY, "{{ object.id }}"], **{FIELDS_OF: "payment_receipt"})
    )
    assert kept.status_code == 422
    page = kept.get_data(as_text=True)
    assert re.findall(r'<input id="(body-[^"]+)"', page) == ["body-1", "body-2", "body-3", "body-4"]
    assert "takes 3 parameters" in re.search(r'id="findings-body">(.*?)</ul>', page, re.S).group(1)
    emptied = post_form(site.client, "/admin/mappings/new", "/admin/mappings/new", **fields([*BODY, ""], **{FIELDS_OF: "payment_receipt"}))
    assert emptied.status_code == 303
    assert saved_names(site) == [NAME]


def test_a_dry_run_test_send_says_the_request_is_in_the_outbox(site: Bridge):
    response = post_form(site.client, "/admin/mappings/new", "/admin/mappings/new/test-send", **fields(phone="+14155550123"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert 'Dry run: nothing was sent to <bdi dir="ltr">+1******0123</bdi>; the request is in the outbox.' in page
    assert "+14155550123" not in page.replace('value="+14155550123"', "")


def test_findings_land_on_the_field_they_name_and_the_rest_stays_general():
    form = MappingForm(name="m", body=[BodyField("1", ""), BodyField("2", "")])
    problems = [
        ConfigProblem("saved", "mappings[m].body[1]", "bad"),
        ConfigProblem("saved", "mappings[0].when", "bad"),
        ConfigProblem("saved", "mappings[m].header", "bad"),
    ]
    placed = findings_by_field(problems, ["saved: mappings[m].template: no such template"], form, {"name": "m"})
    assert set(placed) == {"body-2", "when", "general", "template"}


@pytest.mark.parametrize(
    ("key", "target"),
    [
        ("mappings[invoice_payment_failed].header", "header-document"),
        ("mappings[invoice_payment_failed].header.filename", "header-document"),  # no file name field: the header's own
        ("mappings[invoice_payment_failed].header.name", "header-document"),
        ("mappings[invoice_payment_failed].buttons[0]", "button-1-payload"),  # the table lists the payload first
        ("mappings[invoice_payment_failed].buttons[1].url", "button-0-url"),
        ("mappings[invoice_payment_failed].buttons[1].index", "button-0-url"),
        ("mappings[invoice_payment_failed].buttons[5]", "buttons"),
        ("mappings[invoice_payment_failed].buttons", "buttons"),
        ("mappings[invoice_payment_failed].recipients[1]", "recipients"),
        ("mappings[invoice_payment_failed].body[3].value", "body-4"),
        ("mappings[invoice_payment_failed].body", "body"),
        ("mappings[invoice_payment_failed]", "general"),
    ],
)
def test_findings_about_the_header_buttons_and_staff_numbers_land_next_to_their_fields(key: str, target: str):
    table = {
        "name": "invoice_payment_failed",
        "template": "invoice_payment_failed",
        "language": "en_US",
        "header": {"document": "{{ object.invoice_pdf }}"},  # the template has no header: a field all the same
        "buttons": [{"payload": "CALL_ME", "index": 1}, {"url": "{{ object.number }}", "index": 0}],
    }
    form = form_from_table(table, default_catalogue())
    assert findings_by_field([ConfigProblem("saved", key, "bad")], [], form, table) == {target: [f"{key}: bad"]}


def test_a_warning_about_a_part_without_fields_is_general():
    form = form_from_table(EXAMPLES[1], default_catalogue())  # payment_receipt: no header, no buttons
    placed = findings_by_field(
        [], ["saved: mappings[payment_received].header: x", "saved: mappings[payment_received].buttons: y"], form, EXAMPLES[1]
    )
    assert list(placed) == ["general"] and len(placed["general"]) == 2


def posted(form: MappingForm) -> dict[str, str]:
    """What a browser posts for `form`: each field the page renders, by its name."""
    data = {key: getattr(form, key) for key in TEXT_FIELDS} | {FIELDS_OF: form.template}
    data |= {f.field_id: f.value for f in [*form.body, *form.header, *form.buttons]}
    return data | ({"header-name": form.header_name} if form.header_name else {})


@pytest.mark.parametrize("with_snapshot", [True, False], ids=["snapshot", "no-snapshot"])
@pytest.mark.parametrize("table", EXAMPLES, ids=[t["name"] for t in EXAMPLES])
def test_every_example_mapping_survives_the_form_unchanged(table: dict[str, Any], with_snapshot: bool):
    catalogue = default_catalogue() if with_snapshot else None
    form = form_from_table(table, catalogue)
    assert form.kept == {}, "every key of the example has a field"
    again = form_from_post(posted(form), form.kept, catalogue)
    assert again == form
    assert table_from_form(again, chosen_template(catalogue, again.template, again.language)) == table


def test_the_header_buttons_and_staff_numbers_get_fields_from_the_template():
    invoice_paid = form_from_table(next(t for t in EXAMPLES if t["name"] == "invoice_paid"), default_catalogue())
    assert [(h.field_id, h.value) for h in invoice_paid.header] == [
        ("header-document", "{{ object.invoice_pdf }}"),
        ("header-filename", "Invoice {{ object.number }}.pdf"),
    ]
    (button,) = invoice_paid.buttons
    assert (button.field_id, button.text, button.url) == ("button-0-url", "View receipt", "https://invoice.stripe.com/{{1}}")
    failed = form_from_table(next(t for t in EXAMPLES if t["name"] == "invoice_payment_failed"), default_catalogue())
    assert [(b.field_id, b.value) for b in failed.buttons] == [
        ("button-0-url", "{{ object.hosted_invoice_url | replace('https://invoice.stripe.com/', '') }}"),
        ("button-1-payload", "CALL_ME_{{ object.number }}"),
    ]
    alert = form_from_table(next(t for t in EXAMPLES if t["name"] == "dispute_alert"), default_catalogue())
    assert alert.recipients == "+14155550100\n+96550000000" and alert.header == [] and alert.buttons == []


@pytest.mark.parametrize(
    ("template", "header", "buttons"),
    [
        ("shipping_update", [HeaderField("text", "", "1")], ["button-0-url"]),  # a TEXT header {{1}}; the phone button takes nothing
        ("spring_sale", [HeaderField("image", "")], ["button-1-payload"]),  # the copy-code button: nothing the mapping can give
        ("payment_receipt_v2", [HeaderField("document", ""), HeaderField("filename", "")], ["button-0-url", "button-1-payload"]),
        ("order_confirmation", [], ["button-0-payload"]),
        ("payment_failed", [], []),
    ],
)
def test_a_template_just_chosen_gets_a_field_for_each_value_it_takes(template: str, header: list[HeaderField], buttons: list[str]):
    form = form_from_post({"template": template, FIELDS_OF: ""}, {}, default_catalogue())
    assert form.header == header
    assert [b.field_id for b in form.buttons] == buttons


def test_a_named_template_s_text_header_is_named_after_its_placeholder():
    catalogue = Catalogue(
        "1",
        0.0,
        tuple(
            parse_snapshot({"business_account_id": "1", "pulled_at": 0, "templates": [raw]}).templates[0]
            for raw in [
                {
                    "name": "named_header",
                    "language": "en_US",
                    "parameter_format": "NAMED",
                    "components": [
                        {"type": "HEADER", "format": "TEXT", "text": "Order {{order_id}}"},
                        {"type": "BODY", "text": "Hi {{name}}"},
                    ],
                }
            ]
        ),
    )
    form = form_from_post({"template": "named_header", "header-text": "{{ object.id }}", "body-name": "{{ object.id }}"}, {}, catalogue)
    assert form.header == [HeaderField("text", "{{ object.id }}", "order_id")]
    table = table_from_form(form, chosen_template(catalogue, form.template, form.language))
    assert table["header"] == {"text": "{{ object.id }}", "name": "order_id"} and table["body"] == {"name": "{{ object.id }}"}


def test_what_the_form_has_no_field_for_is_kept():
    table = EXAMPLES[0] | {"note": "added by hand", "buttons": "not a list"}
    form = form_from_table(table, default_catalogue())
    assert form.kept == {"note": "added by hand", "buttons": "not a list"}
    assert table_from_form(form, chosen_template(default_catalogue(), form.template, form.language)) == table


def test_a_table_survives_the_form_unchanged_without_a_snapshot():
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
        assert page.status_code == 409, "as the admin API answers Meta's refusal"
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


@pytest.mark.parametrize(
    ("action", "changes", "status", "shown"),
    [
        ("test-send", {"when": "object.amount >", "phone": "+14155550123"}, 422, 'id="when-errors"'),
        ("test-send", {"phone": "not a number"}, 422, "not a phone number WhatsApp can reach"),
        ("preview", {"sample": "charge.refunded"}, 200, 'class="bubble-body"'),  # not a type of the mapping: its own sample
    ],
)
def test_a_refused_test_send_or_preview_answers_422_and_says_why(
    site: Bridge, action: str, changes: dict[str, str], status: int, shown: str
):
    response = post_form(site.client, "/admin/mappings/new", f"/admin/mappings/new/{action}", **fields(**changes))
    assert response.status_code == status
    assert shown in response.get_data(as_text=True)


@pytest.mark.parametrize("name", [t["name"] for t in EXAMPLES])
def test_every_example_mapping_saved_from_its_page_as_shown_is_the_file_s_table(examples: Bridge, name: str):
    page = examples.client.get(f"/admin/mappings/{name}")
    assert page.status_code == 200
    response = examples.client.post(f"/admin/mappings/{name}", data=form_fields(page.get_data(as_text=True)))
    assert response.status_code == 303, response.get_data(as_text=True)
    entry = entry_named(examples, name)
    assert entry.source is MappingSource.SAVED_OVER_FILE
    assert entry.table == next(t for t in EXAMPLES if t["name"] == name)


@pytest.mark.parametrize(
    ("name", "changes", "field", "finding"),
    [
        ("invoice_paid", {"button-0-url": "{{ object.hosted_invoice_url | }}"}, "button-0-url", "buttons[0].url: template syntax error"),
        ("invoice_paid", {"header-document": ""}, "header-document", "the template has a DOCUMENT header, the mapping gives none"),
        ("invoice_paid", {"header-filename": "{{ object.nope }}"}, "header-filename", "header.filename"),
        ("invoice_payment_failed", {"button-1-payload": "{{ object.number"}, "button-1-payload", "buttons[1].payload"),
        ("dispute_alert", {"recipients": "+14155550100\n+1415"}, "recipients", "recipients[1]"),
        (
            "dispute_alert",
            {"recipient": "{{ object.metadata.phone }}"},
            "recipients",
            "give recipient (the customer's number) or recipients",
        ),
    ],
)
def test_a_mistake_in_the_header_a_button_or_the_staff_numbers_is_refused_next_to_its_field(
    examples: Bridge, name: str, changes: dict[str, str], field: str, finding: str
):
    page = f"/admin/mappings/{name}"
    response = examples.client.post(page, data=form_fields(examples.client.get(page).get_data(as_text=True)) | changes)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(rf'id="{field}"[^>]*aria-describedby="[^"]*{field}-errors"[^>]*aria-invalid="true"', html), html
    errors = re.search(rf'<ul class="findings field-errors" id="{field}-errors">(.*?)</ul>', html, re.S)
    assert errors and finding in html_text(errors.group(1)), errors and errors.group(1)
    assert entry_named(examples, name).source is MappingSource.FILE, "nothing saved"


def test_the_header_and_buttons_fields_follow_the_chosen_template(examples: Bridge):
    page = "/admin/mappings/payment_received"
    chosen = form_fields(examples.client.get(page).get_data(as_text=True)) | {"template": "invoice_paid"}
    html = examples.client.post(f"{page}/preview", data=chosen).get_data(as_text=True)
    assert re.findall(r'<input id="((?:header|button)-[^"]+)"', html) == ["header-document", "header-filename", "button-0-url"]
    assert "Document link" in html and "Button “View receipt”: link suffix" in html and "https://invoice.stripe.com/{{1}}" in html


def test_a_mapping_named_new_is_edited_at_its_own_address(redis: Redis, redis_url: str, tmp_path: Path):
    named_new = next(t for t in EXAMPLES if t["name"] == "payment_received") | {"name": "new"}
    bridge = admin_bridge(redis_url, whatsapp={"templates_file": write_snapshot(tmp_path)}, mappings=[named_new])
    try:
        sign_in(bridge.client)
        assert 'href="/admin/mappings/new?mapping=new"' in bridge.client.get("/admin/mappings").get_data(as_text=True)
        new_form = bridge.client.get("/admin/mappings/new").get_data(as_text=True)
        assert "<h1>New mapping</h1>" in new_form and form_fields(new_form)["name"] == ""
        page = bridge.client.get("/admin/mappings/new?mapping=new").get_data(as_text=True)
        assert "<h1>Mapping new</h1>" in page and 'action="/admin/mappings/new?mapping=new"' in page
        shown = form_fields(page)
        assert shown["name"] == "new" and shown["body-1"] == "{{ object.shipping.name }}"
        preview = bridge.client.post("/admin/mappings/new/preview?mapping=new", data=shown)
        assert preview.status_code == 200 and 'class="bubble-body"' in preview.get_data(as_text=True)
        saved = bridge.client.post("/admin/mappings/new?mapping=new", data=shown | {"when": "object.amount_received > 100"})
        assert saved.status_code == 303
        entry = entry_named(bridge, "new")
        assert entry.source is MappingSource.SAVED_OVER_FILE and entry.table == named_new | {"when": "object.amount_received > 100"}
        assert "Delete the saved mapping" in bridge.client.get("/admin/mappings/new?mapping=new").get_data(as_text=True)
        assert bridge.client.get("/admin/mappings/new?mapping=other").status_code == 200, "the new-mapping form"
    finally:
        bridge.close()


def test_there_is_no_mapping_named_new_to_edit_until_one_exists(site: Bridge):
    assert site.client.get("/admin/mappings/new?mapping=new").status_code == 404


def test_a_saved_table_with_a_key_the_form_has_no_field_for_keeps_it_and_its_finding(site: Bridge):
    table = {"name": NAME, "events": ["payment_intent.succeeded"], "template": "payment_receipt", "language": "en_US", "body": BODY}
    rt = site.app.extensions["bridge"]
    rt.live_mappings.saved.save(table | {"priority": "high"})  # saved by an older version that knew the key
    page = f"/admin/mappings/{NAME}"
    shown = form_fields(site.client.get(page).get_data(as_text=True))
    assert "priority" not in shown
    response = site.client.post(page, data=shown)
    assert response.status_code == 422, "kept, so check-config still names it"
    general = re.search(r'<ul class="findings" id="general-errors">(.*?)</ul>', response.get_data(as_text=True), re.S)
    assert general and f"mappings[{NAME}].priority: unknown key" in general.group(1)
    assert entry_named(site, NAME).table == table | {"priority": "high"}


def test_the_language_switch_stays_on_the_mapping_named_new(redis: Redis, redis_url: str, tmp_path: Path):
    named_new = EXAMPLES[1] | {"name": "new"}
    bridge = admin_bridge(redis_url, whatsapp={"templates_file": write_snapshot(tmp_path)}, mappings=[named_new])
    try:
        sign_in(bridge.client)
        page = bridge.client.get("/admin/mappings/new?mapping=new").get_data(as_text=True)
        assert 'href="/admin/mappings/new?mapping=new&amp;lang=ar"' in page
        assert "<h1>الربط new</h1>" in bridge.client.get("/admin/mappings/new?mapping=new&lang=ar").get_data(as_text=True)
    finally:
        bridge.close()
