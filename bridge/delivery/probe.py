"""The probe: while sending is paused by an account error, find out whether Meta takes messages again."""

from __future__ import annotations

from bridge import defaults
from bridge.delivery.attempt import Delivery
from bridge.delivery.control import resume, schedule_probe
from bridge.delivery.records import ClaimMode
from bridge.runtime import Runtime


def run_probe(rt: Runtime) -> str:
    """While sending is paused: retry a held message; if Meta takes it, resume everything.

    Only an answer from Meta about the message itself (sent, or refused for a reason of the
    message's own) proves the account works again; a held message that never reaches Meta
    (skipped, not renderable, waiting for its turn) says nothing, so another one is tried.
    """
    rt.store.free_probe_slot()  # this is the scheduled probe: let the next be scheduled
    if rt.store.pause_info(rt.phone_number_id) is None:
        return "not paused"
    for _ in range(defaults.PROBE_CANDIDATES):
        held = rt.store.any_held()
        if held is None:
            return "nothing held"
        delivery = Delivery(rt, held, mode=ClaimMode.PROBE)
        status = delivery.run()
        if delivery.account_works:
            resumed = resume(rt, reason=f"probe with {delivery.id} answered {status}")
            return f"resumed {resumed}"
        if delivery.attempts:
            break  # a request went out and proved nothing (an account error again, a 5xx): wait
    schedule_probe(rt)
    return "still paused"
