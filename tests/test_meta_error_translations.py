"""The Arabic catalogue of Meta's error meanings and fixes: every text bridge.whatsapp.errors can give has
a translation, none is stale, and each keeps what a merchant must type or recognise (commands, settings,
product names, numbers, placeholders) as it is in English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bridge.settings_page import i18n
from bridge.whatsapp.errors import _BY_DETAILS, _BY_SUBCODE, CODES, classify, explain, explanations
from tests.fake_graph import error_body

CATALOGUE = Path(i18n.__file__).parent / "translations" / "ar" / "LC_MESSAGES" / "meta_errors.po"
ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")
# Kept verbatim: %(name)s placeholders, {{template placeholders}}, `commands`, SETTINGS, snake_case keys, class names.
VERBATIM = re.compile(r"%\(\w+\)s|\{\{\w+\}\}|`[^`]+`|\b[A-Z][A-Z_]{2,}\b|\b[a-z]+_[a-z_]+\b|\b[A-Z]\w+Error\b")
PRODUCT_NAMES = ("WhatsApp Manager", "WhatsApp", "Meta", "Cloud API", "Graph API", "URL")


def arabic_catalogue():
    with CATALOGUE.open("rb") as source:
        return read_po(source, locale="ar", domain="meta_errors")


def kept(text: str) -> list[str]:
    """The parts of a text a translation must not change, digits included (1,024 and 1024 alike)."""
    return sorted(VERBATIM.findall(text) + re.findall(r"\d+", text.replace(",", "")))


def test_the_catalogue_is_arabic_with_the_plural_forms_of_the_page_catalogue():
    catalogue = arabic_catalogue()
    with (CATALOGUE.parent / "messages.po").open("rb") as source:
        page = read_po(source, locale="ar")
    assert str(catalogue.locale) == "ar"
    assert catalogue.plural_forms == page.plural_forms
    assert catalogue.fuzzy is False


def test_every_meaning_and_fix_has_an_arabic_translation():
    catalogue = arabic_catalogue()
    texts = explanations()
    assert len(texts) > 60
    untranslated = sorted(t for t in texts if not (catalogue.get(t) and catalogue.get(t).string.strip()))
    assert untranslated == []


def test_no_translation_is_stale():
    texts = explanations()
    stale = sorted(str(m.id) for m in arabic_catalogue() if m.id and m.id not in texts)
    assert stale == [], "translations of texts bridge.whatsapp.errors no longer gives"


def test_no_translation_is_fuzzy_or_left_in_english():
    """A fuzzy entry is dropped when the catalogue is compiled, so the page would show the English."""
    for message in arabic_catalogue():
        if message.id:
            assert not message.fuzzy, message.id
            assert ARABIC_LETTER.search(message.string), message.id


def test_every_translation_keeps_commands_settings_names_numbers_and_placeholders():
    for message in arabic_catalogue():
        if message.id:
            assert kept(message.string) == kept(message.id), message.id
            for name in PRODUCT_NAMES:
                assert name in message.string or name not in message.id, (name, message.id)


def test_the_compiled_catalogue_gives_the_arabic_of_each_text():
    translations = i18n.compile_catalogue(CATALOGUE, "ar")
    catalogue = arabic_catalogue()
    for text in explanations():
        assert translations.gettext(text) == catalogue.get(text).string


def given_by_explain() -> set[str | None]:
    """What explain answers for every code, subcode and details fragment the module knows."""
    answers = [explain(code) for code in (*CODES, *range(200, 300))]
    answers += [explain(code, subcode) for code, subcode in _BY_SUBCODE]
    answers += [explain(code, None, f"({fragment})") for code, fragment, _meaning, _fix in _BY_DETAILS]
    return {text for pair in answers for text in pair}


def test_explanations_holds_everything_explain_gives():
    assert given_by_explain() - {None} <= explanations()


@pytest.mark.parametrize("http_status", [None, 400, 401, 403, 404, 429, 500, 502, 503])
@pytest.mark.parametrize("is_transient", [False, True])
def test_explanations_holds_the_meaning_of_an_error_the_table_does_not_know(http_status, is_transient):
    for body in ({"error": {"message": "HTML from a proxy", "is_transient": is_transient}}, "<html>Bad gateway</html>"):
        exc = classify(http_status, body)
        assert exc.meaning in explanations()
    unknown = error_body(999999, title="Something new", details="new")
    unknown["error"]["is_transient"] = is_transient
    assert classify(http_status, unknown).meaning in explanations()


def test_explanations_holds_the_meaning_and_fix_of_every_known_refusal():
    for code in CODES:
        exc = classify(400, error_body(code))
        assert exc.meaning in explanations()
        assert exc.fix is None or exc.fix in explanations()
