"""Error reports to Sentry, only when `SENTRY_DSN` is set (sentry-sdk also reads SENTRY_ENVIRONMENT
and SENTRY_RELEASE itself).

Crashes in a request (Flask) or a job (RQ), and log lines at ERROR, become events; INFO lines
become their breadcrumbs. Nothing personal leaves: no default PII (addresses, cookies, users), no
local variables of stack frames, no request bodies, no signature or authorization headers, no
job arguments (a forwarded customer message is one), and every string that remains passes the
log redaction (secrets out, phone-shaped numbers masked). Integrations are named, not
auto-enabled: Sentry's Redis integration would record commands whose arguments are phone numbers.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote_plus

from bridge.observability.redact import REDACTOR

DROPPED_HEADERS = frozenset({"authorization", "cookie", "stripe-signature", "x-hub-signature-256", "x-hub-signature"})
"""Request headers an error report never carries (compared lower-case)."""


def init_sentry() -> bool:
    """Start error reporting when SENTRY_DSN is set; returns whether it is on. Call after
    `redact.protect(config)`, so reports are scrubbed of the config's secrets."""
    dsn = os.environ.get("SENTRY_DSN", "").strip()
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    if sentry_sdk.is_initialized():
        return True  # `bridge dev`: the web app and the worker share one process
    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration(), RqIntegration()],
        auto_enabling_integrations=False,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
    )
    return True


def scrub_event(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    """An event as it may leave: request bodies, signature headers and job arguments dropped, every string redacted."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
        if isinstance(request.get("query_string"), str):
            # Percent-encoded, `+1415…` is `%2B1415…`: decoded first, so the redactor sees the number.
            request["query_string"] = unquote_plus(request["query_string"])
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {name: value for name, value in headers.items() if name.lower() not in DROPPED_HEADERS}
    job = (event.get("extra") or {}).get("rq-job")
    if isinstance(job, dict):
        job.pop("args", None)
        job.pop("kwargs", None)
        # The bridge gives each job a fixed description (`bridge.delivery.queueing`); RQ's default
        # one is the call with its arguments, `func('+1415…', 'Jenny Rosen')`.
        if str(job.get("description", "")).startswith(f"{job.get('func')}("):
            job.pop("description")
    event.pop("user", None)
    return _scrubbed(event)


def scrub_breadcrumb(crumb: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    """A breadcrumb (a log line, an HTTP call) with every string redacted."""
    return _scrubbed(crumb)


def _scrubbed(value: Any) -> Any:
    """`value` with every string in it (keys too) passed through the redactor."""
    if isinstance(value, str):
        return REDACTOR.scrub(value)
    if isinstance(value, dict):
        return {_scrubbed(k) if isinstance(k, str) else k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value
