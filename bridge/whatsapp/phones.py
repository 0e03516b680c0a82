"""Phone numbers: E.164 with the plus (the only form safe to send to the Cloud API), and masking.

Without the `+`, Meta prefixes the business number's own country code and can reach the wrong
person, so every recipient passes through `normalize` before a send. For the same reason a
number is never guessed at: phonenumbers would turn letters into digits (`+1 415 abc 0123` →
+14152220123, a stranger), so a number with letters is refused.

Mobile prefixes Meta knows: Mexico's old `+52 1` mobile form is today's `+52` number (Meta
answers with `wa_id` 521… either way); Argentina's `+54 9` mobile form is valid as written and
sent as given (Meta's `wa_id` keeps the 9).
"""

from __future__ import annotations

import functools
import re

import phonenumbers

from bridge.errors import RecipientError


def normalize(raw: object, default_country: str | None = None) -> str:
    """Return `raw` as E.164 (`+14155550123`) or raise RecipientError saying why it is unusable."""
    if not isinstance(raw, str | int) or not str(raw).strip():
        raise RecipientError("no phone number")
    return _normalized(str(raw).strip(), default_country)


@functools.lru_cache(maxsize=4096)
def _normalized(text: str, default_country: str | None) -> str:
    """Cached: phonenumbers takes about 0.1 ms a number, and customers come back. (An error is not
    cached: it is raised again each time, with its reason.)"""
    if any(ch.isalpha() for ch in text):
        raise RecipientError(
            "phone number contains letters; refusing to guess the digits (vanity numbers and extensions are not WhatsApp numbers)"
        )
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else default_country)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise RecipientError("phone number has no country code and no [whatsapp] default_country is set") from None
        raise RecipientError("phone number cannot be parsed") from None
    number = _without_mexicos_old_mobile_prefix(number)
    if not phonenumbers.is_valid_number(number):
        raise RecipientError("phone number is not a valid number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


MEXICO = 52


def _without_mexicos_old_mobile_prefix(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    """+52 1 55 1234 5678 (the mobile form before 2019) → +52 55 1234 5678, when that is valid."""
    national = str(number.national_number)
    if number.country_code != MEXICO or len(national) != 11 or not national.startswith("1"):
        return number
    modern = phonenumbers.PhoneNumber(country_code=MEXICO, national_number=int(national[1:]))
    return modern if phonenumbers.is_valid_number(modern) else number


def mask_phone(phone: str | None) -> str:
    """A number as logs and the CLI show it: `+1******4567` (the country calling code, a star per
    hidden digit, the last four). Digits without the plus (a `wa_id`) are read as international;
    when no country calling code is recognised, only the last four show (`+*******4567`)."""
    if not phone:
        return ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) <= 4:
        return "*" * len(digits)
    code = _country_calling_code(digits)
    hidden = len(digits) - len(code) - 4
    if hidden < 1:
        code, hidden = "", len(digits) - 4
    return f"+{code}{'*' * hidden}{digits[-4:]}"


def _country_calling_code(digits: str) -> str:
    """The leading 1–3 digits that are a country calling code (they are prefix-free), or ""."""
    if digits.startswith("0"):
        return ""
    for size in (1, 2, 3):
        if int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return digits[:size]
    return ""


def mask_user_id(user_id: str | None) -> str:
    """A business-scoped user id as logs show it: its country and last four characters (US.…1918)."""
    if not user_id:
        return ""
    country, dot, rest = user_id.partition(".")
    head = f"{country}." if dot and len(country) <= 3 else ""
    tail = (rest if dot else user_id)[-4:]
    return f"{head}…{tail}"


_WA_ID = re.compile(r"^\+?\d{6,15}$")


def from_wa_id(wa_id: str | None) -> str | None:
    """A number as Meta's webhook writes it (`wa_id`, `from`, `recipient_id`: digits, no plus) in
    E.164, or None when it is not a phone number (a group id, a user id, junk)."""
    if not wa_id or not _WA_ID.match(wa_id):
        return None
    return "+" + wa_id.lstrip("+")


def whatsapp_variants(phone: str) -> tuple[str, ...]:
    """`phone` and the other E.164 forms under which WhatsApp knows the same customer.

    Meta's webhooks write Mexican mobiles as 521…, Argentinian ones as 549… and may drop or add
    Brazil's ninth digit, while the bridge sends to the number Stripe gave. A STOP from any form
    must stop messages to every form, so consent is recorded under all of them.
    """
    digits = phone.lstrip("+")
    forms = {digits}
    if digits.startswith("521") and len(digits) == 13:
        forms.add("52" + digits[3:])
    elif digits.startswith("52") and len(digits) == 12:
        forms.add("521" + digits[2:])
    elif digits.startswith("549") and len(digits) == 13:
        forms.add("54" + digits[3:])
    elif digits.startswith("54") and len(digits) == 12:
        forms.add("549" + digits[2:])
    elif digits.startswith("55") and len(digits) == 13 and digits[4] == "9":
        forms.add(digits[:4] + digits[5:])
    elif digits.startswith("55") and len(digits) == 12 and digits[4] in "6789":
        forms.add(digits[:4] + "9" + digits[4:])
    return tuple("+" + form for form in sorted(forms, key=lambda f: (f != digits, f)))
