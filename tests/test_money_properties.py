"""Properties of money over every currency babel knows: Stripe's minor units, Meta's amount_1000
and the text a customer reads say the same amount, exactly (Decimal and integers, no floats).

Hypothesis runs derandomized with a fixed number of examples: the same cases on every run, in CI
as here, in a few seconds."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from babel import Locale
from babel.numbers import get_decimal_symbol, get_group_symbol, get_minus_sign_symbol, list_currencies, parse_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.mappings.formatting import BIDI_MARKS, DIGIT_SYSTEMS, currency_parameter_values, minor_unit_exponent

CURRENCIES = sorted(list_currencies())
LANGUAGES = ["en", "en_US", "en_IN", "ar", "ar_KW", "ar_SA", "ar_MA", "ar_TN", "de_DE", "de_CH", "fr", "pt_BR", "es_419", "hi", "ja"]
LANGUAGES += ["he", "fa", "ur", "ru", "sv", "zh_TW", "tr"]
WESTERN_DIGITS = frozenset("0123456789")
ARABIC_INDIC_DIGITS = frozenset("٠١٢٣٤٥٦٧٨٩")
WITHOUT_MARKS = str.maketrans(dict.fromkeys(BIDI_MARKS))

PROPERTIES = settings(max_examples=600, derandomize=True, database=None, deadline=None)


def number_in(text: str, language: str) -> Decimal:
    """The amount a customer reads in `text`, as babel parses it back in that language."""
    locale = Locale.parse(language)
    numbering = "arab" if set(text) & ARABIC_INDIC_DIGITS else "latn"
    plain = text.translate(WITHOUT_MARKS)
    separators = re.escape(get_group_symbol(locale, numbering_system=numbering) + get_decimal_symbol(locale, numbering_system=numbering))
    (digits,) = re.findall(rf"\d(?:[\d{separators}]*\d)?", plain)  # one number, whatever the currency's symbol
    value = parse_decimal(digits, locale, numbering_system=numbering)
    # babel writes the pattern's "-" in some locales whose CLDR minus sign is "−" (sv, fa).
    minus_signs = {"-", "\u2212", get_minus_sign_symbol(locale, numbering_system=numbering).translate(WITHOUT_MARKS)}
    return -value if any(sign in plain for sign in minus_signs) else value


def check_agreement(amount: int, currency: str, language: str, digits: str, bidi_marks: bool) -> None:
    exponent = minor_unit_exponent(currency)
    major = Decimal(amount).scaleb(-exponent)
    if exponent > 3 and amount % 10 ** (exponent - 3):
        with pytest.raises(ValueError, match="more decimals than amount_1000 can hold"):
            currency_parameter_values(amount, currency.lower(), language, digits=digits, bidi_marks=bidi_marks)
        return
    text, code, thousandths = currency_parameter_values(amount, currency.lower(), language, digits=digits, bidi_marks=bidi_marks)
    assert code == currency
    assert type(thousandths) is int
    assert thousandths * 10**exponent == amount * 1000
    assert Decimal(thousandths).scaleb(-3) == major
    assert number_in(text, language) == major, text
    arabic = digits == "arab" and language.startswith("ar")
    assert {c for c in text if c.isdigit()} <= (ARABIC_INDIC_DIGITS if arabic else WESTERN_DIGITS), text
    assert bidi_marks or not set(text) & set(BIDI_MARKS), text


@PROPERTIES
@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    currency=st.sampled_from(CURRENCIES),
    language=st.sampled_from(LANGUAGES),
    digits=st.sampled_from(DIGIT_SYSTEMS),
    bidi_marks=st.booleans(),
)
def test_minor_units_amount_1000_and_text_say_the_same_amount(amount, currency, language, digits, bidi_marks):
    check_agreement(amount, currency, language, digits, bidi_marks)


@pytest.mark.parametrize("currency", CURRENCIES)
def test_every_currency_babel_knows_agrees_in_english_and_arabic(currency):
    unit = 10 ** minor_unit_exponent(currency)
    for amount in (0, 1, 10, unit - 1, unit, 1234567 * unit + 10, -(1000 * unit) - 70):
        for language, digits in (("en_US", "latn"), ("ar", "latn"), ("ar", "arab")):
            check_agreement(amount, currency, language, digits, bidi_marks=False)
