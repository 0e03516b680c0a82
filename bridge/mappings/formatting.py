"""Pure formatting used by the mapping language's filters and Meta's currency and date_time
parameters: money in minor units, and dates, in the template's language.

Arabic: babel formats the `ar` locales with Western digits and ASCII separators (26.500 د.ك.).
digits="arab" writes Arabic-Indic digits with the Arabic decimal and group separators instead
(٢٦٫٥٠٠ د.ك.), for Arabic languages only: a template in another language keeps Western digits.
babel also puts direction marks around Arabic numbers and dates; WhatsApp shows a parameter as
plain text inside the merchant's own sentence, so they are removed unless bidi_marks=True.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.numbers import format_currency, get_currency_precision

# Stripe's own minor-unit rules differ from ISO 4217 for a few currencies (ISK and HUF are sent
# in hundredths although they display without decimals), so the exponent comes from Stripe's list.
# https://docs.stripe.com/currencies#zero-decimal and #three-decimal
STRIPE_ZERO_DECIMAL = frozenset(
    ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]
)
STRIPE_THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
STRIPE_TWO_DECIMAL = frozenset(["AFN", "ALL", "ISK", "LAK", "LBP", "MMK", "MRO", "RSD", "SLL", "SOS", "STD", "YER"])
"""Currencies Stripe takes in hundredths, like every currency it lists, whose CLDR digits are 0.
Every other currency Stripe lists has 2 digits in CLDR too, so only these need naming."""

FALLBACK_LOCALE = "en_US"
LATIN_DIGITS = "latn"
ARABIC_DIGITS = "arab"
DIGIT_SYSTEMS = (LATIN_DIGITS, ARABIC_DIGITS)
"""The `[formatting] digits` values, by their CLDR numbering-system names."""

BIDI_MARKS = "\u200e\u200f\u061c"
"""LEFT-TO-RIGHT MARK, RIGHT-TO-LEFT MARK and ARABIC LETTER MARK: what babel puts around numbers."""

_WITHOUT_BIDI_MARKS = str.maketrans(dict.fromkeys(BIDI_MARKS))
_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_CODE_THEN_DIGIT = re.compile(r"(?<![A-Za-z])([A-Z]{3})(?=\d)")
_CURRENCY_CODE = re.compile(r"[A-Za-z]{3}")


def minor_unit_exponent(currency: str) -> int:
    """How many decimal places Stripe's integer amounts have in this currency: Stripe's lists,
    then CLDR's digits (babel's data) for a currency Stripe does not take."""
    code = currency.upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    if code in STRIPE_TWO_DECIMAL:
        return 2
    return get_currency_precision(code)  # 2 for a code babel does not know


def major_amount(amount: int, currency: str) -> Decimal:
    """Stripe minor units → the amount in major units, exactly."""
    return Decimal(int(amount)).scaleb(-minor_unit_exponent(currency))


def amount_1000(amount: int, currency: str) -> int:
    """The Cloud API currency parameter's `amount_1000`: major units × 1000, in integers.

    A currency with four decimals (CLF, UYW) fits only when the fourth is 0: Meta wants an
    integer, and a rounded amount is refused rather than sent."""
    shift = 3 - minor_unit_exponent(currency)
    if shift >= 0:
        return int(amount) * 10**shift
    whole, rest = divmod(int(amount), 10**-shift)
    if rest:
        raise ValueError(f"{currency.upper()} {major_amount(amount, currency)} has more decimals than amount_1000 can hold")
    return whole


@functools.lru_cache(maxsize=256)
def to_locale(language: str | None) -> Locale:
    """A babel Locale for a WhatsApp language code (en_US, pt_BR, es), falling back to en_US.
    Cached: it runs for every formatted value, and parsing a locale loads its data."""
    for candidate in (language, FALLBACK_LOCALE):
        if not candidate:
            continue
        try:
            return Locale.parse(candidate.replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            continue
    return Locale.parse(FALLBACK_LOCALE)


def numbering_system(locale: Locale, digits: str) -> str:
    """The digits a value is written with: Arabic-Indic only when asked for and the language is
    Arabic (a Latin-script template keeps Western digits)."""
    if digits not in DIGIT_SYSTEMS:
        raise ValueError(f"digits must be {' or '.join(map(repr, DIGIT_SYSTEMS))}, got {digits!r}")
    return ARABIC_DIGITS if digits == ARABIC_DIGITS and locale.language == "ar" else LATIN_DIGITS


def format_money(amount: int, currency: str, language: str | None = None, *, digits: str = LATIN_DIGITS, bidi_marks: bool = False) -> str:
    """Stripe amount in minor units → localized text: JPY 5000 → ¥5,000, KWD 1500 → KWD 1.500."""
    code = currency.upper()
    locale = to_locale(language)
    numbering = numbering_system(locale, digits)
    # decimal_quantization=False: an amount finer than CLDR's digits (ISK in hundredths) is
    # shown as it is, never rounded.
    text = format_currency(major_amount(amount, code), code, locale=locale, decimal_quantization=False, numbering_system=numbering)
    # CLDR's currency-spacing rule puts a space between an alphabetic code and the digits;
    # babel does not apply it, which would print "KWD1.500" (or "-KWD1.500").
    return _finish(_CODE_THEN_DIGIT.sub(r"\1 ", text), numbering, bidi_marks)


def currency_parameter_values(amount: int, currency: str, language: str, *, digits: str, bidi_marks: bool) -> tuple[str, str, int]:
    """Meta's `currency` parameter for a Stripe amount: (fallback_value, code, amount_1000).
    KWD 1500 in en → ("KWD 1.500", "KWD", 1500); the text is the money filter's in that language."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"amount must be an integer in minor units, got {amount!r}")
    if not isinstance(currency, str) or not _CURRENCY_CODE.fullmatch(currency):
        raise ValueError(f"currency must be a three-letter code, got {currency!r}")
    return format_money(amount, currency, language, digits=digits, bidi_marks=bidi_marks), currency.upper(), amount_1000(amount, currency)


def zone(name: str | None) -> ZoneInfo | timezone:
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def format_timestamp(
    timestamp: int | float,
    fmt: str = "medium",
    language: str | None = None,
    tz: str | None = None,
    *,
    with_time: bool = False,
    digits: str = LATIN_DIGITS,
    bidi_marks: bool = False,
) -> str:
    """Unix timestamp → localized date (or date and time) in the given time zone."""
    moment = datetime.fromtimestamp(float(timestamp), tz=zone(tz))
    locale = to_locale(language)
    numbering = numbering_system(locale, digits)
    if with_time:
        text = _babel_format_datetime(moment, format=fmt, locale=locale)
    else:
        text = _babel_format_date(moment.date(), format=fmt, locale=locale)
    return _finish(text, numbering, bidi_marks)


def date_time_fallback(
    timestamp: int | float, language: str, timezone: str, *, fmt: str = "medium", with_time: bool = False, digits: str, bidi_marks: bool
) -> str:
    """Meta's `date_time` parameter's `fallback_value`, the only part of it Meta uses."""
    return format_timestamp(timestamp, fmt, language, timezone, with_time=with_time, digits=digits, bidi_marks=bidi_marks)


def _finish(text: str, numbering: str, bidi_marks: bool) -> str:
    # babel's dates have no numbering system, and its Arabic one changes only the separators:
    # the digits themselves are converted here.
    if numbering == ARABIC_DIGITS:
        text = text.translate(_ARABIC_INDIC)
    return text if bidi_marks else text.translate(_WITHOUT_BIDI_MARKS)
