"""The page's languages: English (the messages' own language) and Arabic (right to left), the babel
catalogues compiled from their .po files when this module is imported (no build step, no .mo in
the repository), and numbers, money and times formatted in the page's locale.

The language is chosen per request (`?lang=`, else what the session remembers, else the
browser's Accept-Language) and kept on `flask.g`; `gettext` reads it from there.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from flask import g, has_request_context
from markupsafe import Markup

from bridge.mappings.formatting import format_money

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DOMAIN = "messages"
META_ERRORS = "meta_errors"
"""Meta's error meanings and fixes (bridge.whatsapp.errors), translated beside the page's labels."""


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    """In the language itself: how the switch offers it."""
    rtl: bool = False

    @property
    def direction(self) -> str:
        return "rtl" if self.rtl else "ltr"


LANGUAGES: dict[str, Language] = {"en": Language("en", "English"), "ar": Language("ar", "العربية", rtl=True)}
DEFAULT_LANGUAGE = "en"


def compile_catalogue(po_file: Path, locale: str) -> Translations:
    """A .po file as gettext translations, compiled in memory (babel's read_po → write_mo)."""
    with po_file.open("rb") as source:
        catalogue = read_po(source, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def load_catalogues(directory: Path = TRANSLATIONS_DIR) -> dict[str, NullTranslations]:
    """Each language's translations; English is the messages' own text."""
    catalogues: dict[str, NullTranslations] = {DEFAULT_LANGUAGE: NullTranslations()}
    for code in LANGUAGES:
        if code == DEFAULT_LANGUAGE:
            continue
        translations = compile_catalogue(directory / code / "LC_MESSAGES" / f"{DOMAIN}.po", code)
        meta_errors = directory / code / "LC_MESSAGES" / f"{META_ERRORS}.po"
        if meta_errors.exists():
            translations.merge(compile_catalogue(meta_errors, code))
        catalogues[code] = translations
    return catalogues


CATALOGUES = load_catalogues()


def choose_language(asked: str | None, remembered: str | None, accepted: Iterable[str]) -> str:
    """`?lang=` when it names a language, else the session's, else the browser's first we have."""
    for code in (asked, remembered, *accepted):
        if code:
            base = code.split("-")[0].split("_")[0].lower()
            if base in LANGUAGES:
                return base
    return DEFAULT_LANGUAGE


def current_language() -> Language:
    """The language of the page being built (English outside a request)."""
    code = g.get("language", DEFAULT_LANGUAGE) if has_request_context() else DEFAULT_LANGUAGE
    return LANGUAGES[code]


def translate(message: str) -> str:
    """`message` in the page's language (untouched when the catalogue lacks it)."""
    return CATALOGUES[current_language().code].gettext(message)


def gettext(message: str, **values: object) -> str:
    """`message` translated, then filled with `values` (`%(name)s` placeholders)."""
    translated = translate(message)
    return translated % values if values else translated


_ = gettext


def N_(message: str) -> str:
    """Mark `message` for the catalogue; it is translated where it is shown."""
    return message


LEFT_TO_RIGHT_ISOLATE, POP_DIRECTIONAL_ISOLATE = "\u2066", "\u2069"


def isolate(text: str) -> str:
    """`text` (a number, a code, a date) kept left to right inside a sentence of a right-to-left
    page, where the bidi algorithm would otherwise reorder it (+1******0123 shown as 0123******1+);
    unchanged on a left-to-right page. For plain text (flashes); templates use the `ltr` filter."""
    return f"{LEFT_TO_RIGHT_ISOLATE}{text}{POP_DIRECTIONAL_ISOLATE}" if current_language().rtl else text


def ltr(text: object) -> Markup:
    """The `ltr` filter: `text` in a left-to-right isolate (<bdi dir="ltr">), for a number or a
    code put into a translated sentence."""
    return Markup('<bdi dir="ltr">%s</bdi>') % (text,)


def number(value: float | int | Decimal) -> str:
    """A count or measure in the page's locale."""
    return format_decimal(value, locale=current_language().code)


def money(amount_minor: int, currency: str) -> str:
    """An amount in the currency's minor unit (Stripe's `amount`), in the page's locale, formatted
    as the messages format it (bridge.mappings.formatting)."""
    return format_money(amount_minor, currency, current_language().code)


def moment(timestamp: float | None, style: str = "medium") -> str:
    """A unix time as a date and time (UTC) in the page's locale; "" for none."""
    if not timestamp:
        return ""
    return format_datetime(datetime.fromtimestamp(timestamp, UTC), style, tzinfo=UTC, locale=current_language().code)


def hour_label(timestamp: float) -> str:
    """The hour of a unix time (UTC) as the locale writes it: 14, or ١٤ where digits differ."""
    return format_datetime(datetime.fromtimestamp(timestamp, UTC), "HH", tzinfo=UTC, locale=current_language().code)
