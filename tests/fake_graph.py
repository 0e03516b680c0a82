"""A fake WhatsApp Business Cloud API (Graph API) served over real HTTP on 127.0.0.1, for tests.

`FakeGraphAPI` listens on a real socket (stdlib `ThreadingHTTPServer`, HTTP/1.1 keep-alive) and
serves `POST /{api_version}/{phone_number_id}/messages`. Every request is recorded. A request to
that endpoint is first checked against the shapes Meta documents for template sends (bearer
token, JSON body, E.164 `to` with a plus, template name/language/components/parameters); each
violation is appended to `problems` and answered the way Meta answers it (HTTP 400 with a Graph
error body, 401/190 for bad auth). Valid requests then get the next scripted `Reply` (Meta error
bodies with the documented HTTP status per code, generic 5xx, delays, dropped connections, hangs)
or, when the script is empty, Meta's success body with a fresh `wamid`.

Shapes and codes follow /work/shared/research/whatsapp-cloud-api.md (sections 1 and 2).

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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_HTTP_STATUS",
    "ERROR_CODES",
    "FakeGraphAPI",
    "RecordedRequest",
    "Reply",
    "Violation",
    "default_status",
    "error_body",
    "new_fbtrace_id",
    "new_wamid",
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

TOP_LEVEL_KEYS = frozenset({"messaging_product", "recipient_type", "to", "type", "template", "biz_opaque_callback_data"})
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
    if body.get("type") != "template":
        yield Violation(100, f"type must be 'template', got {body.get('type')!r}")
    if "biz_opaque_callback_data" in body:
        data = body["biz_opaque_callback_data"]
        if not isinstance(data, str) or not data or len(data) > MAX_CALLBACK_DATA:
            yield Violation(100, f"biz_opaque_callback_data must be a non-empty string of at most {MAX_CALLBACK_DATA} characters")
    if "template" not in body:
        yield Violation(131008, "template is required")
    else:
        yield from _check_template(body["template"])


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
    """The Cloud API's /messages endpoint for one phone number, on 127.0.0.1 in daemon threads."""

    def __init__(
        self,
        *,
        token: str = "test-token",
        phone_number_id: str = "106540352242922",
        api_version: str = "v23.0",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.api_version = api_version
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.problems: list[str] = []
        self.wa_id_for: Callable[[str], str] = lambda to: "".join(ch for ch in to if ch.isdigit())
        self.message_status: str | None = "accepted"
        self._script: deque[Reply] = deque()
        self._lock = threading.RLock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._hanging: set[threading.Event] = set()
        self._connections: dict[int, socket.socket] = {}
        self._connection_count = 0
        self._wamids: set[str] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

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
        return type("Handler", (_GraphHandler,), {"fake": self})


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
        if self.command != "POST" or url.path != fake.path or url.query:
            fake._add_problems(record, [f"unsupported {self.command} {self.path} (only POST {fake.path} exists)"])
            message = (
                f"Unsupported {self.command.lower()} request. Object with ID '{fake.phone_number_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this operation."
            )
            body = error_body(100, message=message, type="GraphMethodException", subcode=33, details="Unsupported request")
            self._send_json(record, 404, body)
            return

        authorization = self.headers.get("Authorization")
        if authorization != f"Bearer {fake.token}":
            fake._add_problems(record, ["(190) missing or wrong Authorization header (expected 'Bearer <token>')"])
            body = error_body(190, message="Invalid OAuth access token - Cannot parse access token", details="Invalid OAuth access token")
            self._send_json(
                record, 401, body, headers={"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"'}
            )
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

        self._answer(record, fake._next_reply())

    def _answer(self, record: RecordedRequest, reply: Reply | None) -> None:
        fake = self.fake
        while reply is not None and reply.kind == "delay":
            if fake._stopping.wait(reply.seconds):
                self._drop()
                return
            record.client_closed = self._client_closed()
            reply = reply.then
        if reply is None or reply.kind == "ok":
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
