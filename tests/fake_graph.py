"""A fake WhatsApp Business Cloud API (Graph API) served over real HTTP on 127.0.0.1, for tests.

`FakeGraphAPI` listens on a real socket (stdlib `ThreadingHTTPServer`, HTTP/1.1 keep-alive) and
serves `POST /{api_version}/{phone_number_id}/messages`. Every request is recorded. A request to
that endpoint is first checked against the shapes Meta documents for template sends (bearer
token, JSON body, E.164 `to` with a plus, template name/language/components/parameters); each
violation is appended to `problems` and answered the way Meta answers it (HTTP 400 with a Graph
error body, 401/190 for bad auth). Valid requests then get the next scripted `Reply` (Meta error
bodies with the documented HTTP status per code, generic 5xx, delays, dropped connections, hangs)
or, when the script is empty, Meta's success body with a fresh `wamid`.

It also serves `GET /{api_version}/{phone_number_id}`, the phone number node (`phone_number`,
trimmed to `fields`; Graph's default fields without it), which the bridge reads to check its
token: only `fields` in the query, no body, the token in the Authorization header. Its answers can
be scripted like a send's (`script_phone_number`). `expire_token()` makes every request fail as
Meta answers an expired token (HTTP 401, OAuthException 190, subcode 463).

And `GET /{api_version}/{business_account_id}/message_templates`: the templates it
holds (`DEFAULT_TEMPLATES` unless given), paginated with Graph cursors (`limit`, `after`,
`paging.next` as an absolute URL) and trimmed to `fields`. With `strict_templates` (or
`know_templates()`) a valid send is then checked against its template as Meta checks it:
unknown or unapproved (132001, 132015 paused, 132016 disabled), parameter counts per component
(132000; 131008 for a button parameter left out), parameters that do not fit (132012).

Shapes and codes follow /work/shared/research/whatsapp-cloud-api.md (sections 1, 2 and 5).

Typical use::

    with FakeGraphAPI() as fake:
        fake.script(Reply.error(130429), Reply.ok())
        ...  # point the client at fake.base_url, send
        (first, second) = fake.wait_for(2)
        assert fake.problems == []
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = [
    "DEFAULT_BUSINESS_ACCOUNT_ID",
    "DEFAULT_HTTP_STATUS",
    "DEFAULT_PHONE_NUMBER",
    "DEFAULT_TEMPLATES",
    "ERROR_CODES",
    "FakeGraphAPI",
    "RecordedRequest",
    "Reply",
    "Violation",
    "default_status",
    "error_body",
    "new_fbtrace_id",
    "new_wamid",
    "template_violations",
    "validate_message",
]

# --------------------------------------------------------------------------------------------
# Meta's error table
# --------------------------------------------------------------------------------------------

# code -> (title, details). Titles as on Meta's error-code page (they form "(#code) title");
# details paraphrase the page's description column.
ERROR_CODES: dict[int, tuple[str, str]] = {
    0: ("AuthException", "We were unable to authenticate the app user. The access token has expired, been revoked or is invalid."),
    1: ("API Unknown", "Invalid request or possible server error."),
    2: ("API Service", "Temporary due to downtime or due to being overloaded."),
    3: ("API Method", "Capability or permissions issue."),
    4: ("API Too Many Calls", "The app has reached its API call rate limit."),
    10: ("Permission Denied", "Permission is either not granted or has been removed."),
    100: ("Invalid parameter", "The request included one or more unsupported or misspelled parameters."),
    190: ("Access token has expired", "Your access token has expired or is invalid."),
    200: ("API Permission", "Permission is either not granted or has been removed."),
    368: (
        "Temporarily blocked for policies violations",
        "The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy.",
    ),
    80007: ("Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    130472: ("User's number is part of an experiment", "Message was not sent as part of an experiment."),
    131000: ("Something went wrong", "Message failed to send due to an unknown error."),
    131005: ("Access denied", "Permission is either not granted or has been removed."),
    131008: ("Required parameter is missing", "The request is missing a required parameter."),
    131009: ("Parameter value is not valid", "One or more parameter values are invalid."),
    131016: ("Service unavailable", "A service is temporarily unavailable. Please check the status page before trying again."),
    131021: ("Recipient cannot be sender", "Sender and recipient phone number is the same."),
    131026: (
        "Message undeliverable",
        "Unable to deliver message: the recipient is not a WhatsApp user, has not accepted the latest terms, or uses an old client.",
    ),
    131030: ("Recipient phone number not in allowed list", "Add recipient phone number to recipient list and try again."),
    131031: (
        "Business Account locked",
        "The WhatsApp Business Account associated with the app has been restricted or disabled, or the request data could not be verified.",
    ),
    131042: (
        "Business eligibility payment issue",
        "There was an error related to your payment method (no valid payment method, credit line over limit, "
        "timezone or currency not set).",
    ),
    131045: ("Incorrect certificate", "Message failed to send due to a phone number registration error."),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
    131048: (
        "Spam rate limit hit",
        "Message failed to send because there are restrictions on how many messages can be sent from this phone number.",
    ),
    131049: (
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "Meta chose not to deliver this message in order to maintain healthy ecosystem engagement.",
    ),
    131050: (
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
        "The recipient has stopped receiving marketing messages from this business.",
    ),
    131051: ("Unsupported message type", "Unsupported message type."),
    131053: ("Media upload error", "Unable to upload the media used in the message."),
    131056: (
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
    ),
    131057: ("Account in maintenance mode", "Business account is in maintenance mode."),
    132000: (
        "Number of parameters does not match the expected number of params",
        "body: number of localizable_params (0) does not match the expected number of params (1)",
    ),
    132001: ("Template name does not exist in the translation", "template name does not exist in the translation"),
    132005: ("Translated text too long", "Translated text is too long."),
    132007: ("Template Format Character Policy Violated", "Template content violates a WhatsApp policy."),
    132012: ("Parameter format does not match format in the created template", "Variable parameter values formatted incorrectly."),
    132015: ("Template is Paused", "Template is paused due to low quality so it cannot be sent in a template message."),
    132016: ("Template is Disabled", "Template has been paused too many times due to low quality and is now permanently disabled."),
    132018: ("There's an issue with the parameters in your template.", "There's an issue with the parameters in your template."),
    133004: ("Server temporarily unavailable", "Server is temporarily unavailable."),
    133010: ("Phone number not registered", "The phone number is not registered on the WhatsApp Business Platform."),
}

# HTTP statuses from the older revision of Meta's table (which had an HTTP column); codes not
# listed (and not 200-299) are answered 400.
DEFAULT_HTTP_STATUS: dict[int, int] = {
    0: 401,
    190: 401,
    3: 500,
    10: 403,
    368: 403,
    131005: 403,
    131031: 403,
    131000: 500,
    131016: 500,
    131045: 500,
    131057: 500,
    2: 503,
    133004: 503,
    132001: 404,
    4: 429,
    80007: 429,
    130429: 429,
    131048: 429,
    131056: 429,
}

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"


def default_status(code: int) -> int:
    """The HTTP status Meta's (older) error table documents for `code`; 400 when unlisted."""
    if 200 <= code <= 299:
        return 403
    return DEFAULT_HTTP_STATUS.get(code, 400)


def _title_and_details(code: int) -> tuple[str, str]:
    if code in ERROR_CODES:
        return ERROR_CODES[code]
    if 200 <= code <= 299:
        return ERROR_CODES[200]
    return "Unknown error", "An unknown error occurred."


def new_fbtrace_id() -> str:
    """A random trace id shaped like Meta's, e.g. ``Az8or2yhqkZfEZ-_4Qn_Bam`` (23 characters)."""
    return "A" + secrets.token_urlsafe(16)


