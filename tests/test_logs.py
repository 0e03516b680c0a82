"""Logs: the two formats, the fields each webhook and delivery step carries, and no personal data.

The last test runs the whole pipeline as a host runs it (the Procfile's gunicorn `web` and
`bridge worker`, signed Stripe and Meta posts over HTTP, the fake Graph API), in each format, and
reads every line both processes wrote: no secret, token, full phone number or customer name.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.dev.dev_redis import free_port
from bridge.observability.logs import JsonFormatter, RedactionFilter, TextFormatter, log_fields
from bridge.observability.redact import REDACTED, Redactor, secret_values
from bridge.stripe_events import samples
from tests.conftest import (
    APP_SECRET,
    EXAMPLE_CONFIG,
    ROOT,
    SECRET,
    Bridge,
    make_config,
    meta_signed,
    signed,
    start_process,
    stop_process,
    wait_until,
)
from tests.fake_graph import FakeGraphAPI, Reply
from tests.meta_posts import message_post, meta_error, status, statuses_post
from tests.test_procfile import procfile, procfile_env

PHONE = "+14155550123"
MASKED = "+1******0123"
NAME = "Jenny Rosen"
"""The sample events' customer (`shipping.name`, the Customer's `name`)."""


def record(message: str = "delivery sent", *args: object, **values: object) -> logging.LogRecord:
    rec = logging.LogRecord("bridge.delivery.outcomes", logging.INFO, __file__, 1, message, args or None, None)
    if values:
        rec.fields = values  # type: ignore[attr-defined]
    return rec


def test_text_lines_show_the_message_then_each_field_as_key_value():
    line = TextFormatter().format(record(delivery_id="evt_1:payment_received", phone=MASKED, reason="no phone number", wamid=None, code=""))
    expected = f'delivery sent delivery_id=evt_1:payment_received phone={MASKED} reason="no phone number"'
    assert line.endswith(f"INFO bridge.delivery.outcomes: {expected}")


def test_json_lines_are_one_object_with_utc_time_level_logger_message_and_the_fields():
    rec = record(delivery_id="evt_1:payment_received", error_code=131026, wamid=None)
    rec.created, rec.msecs = 1_796_000_000.25, 250.0
    document = json.loads(JsonFormatter().format(rec))
    assert document == {
        "time": "2026-11-30T00:53:20.250Z",
        "level": "INFO",
        "logger": "bridge.delivery.outcomes",
        "message": "delivery sent",
        "delivery_id": "evt_1:payment_received",
        "error_code": 131026,
    }


def test_a_json_line_carries_the_traceback_in_one_field():
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.LogRecord("bridge", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    document = json.loads(JsonFormatter().format(rec))
    assert document["message"] == "failed" and document["exception"].endswith("ValueError: boom")


def test_log_fields_is_the_extra_a_log_call_takes(caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("bridge.test").info("stripe event queued", extra=log_fields(event_id="evt_1", outcome="queued"))
    assert caplog.records[-1].fields == {"event_id": "evt_1", "outcome": "queued"}


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        (f"to {PHONE}", f"to {MASKED}"),
        ("wa_id 14155550123 replied", f"wa_id {MASKED} replied"),
        ("from=5511987654321,", "from=+55*******4321,"),
        ("token EAAGsecret_token_0123 expired", f"token {REDACTED} expired"),
        ("whsec_test_rolled_fedcba9876543210", REDACTED),
        ("event evt_1NG8Du2eZvKYlo2C12345678", "event evt_1NG8Du2eZvKYlo2C12345678"),  # digits inside an id
        ("user US.13491208655302741918", "user US.13491208655302741918"),  # a user id: 20 digits, not a phone
        ("phone number id 106540352242922", "phone number id 106540352242922"),  # configured, public
        ("retry in 1.5 s after 3 attempts", "retry in 1.5 s after 3 attempts"),
    ],
)
def test_redaction_masks_phone_shaped_numbers_and_replaces_known_secrets(text, scrubbed):
    redactor = Redactor()
    redactor.add_secrets(["EAAGsecret_token_0123", "whsec_test_rolled_fedcba9876543210", "", None, "abc"])
    redactor.keep_numbers(["106540352242922"])
    assert redactor.scrub(text) == scrubbed


def test_the_redaction_filter_scrubs_arguments_fields_and_tracebacks_but_not_masked_phones():
    redactor = Redactor()
    redactor.add_secrets(["EAAGsecret_token_0123"])
    rec = record("refused for %s with %s", PHONE, "EAAGsecret_token_0123", phone=MASKED, reason=f"Meta refused {PHONE}", code=131026)
    try:
        raise RuntimeError(f"token EAAGsecret_token_0123 for {PHONE}")
    except RuntimeError:
        rec.exc_info = sys.exc_info()
    assert RedactionFilter(redactor).filter(rec)
    line = TextFormatter().format(rec)
    assert "EAAGsecret_token_0123" not in line and "4155550123" not in line
    assert rec.getMessage() == f"refused for {MASKED} with {REDACTED}"
    assert rec.fields == {"phone": MASKED, "reason": f"Meta refused {MASKED}", "code": 131026}
    assert line.rstrip().endswith(f"RuntimeError: token {REDACTED} for {MASKED}")


def test_every_secret_of_the_config_is_known_to_the_redactor():
    config = make_config(
        "redis://:redis-password-0123@127.0.0.1:6392/9",
        stripe={"webhook_secrets": [SECRET, "whsec_second_0123456789"], "api_key": "rk_test_0123456789"},
        whatsapp={"access_token": "EAAG0123456789"},
        consent={"forward_url": "https://helpdesk.example/hook", "forward_secret": "forward-secret-0123"},
        admin={"token": "admin-token-0123456789"},
    )
    values = secret_values(config)
    expected = {SECRET, "whsec_second_0123456789", "rk_test_0123456789", "EAAG0123456789", APP_SECRET, "verify-me-0123456789"}
    assert expected | {"forward-secret-0123", "redis-password-0123", "admin-token-0123456789"} <= set(values)


@pytest.mark.parametrize(("log_format", "parse"), [("text", None), ("json", json.loads)])
def test_configure_logging_writes_the_chosen_format_to_stderr(log_format, parse):
    script = (
        "import logging; from bridge.observability.logs import configure_logging, log_fields; configure_logging(); "
        "logging.getLogger('bridge.x').info('stripe event queued', extra=log_fields(event_id='evt_1', to='+14155550123'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env={"LOG_FORMAT": log_format, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=30
    )
    (line,) = done.stderr.splitlines()
    if parse is None:
        assert line.endswith(f"INFO bridge.x: stripe event queued event_id=evt_1 to={MASKED}")
    else:
        assert {k: v for k, v in parse(line).items() if k != "time"} == {
            "level": "INFO",
            "logger": "bridge.x",
            "message": "stripe event queued",
            "event_id": "evt_1",
            "to": MASKED,
        }


def test_an_unknown_log_format_falls_back_to_text_and_says_so():
    script = "from bridge.observability.logs import configure_logging; configure_logging()"
    done = subprocess.run(
        [sys.executable, "-c", script], env={"LOG_FORMAT": "xml", "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=30
    )
    assert "LOG_FORMAT='xml' is neither 'text' nor 'json': text is used" in done.stderr


def fields_of(caplog, message: str) -> list[dict]:
    return [r.fields for r in caplog.records if r.getMessage() == message]


def test_each_webhook_and_each_delivery_step_logs_one_line_with_its_ids(bridge: Bridge, fake_graph: FakeGraphAPI, caplog):
    caplog.set_level(logging.INFO)
    event = samples.fresh_event("payment_intent.succeeded")
    delivery = f"{event['id']}:payment_received"
    assert bridge.post(event).status_code == 200
    assert bridge.post(event).status_code == 200
    (queued,) = fields_of(caplog, "stripe event queued")
    assert queued == {"event_id": event["id"], "event_type": "payment_intent.succeeded", "outcome": "queued", "deliveries": 1}
    assert fields_of(caplog, "stripe event duplicate")[0]["outcome"] == "duplicate"

    fake_graph.script(Reply.error(131000))  # Meta's generic transient error: retried
    bridge.work_all()
    (retrying,) = fields_of(caplog, "delivery retrying")
    assert (retrying["delivery_id"], retrying["error_code"], retrying["status"]) == (delivery, 131000, "retrying")
    (sent,) = fields_of(caplog, "delivery sent")
    wamid = bridge.deliveries()[0]["wamid"]
    assert sent == {
        "delivery_id": delivery,
        "event_id": event["id"],
        "mapping": "payment_received",
        "status": "sent",
        "phone": MASKED,
        "wamid": wamid,
        "reason_code": None,
        "reason": None,
        "error_code": None,
        "error": None,
    }

    assert bridge.post_meta(statuses_post(status(wamid, "failed", callback=delivery, errors=[meta_error(131026)]))).status_code == 200
    bridge.work_all()
    (post_queued,) = fields_of(caplog, "meta post queued")
    (processed,) = fields_of(caplog, "meta post processed")
    assert processed["post"] == post_queued["post"] and processed["outcome"] == "1 status failed"
    (meta_status,) = fields_of(caplog, "meta status")
    assert [meta_status[k] for k in ("wamid", "status", "error_code", "phone")] == [wamid, "failed", 131026, MASKED]
    assert all(PHONE not in r.getMessage() and NAME not in r.getMessage() for r in caplog.records)


def test_a_rejected_webhook_logs_why_without_the_signature(bridge: Bridge, caplog):
    caplog.set_level(logging.INFO)
    assert bridge.post(samples.fresh_event("invoice.paid"), secret="whsec_wrong_0123456789").status_code == 400
    (rejected,) = fields_of(caplog, "stripe event rejected")
    assert rejected["outcome"] == "rejected" and rejected["reason"].startswith("signature: ")


# The whole pipeline as a host runs it, every line of both processes read back.

ACCESS_TOKEN = "EAAGlogs_access_token_0123456789"
ADMIN_TOKEN = "admin-token-logs-0123456789"
VERIFY_TOKEN = "verify-token-logs-0123"


@pytest.fixture
def long_token_graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(token=ACCESS_TOKEN) as fake:
        yield fake


def replying_config(tmp_path: Path) -> Path:
    """The example config with a STOP confirmation, so the reply job sends too."""
    text = EXAMPLE_CONFIG.read_text()
    assert "# stop_reply = { en" in text
    path = tmp_path / "config.toml"
    path.write_text(text.replace("# stop_reply = { en", "stop_reply = { en"))
    return path


def forbidden(fake: FakeGraphAPI) -> list[str]:
    """What no log line may hold: every secret and token, the customer's number in each form, their name."""
    return [SECRET, APP_SECRET, VERIFY_TOKEN, ADMIN_TOKEN, fake.token, PHONE, PHONE[1:], PHONE[2:], NAME]


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["json", "text"])
def test_no_log_line_of_the_whole_pipeline_holds_a_secret_a_phone_number_or_a_name(
    redis, redis_url, long_token_graph: FakeGraphAPI, tmp_path: Path, log_format: str
):
    fake = long_token_graph
    port = free_port()
    env = procfile_env(
        redis_url,
        fake,
        port,
        BRIDGE_CONFIG=str(replying_config(tmp_path)),
        WHATSAPP_APP_SECRET=APP_SECRET,
        WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
        ADMIN_TOKEN=ADMIN_TOKEN,
        LOG_FORMAT=log_format,
    )
    commands = procfile()
    web = start_process(["bash", "-c", f"exec {commands['web']}"], env, tmp_path / "web.log")
    worker = start_process(["bash", "-c", f"exec {commands['worker']}"], env, tmp_path / "worker.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), timeout=30, message="gunicorn to answer /healthz")
        _run_pipeline(url, redis, fake)
    finally:
        assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]
        assert stop_process(web) == 0, (tmp_path / "web.log").read_text()[-3000:]

    lines = [line for log in ("web.log", "worker.log") for line in (tmp_path / log).read_text().splitlines() if line.strip()]
    for line in lines:
        leaked = [value for value in forbidden(fake) if value in line]
        assert not leaked, f"{leaked} in: {line}"
    text = "\n".join(lines)
    assert MASKED in text
    if log_format == "json":
        documents = [json.loads(line) for line in lines]  # gunicorn's own lines too: every line is one object
        messages = {d["message"] for d in documents}
        assert {"stripe event queued", "delivery sent", "meta post queued", "meta status"} <= messages
        assert any(d["logger"].startswith("gunicorn") for d in documents)
        sent = next(d for d in documents if d["message"] == "delivery sent")
        assert {"event_id", "delivery_id", "mapping", "wamid", "phone"} <= sent.keys() and sent["phone"] == MASKED
        failed = next(d for d in documents if d["message"] == "meta status" and d["status"] == "failed")
        assert failed["error_code"] == 131026
        assert any(d.get("outcome") == "stop" and d.get("phone") == MASKED for d in documents)
        assert any(d["message"] == "confirmation sent" and d["phone"] == MASKED for d in documents)
    else:
        assert "stripe event queued event_id=evt_" in text and "delivery sent delivery_id=evt_" in text


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _run_pipeline(url: str, redis, fake: FakeGraphAPI) -> None:
    """A payment notice sent and reported on by Meta (sent, then failed for a second one), the
    customer's STOP and its confirmation, and a later notice skipped."""

    def post(path: str, body: bytes, headers: dict[str, str]) -> None:
        response = httpx.post(f"{url}{path}", content=body, headers=headers, timeout=5)
        assert response.status_code == 200, response.text

    def status_of(delivery: str) -> str | None:
        value = redis.hget(f"bridge:delivery:{delivery}", "status")
        return value.decode() if value else None

    handshake = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "31337"}
    assert httpx.get(f"{url}/whatsapp/webhook", params=handshake, timeout=5).text == "31337"
    first, second = samples.fresh_event("payment_intent.succeeded"), samples.fresh_event("invoice.paid")
    for event in (first, second):
        post("/stripe/webhook", *signed(event))
    deliveries = [f"{first['id']}:payment_received", f"{second['id']}:invoice_paid"]
    for delivery in deliveries:
        wait_until(lambda d=delivery: status_of(d) == "sent", timeout=20, message=f"{delivery} to be sent")
    wamids = [redis.hget(f"bridge:delivery:{d}", "wamid").decode() for d in deliveries]
    post("/whatsapp/webhook", *meta_signed(statuses_post(status(wamids[0], "delivered", callback=deliveries[0]))))
    failed = status(wamids[1], "failed", callback=deliveries[1], errors=[meta_error(131026)])
    post("/whatsapp/webhook", *meta_signed(statuses_post(failed)))
    reported = ("delivered", "failed")
    wait_until(lambda: tuple(status_of(d) for d in deliveries) == reported, timeout=20, message="Meta's statuses")
    fake.customer_wrote(PHONE)  # Meta opens the 24-hour window in which the confirmation may be sent
    post("/whatsapp/webhook", *meta_signed(message_post("STOP", sender=PHONE[1:])))
    wait_until(lambda: len(fake.accepted) == 3, timeout=20, message="the STOP's confirmation to be sent")
    later = samples.fresh_event("invoice.paid")
    post("/stripe/webhook", *signed(later))
    wait_until(lambda: status_of(f"{later['id']}:invoice_paid") == "skipped", timeout=20, message="the later notice to be skipped")
