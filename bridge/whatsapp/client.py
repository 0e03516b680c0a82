"""WhatsApp Business Cloud API client: message sends over one pooled connection per process, the
template list `bridge templates pull` reads, and the sending number's node the settings page reads
to check the access token.

All go through `_Graph`, an httpcore connection pool (the layer under httpx) with the bearer
token and the configured timeouts: a send is one POST of a JSON body to one fixed URL, and httpx's
client machinery around it (URL merging, cookies, auth and redirect handling, response decoding)
cost as much per message as the round trip to Meta itself. `_Graph.request` is the one place that
turns httpcore's errors and Meta's error answers into the bridge's DeliveryError classes (Meta's
codes are classified by `bridge.whatsapp.errors`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpcore

from bridge import defaults
from bridge.config import WhatsAppSettings
from bridge.errors import AmbiguousError, PermanentError, TransientError
from bridge.whatsapp.errors import classify
from bridge.whatsapp.payload import SendResult, parse_send_response

logger = logging.getLogger(__name__)

USER_AGENT = "stripe-whatsapp-bridge"

TEMPLATE_FIELDS = ("name", "language", "status", "category", "parameter_format", "components")
"""What the catalogue needs of each template; Graph adds the id."""
PHONE_NUMBER_FIELDS = ("display_phone_number", "verified_name", "quality_rating")
"""What the settings page shows of the sending number; Graph adds the id."""


class _Graph:
    """The Graph API at `[whatsapp] api_base_url`, over one keep-alive connection pool; every
    timeout is `[whatsapp] timeout_seconds`, or `timeout` when that is shorter."""

    def __init__(self, settings: WhatsAppSettings, *, timeout: float | None = None):
        self._headers = [
            (b"Host", urlsplit(settings.api_base_url).netloc.encode()),
            (b"Authorization", f"Bearer {settings.access_token}".encode()),
            (b"Accept", b"application/json"),
            (b"User-Agent", USER_AGENT.encode()),
        ]
        seconds = settings.timeout_seconds if timeout is None else min(timeout, settings.timeout_seconds)
        self._timeouts = {"timeout": {"connect": min(5.0, seconds), "read": seconds, "write": seconds, "pool": 5.0}}
        self._pool = httpcore.ConnectionPool(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30)

    def close(self) -> None:
        self._pool.close()

    def request(self, method: bytes, url: str | bytes, body: bytes | None = None) -> tuple[int, Any]:
        """One request: (HTTP status, parsed JSON body or None) when Meta answers below 400; every
        httpcore error and every error answer raised as a DeliveryError subclass."""
        headers = self._headers
        if body is not None:
            headers = [*headers, (b"Content-Type", b"application/json"), (b"Content-Length", str(len(body)).encode())]
        try:
            response = self._pool.request(method, url, headers=headers, content=body, extensions=self._timeouts)
        except (httpcore.ConnectError, httpcore.ConnectTimeout, httpcore.PoolTimeout) as exc:
            # Nothing reached Meta: safe to retry.
            raise TransientError(f"could not connect to the Cloud API: {type(exc).__name__}") from None
        except httpcore.WriteError as exc:
            raise TransientError(f"connection failed while sending the request: {type(exc).__name__}") from None
        except (httpcore.ReadTimeout, httpcore.ReadError, httpcore.RemoteProtocolError, httpcore.WriteTimeout) as exc:
            # The request may have been processed: Meta has no idempotency key.
            raise AmbiguousError(f"no answer from the Cloud API after the request was sent: {type(exc).__name__}") from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError, httpcore.UnsupportedProtocol) as exc:
            raise TransientError(f"HTTP error talking to the Cloud API: {type(exc).__name__}") from None
        try:
            answer = json.loads(response.content)
        except ValueError:
            answer = None
        if response.status >= 400:
            retry_after = _retry_after(_header(response.headers, b"retry-after"))
            raise classify(response.status, answer, retry_after=retry_after)
        return response.status, answer


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    return next((value.decode("latin-1") for key, value in headers if key.lower() == name), None)


class WhatsAppClient:
    """Sends messages (templates; text replies inside the 24-hour window) for one business phone number."""

    def __init__(self, settings: WhatsAppSettings):
        self.settings = settings
        self._url = f"{settings.api_base_url}/{settings.api_version}/{settings.phone_number_id}/messages".encode()
        self._graph = _Graph(settings)

    def close(self) -> None:
        self._graph.close()

    def send(self, payload: dict[str, Any]) -> SendResult:
        """POST one message; raise a DeliveryError subclass on anything but Meta's acceptance."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        status, answer = self._graph.request(b"POST", self._url, body)
        result = parse_send_response(answer)
        if result is None:
            raise AmbiguousError(f"Cloud API answered {status} without a message id")
        # No line here: the delivery (or the confirmation reply) logs its outcome, with its ids.
        return result