def new_wamid(to: str = "") -> str:
    """A message id shaped like Meta's: ``wamid.`` + base64 of the recipient digits and a random id."""
    digits = "".join(ch for ch in to if ch.isdigit()).encode()[:255]
    raw = b"\x1c\x18" + bytes([len(digits)]) + digits + b"\x15\x02\x00\x11\x18\x12" + secrets.token_hex(9).upper().encode() + b"\x00"
    return "wamid." + base64.b64encode(raw).decode()


def error_body(
    code: int,
    *,
    message: str | None = None,
    title: str | None = None,
    details: str | None = None,
    subcode: int | None = None,
    type: str = "OAuthException",
) -> dict[str, Any]:
    """Meta's synchronous error body for `code`; title and details default to Meta's table."""
    default_title, default_details = _title_and_details(code)
    error: dict[str, Any] = {
        "message": message if message is not None else f"(#{code}) {title or default_title}",
        "type": type,
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details if details is not None else default_details},
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = new_fbtrace_id()
    return {"error": error}


# --------------------------------------------------------------------------------------------
# Scripted replies and recorded requests
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One scripted answer to one valid POST to /messages; build it with the class methods.

    `kind` is one of "ok", "error", "raw", "delay", "drop", "hang".
    """

    kind: str
    status: int = 200
    code: int | None = None  # Meta error code ("error")
    body: Any = None  # error_body() keyword arguments ("error"), str/bytes ("raw")
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = JSON_CONTENT_TYPE
    seconds: float = 0.0
    then: Reply | None = None
    wamid: str | None = None
    message_status: str | None = "accepted"

    @classmethod
    def error(
        cls,
        code: int,
        *,
        http_status: int | None = None,
        message: str | None = None,
        title: str | None = None,
        details: str | None = None,
        subcode: int | None = None,
        type: str = "OAuthException",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Meta's error body for `code`, with the documented HTTP status unless `http_status` is given.

        The body (and its fbtrace_id) is built when the reply is sent.
        """
        spec = {"message": message, "title": title, "details": details, "subcode": subcode, "type": type}
        status = http_status if http_status is not None else default_status(code)
        return cls("error", status=status, code=code, body=spec, headers=dict(headers or {}))

    @classmethod
    def server_error(
        cls,
        status: int = 500,
        body: str | bytes = "<html><head><title>500 Internal Server Error</title></head><body>Internal Server Error</body></html>",
        *,
        content_type: str = "text/html; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A generic (by default non-JSON) answer, e.g. a load balancer's 502/503 page."""
        return cls("raw", status=status, body=body, content_type=content_type, headers=dict(headers or {}))

    @classmethod
    def ok(cls, wamid: str | None = None, message_status: str | None = "accepted") -> Reply:
        """Meta's success body; a fresh wamid unless given; `message_status` None omits the key."""
        return cls("ok", wamid=wamid, message_status=message_status)

    @classmethod
    def delay(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Wait `seconds` (cut short by `stop()`), then answer with `then` (default: success)."""
        return cls("delay", seconds=seconds, then=then)

    @classmethod
    def drop(cls) -> Reply:
        """Read the whole request, then close the connection without answering."""
        return cls("drop")

    @classmethod
    def hang(cls) -> Reply:
        """Read the request and never answer; the connection is closed by `release()` or `stop()`."""
        return cls("hang")


@dataclass
class RecordedRequest:
    """One HTTP request the fake received, and what it did with it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any  # parsed body, or None when it is not JSON
    received_at: float  # time.time()
    monotonic: float  # time.monotonic()
    status: int | None = None  # HTTP status answered; None if the connection was dropped/hung
    wamid: str | None = None  # set when answered 200 with a message id
    client_port: int | None = None  # the client's source port
    connection_id: int | None = None  # 1, 2, ... per TCP connection accepted by the fake
    problems: list[str] = field(default_factory=list)  # shape violations found in this request
    client_closed: bool = False  # the client had hung up before the (delayed) answer was written


class Violation(NamedTuple):
    """One shape violation: the Meta error code it is answered with, and what is wrong."""

    code: int
    detail: str


# --------------------------------------------------------------------------------------------
# Request shape validation
# --------------------------------------------------------------------------------------------

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
PARAMETER_NAME = re.compile(r"^[a-z0-9_]+$")
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")

TOP_LEVEL_KEYS = frozenset({"messaging_product", "recipient_type", "to", "type", "template", "text", "biz_opaque_callback_data"})
TEXT_KEYS = frozenset({"body", "preview_url"})
MAX_TEXT_BODY = 4096
CUSTOMER_SERVICE_WINDOW_SECONDS = 24 * 3600
TEMPLATE_KEYS = frozenset({"name", "language", "components"})
LANGUAGE_KEYS = frozenset({"code", "policy"})
COMPONENT_TYPES = frozenset({"header", "body", "button"})
COMPONENT_KEYS = frozenset({"type", "sub_type", "index", "parameters"})
BUTTON_SUB_TYPES = frozenset({"url", "quick_reply", "copy_code", "flow", "catalog", "mpm"})
PARAMETER_TYPES = frozenset({"text", "currency", "date_time", "image", "document", "video", "payload", "coupon_code", "action"})
BODY_PARAMETER_TYPES = frozenset({"text", "currency", "date_time"})
# Button sub-types whose single parameter type Meta documents.
BUTTON_PARAMETER_TYPES = {"url": "text", "quick_reply": "payload", "copy_code": "coupon_code"}
MAX_TEXT_PARAMETER = 1024
MAX_CALLBACK_DATA = 512
TEXT_HYGIENE = "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _non_empty_str(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def validate_message(body: Any) -> list[Violation]:
    """Every way `body` (parsed JSON) departs from a documented template send; [] when valid."""
    return list(_check_message(body))


def _check_message(body: Any) -> Iterator[Violation]:
    if not isinstance(body, dict):
        yield Violation(100, f"request body must be a JSON object, got {type(body).__name__}")
        return
    for key in sorted(set(body) - TOP_LEVEL_KEYS):
        yield Violation(100, f"unknown top-level parameter {key!r}")
    if body.get("messaging_product") != "whatsapp":
        yield Violation(100, f"messaging_product must be 'whatsapp', got {body.get('messaging_product')!r}")
    if "recipient_type" in body and body["recipient_type"] != "individual":
        yield Violation(100, f"recipient_type must be 'individual', got {body['recipient_type']!r}")
    to = body.get("to")
    if not isinstance(to, str) or not E164.match(to):
        yield Violation(131009, f"to must be an E.164 number with a leading '+' (like +16505551234), got {to!r}")
    if "biz_opaque_callback_data" in body:
        data = body["biz_opaque_callback_data"]
        if not isinstance(data, str) or not data or len(data) > MAX_CALLBACK_DATA:
            yield Violation(100, f"biz_opaque_callback_data must be a non-empty string of at most {MAX_CALLBACK_DATA} characters")
    kind = body.get("type")
    if kind == "text":
        yield from _check_text(body.get("text"))
        if "template" in body:
            yield Violation(100, "a text message takes no template")
    elif kind == "template":
        if "template" not in body:
            yield Violation(131008, "template is required")
        else:
            yield from _check_template(body["template"])
    else:
        yield Violation(100, f"type must be 'template' (or 'text' inside a customer service window), got {kind!r}")


def _check_text(text: Any) -> Iterator[Violation]:
    """A free-form text message: `text.body` of 1 to 4,096 characters, optional `preview_url`."""
    if not isinstance(text, dict):
        yield Violation(131008, "text is required and must be an object like {'body': '...'}")
        return
    for key in sorted(set(text) - TEXT_KEYS):
        yield Violation(100, f"unknown parameter text.{key}")
    body = text.get("body")
    if not isinstance(body, str) or not body.strip():
        yield Violation(131008, "text.body is required")
    elif len(body) > MAX_TEXT_BODY:
        yield Violation(100, f"text.body is longer than {MAX_TEXT_BODY} characters")
    if "preview_url" in text and not isinstance(text["preview_url"], bool):
        yield Violation(100, "text.preview_url must be true or false")


def _check_template(template: Any) -> Iterator[Violation]:
    if not isinstance(template, dict):
        yield Violation(100, "template must be an object")
        return
    for key in sorted(set(template) - TEMPLATE_KEYS):
        yield Violation(100, f"unknown parameter template.{key}")
    name = template.get("name")
    if name is None:
        yield Violation(131008, "template.name is required")
    elif not isinstance(name, str) or not TEMPLATE_NAME.match(name):
        yield Violation(100, f"template.name must match ^[a-z0-9_]{{1,512}}$, got {name!r}")
    language = template.get("language")
    if language is None:
        yield Violation(131008, "template.language is required")
    elif not isinstance(language, dict):
        yield Violation(100, "template.language must be an object like {'code': 'en_US'}")
    else:
        for key in sorted(set(language) - LANGUAGE_KEYS):
            yield Violation(100, f"unknown parameter template.language.{key}")
        code = language.get("code")
        if not isinstance(code, str) or not LANGUAGE_CODE.match(code):
            yield Violation(100, f"template.language.code must be a language code like en, en_US or pt_BR, got {code!r}")
        if "policy" in language and language["policy"] != "deterministic":
            yield Violation(100, f"template.language.policy must be 'deterministic', got {language['policy']!r}")
    components = template.get("components", [])
    if not isinstance(components, list):
        yield Violation(100, "template.components must be a list")
        return
    for i, component in enumerate(components):
        yield from _check_component(component, f"template.components[{i}]")


def _check_component(component: Any, where: str) -> Iterator[Violation]:
    if not isinstance(component, dict):
        yield Violation(100, f"{where} must be an object")
        return
    for key in sorted(set(component) - COMPONENT_KEYS):
        yield Violation(100, f"unknown parameter {where}.{key}")
    kind = component.get("type")
    if kind not in COMPONENT_TYPES:
        yield Violation(100, f"{where}.type must be one of header, body, button, got {kind!r}")
    sub_type = component.get("sub_type")
    if kind == "button":
        if sub_type not in BUTTON_SUB_TYPES:
            yield Violation(100, f"{where}.sub_type must be one of {', '.join(sorted(BUTTON_SUB_TYPES))}, got {sub_type!r}")
        index = component.get("index")
        if not ((_is_int(index) and 0 <= index <= 9) or (isinstance(index, str) and re.fullmatch(r"[0-9]", index))):
            yield Violation(100, f"{where}.index must be a button position 0-9 (string or integer), got {index!r}")
    elif kind is not None and ("sub_type" in component or "index" in component):
        yield Violation(100, f"{where}: sub_type and index belong to button components only")
    parameters = component.get("parameters")
    if not isinstance(parameters, list) or not parameters:
        yield Violation(100, f"{where}.parameters must be a non-empty list")
        return
    dicts = [p for p in parameters if isinstance(p, dict)]
    named = [p for p in dicts if "parameter_name" in p]
    if named and len(named) != len(dicts):
        yield Violation(132018, f"{where}: parameters mix named (parameter_name) and positional parameters")
    names = [p["parameter_name"] for p in named if isinstance(p["parameter_name"], str)]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        yield Violation(132018, f"{where}: parameter_name {duplicate!r} is used more than once")
    allowed: set[str] | None = None
    if kind == "body":
        allowed = set(BODY_PARAMETER_TYPES)
    elif kind == "button" and sub_type in BUTTON_PARAMETER_TYPES:
        allowed = {BUTTON_PARAMETER_TYPES[sub_type]}
    for j, parameter in enumerate(parameters):
        yield from _check_parameter(parameter, f"{where}.parameters[{j}]", allowed)


def _check_parameter(p: Any, where: str, allowed: set[str] | None) -> Iterator[Violation]:
    if not isinstance(p, dict):
        yield Violation(100, f"{where} must be an object")
        return
    kind = p.get("type")
    if kind not in PARAMETER_TYPES:
        yield Violation(100, f"{where}.type must be one of {', '.join(sorted(PARAMETER_TYPES))}, got {kind!r}")
        return
    if allowed is not None and kind not in allowed:
        yield Violation(132018, f"{where}: a parameter of type {kind!r} is not allowed here (expected {', '.join(sorted(allowed))})")
    for key in sorted(set(p) - {"type", "parameter_name", kind}):
        yield Violation(100, f"unknown parameter {where}.{key}")
    if "parameter_name" in p and not (isinstance(p["parameter_name"], str) and PARAMETER_NAME.match(p["parameter_name"])):
        yield Violation(132018, f"{where}.parameter_name must match ^[a-z0-9_]+$, got {p['parameter_name']!r}")
    value = p.get(kind)
    if kind == "text":
        if not _non_empty_str(value):
            yield Violation(132018, f"{where}.text must be a non-empty string, got {value!r}")
        elif "\n" in value or "\t" in value or " " * 5 in value:
            yield Violation(132018, f"{where}.text: {TEXT_HYGIENE}")
        elif len(value) > MAX_TEXT_PARAMETER:
            yield Violation(132005, f"{where}.text is {len(value)} characters; the limit is {MAX_TEXT_PARAMETER}")
    elif kind == "currency":
        if not (
            isinstance(value, dict)
            and _non_empty_str(value.get("fallback_value"))
            and isinstance(value.get("code"), str)
            and CURRENCY_CODE.match(value["code"])
            and _is_int(value.get("amount_1000"))
        ):
            yield Violation(132018, f"{where}.currency needs fallback_value (string), code (ISO 4217, like USD) and integer amount_1000")
    elif kind == "date_time":
        if not (isinstance(value, dict) and _non_empty_str(value.get("fallback_value"))):
            yield Violation(132018, f"{where}.date_time needs a non-empty fallback_value string")
    elif kind in {"image", "document", "video"}:
        if not (isinstance(value, dict) and (_non_empty_str(value.get("link")) or _non_empty_str(value.get("id")))):
            yield Violation(132018, f"{where}.{kind} needs a link or an id")
    elif kind in {"payload", "coupon_code"}:
        if not _non_empty_str(value):
            yield Violation(132018, f"{where}.{kind} must be a non-empty string")
    elif kind == "action" and not isinstance(value, dict):
        yield Violation(132018, f"{where}.action must be an object")


# --------------------------------------------------------------------------------------------
# The template catalogue: GET /{waba_id}/message_templates, and strict checking of sends
# --------------------------------------------------------------------------------------------

DEFAULT_BUSINESS_ACCOUNT_ID = "102290129340398"

# A WhatsApp Business Account's templates exactly as `GET /{waba_id}/message_templates` answers
# them (component types upper-case, `example` blocks, numeric-string ids). The example config's
# mappings find their templates here (en_US); the rest covers what a catalogue holds: other
# languages (es, ar, pt_BR), every review state, a marketing template, media and text headers,
# URL buttons with a `{{1}}` suffix, quick replies, phone-number and copy-code buttons.
DEFAULT_TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "name": "order_confirmation",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{1}}, thank you for your order! We received your payment of {{2}}. Your order reference is {{3}}.",
                "example": {"body_text": [["Jenny", "$19.99", "a1b2c3d4"]]},
            },
            {"type": "FOOTER", "text": "Reply STOP to stop order updates"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop updates"}]},
        ],
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726601",
    },
    {
        "name": "payment_receipt",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{1}}, we received your payment of {{2}} for order {{3}}. Thank you!",
                "example": {"body_text": [["Jenny", "$19.99", "6735"]]},
            }
        ],
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726602",
    },
    {
        "name": "payment_receipt",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Hola {{1}}, recibimos tu pago de {{2}} por el pedido {{3}}. ¡Gracias!",
                "example": {"body_text": [["Jenny", "19,99 US$", "6735"]]},
            }
        ],
        "language": "es",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726603",
    },
    {
        "name": "payment_receipt",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "مرحبًا {{1}}، استلمنا دفعتك بمبلغ {{2}} للطلب {{3}}. شكرًا لك!",
                "example": {"body_text": [["جيني", "‏1.999 د.ك.‏", "6735"]]},
            }
        ],
        "language": "ar",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726604",
    },
    {
        "name": "payment_failed",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{customer_name}}, your payment of {{amount}} did not go through: {{reason}}",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "customer_name", "example": "Jenny"},
                        {"param_name": "amount", "example": "$19.99"},
                        {"param_name": "reason", "example": "Your card was declined."},
                    ]
                },
            },
            {"type": "BUTTONS", "buttons": [{"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550100123"}]},
        ],
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726605",
    },
    {
        "name": "refund_issued",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{1}}, we refunded {{2}} for payment {{3}}. It can take 5 to 10 days to reach your account.",
                "example": {"body_text": [["Jenny", "$19.99", "pi_3MtwBwLkdIwHu7ix28a3tqPa"]]},
            }
        ],
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726606",
    },
    {
        "name": "refund_issued",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Hola {{1}}, te reembolsamos {{2}} del pago {{3}}.",
                "example": {"body_text": [["Jenny", "19,99 US$", "pi_3MtwBwLkdIwHu7ix28a3tqPa"]]},
            }
        ],
        "language": "es",
        "status": "PAUSED",
        "category": "UTILITY",
        "id": "1387372356726607",
    },
    {
        "name": "invoice_paid",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "HEADER",
                "format": "DOCUMENT",
                "example": {"header_handle": ["https://scontent.whatsapp.net/v/t61.29466-34/invoice.pdf"]},
            },
            {
                "type": "BODY",
                "text": "Hi {{1}}, thank you for paying {{2}} for invoice {{3}}. The invoice is attached.",
                "example": {"body_text": [["Jenny", "$19.99", "2C3D4E5F-0001"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "View receipt",
                        "url": "https://invoice.stripe.com/{{1}}",
                        "example": ["https://invoice.stripe.com/i/acct_1/test"],
                    }
                ],
            },
        ],
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726608",
    },
    {
        "name": "invoice_paid",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "HEADER",
                "format": "DOCUMENT",
                "example": {"header_handle": ["https://scontent.whatsapp.net/v/t61.29466-34/invoice.pdf"]},
            },
            {
                "type": "BODY",
                "text": "مرحبًا {{1}}، شكرًا لدفع {{2}} للفاتورة {{3}}. الفاتورة مرفقة.",
                "example": {"body_text": [["جيني", "د.ك.‏ 1.999", "2C3D4E5F-0001"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "عرض الإيصال",
                        "url": "https://invoice.stripe.com/{{1}}",
                        "example": ["https://invoice.stripe.com/i/acct_1/test"],
                    }
                ],
            },
        ],
        "language": "ar",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726612",
    },
    {
        "name": "invoice_payment_failed",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{1}}, we could not collect {{2}} for invoice {{3}} of {{4}}. You can pay it with the button below.",
                "example": {"body_text": [["Jenny", "$19.99", "2C3D4E5F-0001", "Dec 25, 2026"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Pay invoice",
                        "url": "https://invoice.stripe.com/{{1}}",
                        "example": ["https://invoice.stripe.com/i/acct_1/test"],
                    },
                    {"type": "QUICK_REPLY", "text": "Call me"},
                ],
            },
        ],
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726609",
    },
    {
        "name": "staff_dispute_alert",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Dispute opened: {{1}}, reason {{2}}. Respond by {{3}}. Charge {{4}}.",
                "example": {"body_text": [["$19.99", "fraudulent", "Dec 10, 2026", "ch_3MtwBwLkdIwHu7ix28a3tqPa"]]},
            }
        ],
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726613",
    },
    {
        "name": "staff_large_payment",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Large payment received: {{1}} ({{2}}).",
                "example": {"body_text": [["$2,500.00", "pi_3MtwBwLkdIwHu7ix28a3tqPa"]]},
            }
        ],
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726614",
    },
    {
        "name": "invoice_document",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "HEADER",
                "format": "DOCUMENT",
                "example": {"header_handle": ["https://scontent.whatsapp.net/v/t61.29466-34/invoice.pdf"]},
            },
            {
                "type": "BODY",
                "text": "Hi {{1}}, your invoice {{2}} for {{3}} is attached.",
                "example": {"body_text": [["Jenny", "2C3D4E5F-0001", "$19.99"]]},
            },
            {"type": "FOOTER", "text": "Questions? Reply to this message."},
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "View invoice",
                        "url": "https://billing.example.com/invoices/{{1}}",
                        "example": ["https://billing.example.com/invoices/in_1MtHbELkdIwHu7ixl4OzzPMv"],
                    },
                    {"type": "QUICK_REPLY", "text": "Talk to a person"},
                ],
            },
        ],
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726610",
    },
    {
        "name": "shipping_update",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}} is on its way", "example": {"header_text": ["6735"]}},
            {
                "type": "BODY",
                "text": "Hi {{1}}, your order left our warehouse with {{2}}. Track it with the button below.",
                "example": {"body_text": [["Jenny", "UPS"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Track package",
                        "url": "https://track.example.com/{{1}}",
                        "example": ["https://track.example.com/1Z999AA10123456784"],
                    },
                    {"type": "PHONE_NUMBER", "text": "Call support", "phone_number": "+15550100123"},
                ],
            },
        ],
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726611",
    },
    {
        "name": "payment_receipt_v2",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "HEADER",
                "format": "DOCUMENT",
                "example": {"header_handle": ["https://scontent.whatsapp.net/v/t61.29466-34/recibo.pdf"]},
            },
            {
                "type": "BODY",
                "text": "Olá {{first_name}}, recebemos {{amount}} em {{paid_on}}. Obrigado!",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "first_name", "example": "Jessica"},
                        {"param_name": "amount", "example": "R$ 19,99"},
                        {"param_name": "paid_on", "example": "5 de agosto de 2025"},
                    ]
                },
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Ver recibo",
                        "url": "https://example.com/{{1}}",
                        "example": ["https://example.com/receipts/abc123"],
                    },
                    {"type": "QUICK_REPLY", "text": "Parar promoções"},
                ],
            },
        ],
        "language": "pt_BR",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1387372356726612",
    },
    {
        "name": "spring_sale",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "HEADER",
                "format": "IMAGE",
                "example": {"header_handle": ["https://scontent.whatsapp.net/v/t61.29466-34/spring.jpg"]},
            },
            {
                "type": "BODY",
                "text": "Hi {{1}}, take {{2}} off everything until Sunday with the code below.",
                "example": {"body_text": [["Jenny", "25%"]]},
            },
            {"type": "FOOTER", "text": "Not interested? Tap Stop promotions."},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "COPY_CODE", "example": "SPRING25"},
                    {"type": "QUICK_REPLY", "text": "Stop promotions"},
                ],
            },
        ],
        "language": "en_US",
        "status": "APPROVED",
        "category": "MARKETING",
        "sub_category": "CUSTOM",
        "id": "1387372356726613",
    },
    {
        "name": "loyalty_reminder",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "BODY", "text": "Hi {{1}}, your points expire soon!", "example": {"body_text": [["Jenny"]]}},
        ],
        "language": "en_US",
        "status": "DISABLED",
        "category": "MARKETING",
        "id": "1387372356726614",
    },
    {
        "name": "subscription_renewal",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{1}}, your subscription renews on {{2}}.",
                "example": {"body_text": [["Jenny", "May 1"]]},
            },
        ],
        "language": "en_US",
        "status": "REJECTED",
        "category": "UTILITY",
        "id": "1387372356726615",
    },
    {
        "name": "refund_issued_v2",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{customer_name}}, we refunded {{amount}}.",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "customer_name", "example": "Jenny"},
                        {"param_name": "amount", "example": "$19.99"},
                    ]
                },
            },
        ],
        "language": "en_US",
        "status": "PENDING",
        "category": "UTILITY",
        "id": "1387372356726616",
    },
)

