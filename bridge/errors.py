"""One exception hierarchy for the whole bridge.

    BridgeError
    ├── ConfigError            a config file/env mistake: carries (file, key, problem) lines
    ├── SignatureError         missing, invalid or stale Stripe-Signature header
    ├── PayloadError           the body is not a Stripe event
    ├── StoreUnavailable       Redis cannot be reached (web answers 503, worker backs off)
    ├── WebhookUnreachable     `bridge simulate` could not reach a running bridge
    ├── RenderError            a mapping could not be rendered for an event (permanent: failed)
    │   └── MissingDataError   the event lacks what the mapping needs (an empty object): skipped
    ├── RecipientError         no usable phone number for a delivery (recorded as skipped)
    ├── ServiceError           an operator's request (CLI or admin API) can't be done as asked
    │   ├── NotFound           no such delivery, mapping or template (API: 404)
    │   ├── InvalidRequest     the request itself is wrong: a bad phone, cursor or event (API: 422)
    │   └── Conflict           the request is right, the state is not: not replayable, opted out (API: 409)
    └── DeliveryError          the WhatsApp Cloud API refused or failed a send
        ├── TransientError     retry with backoff (5xx, network errors, codes 1, 2, 131000, ...)
        │   └── AmbiguousError the request may have reached Meta: never resent blindly
        ├── RateLimitedError   retry after a wait, not counted as a failed attempt
        ├── PermanentError     record as failed, never retry this message
        └── AccountError       the sending number/account is unusable: pause all sends

Messages and reprs never contain tokens or full phone numbers; ids travel as attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BridgeError(Exception):
    """Base class of every error the bridge raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One config mistake, printed as `file: key: problem`."""

    file: str
    key: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.problem}"


class ConfigError(BridgeError):
    """The configuration is unusable; `problems` lists every mistake found."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SignatureError(BridgeError):
    """The Stripe-Signature header is missing, does not match any secret, or is too old."""


class PayloadError(BridgeError):
    """The request body is not JSON or not a Stripe event object."""


class StoreUnavailable(BridgeError):
    """Redis could not be reached or refused the write."""


class WebhookUnreachable(BridgeError):
    """`bridge simulate` could not reach the bridge's webhook (is `bridge dev` running?)."""


class RenderError(BridgeError):
    """A mapping's template, filter or parameter could not be rendered for an event."""

    def __init__(self, message: str, *, mapping: str | None = None, key: str | None = None):
        self.mapping = mapping
        self.key = key
        super().__init__(message)


class MissingDataError(RenderError):
    """The event carries no data where the mapping reads it (`shipping: {}`): not a mistake of the
    mapping, so the delivery is recorded as skipped with this reason rather than failed."""


class RecipientError(BridgeError):
    """No usable WhatsApp recipient was found for a delivery."""


class Refusal(StrEnum):
    """Why the service layer refused, for a caller that words it itself: the settings page says it
    in the merchant's language from this and the error's `details`, where the CLI and the API
    show the English message."""

    NO_SUCH_DELIVERY = "no_such_delivery"
    NO_SUCH_MAPPING = "no_such_mapping"
    BAD_PHONE = "bad_phone"
    OPTED_OUT = "opted_out"
    NOTHING_TO_SEND = "nothing_to_send"
    NO_SAMPLE = "no_sample"
    PAUSED_ELSEWHERE = "paused_elsewhere"


class ServiceError(BridgeError):
    """An operator's request can't be done as asked; the message says why, in the operator's terms.

    The CLI prints it and exits 1; the admin API answers it as `{"error": message}` with `status`.
    `refusal` and `details` (masked, nothing secret) let a caller word it in another language.
    """

    status = 400

    def __init__(self, message: str, *, refusal: Refusal | None = None, **details: str):
        super().__init__(message)
        self.refusal = refusal
        self.details = details


class NotFound(ServiceError):
    status = 404


class InvalidRequest(ServiceError):
    status = 422


class Conflict(ServiceError):
    status = 409


class DeliveryError(BridgeError):
    """A send through the WhatsApp Cloud API did not succeed.

    Attributes mirror Meta's error object so a failed delivery record can keep them.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        title: str | None = None,
        details: str | None = None,
        http_status: int | None = None,
        fbtrace_id: str | None = None,
        meaning: str | None = None,
        fix: str | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.title = title
        self.details = details
        self.http_status = http_status
        self.fbtrace_id = fbtrace_id
        self.meaning = meaning
        self.fix = fix

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, http_status={self.http_status!r}, message={str(self)!r})"


class TransientError(DeliveryError):
    """Worth retrying with exponential backoff."""

    retryable = True


class AmbiguousError(TransientError):
    """The request body was sent but no answer came back: Meta may have accepted it."""


class RateLimitedError(DeliveryError):
    """Meta throttled the send; retry after `retry_after` seconds without counting a failure."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """This message can never succeed as sent: record it as failed, do not retry."""

    def __init__(self, message: str, *, opt_out: bool = False, **kwargs):
        super().__init__(message, **kwargs)
        self.opt_out = opt_out


class AccountError(DeliveryError):
    """The token, account or number cannot send at all: pause sending and keep the jobs."""
