"""The confirmation sent back to a customer after STOP or START (`[consent] stop_reply`, `start_reply`).

Free-form text is allowed only inside the 24-hour window a customer's message opens, and this is
sent right after it. It takes a slot of the number's throughput like any message; in dry run it
goes to the outbox. A passing failure is raised so RQ retries it a few times (soon: it only makes
sense while the customer is looking); anything else is logged and counted, never retried.
"""

from __future__ import annotations

import logging
import time

from bridge import defaults
from bridge.errors import PermanentError, RateLimitedError, TransientError
from bridge.observability.logs import log_fields
from bridge.runtime import Runtime
from bridge.whatsapp.payload import build_text_payload
from bridge.whatsapp.phones import mask_phone

logger = logging.getLogger(__name__)


def send_reply(rt: Runtime, to: str, text: str) -> str:
    """Send `text` to `to`; returns sent, dry_run or failed."""
    payload = build_text_payload(to, text)
    while (wait := rt.gate.number_slot()) > 0:
        time.sleep(min(wait, defaults.INLINE_WAIT_MAX_SECONDS))
    if rt.whatsapp is None:
        rt.store.push_outbox({"reply_to": mask_phone(to), "at": rt.clock(), "request": payload})
        logger.info("confirmation written to the outbox (dry run)", extra=log_fields(phone=mask_phone(to), outcome="dry_run"))
        return "dry_run"
    try:
        result = rt.whatsapp.send(payload)
    except (TransientError, RateLimitedError):
        raise  # RQ retries the job (REPLY_RETRY_INTERVALS)
    except PermanentError as exc:
        rt.store.count("replies_failed")
        values = log_fields(phone=mask_phone(to), outcome="failed", error_code=exc.code, reason=str(exc), meaning=exc.meaning)
        logger.warning("confirmation refused by Meta", extra=values)
        return "failed"
    except Exception as exc:  # an account error, say: the deliveries will meet it and pause
        rt.store.count("replies_failed")
        logger.warning("confirmation not sent", extra=log_fields(phone=mask_phone(to), outcome="failed", reason=str(exc)))
        return "failed"
    logger.info("confirmation sent", extra=log_fields(phone=mask_phone(to), wamid=result.wamid, outcome="sent"))
    return "sent"