# The fields a template object can be asked for (`fields=`); Graph always adds `id`.
TEMPLATE_FIELDS = frozenset(
    {
        "id",
        "name",
        "language",
        "status",
        "category",
        "sub_category",
        "parameter_format",
        "components",
        "quality_score",
        "rejected_reason",
        "previous_category",
        "correct_category",
        "library_template_name",
        "message_send_ttl_seconds",
        "cta_url_link_tracking_opted_out",
    }
)
DEFAULT_TEMPLATE_FIELDS = ("name", "parameter_format", "components", "language", "status", "category", "sub_category", "id")
"""What Graph answers without `fields=`."""
DEFAULT_PAGE_LIMIT = 25
MAX_BODY_LENGTH = 1024

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# The send's button sub_type for each template button type (sends use lower case).
BUTTON_SUB_TYPE = {"URL": "url", "QUICK_REPLY": "quick_reply", "COPY_CODE": "copy_code", "FLOW": "flow", "CATALOG": "catalog", "MPM": "mpm"}
# How Meta names button types in "requires a parameter" details ("Button at index 0 of type Url").
BUTTON_TYPE_NAME = {"URL": "Url", "COPY_CODE": "CopyCode"}


def _placeholders(text: Any) -> list[str]:
    """Distinct placeholders in order of first appearance. Kept apart from the bridge's own parser
    on purpose: the fake must not share the code it is testing."""
    found: list[str] = []
    for name in PLACEHOLDER.findall(text if isinstance(text, str) else ""):
        if name not in found:
            found.append(name)
    return found


