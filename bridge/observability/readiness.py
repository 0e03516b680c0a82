"""Readiness: is this bridge able to take events and send them? One verdict per check, values in.

`GET /readyz` (bridge.web.health) gathers the values and answers 200 when every check passes,
503 naming the ones that failed. The checks:

    redis      Redis answered PING (and how fast)
    config     the config was loaded (its source named) and can verify Stripe's signatures
    sending    sending is not paused by an account error (skipped when Redis did not answer)
    templates  the templates snapshot is not older than [health] templates_max_age_hours
               (skipped when there is no snapshot: none configured or pulled yet)

A skipped check passes: it reports why it was skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bridge.config import Config


class Check(StrEnum):
    REDIS = "redis"
    CONFIG = "config"
    SENDING = "sending"
    TEMPLATES = "templates"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    details: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    """Why the check was not made (then it passes)."""

    def as_json(self) -> dict[str, Any]:
        skipped = {"skipped": True, "reason": self.skipped} if self.skipped is not None else {}
        return {"ok": self.ok, **skipped, **self.details}


def skip(reason: str) -> Verdict:
    return Verdict(ok=True, skipped=reason)


def redis_verdict(answered_in: float | None, error: str | None = None) -> Verdict:
    """Redis answered PING in `answered_in` seconds, or did not (`error` says how)."""
    if answered_in is None:
        return Verdict(ok=False, details={"error": f"Redis did not answer PING: {error or 'no answer'}"})
    return Verdict(ok=True, details={"latency_ms": round(answered_in * 1000, 2)})


def config_verdict(config: Config) -> Verdict:
    """Loaded (this process runs on it); without a webhook secret every Stripe event would be refused."""
    details: dict[str, Any] = {"source": config.source, "mappings": len(config.mappings)}
    if not config.stripe.webhook_secrets:
        details["error"] = "no [stripe] webhook_secrets / STRIPE_WEBHOOK_SECRET: every Stripe event would be refused"
        return Verdict(ok=False, details=details)
    return Verdict(ok=True, details=details)


def sending_verdict(pause: Mapping[str, Any] | None, phone_number_id: str) -> Verdict:
    """Not paused; `pause` is the pause's details (`bridge.delivery.control.pause_info`) while it lasts."""
    number = {"phone_number_id": phone_number_id}
    if pause is None:
        return Verdict(ok=True, details=number)
    cause = {name: pause[name] for name in ("since", "code", "reason", "meaning") if pause.get(name) is not None}
    return Verdict(ok=False, details={**number, "paused": True, **cause, "error": "sending is paused: see `bridge resume`"})


@dataclass(frozen=True)
class SnapshotState:
    """What the templates snapshot file holds, as far as readiness cares."""

    path: str
    pulled_at: float | None = None
    """None when there is no snapshot file."""
    error: str | None = None
    """Set when the file exists but is not a readable snapshot."""


def templates_verdict(snapshot: SnapshotState, *, now: float, max_age_hours: float) -> Verdict:
    """The snapshot is younger than `max_age_hours`; skipped when there is none."""
    if snapshot.error is not None:
        return Verdict(ok=False, details={"path": snapshot.path, "error": snapshot.error})
    if snapshot.pulled_at is None:
        return skip(f"no templates snapshot at {snapshot.path} (`bridge templates pull` writes one)")
    age_hours = max(now - snapshot.pulled_at, 0.0) / 3600
    details = {"path": snapshot.path, "age_hours": round(age_hours, 2), "max_age_hours": max_age_hours}
    if age_hours > max_age_hours:
        details["error"] = "the templates snapshot is older than [health] templates_max_age_hours: run `bridge templates pull`"
        return Verdict(ok=False, details=details)
    return Verdict(ok=True, details=details)


def readiness(verdicts: Mapping[Check, Verdict]) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of `/readyz`: 200 when every check passes, else 503."""
    failed = [str(check) for check, verdict in verdicts.items() if not verdict.ok]
    body = {
        "status": "not ready" if failed else "ready",
        "checks": {str(check): verdict.as_json() for check, verdict in verdicts.items()},
        "failed": failed,
    }
    return (503 if failed else 200), body
