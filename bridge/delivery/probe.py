"""The probe: while sending is paused by an account error, find out whether Meta takes messages again."""

from __future__ import annotations

from bridge import defaults
from bridge.delivery.attempt import Delivery
from bridge.delivery.control import probe_marker_key, resume, schedule_probe
from bridge.redis_conn import text
from bridge.runtime import Runtime


def run_probe(rt: Runtime) -> str:
    """While sending is paused: retry a held message; if Meta takes it, resume everything.

    Only an answer from Meta about the message itself (sent, or refused for a reason of the
    message's own) proves the account works again; a held message that never reaches Meta
    (skipped, not renderable, waiting for its turn) says nothing, so another one is tried.
    """
    rt.redis.delete(probe_marker_key(rt))  # this is the scheduled probe: let the next be scheduled
    if not rt.redis.exists(rt.pause_key):
        return "not paused"
    for _ in range(defaults.PROBE_CANDIDATES):
        held = rt.redis.srandmember(rt.store.paused_deliveries_key)
        if held is None:
            return "nothing held"
        delivery = Delivery(rt, text(held), mode="probe")
        status = delivery.run()
        if delivery.account_works:
            resumed = resume(rt, reason=f"probe with {delivery.id} answered {status}")
            return f"resumed {resumed}"
        if delivery.attempts:
            break  # a request went out and proved nothing (an account error again, a 5xx): wait
    schedule_probe(rt)
    return "still paused"