def _count_mismatch(where: str, sent: int, expected: int) -> Violation:
    """Meta's 132000 details, e.g. "body: number of localizable_params (2) does not match the expected number of params (1)"."""
    return Violation(132000, f"{where}: number of localizable_params ({sent}) does not match the expected number of params ({expected})")


def template_violations(body: Mapping[str, Any], templates: Iterable[Mapping[str, Any]]) -> list[Violation]:
    """How Meta refuses a well-formed send (see `validate_message`) for what its template is:
    unknown in that language or not approved (132001, 132015 paused, 132016 disabled), parameter
    counts per component (132000; 131008 for a button parameter left out), parameters that do not
    fit their component (132012), a body too long once filled in (132005). [] when it fits."""
    template = body["template"]
    name, code = template["name"], template["language"]["code"]
    # Meta matches the language code exactly: a template approved in en_US does not exist in en.
    found = next((t for t in templates if t.get("name") == name and t.get("language") == code), None)
    missing = Violation(132001, f"template name ({name}) does not exist in {code}")
    if found is None:
        return [missing]
    status = found.get("status")
    if status != "APPROVED":
        return [
            {"PAUSED": Violation(132015, ERROR_CODES[132015][1]), "DISABLED": Violation(132016, ERROR_CODES[132016][1])}.get(
                status, missing
            )
        ]
    return list(_check_components(found, template.get("components", [])))


