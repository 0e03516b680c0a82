"""Classification of WhatsApp Cloud API errors into the bridge's DeliveryError classes.

Meta asks clients to build error handling around `error.code` (and `error_data.details`), not
HTTP status: throttling arrives as 400 or 429 depending on the code and the API revision. So the
code decides; the HTTP status is only a fallback when there is no code (a proxy's HTML 502).
The same table classifies the per-message errors that arrive later in status webhooks
(131026, 131049, 131050, 130472, 132015 usually come that way after a 200).

Source: Meta's error-code reference
https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bridge.errors import AccountError, DeliveryError, PermanentError, RateLimitedError, TransientError


@dataclass(frozen=True)
class CodeInfo:
    error_class: type[DeliveryError]
    meaning: str
    opt_out: bool = False
    fix: str | None = None
    """What the merchant can do about it (the template-related codes have one)."""


_T, _R, _P, _A = TransientError, RateLimitedError, PermanentError, AccountError

CODES: dict[int, CodeInfo] = {
    # transient: retry with backoff
    1: CodeInfo(_T, "Unknown API error or possible server error at Meta"),
    2: CodeInfo(_T, "Meta's service is temporarily down or overloaded"),
    131000: CodeInfo(_T, "Something went wrong at Meta (unknown error)"),
    131016: CodeInfo(_T, "WhatsApp service temporarily unavailable"),
    131057: CodeInfo(_T, "Business account in maintenance mode (e.g. a throughput upgrade)"),
    133004: CodeInfo(_T, "WhatsApp server temporarily unavailable"),
    # rate limited: wait, then retry without counting a failure
    4: CodeInfo(_R, "The app reached its Graph API call rate limit"),
    80007: CodeInfo(_R, "The WhatsApp Business Account reached its rate limit"),
    130429: CodeInfo(_R, "The phone number reached its message throughput limit"),
    131048: CodeInfo(_R, "Spam rate limit: earlier messages were blocked or flagged, sending is restricted"),
    131056: CodeInfo(_R, "Too many messages to this customer in a short time (pair rate limit)"),
    # permanent for this message: record as failed, never retry
    100: CodeInfo(
        _P,
        "Invalid parameter in the request",
        fix="Compare the request with the template (`bridge preview`); in a named template every parameter needs its name",
    ),
    130403: CodeInfo(_P, "The business has blocked this customer"),
    130472: CodeInfo(_P, "The customer's number is part of a Meta experiment; the message was not sent"),
    130497: CodeInfo(_P, "The business may not message customers in this country"),
    131008: CodeInfo(
        _P,
        "A required parameter is missing",
        fix="Give every parameter the template needs: a media header's link, each URL button's suffix (`bridge check-config` names them)",
    ),
    131009: CodeInfo(
        _P, "A parameter value is not valid (often the phone number)", fix="Check the recipient's number and each parameter's value"
    ),
    131021: CodeInfo(_P, "The recipient is the sending business number itself"),
    131026: CodeInfo(_P, "Message undeliverable: the number is not on WhatsApp or cannot receive this message"),
    131030: CodeInfo(_P, "The recipient is not in the test number's allowed list"),
    131047: CodeInfo(_P, "More than 24 hours since the customer last replied; only templates may be sent"),
    131049: CodeInfo(_P, "Meta chose not to deliver this message to keep engagement healthy; do not retry soon"),
    131050: CodeInfo(_P, "The customer stopped marketing messages from this business", opt_out=True),
    131051: CodeInfo(_P, "Unsupported message type"),
    131052: CodeInfo(_P, "Media sent by the customer could not be downloaded"),
    131053: CodeInfo(_P, "Media used in the message could not be uploaded"),
    131063: CodeInfo(_P, "Marketing template while marketing messages are disabled for the Cloud API"),
    131064: CodeInfo(_P, "Messaging limit reached because of template classification violations"),
    132000: CodeInfo(
        _P,
        "Number of template parameters does not match the approved template",
        fix=(
            "Make the mapping give exactly the template's placeholders in the header, the body and each button: "
            "`bridge templates pull`, then `bridge check-config`"
        ),
    ),
    132001: CodeInfo(
        _P,
        "Template does not exist in this language or is not approved",
        fix="Check the mapping's template name and language against `bridge templates list` (pull again after Meta approves a template)",
    ),
    132005: CodeInfo(
        _P,
        "Template text too long once the parameters are filled in",
        fix="Shorten the template's own text or the parameters (the bridge cuts body text to 1,024 characters; headers take 60)",
    ),
    132007: CodeInfo(
        _P,
        "Template content violates a WhatsApp policy",
        fix="Edit the template in WhatsApp Manager so that it follows WhatsApp's Business and Commerce policies",
    ),
    132008: CodeInfo(_P, "A template parameter value is not valid"),
    132012: CodeInfo(
        _P,
        "A template parameter is not in the format the template expects",
        fix=(
            "Give each parameter the kind its component takes (header text, image, document or video; body text, currency or "
            "date_time); run `bridge check-config` with a fresh snapshot"
        ),
    ),
    132015: CodeInfo(
        _P,
        "Template paused for low quality",
        fix=(
            "Improve the template (WhatsApp Manager shows its quality) and wait for Meta to unpause it, or map to another "
            "approved template; then `bridge replay --failed`"
        ),
    ),
    132016: CodeInfo(
        _P,
        "Template permanently disabled after repeated pauses",
        fix="Create a new template, point the mapping at it once Meta approves it, then `bridge replay --failed`",
    ),
    132018: CodeInfo(
        _P,
        "There is a problem with the template's parameters (empty, newline, tab or too many spaces)",
        fix="Check URL button suffixes and quick-reply payloads for spaces or line breaks (the bridge cleans text parameters itself)",
    ),
    135000: CodeInfo(_P, "Generic user error in the request parameters"),
    # account/configuration: every send from this number fails; pause and keep the jobs
    0: CodeInfo(_A, "Authentication failed: the access token is expired, revoked or invalid"),
    3: CodeInfo(_A, "The app lacks the capability or permission for this API"),
    10: CodeInfo(_A, "Permission not granted or removed"),
    190: CodeInfo(_A, "The access token has expired or is invalid"),
    368: CodeInfo(_A, "The account is temporarily blocked for policy violations"),
    131005: CodeInfo(_A, "Access denied: permission missing"),
    131031: CodeInfo(_A, "The business account is locked"),
    131042: CodeInfo(_A, "Business payment issue (no payment method, credit line over limit, ...)"),
    131044: CodeInfo(_A, "Business payment method not set up"),
    131045: CodeInfo(_A, "The phone number's certificate is incorrect (registration problem)"),
    133010: CodeInfo(_A, "The phone number is not registered on the Cloud API"),
}
PAIR_RATE_LIMIT = 131056
"""Too many messages to one customer: back off that customer only, 4^n seconds."""

_LONG_NUMBER = re.compile(r"\+?\d[\d ()-]{6,}\d")
_PERMISSION_RANGE = CodeInfo(_A, "API permission not granted or removed (or no access token)")


def lookup(code: int) -> CodeInfo | None:
    """The table entry for a Meta error code; 200–299 are all permission errors."""
    if 200 <= code <= 299:
        return _PERMISSION_RANGE
    return CODES.get(code)


# Meta deprecated error subcodes in v16 and asks for handling by code and `details`; the few a
# merchant can act on are recognised by either.
_BY_SUBCODE: dict[tuple[int, int], tuple[str, str]] = {
    (100, 33): (
        "The phone number id or business account id does not exist, or the access token cannot see it",
        "Check WHATSAPP_PHONE_NUMBER_ID / WHATSAPP_BUSINESS_ACCOUNT_ID and the system user's access to that account",
    ),
}
_BY_DETAILS: tuple[tuple[int, str, str, str], ...] = (
    (
        100,
        "parameter name is missing",
        "A named template was sent parameters without names",
        "Give body (and a text header) as a table name = ... with the template's {{names}}",
    ),
)


def explain(code: int | None, subcode: int | None = None, details: str | None = None) -> tuple[str | None, str | None]:
    """(meaning, fix) of a Meta error, for records, `send-test` and `check-config`."""
    if code is None:
        return None, None
    if subcode is not None and (code, subcode) in _BY_SUBCODE:
        return _BY_SUBCODE[(code, subcode)]
    for known, fragment, meaning, fix in _BY_DETAILS:
        if code == known and details and fragment in details.lower():
            return meaning, fix
    info = lookup(code)
    return (info.meaning, info.fix) if info else (None, None)


def explanations() -> set[str]:
    """Every meaning and fix text `classify` and `explain` can give, so the page's translations can be checked for all of them."""
    texts = {text for info in (*CODES.values(), _PERMISSION_RANGE) for text in (info.meaning, info.fix)}
    texts |= {text for pair in _BY_SUBCODE.values() for text in pair}
    texts |= {text for _code, _fragment, meaning, fix in _BY_DETAILS for text in (meaning, fix)}
    texts |= {_unrecognised(error_class) for error_class in _FALLBACK_CLASSES}
    return {text for text in texts if text}


