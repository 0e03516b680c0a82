"""The template catalogue: Meta's template objects parsed into what a send needs, and the snapshot
file `bridge templates pull` writes and everything else reads."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import ConfigError
from bridge.whatsapp.catalogue import (
    Catalogue,
    Category,
    ParameterFormat,
    TemplateButton,
    TemplateFormatError,
    TemplateStatus,
    known_status,
    load_snapshot,
    normalize_language,
    parse_template,
    placeholders,
    save_snapshot,
)

# Meta's two examples from the template management reference (GET /{waba-id}/message_templates).
RESERVATION: dict[str, Any] = {
    "name": "reservation_confirmation",
    "parameter_format": "NAMED",
    "components": [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["https://scontent.whatsapp.net/v/t61/abc"]}},
        {
            "type": "BODY",
            "text": "*You're all set!*\n\nYour reservation for {{number_of_guests}} at Lucky Shrub Eatery on {{day}}, {{date}}, "
            "at {{time}}, is confirmed. See you then!",
            "example": {
                "body_text_named_params": [
                    {"param_name": "number_of_guests", "example": "4"},
                    {"param_name": "day", "example": "Saturday"},
                    {"param_name": "date", "example": "August 30th, 2025"},
                    {"param_name": "time", "example": "7:30 pm"},
                ]
            },
        },
        {"type": "FOOTER", "text": "Lucky Shrub Eatery: The Luckiest Eatery in Town!"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "URL", "text": "Change reservation", "url": "https://www.luckyshrubeater.com/reservations"},
                {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+16467043595"},
                {"type": "QUICK_REPLY", "text": "Cancel reservation"},
            ],
        },
    ],
    "language": "en_US",
    "status": "APPROVED",
    "category": "UTILITY",
    "id": "1387372356726668",
}

COUPON: dict[str, Any] = {
    "name": "coupon_expiration_reminder_number_vars",
    "parameter_format": "POSITIONAL",
    "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Act fast, {{1}}!", "example": {"header_text": ["Pablo"]}},
        {
            "type": "BODY",
            "text": "Your coupon code, {{1}}, *expires in only {{2}} days!* Use it before {{2}} days pass.",
            "example": {"body_text": [["SUMMER20", "10"]]},
        },
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "URL",
                    "text": "Shop now",
                    "url": "https://www.luckyshrub.com/shop/{{1}}",
                    "example": ["https://www.luckyshrub.com/shop/summer"],
                },
                {"type": "COPY_CODE", "example": "SUMMER20"},
            ],
        },
    ],
    "language": "en",
    "status": "APPROVED",
    "category": "MARKETING",
    "sub_category": "CUSTOM",
    "id": "1034543608012297",
}

INVOICE_PDF: dict[str, Any] = {
    "name": "invoice_pdf",
    "language": "es",
    "status": "PAUSED",
    "category": "UTILITY",
    "components": [
        {"type": "HEADER", "format": "DOCUMENT"},
        {"type": "BODY", "text": "Hola {{1}}, adjuntamos tu factura {{2}}."},
    ],
    "id": "771234567890123",
}


# ---- placeholders and language codes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi {{1}}, you paid {{2}}. Thanks, {{1}}!", ("1", "2")),
        ("{{2}} comes before {{1}} here", ("2", "1")),
        ("Hello {{first_name}}, order {{order_number}} for {{first_name}}", ("first_name", "order_number")),
        ("https://example.com/receipts/{{1}}", ("1",)),
        ("No placeholders, only {braces} and {{ }}", ()),
        ("", ()),
        (None, ()),
    ],
)
def test_placeholders_are_the_distinct_ones_in_order_of_first_appearance(text: str | None, expected: tuple[str, ...]):
    assert placeholders(text) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [("en-US", "en_US"), ("en_US", "en_US"), ("pt-br", "pt_BR"), ("EN", "en"), ("ar", "ar"), (" es ", "es"), ("zh_Hant", "zh_Hant")],
)
def test_language_codes_are_written_the_way_the_templates_api_writes_them(code: str, expected: str):
    assert normalize_language(code) == expected


# ---- parse_template ------------------------------------------------------------------------------


def test_a_named_template_with_an_image_header_footer_and_three_kinds_of_button():
    template = parse_template(RESERVATION)

    assert (template.name, template.language, template.status, template.category) == (
        "reservation_confirmation",
        "en_US",
        TemplateStatus.APPROVED,
        Category.UTILITY,
    )
    assert template.id == "1387372356726668" and template.approved
    assert template.parameter_format is ParameterFormat.NAMED
    assert (template.header_format, template.header_text, template.header_placeholders) == ("IMAGE", None, ())
    assert template.body_placeholders == ("number_of_guests", "day", "date", "time")
    assert template.footer_text == "Lucky Shrub Eatery: The Luckiest Eatery in Town!"
    assert template.buttons == (
        TemplateButton(0, "URL", "Change reservation", "https://www.luckyshrubeater.com/reservations", ()),
        TemplateButton(1, "PHONE_NUMBER", "Call us", None, ()),
        TemplateButton(2, "QUICK_REPLY", "Cancel reservation", None, ()),
    )


def test_a_positional_template_with_a_text_header_placeholder_and_a_url_suffix():
    template = parse_template(COUPON)

    assert template.parameter_format is ParameterFormat.POSITIONAL
    assert (template.language, template.category) == ("en", Category.MARKETING)
    assert (template.header_format, template.header_text, template.header_placeholders) == ("TEXT", "Act fast, {{1}}!", ("1",))
    assert template.body_placeholders == ("1", "2")  # {{2}} twice is one parameter
    assert template.footer_text is None
    url, copy_code = template.buttons
    assert (url.type, url.url, url.placeholders) == ("URL", "https://www.luckyshrub.com/shop/{{1}}", ("1",))
    assert (copy_code.index, copy_code.type, copy_code.text, copy_code.placeholders) == (1, "COPY_CODE", "", ())


def test_a_document_header_takes_no_placeholder_and_a_paused_template_is_not_approved():
    template = parse_template(INVOICE_PDF)

    assert (template.header_format, template.header_placeholders) == ("DOCUMENT", ())
    assert template.body_placeholders == ("1", "2") and template.buttons == ()
    assert template.status == TemplateStatus.PAUSED and not template.approved
    assert template.parameter_format is ParameterFormat.POSITIONAL  # Meta's default when the key is absent


def test_a_template_without_a_header_has_no_header_format():
    template = parse_template({"name": "hello", "language": "en_US", "components": [{"type": "BODY", "text": "Hello!"}]})
    assert (template.header_format, template.header_text, template.body_text, template.body_placeholders) == (None, None, "Hello!", ())
    assert (template.status, template.category, template.id) == ("", "", None)


def test_unknown_statuses_and_component_types_are_kept_or_skipped_not_refused():
    raw = {
        "name": "summer_offer",
        "language": "en-GB",
        "status": "SOMETHING_NEW",
        "category": "MARKETING",
        "components": [
            {"type": "body", "text": "Hi {{name}}!"},  # lower case, as in sends
            {"type": "CAROUSEL", "cards": []},
            "not a component",
        ],
    }
    template = parse_template(raw)
    assert (template.language, template.status, known_status(template.status)) == ("en_GB", "SOMETHING_NEW", None)
    assert known_status("LIMIT_EXCEEDED") is TemplateStatus.LIMIT_EXCEEDED
    assert template.body_placeholders == ("name",)
    assert template.parameter_format is ParameterFormat.NAMED  # no parameter_format field: the placeholders tell


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"language": "en_US"}, "without a name"),
        ({"name": "receipt"}, "'receipt' has no language"),
        (["receipt"], "must be an object"),
    ],
)
def test_an_object_without_a_name_or_language_is_not_a_template(raw: Any, message: str):
    with pytest.raises(TemplateFormatError, match=message):
        parse_template(raw)


def test_the_body_length_counts_the_text_without_its_placeholders():
    template = parse_template({"name": "t", "language": "en", "components": [{"type": "BODY", "text": "Hi {{1}}, paid {{2}}."}]})
    assert template.text_length_without_placeholders() == len("Hi , paid .")


# ---- the catalogue -------------------------------------------------------------------------------


def catalogue(*raws: dict[str, Any]) -> Catalogue:
    return Catalogue(business_account_id="102290129340398", pulled_at=1_760_000_000.0, templates=tuple(parse_template(r) for r in raws))


def test_find_matches_the_language_however_it_is_written():
    spanish = {**INVOICE_PDF, "name": "invoice_pdf", "language": "es_MX"}
    found = catalogue(RESERVATION, INVOICE_PDF, spanish)

    assert found.find("reservation_confirmation", "en-US") == found.find("reservation_confirmation", "en_US") == found.templates[0]
    assert found.find("reservation_confirmation", "en") is None  # en and en_US are different translations
    assert found.find("missing", "en_US") is None
    assert found.languages_of("invoice_pdf") == ["es", "es_MX"]
    assert found.languages_of("missing") == []


# ---- snapshot file -------------------------------------------------------------------------------


def test_a_snapshot_keeps_metas_objects_as_they_came_and_loads_back(tmp_path: Path):
    path = tmp_path / "templates.json"
    save_snapshot(
        path, business_account_id="102290129340398", api_version="v23.0", pulled_at=1_760_000_000.5, templates=[RESERVATION, COUPON]
    )

    document = json.loads(path.read_text(encoding="utf-8"))
    assert document == {
        "format": 1,
        "business_account_id": "102290129340398",
        "api_version": "v23.0",
        "pulled_at": 1_760_000_000.5,
        "templates": [RESERVATION, COUPON],
    }
    assert "You're all set!" in path.read_text(encoding="utf-8")  # readable: no \\u escapes, indented
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["templates.json"]  # no temporary file left

    loaded = load_snapshot(path)
    assert loaded == Catalogue("102290129340398", 1_760_000_000.5, (parse_template(RESERVATION), parse_template(COUPON)))


def test_saving_again_replaces_the_whole_file(tmp_path: Path):
    path = tmp_path / "templates.json"
    path.write_text("x" * 100_000)
    save_snapshot(path, business_account_id="1", api_version="v23.0", pulled_at=1.0, templates=[])
    assert load_snapshot(path) == Catalogue("1", 1.0, ())


def test_a_snapshot_that_cannot_be_written_is_a_config_error_and_leaves_nothing_behind(tmp_path: Path):
    path = tmp_path / "missing-folder" / "templates.json"
    with pytest.raises(ConfigError) as excinfo:
        save_snapshot(path, business_account_id="1", api_version="v23.0", pulled_at=1.0, templates=[])
    assert [str(p) for p in excinfo.value.problems] == [f"{path}: (file): cannot be written: No such file or directory"]
    assert list(tmp_path.iterdir()) == []


def test_no_snapshot_file_means_no_catalogue_yet(tmp_path: Path):
    assert load_snapshot(tmp_path / "templates.json") is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        (b"\xff\xfe", "cannot be read: it is not UTF-8 text"),
        (b"[]", "is not a template snapshot (no list of templates)"),
        (b'{"templates": []}', "is not a template snapshot (business_account_id or pulled_at missing)"),
        (b'{"business_account_id": "1", "pulled_at": true, "templates": []}', "is not a template snapshot"),
        (b'{"business_account_id": "1", "pulled_at": 1, "templates": [{"name": "a", "language": "en"}, {"name": "b"}]}', "templates[1]"),
    ],
)
def test_an_invalid_snapshot_is_a_config_error_naming_the_file(tmp_path: Path, content: bytes, problem: str):
    path = tmp_path / "templates.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as excinfo:
        load_snapshot(path)
    (line,) = [str(p) for p in excinfo.value.problems]
    assert line.startswith(f"{path}: (file): {problem}"), line
    assert line.endswith("run `bridge templates pull` to write it again")


def test_a_snapshot_path_that_is_a_folder_cannot_be_read(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"\(file\): cannot be read: Is a directory"):
        load_snapshot(tmp_path)