def _check_components(template: Mapping[str, Any], sent: list[dict[str, Any]]) -> Iterator[Violation]:
    parts = {str(c.get("type", "")).upper(): c for c in template.get("components", []) if isinstance(c, dict)}
    named = str(template.get("parameter_format", "POSITIONAL")).upper() == "NAMED"
    by_type: dict[str, list[dict[str, Any]]] = {"header": [], "body": [], "button": []}
    for component in sent:
        by_type[component["type"]].append(component)
    for kind in ("header", "body"):
        if len(by_type[kind]) > 1:
            yield Violation(100, f"template.components: more than one {kind} component")
    header = by_type["header"][0]["parameters"] if by_type["header"] else []
    body = by_type["body"][0]["parameters"] if by_type["body"] else []
    yield from _check_header(parts.get("HEADER"), header, named)
    yield from _check_body(parts.get("BODY", {}).get("text"), body, named)
    yield from _check_buttons(parts.get("BUTTONS", {}).get("buttons", []), by_type["button"])


def _check_header(header: Mapping[str, Any] | None, sent: list[dict[str, Any]], named: bool) -> Iterator[Violation]:
    if header is None:
        if sent:
            yield _count_mismatch("header", len(sent), 0)
        return
    kind = str(header.get("format") or "TEXT").upper()
    if kind == "TEXT":
        expected = _placeholders(header.get("text"))
        if len(sent) != len(expected):
            yield _count_mismatch("header", len(sent), len(expected))
            return
        for parameter in sent:
            if parameter["type"] != "text":  # currency, date_time, media: a text header takes text only
                yield Violation(132012, f"header: Format mismatch, expected TEXT, received {parameter['type'].upper()}")
                return
        yield from _check_names("header", sent, expected, named)
    elif not sent:
        # Meta's answer when a media header's parameter is left out (not a count mismatch).
        yield Violation(132012, f"header: Format mismatch, expected {kind}, received UNKNOWN")
    elif len(sent) != 1:
        yield _count_mismatch("header", len(sent), 1)
    elif sent[0]["type"].upper() != kind:
        yield Violation(132012, f"header: Format mismatch, expected {kind}, received {sent[0]['type'].upper()}")


def _check_body(text: Any, sent: list[dict[str, Any]], named: bool) -> Iterator[Violation]:
    expected = _placeholders(text)
    if len(sent) != len(expected):
        yield _count_mismatch("body", len(sent), len(expected))
        return
    problems = list(_check_names("body", sent, expected, named))
    yield from problems
    if not problems and isinstance(text, str):
        length = len(_fill(text, sent, named))
        if length > MAX_BODY_LENGTH:
            yield Violation(132005, f"body: {length} characters once the parameters are filled in; the limit is {MAX_BODY_LENGTH}")


def _check_names(where: str, sent: list[dict[str, Any]], expected: list[str], named: bool) -> Iterator[Violation]:
    names = [p.get("parameter_name") for p in sent]
    if named and any(n is None for n in names):
        # What Meta answers when a named template gets positional parameters.
        yield Violation(100, "Parameter name is missing or empty")
    elif named and sorted(names) != sorted(expected):
        unknown = ", ".join(sorted(set(names) - set(expected))) or "(none)"
        yield Violation(132012, f"{where}: parameter names {unknown} are not the template's ({', '.join(expected)})")
    elif not named and any(n is not None for n in names):
        yield Violation(132012, f"{where}: the template is positional ({{{{1}}}}, {{{{2}}}}...): parameters take no parameter_name")


def _fill(text: str, sent: list[dict[str, Any]], named: bool) -> str:
    """The body as the customer reads it: currency and date_time show their fallback_value."""
    values = {}
    for position, parameter in enumerate(sent, start=1):
        value = parameter.get(parameter["type"])
        shown = value.get("fallback_value", "") if isinstance(value, dict) else str(value)
        values[parameter.get("parameter_name") if named else str(position)] = shown
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)


