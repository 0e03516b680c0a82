"""What to do after a failed attempt, as pure functions: retry, wait out throttling, pause, or fail.

The error class decides (see `bridge.errors` and Meta's code table in `bridge.whatsapp.errors`):
  ambiguous   the request may have reached Meta: hold it for reconciliation, never resend blindly
  account     the number cannot send at all: pause every send, keep the jobs
  throttled   not the message's fault: slow the shared limiter, don't count the attempt
  transient   exponential backoff with jitter, at most `max_attempts`, never after `give_up_after`
  permanent   record the failure with Meta's code, never retry (131050 also opts out of marketing)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bridge.config import DeliverySettings
from bridge.errors import AccountError, AmbiguousError, DeliveryError, PermanentError, RateLimitedError
from bridge.whatsapp.errors import PAIR_RATE_LIMIT, pair_backoff_seconds

THROTTLE_BACKOFF_CAP_SECONDS = 60.0
"""Throttling without a Retry-After backs the number off at most this long per step."""


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    delay: float = 0.0
    reason: str = ""


def backoff_delay(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random, capped at `cap`."""
    step = min(cap, base * (2 ** max(0, attempt - 1)))
    return step / 2 + rand() * step / 2


def decide(
    error: DeliveryError | Exception,
    *,
    attempts: int,
    first_attempt_at: float,
    now: float,
    settings: DeliverySettings,
    rand: Callable[[], float] = random.random,
) -> RetryDecision:
    """Whether a failed attempt is retried, and after how long."""
    if not getattr(error, "retryable", False):
        return RetryDecision(False, reason="not retryable")
    if now - first_attempt_at >= settings.give_up_after_seconds:
        return RetryDecision(False, reason=f"gave up after {settings.give_up_after_seconds} s")
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        return RetryDecision(True, delay=min(settings.backoff_max_seconds, error.retry_after))
    if attempts >= settings.max_attempts:
        return RetryDecision(False, reason=f"gave up after {attempts} attempts")
    return RetryDecision(True, delay=backoff_delay(attempts, settings.backoff_base_seconds, settings.backoff_max_seconds, rand))


class Action(StrEnum):
    HOLD_AMBIGUOUS = "hold_ambiguous"
    PAUSE = "pause"
    THROTTLE_NUMBER = "throttle_number"
    """Push the number's shared limiter out by `delay` and retry then."""
    THROTTLE_PAIR = "throttle_pair"
    """Push this customer's pair limiter out by `delay` and retry then."""
    RETRY = "retry"
    FAIL = "fail"


@dataclass(frozen=True)
class FailurePlan:
    action: Action
    delay: float = 0.0
    attempts: int = 0
    """The attempt number this failure counts as."""
    count_attempt: bool = False
    """The attempt failed before any request went out, so nothing has counted it yet."""
    note: str = ""
    """Why retrying stopped, appended to the error message of a FAIL after retries."""
    account_works: bool = False
    """Meta answered about this message itself: the account can send (the probe's proof)."""
    opt_out_marketing: bool = False


@dataclass(frozen=True)
class AttemptHistory:
    """What the record says about earlier attempts of this delivery."""

    attempts: int = 0
    """Attempts counted so far, this one included when its request went out."""
    throttled: int = 0
    first_attempt_at: float | None = None
    request_sent: bool = False
    """This attempt's request went out (the gate counted it)."""


def plan_failure(
    exc: DeliveryError,
    history: AttemptHistory,
    *,
    now: float,
    settings: DeliverySettings,
    rand: Callable[[], float] = random.random,
) -> FailurePlan:
    """The rules for a failed attempt; the caller carries the plan out (`bridge.delivery.outcomes`)."""
    if isinstance(exc, AmbiguousError):
        return FailurePlan(Action.HOLD_AMBIGUOUS, delay=settings.ambiguous_wait_seconds)
    if isinstance(exc, AccountError):
        return FailurePlan(Action.PAUSE)
    # Throttling or a refusal of this message means Meta accepted the account's request.
    account_works = exc.http_status is not None and isinstance(exc, RateLimitedError | PermanentError)
    first = history.first_attempt_at if history.first_attempt_at is not None else now
    if isinstance(exc, RateLimitedError):
        return _throttled(exc, history, now - first, settings, account_works)
    attempts = history.attempts if history.request_sent else history.attempts + 1
    decision = decide(exc, attempts=attempts, first_attempt_at=first, now=now, settings=settings, rand=rand)
    opt_out = isinstance(exc, PermanentError) and exc.opt_out
    common = {"attempts": attempts, "count_attempt": not history.request_sent, "account_works": account_works}
    if decision.retry:
        return FailurePlan(Action.RETRY, delay=decision.delay, **common)
    note = decision.reason if exc.retryable else ""
    return FailurePlan(Action.FAIL, note=note, opt_out_marketing=opt_out, **common)


def _throttled(
    exc: RateLimitedError, history: AttemptHistory, elapsed: float, settings: DeliverySettings, account_works: bool
) -> FailurePlan:
    if elapsed >= settings.give_up_after_seconds:
        return FailurePlan(Action.FAIL, note="gave up: still throttled", account_works=account_works)
    if exc.code == PAIR_RATE_LIMIT:
        return FailurePlan(Action.THROTTLE_PAIR, delay=pair_backoff_seconds(history.throttled), account_works=account_works)
    if exc.retry_after is not None:
        return FailurePlan(Action.THROTTLE_NUMBER, delay=exc.retry_after, account_works=account_works)
    base = max(1.0, settings.backoff_base_seconds)
    delay = backoff_delay(history.throttled + 1, base, THROTTLE_BACKOFF_CAP_SECONDS)
    return FailurePlan(Action.THROTTLE_NUMBER, delay=delay, account_works=account_works)
