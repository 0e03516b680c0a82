"""The rules after a failed attempt, as a pure function: no Redis, no HTTP, an injected clock."""

from __future__ import annotations

import pytest

from bridge.config import DeliverySettings
from bridge.delivery.policy import Action, AttemptHistory, plan_failure
from bridge.errors import AccountError, AmbiguousError, PermanentError, RateLimitedError, TransientError

SETTINGS = DeliverySettings(max_attempts=3, backoff_base_seconds=2, backoff_max_seconds=60, give_up_after_seconds=3600)
SENT = AttemptHistory(attempts=1, request_sent=True, first_attempt_at=1000.0)


def plan(exc, history=SENT, now=1010.0):
    return plan_failure(exc, history, now=now, settings=SETTINGS, rand=lambda: 0.5)


@pytest.mark.parametrize(
    ("exc", "action"),
    [
        (AmbiguousError("read timeout"), Action.HOLD_AMBIGUOUS),
        (AccountError("(#190) token expired", code=190, http_status=401), Action.PAUSE),
        (RateLimitedError("(#130429)", code=130429, http_status=429), Action.THROTTLE_NUMBER),
        (RateLimitedError("(#131056)", code=131056, http_status=400), Action.THROTTLE_PAIR),
        (TransientError("(#131000)", code=131000, http_status=500), Action.RETRY),
        (PermanentError("(#131026)", code=131026, http_status=400), Action.FAIL),
    ],
)
def test_each_error_class_has_its_action(exc, action):
    assert plan(exc).action is action


def test_meta_answering_about_the_message_proves_the_account_works():
    assert plan(PermanentError("(#131026)", code=131026, http_status=400)).account_works
    assert plan(RateLimitedError("(#130429)", code=130429, http_status=429)).account_works
    assert not plan(TransientError("connection refused")).account_works  # no answer from Meta
    assert not plan(AccountError("(#190)", code=190, http_status=401)).account_works


def test_a_transient_error_backs_off_then_gives_up_after_max_attempts():
    assert plan(TransientError("5xx", http_status=500)).delay == pytest.approx(1.5)
    last = plan(TransientError("5xx", http_status=500), AttemptHistory(attempts=3, request_sent=True, first_attempt_at=1000.0))
    assert (last.action, last.note) == (Action.FAIL, "gave up after 3 attempts")


def test_a_transient_error_is_not_retried_after_give_up_after():
    late = plan(TransientError("5xx", http_status=500), now=1000.0 + 3600)
    assert (late.action, late.note) == (Action.FAIL, "gave up after 3600 s")


def test_a_failure_before_any_request_counts_its_own_attempt():
    """The Stripe Customer lookup failed: nothing counted the attempt, so the plan does."""
    before = AttemptHistory(attempts=1, request_sent=False, first_attempt_at=1000.0)
    retry = plan(TransientError("Stripe is down"), before)
    assert (retry.action, retry.attempts, retry.count_attempt) == (Action.RETRY, 2, True)
    third = plan(TransientError("Stripe is down"), AttemptHistory(attempts=2, request_sent=False))
    assert (third.action, third.attempts, third.count_attempt) == (Action.FAIL, 3, True)


def test_throttling_waits_as_meta_says_and_never_counts_an_attempt():
    retry_after = plan(RateLimitedError("(#4)", code=4, http_status=400, retry_after=30))
    assert (retry_after.action, retry_after.delay, retry_after.count_attempt) == (Action.THROTTLE_NUMBER, 30, False)
    pair = plan(RateLimitedError("(#131056)", code=131056, http_status=400), AttemptHistory(throttled=2, request_sent=True))
    assert pair.delay == 16  # 4^2 seconds, as Meta advises


def test_throttled_for_longer_than_give_up_after_fails():
    late = plan(RateLimitedError("(#130429)", code=130429, http_status=429), now=1000.0 + 3600)
    assert (late.action, late.note) == (Action.FAIL, "gave up: still throttled")


def test_131050_fails_and_opts_the_customer_out_of_marketing():
    refused = plan(PermanentError("(#131050)", code=131050, http_status=400, opt_out=True))
    assert (refused.action, refused.opt_out_marketing, refused.note) == (Action.FAIL, True, "")