def _check_buttons(buttons: list[Any], sent: list[dict[str, Any]]) -> Iterator[Violation]:
    by_index: dict[int, dict[str, Any]] = {}
    for component in sent:
        index = int(component["index"])
        if index in by_index:
            yield Violation(100, f"template.components: more than one button component for index {index}")
        by_index[index] = component
    for index, component in sorted(by_index.items()):
        button = buttons[index] if index < len(buttons) and isinstance(buttons[index], dict) else None
        count = len(component["parameters"])
        if button is None:
            yield _count_mismatch("buttons", count, 0)
            continue
        kind = str(button.get("type", "")).upper()
        if component["sub_type"] != BUTTON_SUB_TYPE.get(kind):
            yield Violation(
                132012, f"buttons: Format mismatch, button at index {index} is {kind}, received {component['sub_type'].upper()}"
            )
            continue
        expected = len(_placeholders(button.get("url"))) if kind == "URL" else 1  # payload, coupon code, flow action
        if count != expected:
            yield _count_mismatch("buttons", count, expected)
    for index, button in enumerate(buttons):
        kind = str(button.get("type", "")).upper() if isinstance(button, dict) else ""
        needs_parameter = (kind == "URL" and _placeholders(button.get("url"))) or kind == "COPY_CODE"
        if needs_parameter and index not in by_index:
            yield Violation(131008, f"buttons: Button at index {index} of type {BUTTON_TYPE_NAME[kind]} requires a parameter")


def _cursor(index: int) -> str:
    """An opaque Graph-style cursor (Meta's are base64 too)."""
    return base64.urlsafe_b64encode(f"fake-graph:{index}".encode()).decode()


def _cursor_index(cursor: str) -> int | None:
    try:
        prefix, _, index = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        return int(index) if prefix == "fake-graph" else None
    except (ValueError, UnicodeDecodeError):
        return None


# --------------------------------------------------------------------------------------------
# The phone number node
# --------------------------------------------------------------------------------------------

# The business's sending number as Graph describes it (GET /{phone-number-id}): the fields of
# Meta's reference for the WhatsApp Business phone number, with its sample values.
DEFAULT_PHONE_NUMBER: dict[str, Any] = {
    "verified_name": "Jasper's Market",
    "display_phone_number": "+1 631-555-5555",
    "quality_rating": "GREEN",
    "code_verification_status": "VERIFIED",
    "name_status": "APPROVED",
    "status": "CONNECTED",
    "platform_type": "CLOUD_API",
    "throughput": {"level": "STANDARD"},
    "messaging_limit_tier": "TIER_1K",
    "account_mode": "LIVE",
    "is_official_business_account": False,
}
DEFAULT_PHONE_NUMBER_FIELDS = ("verified_name", "code_verification_status", "display_phone_number", "quality_rating", "id")
"""What Graph answers for the node when no `fields` are asked for."""
NODE_PATH = re.compile(r"^/(?P<version>v\d+\.\d+)/(?P<object_id>\d+)$")


def _phone_number_fields(node: Mapping[str, Any], query: str) -> dict[str, Any] | Violation:
    """The node with the fields asked for (and the id, always), or the Violation Graph answers
    for a field the node does not have or another query parameter."""
    params = parse_qs(query, keep_blank_values=True)
    others = sorted(set(params) - {"fields"})
    if others:
        # access_token in the URL would work at Graph, but ends up in access logs: the bridge sends the header.
        return Violation(100, f"unexpected query parameter {others[0]!r} (the node is read with `fields` only)")
    fields = [f.strip() for f in params["fields"][-1].split(",") if f.strip()] if "fields" in params else list(DEFAULT_PHONE_NUMBER_FIELDS)
    unknown = [f for f in fields if f != "id" and f not in node]
    if unknown:
        return Violation(100, f"Tried accessing nonexisting field ({unknown[0]}) on node type (WhatsAppBusinessPhoneNumber)")
    return {key: node[key] for key in [*fields, "id"] if key in node}


