"""Choosing the template language a customer gets from their Stripe locales."""

from __future__ import annotations

import pytest

from bridge.mappings.language import choose_language, normalize_locale


@pytest.mark.parametrize(
    ("code", "normalized"),
    [
        ("en_US", "en_US"),
        ("en-US", "en_US"),
        ("pt-br", "pt_BR"),
        ("PT_br", "pt_BR"),
        ("EN", "en"),
        (" fr ", "fr"),
        ("fil", "fil"),
        ("es-419", "es_419"),
        ("zh-hant-tw", "zh_Hant_TW"),
        ("zh-TW", "zh_TW"),
        ("en-US-u-ca-gregory", "en_US"),
        ("de-DE-1996", "de_DE"),
        ("iw", "iw"),  # spelling only: the old code for Hebrew still matches he, below
        ("auto", ""),
        ("", ""),
        ("english", ""),
        ("e", ""),
        ("419", ""),
    ],
)
def test_normalize_locale_spells_a_code_as_whatsapp_does(code, normalized):
    assert normalize_locale(code) == normalized


@pytest.mark.parametrize(
    ("candidates", "preferred", "chosen"),
    [
        (["en_US", "ar"], [], "en_US"),
        (["en_US", "ar"], ["ar", "en"], "ar"),
        (["en_US", "ar"], ["en", "ar"], "en_US"),
        (["en_US", "fr"], ["de", "fr"], "fr"),
        (["en_US", "fr"], ["de", "it"], "en_US"),
        # the same locale, however spelt
        (["en_US", "pt_BR"], ["pt-BR"], "pt_BR"),
        (["en_US", "pt_BR"], ["pt-br"], "pt_BR"),
        (["en_US", "pt_BR"], ["PT_br"], "pt_BR"),
        (["en_US", "fr"], ["FR"], "fr"),
        # the language when the region differs, the exact region first
        (["fr", "en_US"], ["en"], "en_US"),
        (["en_US", "fr"], ["fr-CA"], "fr"),
        (["pt_PT", "pt_BR"], ["pt-BR"], "pt_BR"),
        (["pt_BR", "pt_PT"], ["pt-PT"], "pt_PT"),
        (["en_US", "pt_PT", "pt_BR"], ["pt"], "pt_PT"),  # no region asked: the mapping's order
        (["en_GB", "en_US"], ["en"], "en_GB"),
        (["en_US", "en", "en_GB"], ["en-IE"], "en"),  # the bare language before another region
        (["fr", "en_US", "en_GB"], ["en-AU"], "en_GB"),  # en_AU and en_GB share CLDR's en_001
        # Latin American Spanish
        (["en_US", "es", "es_MX"], ["es-419"], "es_MX"),  # a region inside 419 first
        (["en_US", "es_ES", "es_AR", "es_MX"], ["es-419"], "es_AR"),
        (["en_US", "es"], ["es-419"], "es"),
        (["en_US", "es_ES"], ["es-419"], "es_ES"),
        (["en_US", "es", "es_419"], ["es-AR"], "es_419"),
        (["en_US", "es_ES", "es", "es_MX"], ["es-AR"], "es"),
        (["en_US", "es_ES", "es_MX"], ["es-AR"], "es_MX"),  # both in 419
        (["en_US", "es_MX", "es_AR"], ["es"], "es_MX"),
        # a script is a language of its own
        (["en_US", "zh_CN"], ["zh-TW"], "en_US"),
        (["en_US", "zh_CN"], ["zh-HK", "zh"], "zh_CN"),
        (["zh_CN", "zh_HK"], ["zh-TW"], "zh_HK"),
        (["zh_TW", "zh_CN"], ["zh"], "zh_CN"),
        (["zh_CN", "zh_TW"], ["zh-Hant"], "zh_TW"),
        (["en_US", "sr"], ["sr-Latn"], "en_US"),
        # what says nothing about the customer is skipped
        (["en_US", "fr"], ["auto", "", "fr"], "fr"),
        (["en_US", "fr"], ["english", "x", "123", "fr"], "fr"),
        (["en_US", "fr"], [None, "fr"], "fr"),
        # old codes still in use (Java and Android) for current ones
        (["en_US", "he"], ["iw-IL"], "he"),
        (["en_US", "id"], ["in"], "id"),
        (["en_US", "fil"], ["tl"], "fil"),
        # Stripe Checkout's locales
        (["en_US", "hi"], ["hi-IN"], "hi"),
        (["en", "fil"], ["fil"], "fil"),
        (["en_US", "nb"], ["nb"], "nb"),
    ],
)
def test_the_first_preferred_locale_the_mapping_has_wins(candidates, preferred, chosen):
    assert choose_language(candidates, preferred=preferred) == chosen


@pytest.mark.parametrize(
    ("candidates", "preferred", "available", "chosen"),
    [
        (["en_US", "ar"], ["ar"], {"en_US", "ar"}, "ar"),
        (["en_US", "ar"], ["ar"], {"en_US"}, "en_US"),  # not approved in Arabic (yet)
        (["en_US", "ar"], ["fr", "ar"], {"en_US", "ar", "fr"}, "fr"),  # the catalogue has it: it can be sent
        (["ar", "en_US"], [], {"en_US"}, "en_US"),  # the first language the catalogue has
        (["ar", "en_US"], ["de"], {"en_US", "de_DE"}, "de_DE"),
        (["ar"], [], {"en_US"}, "ar"),  # nothing better to send
        (["en_US", "ar"], ["ar"], set(), "en_US"),
        (["en_US"], ["es"], {"en_US", "es_MX", "es_AR"}, "es_AR"),  # neither listed: alphabetical
        (["en_US", "es_MX"], ["es"], {"en_US", "es_AR", "es_MX"}, "es_MX"),  # the mapping's order first
        (["en_US", "es_MX"], ["es"], ["es_MX", "en_US", "es_MX"], "es_MX"),
    ],
)
def test_with_a_catalogue_only_what_it_has_is_chosen(candidates, preferred, available, chosen):
    assert choose_language(candidates, preferred=preferred, available=available) == chosen


def test_without_a_catalogue_only_the_mappings_languages_are_chosen():
    assert choose_language(["en_US", "ar"], preferred=["fr", "de"]) == "en_US"


def test_the_catalogues_spelling_is_what_is_sent():
    assert choose_language(["en_US"], preferred=["pt-br"], available=["en_US", "pt_BR"]) == "pt_BR"


def test_a_mapping_without_languages_is_a_mistake():
    with pytest.raises(ValueError, match="at least one language"):
        choose_language([], preferred=["en"])
