"""The mapping language's money and date filters in the template's language, Arabic first.

babel formats Arabic with Western digits and puts direction marks (U+200E LRM, U+200F RLM,
U+061C ALM) around numbers: `[formatting] digits = "arab"` turns the digits and separators into
Arabic ones, and the marks are removed unless `bidi_marks = true`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bridge.config import FormattingSettings, load_config, parse_config, validate_config
from bridge.errors import ConfigError, RenderError
from bridge.mappings.compile import ENVIRONMENT
from bridge.mappings.formatting import BIDI_MARKS, currency_parameter_values, date_time_fallback, format_money, format_timestamp
from bridge.mappings.sandbox import render
from tests.conftest import EXAMPLE_CONFIG

RLM = "\u200f"
NBSP = "\xa0"
NOV_25 = 1764028800  # 2025-11-25 00:00:00 UTC, 03:00 in Kuwait


def rendered(text: str, language: str = "en_US", obj: dict[str, Any] | None = None, **settings: Any) -> str:
    context = {"object": obj or {}, "customer": None, "_language": language, "_timezone": "Asia/Kuwait", **settings}
    return render(ENVIRONMENT.from_string(text), context)


@pytest.mark.parametrize(
    ("amount", "currency", "language", "digits", "text"),
    [
        (1500, "kwd", "en", "latn", "KWD 1.500"),
        (1500, "kwd", "en", "arab", "KWD 1.500"),  # an English template keeps Western digits
        (1500, "kwd", "ar", "latn", f"1.500{NBSP}د.ك."),
        (1500, "kwd", "ar", "arab", f"١٫٥٠٠{NBSP}د.ك."),
        (26500, "kwd", "ar_KW", "arab", f"٢٦٫٥٠٠{NBSP}د.ك."),
        (1500, "bhd", "en_US", "latn", "BHD 1.500"),
        (1500, "bhd", "ar", "latn", f"1.500{NBSP}د.ب."),
        (1500, "bhd", "ar", "arab", f"١٫٥٠٠{NBSP}د.ب."),
        (1500, "omr", "en_US", "latn", "OMR 1.500"),
        (1500, "omr", "ar", "latn", f"1.500{NBSP}ر.ع."),
        (1500, "omr", "ar", "arab", f"١٫٥٠٠{NBSP}ر.ع."),
        (1500, "jod", "en_US", "latn", "JOD 1.500"),
        (1500, "jod", "ar", "latn", f"1.500{NBSP}د.أ."),
        (1500, "jod", "ar", "arab", f"١٫٥٠٠{NBSP}د.أ."),
        (1500, "tnd", "en_US", "latn", "TND 1.500"),
        (1500, "tnd", "ar", "latn", f"1.500{NBSP}د.ت."),
        (1500, "tnd", "ar", "arab", f"١٫٥٠٠{NBSP}د.ت."),
        (1500, "tnd", "ar_TN", "latn", f"1,500{NBSP}د.ت."),  # Tunisian Arabic writes a decimal comma
        (1, "kwd", "ar", "arab", f"٠٫٠٠١{NBSP}د.ك."),
        (123456789, "sar", "ar_SA", "latn", f"1,234,567.89{NBSP}ر.س."),
        (123456789, "sar", "ar_SA", "arab", f"١٬٢٣٤٬٥٦٧٫٨٩{NBSP}ر.س."),
        (1999, "usd", "ar", "arab", f"١٩٫٩٩{NBSP}US$"),
        (5000, "jpy", "ar", "arab", f"٥٬٠٠٠{NBSP}JP¥"),
        (-26500, "kwd", "ar", "arab", f"-٢٦٫٥٠٠{NBSP}د.ك."),
        (1999, "usd", "fa", "arab", f"${NBSP}19.99"),  # Persian and Urdu digits are not done: Western digits
    ],
)
def test_money_in_english_and_arabic_with_either_digits(amount, currency, language, digits, text):
    assert format_money(amount, currency, language, digits=digits) == text


@pytest.mark.parametrize(
    ("digits", "text"),
    [("latn", f"{RLM}26.500{NBSP}د.ك.{RLM}"), ("arab", f"{RLM}٢٦٫٥٠٠{NBSP}د.ك.{RLM}")],
)
def test_bidi_marks_true_keeps_the_marks_babel_puts_around_arabic_money(digits, text):
    assert format_money(26500, "kwd", "ar", digits=digits, bidi_marks=True) == text


@pytest.mark.parametrize(
    ("fmt", "with_time", "digits", "text"),
    [
        ("medium", False, "latn", "25/11/2025"),
        ("medium", False, "arab", "٢٥/١١/٢٠٢٥"),
        ("long", False, "latn", "25 نوفمبر 2025"),
        ("long", False, "arab", "٢٥ نوفمبر ٢٠٢٥"),
        ("medium", True, "latn", "25/11/2025، 3:00:00 ص"),
        ("medium", True, "arab", "٢٥/١١/٢٠٢٥، ٣:٠٠:٠٠ ص"),
    ],
)
def test_arabic_dates_with_either_digits(fmt, with_time, digits, text):
    assert format_timestamp(NOV_25, fmt, "ar", "Asia/Kuwait", with_time=with_time, digits=digits) == text


def test_bidi_marks_true_keeps_the_marks_babel_puts_in_arabic_dates():
    assert format_timestamp(NOV_25, "medium", "ar", "UTC", digits="arab", bidi_marks=True) == f"٢٥{RLM}/١١{RLM}/٢٠٢٥"


@pytest.mark.parametrize("language", ["ar", "ar_EG", "fa", "he", "ur", "en_US"])
@pytest.mark.parametrize("digits", ["latn", "arab"])
def test_no_direction_mark_is_left_in_any_value_by_default(language, digits):
    values = [format_money(-123456, "kwd", language, digits=digits), format_money(1999, "usd", language, digits=digits)]
    values += [format_timestamp(NOV_25, fmt, language, "UTC", with_time=True, digits=digits) for fmt in ("short", "medium", "long")]
    assert [v for v in values if any(mark in v for mark in BIDI_MARKS)] == []


def test_an_unknown_digits_value_is_an_error_not_a_guess():
    with pytest.raises(ValueError, match="digits must be 'latn' or 'arab', got 'arabic'"):
        format_money(1500, "kwd", "ar", digits="arabic")


# -- the filters, reading the render context ----------------------------------------------------

ARABIC_BODY = "{{ object.amount | money(object.currency) }} | {{ object.created | date }} | {{ object.created | datetime('short') }}"
ORDER = {"amount": 26500, "currency": "kwd", "created": NOV_25}


@pytest.mark.parametrize(
    ("settings", "text"),
    [
        ({}, f"26.500{NBSP}د.ك. | 25/11/2025 | 25/11/2025، 3:00 ص"),
        ({"_digits": "latn", "_bidi_marks": False}, f"26.500{NBSP}د.ك. | 25/11/2025 | 25/11/2025، 3:00 ص"),
        ({"_digits": "arab", "_bidi_marks": False}, f"٢٦٫٥٠٠{NBSP}د.ك. | ٢٥/١١/٢٠٢٥ | ٢٥/١١/٢٠٢٥، ٣:٠٠ ص"),
        ({"_digits": "arab", "_bidi_marks": True}, f"{RLM}٢٦٫٥٠٠{NBSP}د.ك.{RLM} | ٢٥{RLM}/١١{RLM}/٢٠٢٥ | ٢٥{RLM}/١١{RLM}/٢٠٢٥، ٣:٠٠ ص"),
    ],
    ids=["no settings: Western digits, no marks", "latn", "arab", "arab with marks"],
)
def test_an_arabic_template_renders_money_and_dates_with_the_contexts_settings(settings, text):
    assert rendered(ARABIC_BODY, "ar", ORDER, **settings) == text


def test_an_english_template_keeps_western_digits_when_digits_is_arab():
    assert rendered(ARABIC_BODY, "en_US", ORDER, _digits="arab") == "KWD 26.500 | Nov 25, 2025 | 11/25/25, 3:00\u202fAM"


def test_money_in_an_explicit_language_takes_the_digits_of_that_language():
    body = "{{ 26500 | money('kwd', 'ar') }} / {{ 26500 | money('kwd', 'en') }}"
    assert rendered(body, "en_US", _digits="arab") == f"٢٦٫٥٠٠{NBSP}د.ك. / KWD 26.500"


def test_order_ids_and_latin_names_are_left_as_they_are():
    body = "{{ object.id }} {{ object.name }}: {{ object.amount | money(object.currency) }}, #{{ object.number }}"
    obj = {**ORDER, "id": "pi_3Nx1234ABC", "name": "Jenny Rosen 2", "number": 1042}
    assert rendered(body, "ar", obj, _digits="arab") == f"pi_3Nx1234ABC Jenny Rosen 2: ٢٦٫٥٠٠{NBSP}د.ك., #1042"


def test_a_wrong_digits_value_in_the_context_is_a_render_error():
    with pytest.raises(RenderError, match="digits must be 'latn' or 'arab'"):
        rendered("{{ 1500 | money('kwd') }}", "ar", _digits="hindi")


def test_the_amount_1000_filter_refuses_a_fourth_decimal_with_its_name():
    with pytest.raises(RenderError, match=r"^amount_1000: CLF 1\.2345 has more decimals than amount_1000 can hold$"):
        rendered("{{ 12345 | amount_1000('clf') }}")
    assert rendered("{{ 12340 | amount_1000('clf') }}") == "1234"


# -- Meta's currency and date_time parameters -------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "language", "digits", "values"),
    [
        (1999, "usd", "en_US", "latn", ("$19.99", "USD", 19990)),
        (5000, "jpy", "en_US", "latn", ("¥5,000", "JPY", 5_000_000)),
        (1500, "kwd", "en", "latn", ("KWD 1.500", "KWD", 1500)),
        (1500, "KWD", "ar", "latn", (f"1.500{NBSP}د.ك.", "KWD", 1500)),
        (1500, "kwd", "ar", "arab", (f"١٫٥٠٠{NBSP}د.ك.", "KWD", 1500)),
        (26500, "bhd", "ar_BH", "arab", (f"٢٦٫٥٠٠{NBSP}د.ب.", "BHD", 26500)),
        (990, "brl", "pt_BR", "arab", (f"R${NBSP}9,90", "BRL", 9900)),
        (100000, "isk", "en_US", "latn", ("ISK 1,000", "ISK", 1_000_000)),
    ],
)
def test_currency_parameter_values_are_the_text_the_code_and_amount_1000(amount, currency, language, digits, values):
    assert currency_parameter_values(amount, currency, language, digits=digits, bidi_marks=False) == values


@pytest.mark.parametrize(("language", "digits"), [("en_US", "latn"), ("ar", "latn"), ("ar", "arab"), ("de_DE", "arab"), ("ja", "latn")])
@pytest.mark.parametrize("bidi_marks", [False, True])
def test_the_fallback_value_is_what_the_money_filter_writes(language, digits, bidi_marks):
    fallback, _, _ = currency_parameter_values(123456, "omr", language, digits=digits, bidi_marks=bidi_marks)
    assert fallback == rendered("{{ 123456 | money('omr') }}", language, _digits=digits, _bidi_marks=bidi_marks)


@pytest.mark.parametrize(
    ("amount", "currency", "problem"),
    [
        (1999, "usdx", "currency must be a three-letter code, got 'usdx'"),
        (1999, "", "currency must be a three-letter code, got ''"),
        (1999, None, "currency must be a three-letter code, got None"),
        (True, "usd", "amount must be an integer in minor units, got True"),
        ("1999", "usd", "amount must be an integer in minor units, got '1999'"),
        (19.99, "usd", "amount must be an integer in minor units, got 19.99"),
        (12345, "clf", "CLF 1.2345 has more decimals than amount_1000 can hold"),
    ],
)
def test_currency_parameter_values_refuse_what_meta_would(amount, currency, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        currency_parameter_values(amount, currency, "en_US", digits="latn", bidi_marks=False)


@pytest.mark.parametrize(
    ("language", "zone", "kwargs", "text"),
    [
        ("en_US", "UTC", {}, "Nov 25, 2025"),
        ("en_US", "America/New_York", {"fmt": "long"}, "November 24, 2025"),
        ("en_US", "UTC", {"fmt": "short", "with_time": True}, "11/25/25, 12:00\u202fAM"),
        ("ar", "Asia/Kuwait", {}, "25/11/2025"),
        ("ar", "Asia/Kuwait", {"digits": "arab"}, "٢٥/١١/٢٠٢٥"),
        ("ar", "Asia/Kuwait", {"digits": "arab", "bidi_marks": True}, f"٢٥{RLM}/١١{RLM}/٢٠٢٥"),
        ("ar", "Asia/Kuwait", {"digits": "arab", "fmt": "long", "with_time": True}, "٢٥ نوفمبر ٢٠٢٥، ٣:٠٠:٠٠ ص +٠٣٠٠"),
    ],
)
def test_date_time_fallback_is_the_localized_date_in_the_zone(language, zone, kwargs, text):
    settings = {"digits": "latn", "bidi_marks": False, **kwargs}
    assert date_time_fallback(NOV_25, language, zone, **settings) == text


@pytest.mark.parametrize(("fmt", "with_time"), [("medium", False), ("long", False), ("short", True)])
def test_the_date_time_fallback_is_what_the_date_filters_write(fmt, with_time):
    expected = rendered(f"{{{{ {NOV_25} | {'datetime' if with_time else 'date'}('{fmt}') }}}}", "ar", _digits="arab")
    assert date_time_fallback(NOV_25, "ar", "Asia/Kuwait", fmt=fmt, with_time=with_time, digits="arab", bidi_marks=False) == expected


# -- the [formatting] settings --------------------------------------------------------------------


def test_the_example_config_documents_the_default_formatting():
    assert load_config(EXAMPLE_CONFIG, env={}).formatting == FormattingSettings(digits="latn", bidi_marks=False)


def test_without_a_formatting_table_the_defaults_apply():
    assert parse_config({}).formatting == FormattingSettings(digits="latn", bidi_marks=False)


def test_arabic_digits_and_marks_can_be_asked_for():
    assert parse_config({"formatting": {"digits": "arab", "bidi_marks": True}}).formatting == FormattingSettings("arab", True)


@pytest.mark.parametrize(
    ("table", "problems"),
    [
        ({"digits": "arabic"}, ['c.toml: formatting.digits: must be "latn" or "arab"']),
        ({"digits": "ARAB"}, ['c.toml: formatting.digits: must be "latn" or "arab"']),
        ({"digits": 1}, ['c.toml: formatting.digits: must be "latn" or "arab"']),
        ({"bidi_marks": "false"}, ['c.toml: formatting.bidi_marks: must be true or false, not the text "false"']),
        ({"bidi_marks": 0}, ["c.toml: formatting.bidi_marks: must be true or false, not 0"]),
        ({"bidi": True}, ["c.toml: formatting.bidi: unknown key (check the spelling against config.example.toml)"]),
    ],
)
def test_a_wrong_formatting_value_names_file_key_and_problem(table, problems):
    with pytest.raises(ConfigError) as excinfo:
        parse_config({"formatting": table}, source="c.toml")
    assert [str(p) for p in excinfo.value.problems] == problems


def test_a_wrong_formatting_table_keeps_its_defaults_and_is_named_invalid():
    reading = validate_config({"formatting": {"digits": "hindi"}}, source="c.toml")
    assert reading.config.formatting == FormattingSettings()
    assert reading.invalid_sections == {"formatting"}