def expired_token_body(expired_at: float, now: float) -> dict[str, Any]:
    """Meta's answer for an expired access token (Facebook Login's error-handling guide): a plain
    Graph error, OAuthException 190 with subcode 463, without WhatsApp's error_data."""
    pst = 8 * 3600  # Meta writes these times in Pacific time

    def when(t: float) -> str:
        return time.strftime("%A, %d-%b-%y %H:%M:%S PST", time.gmtime(t - pst))

    message = f"Error validating access token: Session has expired on {when(expired_at)}. The current time is {when(now)}."
    return {"error": {"message": message, "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": new_fbtrace_id()}}


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections reset by clients are expected in these tests; anything else is a bug."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class FakeGraphAPI:
    """The Cloud API's /messages endpoint for one phone number, and its business account's template
    list, on 127.0.0.1 in daemon threads.

    `templates` (Meta's template objects; default `DEFAULT_TEMPLATES`) are what
    `GET /{api_version}/{business_account_id}/message_templates` serves. With
    `strict_templates=True` (or after `know_templates()`), sends are also checked against them the
    way Meta checks a send against its approved template (`template_violations`).
    """

    def __init__(
        self,
        *,
        token: str = "test-token",
        phone_number_id: str = "106540352242922",
        business_account_id: str = DEFAULT_BUSINESS_ACCOUNT_ID,
        api_version: str = "v23.0",
        host: str = "127.0.0.1",
        port: int = 0,
        templates: Iterable[Mapping[str, Any]] | None = None,
        strict_templates: bool = False,
        max_page_size: int | None = None,
    ) -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.business_account_id = business_account_id
        self.api_version = api_version
        self.templates: list[dict[str, Any]] = json.loads(json.dumps(list(DEFAULT_TEMPLATES if templates is None else templates)))
        self.strict_templates = strict_templates
        self.max_page_size = max_page_size
        """Graph caps page sizes: a larger `limit` gets pages of this many (None: no cap)."""
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.problems: list[str] = []
        self.wa_id_for: Callable[[str], str] = lambda to: "".join(ch for ch in to if ch.isdigit())
        self.message_status: str | None = "accepted"
        self.phone_number: dict[str, Any] = {**json.loads(json.dumps(DEFAULT_PHONE_NUMBER)), "id": phone_number_id}
        """The node `GET /{api_version}/{phone_number_id}` serves."""
        self.token_expired_at: float | None = None
        """Set by `expire_token()`: every request is then refused as Meta refuses an expired token."""
        self._script: deque[Reply] = deque()
        self._node_script: deque[Reply] = deque()
        self._lock = threading.RLock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._hanging: set[threading.Event] = set()
        self._connections: dict[int, socket.socket] = {}
        self._connection_count = 0
        self._wamids: set[str] = set()
        self._windows: dict[str, float] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tenants: list[FakeGraphAPI] = []

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeGraphAPI:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeGraphAPI already started")
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-graph", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end delays and hangs, close every open connection. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self.release()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections.values())
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGraphAPI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- addresses ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (valid after `start()`)."""
        if self._server is None:
            raise RuntimeError("FakeGraphAPI is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def path(self) -> str:
        """``/{api_version}/{phone_number_id}/messages``."""
        return f"/{self.api_version}/{self.phone_number_id}/messages"

    @property
    def messages_url(self) -> str:
        """The full URL of the /messages endpoint."""
        return self.base_url + self.path

    @property
    def phone_number_path(self) -> str:
        """``/{api_version}/{phone_number_id}``: the phone number node."""
        return f"/{self.api_version}/{self.phone_number_id}"

    @property
    def phone_number_reads(self) -> list[RecordedRequest]:
        """The requests for the phone number node, in arrival order."""
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == self.phone_number_path]

    def expire_token(self, at: float | None = None) -> None:
        """The access token expired at `at` (now): every request gets Meta's 401, 190/463, until `renew_token()`."""
        with self._lock:
            self.token_expired_at = time.time() if at is None else at

    def renew_token(self) -> None:
        with self._lock:
            self.token_expired_at = None

    @property
    def templates_path(self) -> str:
        """``/{api_version}/{business_account_id}/message_templates``."""
        return f"/{self.api_version}/{self.business_account_id}/message_templates"

    def customer_wrote(self, phone: str, at: float | None = None) -> None:
        """The customer messaged this business number at `at` (now): a 24-hour customer service
        window opens, inside which free-form text may be sent to them (outside it: 131047)."""
        with self._lock:
            self._windows[phone] = time.time() if at is None else at

    def window_open(self, phone: str) -> bool:
        with self._lock:
            opened = self._windows.get(phone)
        return opened is not None and time.time() - opened < CUSTOMER_SERVICE_WINDOW_SECONDS

    def know_templates(self, templates: Iterable[Mapping[str, Any]] | None = None) -> None:
        """Check every send against the catalogue (replaced by `templates` when given), as Meta does."""
        with self._lock:
            if templates is not None:
                self.templates = json.loads(json.dumps(list(templates)))
            self.strict_templates = True

    # ---- recorded state ----------------------------------------------------------------------

    @property
    def accepted(self) -> list[RecordedRequest]:
        """The requests answered 200 with a wamid, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.status == 200 and r.wamid]

    @property
    def connections_opened(self) -> int:
        """How many TCP connections clients have opened to the fake."""
        with self._lock:
            return self._connection_count

    @property
    def open_connections(self) -> int:
        """How many TCP connections are open right now."""
        with self._lock:
            return len(self._connections)

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next valid POSTs to /messages, first in first out.

        Invalid requests (shape violations, wrong path or auth) do not consume the script. When
        the script is empty, valid requests get Meta's success body.
        """
        with self._lock:
            self._script.extend(replies)

    def script_phone_number(self, *replies: Reply) -> None:
        """Queue replies for the next valid reads of the phone number node (`Reply.ok()`: the node)."""
        with self._lock:
            self._node_script.extend(replies)

    @property
    def scripted(self) -> list[Reply]:
        """The replies still queued."""
        with self._lock:
            return list(self._script)

    def release(self) -> None:
        """Close every connection currently held by `Reply.hang()` (without answering)."""
        with self._lock:
            hanging, self._hanging = self._hanging, set()
        for event in hanging:
            event.set()

    def reset(self) -> None:
        """Forget recorded requests and problems and clear the script (settings are kept)."""
        with self._lock:
            self.requests.clear()
            self.problems.clear()
            self._script.clear()
            self._node_script.clear()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least `n` requests have arrived; return them all (a copy).

        Raises AssertionError listing what did arrive if `timeout` seconds pass first.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    arrived = "; ".join(_describe(r) for r in self.requests) or "nothing"
                    raise AssertionError(f"expected {n} request(s) within {timeout} s, got {len(self.requests)}: {arrived}")
                self._arrived.wait(remaining)
            return list(self.requests)

    def wait_until(self, predicate: Callable[[FakeGraphAPI], bool], timeout: float = 10.0, message: str = "condition") -> None:
        """Block until `predicate(self)` is true; it is re-checked whenever a request arrives or is answered.

        Raises AssertionError naming `message` and listing the requests if `timeout` passes first.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    arrived = "; ".join(_describe(r) for r in self.requests) or "nothing"
                    raise AssertionError(f"timed out after {timeout} s waiting for {message}; requests: {arrived}")
                self._arrived.wait(remaining)

    # ---- internals used by the handler -------------------------------------------------------

    def _notify(self) -> None:
        with self._arrived:
            self._arrived.notify_all()

    def _record(self, request: RecordedRequest) -> None:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()

    def _add_problems(self, request: RecordedRequest, problems: list[str]) -> None:
        prefix = f"{request.method} {request.path}"
        with self._lock:
            request.problems.extend(problems)
            self.problems.extend(f"{prefix}: {p}" for p in problems)

    def _next_reply(self) -> Reply | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _next_node_reply(self) -> Reply | None:
        with self._lock:
            return self._node_script.popleft() if self._node_script else None

    def _unique_wamid(self, to: str) -> str:
        with self._lock:
            while True:
                wamid = new_wamid(to)
                if wamid not in self._wamids:
                    self._wamids.add(wamid)
                    return wamid

    def _register_hang(self) -> threading.Event:
        event = threading.Event()
        with self._lock:
            if self._stopping.is_set():
                event.set()
            else:
                self._hanging.add(event)
        return event

    def _open_connection(self, conn: socket.socket) -> int:
        with self._lock:
            self._connection_count += 1
            self._connections[self._connection_count] = conn
            return self._connection_count

    def _close_connection(self, connection_id: int) -> None:
        with self._lock:
            self._connections.pop(connection_id, None)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class Handler(_GraphHandler):
            fake = host

            def _handle(self) -> None:
                """Answer as the tenant the path names (see `add_tenant`), else as this fake."""
                self.fake = host.tenant_for(urlsplit(self.path).path)
                try:
                    super()._handle()
                finally:
                    self.fake = host

        return Handler

    def add_tenant(self, tenant: FakeGraphAPI) -> FakeGraphAPI:
        """Serve `tenant` (never started itself) on this fake's socket: requests whose path names its
        phone number id or business account id are answered, checked and recorded by it, with its
        own token, script and templates, as Meta serves many businesses at one address."""
        tenant.api_version = self.api_version
        self._tenants.append(tenant)
        return tenant

    def tenant_for(self, path: str) -> FakeGraphAPI:
        parts = path.split("/")
        object_id = parts[2] if len(parts) > 2 else ""
        for fake in self._tenants:
            if object_id in (fake.phone_number_id, fake.business_account_id):
                return fake
        return self


_EXPIRED_CHALLENGE = 'OAuth "Facebook Platform" "invalid_token" "Error validating access token"'
TEMPLATES_PATH = re.compile(r"^/(?P<version>v\d+\.\d+)/(?P<object_id>[^/]+)/message_templates$")


def _unsupported_get(object_id: str) -> dict[str, Any]:
    """Graph's answer (HTTP 400) for an object id that does not exist or that the token may not see:
    a plain Graph error, without WhatsApp's error_data."""
    message = (
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing permissions, "
        "or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
    )
    return {"error": {"message": message, "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": new_fbtrace_id()}}


def _template_page(
    templates: list[dict[str, Any]], params: Mapping[str, str], max_page_size: int | None
) -> tuple[list[dict[str, Any]], int, bool] | Violation:
    """(the page's template objects with the asked fields, index of the first, whether more follow),
    or the Violation Graph answers for a bad `limit`, `fields` or `after`."""
    limit_text = params.get("limit", str(DEFAULT_PAGE_LIMIT))
    if not limit_text.isdigit() or int(limit_text) < 1:
        return Violation(100, f"Param limit must be a positive integer, got {limit_text!r}")
    fields = [f.strip() for f in params["fields"].split(",") if f.strip()] if "fields" in params else list(DEFAULT_TEMPLATE_FIELDS)
    unknown = [f for f in fields if f not in TEMPLATE_FIELDS]
    if unknown:
        return Violation(100, f"Tried accessing nonexisting field ({unknown[0]}) on node type (WhatsAppBusinessHSM)")
    start = 0
    if "after" in params:
        index = _cursor_index(params["after"])
        if index is None:
            return Violation(100, f"Param after is not a cursor this endpoint returned: {params['after']!r}")
        start = index + 1
    limit = min(int(limit_text), max_page_size or int(limit_text))
    chosen = [*fields, "id"]  # Graph always includes the id
    data = [{key: t[key] for key in t if key in chosen} for t in templates[start : start + limit]]
    return data, start, start + limit < len(templates)


def _describe(r: RecordedRequest) -> str:
    to = r.json.get("to") if isinstance(r.json, dict) else None
    return f"{r.method} {r.path} to={to!r} -> {r.status}"


