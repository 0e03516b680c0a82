"""Retry policy as pure functions: how long to wait before the next attempt, and when to stop."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from bridge.config import DeliverySettings
from bridge.errors import DeliveryError, RateLimitedError


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
