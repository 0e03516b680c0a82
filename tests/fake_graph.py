"""A fake WhatsApp Business Cloud API over real HTTP on 127.0.0.1, for tests.

It checks every POST /{version}/{phone-number-id}/messages against the shapes Meta documents
(auth header, path, JSON body, template components and parameters), records each request, and
answers with Meta's success body, or with scripted replies: Meta's error bodies (with the HTTP
status Meta's error table gives each code), generic 5xx, delays, dropped connections and hangs.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
PARAM_NAME = re.compile(r"^[a-z0-9_]+$")
TOP_LEVEL = {"messaging_product", "recipient_type", "to", "type", "template", "biz_opaque_callback_data"}
BUTTON_SUB_TYPES = {"url", "quick_reply", "copy_code", "flow", "catalog", "mpm"}
PARAM_TYPES = {"text", "currency", "date_time", "image", "document", "video", "payload", "coupon_code", "action"}

# Titles as in Meta's error-code table; HTTP statuses as the table's older revision gave them.
TITLES: dict[int, str] = {
    0: "AuthException",
    1: "API Unknown",
    2: "API Service",
    3: "API Method",
    4: "API Too Many Calls",
    10: "Permission Denied",
    100: "Invalid parameter",
    190: "Access token has expired",
    200: "Permission error",
    368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    130472: "User's number is part of an experiment",
    131000: "Something went wrong",
    131005: "Access denied",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131021: "Recipient cannot be sender",
    131026: "Message undeliverable",
    131031: "Business Account locked",
    131042: "Business eligibility payment issue",
    131045: "Incorrect certificate",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
    131051: "Unsupported message type",
    131053: "Media upload error",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131057: "Account in maintenance mode",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132005: "Translated text too long",
    132007: "Template Format Character Policy Violated",
    132012: "Parameter format does not match format in the created template",
    132015: "Template is Paused",
    132016: "Template is Disabled",
    132018: "There's an issue with the parameters in your template.",
    133004: "Server temporarily unavailable",
    133010: "Phone number not registered",
}
STATUSES: dict[int, int] = {
    0: 401,
    190: 401,
    3: 500,
    10: 403,
    368: 403,
    131031: 403,
    131005: 403,
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


def default_status(code: int) -> int:
    if 200 <= code <= 299:
        return 403
    return STATUSES.get(code, 400)


def error_body(
    code: int,
    *,
    message: str | None = None,
    title: str | None = None,
    details: str | None = None,
    subcode: int | None = None,
    type: str = "OAuthException",
) -> dict[str, Any]:
    title = title or TITLES.get(code, "Unknown error")
    error: dict[str, Any] = {
        "message": message or f"(#{code}) {title}",
        "type": type,
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details or title},
        "fbtrace_id": "A" + secrets.token_urlsafe(16),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@dataclass(frozen=True)
class Reply:
    """One scripted answer to one POST to /messages."""

    kind: str
    status: int = 200
    body: Any = None
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
    ) -> Reply:
        body = error_body(code, message=message, title=title, details=details, subcode=subcode, type=type)
        return cls("error", status=http_status or default_status(code), body=body)

    @classmethod
    def server_error(cls, status: int = 500, body: str = "<html><body>Internal Server Error</body></html>") -> Reply:
        return cls("raw", status=status, body=body)

    @classmethod
    def ok(cls, wamid: str | None = None, message_status: str | None = "accepted") -> Reply:
        return cls("ok", wamid=wamid, message_status=message_status)

    @classmethod
    def delay(cls, seconds: float, then: Reply | None = None) -> Reply:
        return cls("delay", seconds=seconds, then=then)

    @classmethod
    def drop(cls) -> Reply:
        return cls("drop")

    @classmethod
    def hang(cls) -> Reply:
        return cls("hang")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    received_at: float
    monotonic: float
    status: int | None = None
    wamid: str | None = None
    client_port: int | None = None


def validate_message(body: Any) -> tuple[int, str] | None:
    """(Meta error code, problem) for the first shape violation, or None if the body is valid."""
    if not isinstance(body, dict):
        return 100, "body must be a JSON object"
    unknown = set(body) - TOP_LEVEL
    if unknown:
        return 100, f"unknown top-level keys: {sorted(unknown)}"
    if body.get("messaging_product") != "whatsapp":
        return 100, "messaging_product must be 'whatsapp'"
    if "recipient_type" in body and body["recipient_type"] != "individual":
        return 100, "recipient_type must be 'individual'"
    to = body.get("to")
    if not isinstance(to, str) or not E164.match(to):
        return 131009, f"to must be E.164 with a leading +, got {to!r}"
    if body.get("type") != "template":
        return 100, "type must be 'template'"
    callback = body.get("biz_opaque_callback_data")
    if callback is not None and (not isinstance(callback, str) or not callback or len(callback) > 512):
        return 100, "biz_opaque_callback_data must be a non-empty string of at most 512 characters"
    template = body.get("template")
    if not isinstance(template, dict):
        return 131008, "template is required"
    if not isinstance(template.get("name"), str) or not TEMPLATE_NAME.match(template["name"]):
        return 100, "template.name must match ^[a-z0-9_]{1,512}$"
    language = template.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str) or not LANGUAGE.match(language["code"]):
        return 100, "template.language.code must be a language code such as en_US"
    if "policy" in language and language["policy"] != "deterministic":
        return 100, "template.language.policy must be 'deterministic'"
    components = template.get("components", [])
    if not isinstance(components, list):
        return 100, "template.components must be a list"
    for i, component in enumerate(components):
        problem = _validate_component(component)
        if problem:
            return problem[0], f"components[{i}]: {problem[1]}"
    return None


def _validate_component(component: Any) -> tuple[int, str] | None:
    if not isinstance(component, dict) or component.get("type") not in {"header", "body", "button"}:
        return 100, "type must be header, body or button"
    if component["type"] == "button":
        if component.get("sub_type") not in BUTTON_SUB_TYPES:
            return 100, "button sub_type is invalid"
        index = component.get("index")
        if not (isinstance(index, int) and 0 <= index <= 9) and not (isinstance(index, str) and index.isdigit()):
            return 100, "button index must be 0-9"
    parameters = component.get("parameters")
    if not isinstance(parameters, list) or not parameters:
        return 100, "parameters must be a non-empty list"
    named = ["parameter_name" in p for p in parameters if isinstance(p, dict)]
    if any(named) and not all(named):
        return 132018, "mixes named and positional parameters"
    for j, parameter in enumerate(parameters):
        problem = _validate_parameter(parameter)
        if problem:
            return problem[0], f"parameters[{j}]: {problem[1]}"
    return None


def _validate_parameter(p: Any) -> tuple[int, str] | None:
    if not isinstance(p, dict) or p.get("type") not in PARAM_TYPES:
        return 100, "type is invalid"
    if "parameter_name" in p and (not isinstance(p["parameter_name"], str) or not PARAM_NAME.match(p["parameter_name"])):
        return 132018, "parameter_name must match ^[a-z0-9_]+$"
    kind = p["type"]
    if kind == "text":
        text = p.get("text")
        if not isinstance(text, str) or not text.strip():
            return 132018, "text must be a non-empty string"
        if "\n" in text or "\t" in text or "     " in text:
            return 132018, "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"
        if len(text) > 1024:
            return 132005, "text longer than 1024 characters"
    elif kind == "currency":
        c = p.get("currency")
        if not (
            isinstance(c, dict)
            and isinstance(c.get("fallback_value"), str)
            and isinstance(c.get("code"), str)
            and re.fullmatch(r"[A-Z]{3}", c["code"])
            and isinstance(c.get("amount_1000"), int)
        ):
            return 100, "currency needs fallback_value, code (ISO 4217) and integer amount_1000"
    elif kind == "date_time":
        d = p.get("date_time")
        if not (isinstance(d, dict) and isinstance(d.get("fallback_value"), str)):
            return 100, "date_time needs fallback_value"
    elif kind in {"image", "document", "video"}:
        media = p.get(kind)
        if not (isinstance(media, dict) and ("link" in media or "id" in media)):
            return 100, f"{kind} needs link or id"
    return None


class FakeGraphAPI:
    """Serves the Cloud API's /messages endpoint on 127.0.0.1 in a daemon thread."""

    def __init__(
        self,
        *,
        token: str = "test-token",
        phone_number_id: str = "106540352242922",
        api_version: str = "v23.0",
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.token = token
        self.phone_number_id = phone_number_id
        self.api_version = api_version
        self.requests: list[RecordedRequest] = []
        self.problems: list[str] = []
        self.wa_id_for: Callable[[str], str] = lambda to: to.lstrip("+")
        self.message_status: str | None = "accepted"
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        return f"/{self.api_version}/{self.phone_number_id}/messages"

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def accepted(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.status == 200 and r.wamid]

    def start(self) -> FakeGraphAPI:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-graph", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeGraphAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next valid POSTs to /messages, in order."""
        with self._lock:
            self._script.extend(replies)

    def release(self) -> None:
        """Close every connection held by `Reply.hang()`."""
        self._released.set()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.problems.clear()
            self._script.clear()
        self._released.clear()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= n:
                    return list(self.requests)
            time.sleep(0.01)
        with self._lock:
            got = [(r.method, r.path, r.status) for r in self.requests]
        raise AssertionError(f"expected {n} requests within {timeout} s, got {len(got)}: {got}")

    def _next_reply(self) -> Reply | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _problem(self, problem: str) -> None:
        with self._lock:
            self.problems.append(problem)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # silence
                pass

            def _send_json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send_raw(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._unsupported()

            def _unsupported(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self._send_json(404, error_body(100, message=f"Unsupported {self.command.lower()} request.", type="GraphMethodException"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = None
                record = RecordedRequest(
                    method="POST",
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=raw,
                    json=parsed,
                    received_at=time.time(),
                    monotonic=time.monotonic(),
                    client_port=self.client_address[1],
                )
                fake._record(record)
                if self.path != fake.path:
                    record.status = 404
                    fake._problem(f"unexpected path {self.path}")
                    self._send_json(404, error_body(100, message="Unsupported post request.", type="GraphMethodException"))
                    return
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    record.status = 401
                    fake._problem("missing or wrong Authorization header")
                    self._send_json(401, error_body(190, message="Invalid OAuth access token - Cannot parse access token"))
                    return
                if not (self.headers.get("Content-Type") or "").startswith("application/json"):
                    record.status = 400
                    fake._problem("Content-Type is not application/json")
                    self._send_json(400, error_body(100, details="Content-Type must be application/json"))
                    return
                invalid = validate_message(parsed) if parsed is not None else (100, "body is not JSON")
                if invalid:
                    code, problem = invalid
                    record.status = default_status(code) if code != 131009 else 400
                    fake._problem(problem)
                    self._send_json(record.status, error_body(code, details=problem))
                    return
                self._answer(record, fake._next_reply())

            def _answer(self, record: RecordedRequest, reply: Reply | None) -> None:
                while reply is not None and reply.kind == "delay":
                    fake._stopping.wait(reply.seconds)
                    reply = reply.then
                if reply is None or reply.kind == "ok":
                    wamid = (reply.wamid if reply else None) or "wamid.HBgL" + secrets.token_urlsafe(24)
                    status = reply.message_status if reply else fake.message_status
                    message: dict[str, Any] = {"id": wamid}
                    if status is not None:
                        message["message_status"] = status
                    record.status, record.wamid = 200, wamid
                    to = record.json["to"]
                    self._send_json(
                        200,
                        {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": fake.wa_id_for(to)}], "messages": [message]},
                    )
                elif reply.kind == "error":
                    record.status = reply.status
                    self._send_json(reply.status, reply.body)
                elif reply.kind == "raw":
                    record.status = reply.status
                    self._send_raw(reply.status, reply.body)
                elif reply.kind == "drop":
                    self._drop()
                elif reply.kind == "hang":
                    fake._released.wait()
                    self._drop()

            def _drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

        return Handler