class _GraphHandler(BaseHTTPRequestHandler):
    """Answers one connection's requests on behalf of `fake` (set on a per-server subclass)."""

    fake: FakeGraphAPI
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes; avoid 40 ms delayed-ACK stalls
    server_version = "FakeGraphAPI"
    sys_version = ""

    # ---- connection bookkeeping --------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.fake._open_connection(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.fake._close_connection(self.connection_id)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read `fake.requests` instead of an access log."""

    # ---- HTTP methods ------------------------------------------------------------------------

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    # ---- request handling --------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        fake = self.fake
        raw = self._read_body()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        record = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=raw,
            json=parsed,
            received_at=time.time(),
            monotonic=time.monotonic(),
            client_port=self.client_address[1],
            connection_id=self.connection_id,
        )
        fake._record(record)

        url = urlsplit(self.path)
        if self.command == "GET" and (listing := TEMPLATES_PATH.match(url.path)) and listing["version"] == fake.api_version:
            self._list_templates(record, listing["object_id"], url.query)
            return
        if self.command == "GET" and (node := NODE_PATH.match(url.path)) and node["version"] == fake.api_version:
            self._read_phone_number(record, node["object_id"], url.query, raw)
            return
        if self.command != "POST" or url.path != fake.path or url.query:
            fake._add_problems(record, [f"unsupported {self.command} {self.path} (only POST {fake.path} exists)"])
            message = (
                f"Unsupported {self.command.lower()} request. Object with ID '{fake.phone_number_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this operation."
            )
            body = error_body(100, message=message, type="GraphMethodException", subcode=33, details="Unsupported request")
            self._send_json(record, 404, body)
            return

        if not self._authorized(record):
            return

        violations: list[Violation] = []
        content_type = self.headers.get("Content-Type") or ""
        if not content_type.lower().startswith("application/json"):
            violations.append(Violation(100, f"Content-Type must be application/json, got {content_type!r}"))
        if parsed is None and raw.strip() != b"null":
            violations.append(Violation(100, "request body is not valid JSON"))
        else:
            violations.extend(validate_message(parsed))
        if violations:
            fake._add_problems(record, [f"({v.code}) {v.detail}" for v in violations])
            first = violations[0]
            self._send_json(record, 400, error_body(first.code, details=first.detail))
            return
        if parsed.get("type") == "text" and not fake.window_open(parsed["to"]):
            # Free-form text only inside the 24 hours after the customer's last message.
            detail = "Message failed to send because more than 24 hours have passed since the customer last replied to this number."
            fake._add_problems(record, [f"(131047) text to {parsed['to']} outside a customer service window"])
            self._send_json(record, default_status(131047), error_body(131047, details=detail))
            return
        if fake.strict_templates and (violations := template_violations(parsed, fake.templates)):
            fake._add_problems(record, [f"({v.code}) {v.detail}" for v in violations])
            first = violations[0]
            self._send_json(record, default_status(first.code), error_body(first.code, details=first.detail))
            return

        self._answer(record, fake._next_reply())

    def _authorized(self, record: RecordedRequest) -> bool:
        """True for the right bearer token; otherwise answer Meta's 401/190 and return False."""
        expired_at = self.fake.token_expired_at
        if self.headers.get("Authorization") == f"Bearer {self.fake.token}" and expired_at is not None:
            # Not a problem of the request: the token it carries is no longer valid.
            self._send_json(record, 401, expired_token_body(expired_at, time.time()), headers={"WWW-Authenticate": _EXPIRED_CHALLENGE})
            return False
        if self.headers.get("Authorization") == f"Bearer {self.fake.token}":
            return True
        self.fake._add_problems(record, ["(190) missing or wrong Authorization header (expected 'Bearer <token>')"])
        body = error_body(190, message="Invalid OAuth access token - Cannot parse access token", details="Invalid OAuth access token")
        self._send_json(
            record, 401, body, headers={"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"'}
        )
        return False

    def _read_phone_number(self, record: RecordedRequest, object_id: str, query: str, body: bytes) -> None:
        """GET /{phone_number_id}: the node with the fields asked for, or the scripted answer."""
        fake = self.fake
        if not self._authorized(record):
            return
        if object_id != fake.phone_number_id:
            fake._add_problems(record, [f"(100) no phone number {object_id!r} (this fake serves {fake.phone_number_id})"])
            self._send_json(record, 400, _unsupported_get(object_id))
            return
        found = _phone_number_fields(fake.phone_number, query)
        if body:
            found = Violation(100, "a GET carries no body")
        if isinstance(found, Violation):
            fake._add_problems(record, [f"({found.code}) {found.detail}"])
            self._send_json(record, 400, error_body(found.code, message=f"(#{found.code}) {found.detail}", details=found.detail))
            return
        self._answer(record, fake._next_node_reply(), ok=lambda: self._send_json(record, 200, found))

    def _list_templates(self, record: RecordedRequest, object_id: str, query: str) -> None:
        """GET /{waba_id}/message_templates: one page of the catalogue, with Graph's cursors."""
        fake = self.fake
        if not self._authorized(record):
            return
        if object_id != fake.business_account_id:
            fake._add_problems(record, [f"(100) no WhatsApp Business Account {object_id!r} (this fake serves {fake.business_account_id})"])
            self._send_json(record, 400, _unsupported_get(object_id))
            return
        params = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
        page = _template_page(fake.templates, params, fake.max_page_size)
        if isinstance(page, Violation):
            fake._add_problems(record, [f"({page.code}) {page.detail}"])
            self._send_json(record, 400, error_body(page.code, message=f"(#{page.code}) {page.detail}", details=page.detail))
            return
        data, start, more = page
        body: dict[str, Any] = {"data": data}
        if data:
            after = _cursor(start + len(data) - 1)
            body["paging"] = {"cursors": {"before": _cursor(start), "after": after}}
            if more:
                # Graph's next link repeats the query (fields, limit) with the new cursor, as an absolute URL.
                next_query = {key: value for key, value in params.items() if key not in ("after", "before")} | {"after": after}
                body["paging"]["next"] = f"{fake.base_url}{urlsplit(self.path).path}?{urlencode(next_query)}"
        self._send_json(record, 200, body)

    def _answer(self, record: RecordedRequest, reply: Reply | None, ok: Callable[[], None] | None = None) -> None:
        """Play `reply` (a send's by default; `ok` answers success for another endpoint)."""
        fake = self.fake
        while reply is not None and reply.kind == "delay":
            if fake._stopping.wait(reply.seconds):
                self._drop()
                return
            record.client_closed = self._client_closed()
            reply = reply.then
        if ok is not None and (reply is None or reply.kind == "ok"):
            ok()
        elif reply is None or reply.kind == "ok":
            to = record.json["to"]
            wamid = reply.wamid if reply is not None and reply.wamid else fake._unique_wamid(to)
            status = reply.message_status if reply is not None else fake.message_status
            message: dict[str, Any] = {"id": wamid}
            if status is not None:
                message["message_status"] = status
            body = {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": fake.wa_id_for(to)}], "messages": [message]}
            record.wamid = wamid
            self._send_json(record, 200, body)
        elif reply.kind == "error":
            self._send_json(record, reply.status, error_body(reply.code or 0, **reply.body), headers=reply.headers)
        elif reply.kind == "raw":
            data = reply.body if isinstance(reply.body, bytes) else str(reply.body).encode()
            self._send(record, reply.status, data, reply.content_type, reply.headers)
        elif reply.kind == "drop":
            self._drop()
        elif reply.kind == "hang":
            fake._register_hang().wait()
            self._drop()
        else:
            raise ValueError(f"unknown reply kind {reply.kind!r}")

    # ---- writing -----------------------------------------------------------------------------

    def _send_json(self, record: RecordedRequest, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(record, status, json.dumps(body).encode(), JSON_CONTENT_TYPE, headers)

    def _send(self, record: RecordedRequest, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        record.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-fb-trace-id", new_fbtrace_id())
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            self.close_connection = True
        self.fake._notify()

    def _client_closed(self) -> bool:
        """True if the client has already closed its side (it would never read an answer)."""
        try:
            return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        self.fake._notify()
