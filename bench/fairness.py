"""Merchants sharing a worker: how long one merchant's messages wait behind another's backlog.

    .venv/bin/python bench/fairness.py [N] [--backlog M] [--quick]

Two merchants, A and B, besides the file's. Baseline: B's N events alone, worked by the
Procfile's `worker` line (burst) to the fast fake Graph API: B's time to drain, from the worker's
first send to B's last. Then A's M events are accepted first and B's N after them, and the same
worker line runs: B's time to drain again. Taken in turn, B shares the worker with A, so its time
is about twice the baseline (ratio ≈ 2); a single queue in arrival order would make B wait for
all of A's backlog first (ratio ≈ (M + N) / N). Also: the worker's deliveries a second over two
merchants' queues against one merchant's (the Lua dequeue in turn against RQ's own LMOVE path).
Redis: $REDIS_URL, else database 11 (flushed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

A, B = "acct_1BenchAAAA", "acct_2BenchBBBB"
PHONES = {A: "111000111", B: "222000222"}
MAPPING = {
    "name": "paid",
    "events": ["invoice.paid"],
    "template": "invoice_paid",
    "language": "en_US",
    "body": ["{{ object.customer_name | default('there', true) }}", "{{ object.amount_paid | money(object.currency) }}"],
}


def setup(config_file: Path) -> None:
    from bridge.config import load_config
    from bridge.runtime import Role, build_runtime
    from bridge.services.merchants import add_merchant

    rt = build_runtime(load_config(config_file), role=Role.CLI)
    try:
        for account, phone in PHONES.items():
            add_merchant(rt, account, phone_number_id=phone, access_token=f"bench-token-{account}", mappings=[MAPPING], source="bench")
    finally:
        rt.close()


def accept(config_file: Path, counts: list[tuple[str | None, int]]) -> None:
    """Signed invoice.paid events through the web app, `count` for each account in turn (None: the file's merchant)."""
    from bridge.config import load_config
    from bridge.stripe_events import samples
    from bridge.stripe_events.signature import sign_payload
    from bridge.web.app import create_app

    app = create_app(load_config(config_file))
    client = app.test_client()
    for account, count in counts:
        for i in range(count):
            event = samples.fresh_event("invoice.paid", phone=f"+1415555{i % 10000:04d}")
            if account:
                event["account"] = account
            payload = common.json.dumps(event).encode()
            headers = {"Stripe-Signature": sign_payload(payload, common.SECRET), "Content-Type": "application/json"}
            answer = client.post("/stripe/webhook", data=payload, headers=headers)
            if answer.status_code != 200 or answer.json["status"] != "queued":
                raise SystemExit(f"the web app answered {answer.status_code} {answer.json}")
    app.extensions["bridge"].close()


def work(config_file: Path, key: str) -> dict[str | None, list[float]]:
    """Run the worker line until the queues are empty; each merchant's sent_at times, sorted."""
    from bridge.config import load_config
    from bridge.runtime import Role, build_runtime
    from bridge.services.merchants import get_merchant, merchant_runtime

    environment = common.env(BRIDGE_CONFIG=str(config_file), BRIDGE_ENCRYPTION_KEY=key)
    process = common.start("fairness-worker", f"{common.procfile()['worker']} --burst", environment)
    process.popen.wait(timeout=600)
    rt = build_runtime(load_config(config_file), role=Role.CLI)
    try:
        runtimes = {None: rt, **{a: merchant_runtime(rt, get_merchant(rt, a)) for a in PHONES}}
        sent: dict[str | None, list[float]] = {}
        for account, runtime in runtimes.items():
            records = runtime.store.query(limit=100_000).items
            if any(r["status"] != "sent" for r in records):
                raise SystemExit(f"{account}: not every delivery was sent: see {process.log}")
            sent[account] = sorted(float(r["sent_at"]) for r in records)
        return sent
    finally:
        rt.close()


def run(port: int, key: str, counts: list[tuple[str | None, int]]) -> dict[str | None, list[float]]:
    common.flush()
    config_file = common.bench_config("fairness", port, messages_per_second=1000, pair_interval_seconds=0)
    config_file.write_text(config_file.read_text() + f'\n[merchants]\nencryption_key = "{key}"\n')
    setup(config_file)
    accept(config_file, counts)
    return work(config_file, key)


def main() -> None:
    from bridge.merchants.sealing import new_key

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=300, help="B's events (default 300)")
    parser.add_argument("--backlog", type=int, default=1200, help="A's events, accepted before B's (default 1200)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few events, not recorded")
    args = parser.parse_args()
    n, backlog = (20, 60) if args.quick else (args.n, args.backlog)
    key = new_key()
    table = common.Table(
        "Fairness: merchant B's messages behind merchant A's backlog, one worker",
        ["run", "B alone: drain s", "B behind A: drain s", "ratio (fair ≈ 2)", "first-come order would be"],
    )
    rates = common.Table(
        "Worker over merchants' queues: deliveries per second",
        ["run", "one merchant's queue (RQ's LMOVE)", "two merchants' queues (in turn)", "ratio"],
    )
    with common.fast_graph() as port:
        alone = run(port, key, [(B, n)])[B]
        shared = run(port, key, [(A, backlog), (B, n)])
        single = run(port, key, [(None, n + backlog)])[None]
    started = min(t for times in shared.values() for t in times)
    b_alone = alone[-1] - alone[0]
    b_shared = shared[B][-1] - started
    table.add("burst worker ×1", b_alone, b_shared, b_shared / b_alone, f"≈ {(backlog + n) / n:.1f}")
    both = sorted(shared[A] + shared[B])
    single_rate = (len(single) - 1) / (single[-1] - single[0])
    shared_rate = (len(both) - 1) / (both[-1] - both[0])
    rates.add("burst worker ×1", single_rate, shared_rate, shared_rate / single_rate)
    note = f"{n} invoice.paid events for B; {backlog} for A accepted before them; the fast fake Graph API; rate limits off"
    table.notes.append(note)
    table.notes.append("drain: from the worker's first send (any merchant) to B's last send")
    rates.notes.append(f"{n + backlog} deliveries: all the file's merchant's, then {backlog} of A's and {n} of B's")
    table.emit(record=not args.quick)
    rates.emit(record=not args.quick)


if __name__ == "__main__":
    main()