_FALLBACK_CLASSES: tuple[type[DeliveryError], ...] = (RateLimitedError, TransientError, AccountError, PermanentError)
"""What `_fallback_class` can answer when Meta sent no code the table knows."""


def _unrecognised(error_class: type[DeliveryError]) -> str:
    return f"Unrecognised Cloud API error; treated as {error_class.__name__}"


def _fallback_class(http_status: int | None, is_transient: bool) -> type[DeliveryError]:
    if http_status == 429:
        return RateLimitedError
    if http_status is not None and http_status >= 500:
        return TransientError
    if is_transient:
        return TransientError
    if http_status == 401:
        return AccountError
    return PermanentError


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _build(error: dict[str, Any], http_status: int | None, retry_after: float | None) -> DeliveryError:
    code = _int(error.get("code"))
    info = lookup(code) if code is not None else None
    error_class = info.error_class if info else _fallback_class(http_status, error.get("is_transient") is True)
    title = error.get("error_user_title") or error.get("title") or _title_from_message(error.get("message"))
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    label = f"(#{code}) " if code is not None else (f"HTTP {http_status}: " if http_status else "")
    summary = title or (info.meaning if info else "Cloud API error")
    message = f"{label}{summary}" + (f": {details}" if details and details != summary else "")
    subcode = _int(error.get("error_subcode"))
    details = details if isinstance(details, str) else None
    meaning, fix = explain(code, subcode, details)
    fields: dict[str, Any] = {
        "code": code,
        "subcode": subcode,
        "title": title,
        "details": details,
        "http_status": http_status,
        "fbtrace_id": error.get("fbtrace_id") if isinstance(error.get("fbtrace_id"), str) else None,
        "meaning": meaning or _unrecognised(error_class),
        "fix": fix,
    }
    if error_class is RateLimitedError:
        return RateLimitedError(message, retry_after=retry_after, **fields)
    if error_class is PermanentError:
        return PermanentError(message, opt_out=bool(info and info.opt_out), **fields)
    return error_class(message, **fields)


def _title_from_message(message: Any) -> str | None:
    """Meta's message is "(#131026) Message undeliverable"; keep the part after the code."""
    if not isinstance(message, str):
        return None
    text = message.strip()
    if text.startswith("(#") and ")" in text:
        text = text.split(")", 1)[1].strip()
    # Never carry a phone number into records or logs, should Meta ever echo one.
    return _LONG_NUMBER.sub("[number]", text) or None


def classify(http_status: int | None, body: object, *, retry_after: float | None = None) -> DeliveryError:
    """The DeliveryError for an HTTP error answer from the Cloud API (body already parsed)."""
    error = body.get("error") if isinstance(body, dict) else None
    return _build(error if isinstance(error, dict) else {}, http_status, retry_after)


def classify_webhook_error(error: dict[str, Any]) -> DeliveryError:
    """The same classification for an error object from a `failed` status webhook."""
    return _build(error if isinstance(error, dict) else {}, None, None)


def pair_backoff_seconds(attempt: int) -> float:
    """Meta's advice after a pair rate limit (131056): wait 4^attempt seconds (capped at 1 h)."""
    return float(min(4 ** max(0, attempt), 3600))