@dataclass(frozen=True)
class TemplateListing:
    """Every template object of a business account as Meta returned it, and how many requests it took."""

    templates: tuple[dict[str, Any], ...]
    requests: int


def fetch_templates(
    settings: WhatsAppSettings, business_account_id: str, *, page_size: int = defaults.TEMPLATE_PAGE_SIZE
) -> TemplateListing:
    """Every template of the WhatsApp Business Account, page by page along Graph's `paging.next`.

    Meta allows about 200 template-management requests an hour per account, so only
    `bridge templates pull` calls this; sends read the snapshot it writes. Needs no phone number id.
    """
    query = urlencode({"fields": ",".join(TEMPLATE_FIELDS), "limit": page_size})
    url: str | None = f"{settings.api_base_url}/{settings.api_version}/{business_account_id}/message_templates?{query}"
    templates: list[dict[str, Any]] = []
    visited: set[str] = set()
    graph = _Graph(settings)
    try:
        while url is not None:
            visited.add(url)
            status, body = graph.request(b"GET", url)
            data, next_url = _template_page(status, body)
            templates.extend(data)
            url = _next_page(next_url, settings.api_base_url, visited)  # the next link carries the query
    finally:
        graph.close()
    logger.info("listed %d templates of business account %s in %d requests", len(templates), business_account_id, len(visited))
    return TemplateListing(tuple(templates), len(visited))


def _template_page(status: int, body: Any) -> tuple[list[dict[str, Any]], Any]:
    """(the page's template objects, its `paging.next`) from one answer of the template list."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise TransientError(f"Cloud API answered {status} without a list of templates")
    paging = body.get("paging")
    return [t for t in body["data"] if isinstance(t, dict)], paging.get("next") if isinstance(paging, dict) else None


def _next_page(next_url: Any, base_url: str, visited: set[str]) -> str | None:
    """The next page's URL, if Graph gave one. It is absolute; it is followed only on the configured
    API address, since the request carries the access token."""
    if next_url is None:
        return None
    target, base = urlsplit(str(next_url)), urlsplit(base_url)
    same_origin = (target.scheme.lower(), target.netloc.lower()) == (base.scheme.lower(), base.netloc.lower())
    if not same_origin or not target.path.startswith(base.path.rstrip("/") + "/"):
        raise PermanentError(
            f"the Cloud API's next page of templates is at {target.scheme}://{target.netloc}, not at {base_url}: "
            "not followed, so the access token goes nowhere else"
        )
    if next_url in visited:
        raise TransientError("the Cloud API gave the same page of templates twice; stopped instead of looping")
    return str(next_url)


@dataclass(frozen=True)
class PhoneNumber:
    """The business's own sending number as Graph describes it: not a customer's, so shown as it is."""

    id: str
    display_phone_number: str | None
    """As Meta writes it for people: "+1 631-555-5555"."""
    verified_name: str | None
    quality_rating: str | None
    """GREEN, YELLOW, RED, or NA / UNKNOWN while Meta has not rated the number."""


def fetch_phone_number(settings: WhatsAppSettings, *, timeout: float) -> PhoneNumber:
    """`GET /{version}/{phone-number-id}`: the cheapest request that proves the access token works
    for the number the bridge sends from (a refused token is Meta's 190, as a send would get).
    Every timeout is at most `timeout` seconds; errors are DeliveryError subclasses, as for sends."""
    query = urlencode({"fields": ",".join(PHONE_NUMBER_FIELDS)})
    url = f"{settings.api_base_url}/{settings.api_version}/{quote(settings.phone_number_id, safe='')}?{query}"
    graph = _Graph(settings, timeout=timeout)
    try:
        status, body = graph.request(b"GET", url)
    finally:
        graph.close()
    return _phone_number(status, body)


def _phone_number(status: int, body: Any) -> PhoneNumber:
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise TransientError(f"Cloud API answered {status} without the phone number's details")
    text = {name: body.get(name) if isinstance(body.get(name), str) else None for name in PHONE_NUMBER_FIELDS}
    return PhoneNumber(id=body["id"], **text)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
