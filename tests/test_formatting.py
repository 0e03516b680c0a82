from __future__ import annotations

import pytest

from bridge.errors import RecipientError
from bridge.mappings.formatting import amount_1000, format_money, format_timestamp, minor_unit_exponent
from bridge.whatsapp.phones import mask_phone, normalize


@pytest.mark.parametrize(
    ("amount", "currency", "language", "text"),
    [
        (1999, "usd", "en_US", "$19.99"),
        (5000, "jpy", "en_US", "¥5,000"),
        (1500, "kwd", "en_US", "KWD 1.500"),
        (123456, "eur", "de_DE", "1.234,56\xa0€"),
        (990, "brl", "pt_BR", "R$\xa09,90"),
        (100000, "isk", "en_US", "ISK 1,000"),  # Stripe sends ISK in hundredths
        (100050, "isk", "en_US", "ISK 1,000.5"),  # finer than CLDR's 0 digits: shown, not rounded to 1,001
        (150075, "yer", "en_US", "YER 1,500.75"),
        (-2650, "kwd", "en_US", "-KWD 2.650"),
        (0, "usd", None, "$0.00"),
    ],
)
def test_money(amount, currency, language, text):
    assert format_money(amount, currency, language) == text


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        *[("usd", 2), ("JPY", 0), ("krw", 0), ("kwd", 3), ("bhd", 3), ("omr", 3), ("jod", 3), ("tnd", 3), ("isk", 2), ("ugx", 0)],
        # CLDR shows these without decimals; Stripe takes them in hundredths.
        *[("afn", 2), ("all", 2), ("lak", 2), ("lbp", 2), ("mmk", 2), ("rsd", 2), ("sos", 2), ("yer", 2)],
    ],
)
def test_minor_unit_exponent_follows_stripe(currency, exponent):
    assert minor_unit_exponent(currency) == exponent


@pytest.mark.parametrize(("currency", "exponent"), [("lyd", 3), ("iqd", 0), ("clf", 4), ("uyw", 4), ("irr", 0), ("xyz", 2)])
def test_a_currency_stripe_does_not_take_has_babels_digits(currency, exponent):
    assert minor_unit_exponent(currency) == exponent


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (1999, "usd", 19990),
        (5000, "jpy", 5_000_000),
        (1500, "kwd", 1500),
        (1500, "bhd", 1500),
        (26500, "omr", 26500),
        (1, "jod", 1),
        (1500, "tnd", 1500),
        (100000, "isk", 1_000_000),
        (-1999, "usd", -19990),
        (12340, "clf", 1234),
        (99_999_999_999_999_999, "idr", 999_999_999_999_999_990),  # integers all the way: no float rounding
    ],
)
def test_amount_1000(amount, currency, expected):
    assert amount_1000(amount, currency) == expected


def test_amount_1000_refuses_a_fourth_decimal_rather_than_round_it():
    with pytest.raises(ValueError, match=r"CLF 1\.2345 has more decimals than amount_1000 can hold"):
        amount_1000(12345, "clf")


def test_date_is_localized_and_in_the_requested_zone():
    ts = 1764028800  # 2025-11-25 00:00:00 UTC
    assert format_timestamp(ts, "medium", "en_US", "UTC") == "Nov 25, 2025"
    assert format_timestamp(ts, "medium", "en_US", "America/Los_Angeles") == "Nov 24, 2025"
    assert format_timestamp(ts, "long", "pt_BR", "UTC") == "25 de novembro de 2025"
    with pytest.raises(ValueError, match="unknown time zone"):
        format_timestamp(ts, "medium", "en_US", "Mars/Olympus")


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+14155550123", "+1******0123"),
        ("14155550123", "+1******0123"),  # a wa_id: digits, no plus
        ("+5511987654321", "+55*******4321"),
        ("+447700900123", "+44******0123"),
        ("+8005551234", "+800***1234"),  # a three-digit (non-geographic) country calling code
        ("0123456789", "+******6789"),  # no country calling code recognised: only the last four
        ("1234", "****"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone_keeps_only_the_country_calling_code_and_the_last_four_digits(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("+1 (415) 555-0123", None, "+14155550123"),
        ("0014155550123", None, "+14155550123"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("+55 11 98765-4321", None, "+5511987654321"),
        ("11 98765-4321", "BR", "+5511987654321"),
    ],
)
def test_normalize_to_e164_with_plus(raw, country, e164):
    assert normalize(raw, country) == e164


@pytest.mark.parametrize(
    ("raw", "country", "reason"),
    [
        ("(415) 555-0123", None, "no country code"),
        ("+1 415", None, "not a valid number"),
        ("call me", None, "contains letters"),
        ("+ ( )", None, "cannot be parsed"),
        ("", None, "no phone number"),
        (None, None, "no phone number"),
    ],
)
def test_normalize_rejects_unusable_numbers(raw, country, reason):
    with pytest.raises(RecipientError, match=reason):
        normalize(raw, country)
