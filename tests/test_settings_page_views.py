"""The settings page's views through Flask's test client against real Redis: what each page shows
from the service layer, its filters and paging, and forms answered with POST/redirect/GET."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from redis import Redis

from bridge.delivery.optouts import Scope
from bridge.delivery.records import Status
from bridge.mappings.formatting import format_money
from bridge.services.activity import hourly_sent, status_counts
from bridge.settings_page import deliveries as deliveries_page
from bridge.stripe_events import samples
from tests.conftest import Bridge, example_raw
from tests.settings_page_support import admin_bridge, csrf_of, post_form, sign_in

CUSTOMER = "+14155550123"


@pytest.fixture
def site(redis: Redis, redis_url: str) -> Iterator[Bridge]:
    bridge = admin_bridge(redis_url)  # dry run: the worker records what it would send
    try:
        sign_in(bridge.client)
        yield bridge
    finally:
        bridge.close()


def text(bridge: Bridge, path: str, status: int = 200) -> str:
    response = bridge.client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def pay(bridge: Bridge, event_type: str = "payment_intent.succeeded") -> dict:
    event = samples.fresh_event(event_type, phone=CUSTOMER)
    assert bridge.post(event).status_code == 200
    return event


def test_the_overview_counts_the_last_day_by_status_and_per_hour(site: Bridge):
    pay(site), pay(site)
    site.work_all()  # the second waits out the pair-rate limit for the same customer
    pay(site)
    rt = site.app.extensions["bridge"]
    now = rt.clock()
    assert status_counts(rt, since=now - 86400) == {Status.DRY_RUN: 2, Status.QUEUED: 1}
    assert status_counts(rt, since=now + 60) == {}
    hourly = hourly_sent(rt, now=now)
    assert hourly.counts == [0] * 24, "in dry run nothing is sent (test_settings_page_overview counts sends)"
    page = text(site, "/admin")
    assert "dry run" in page and 'href="/admin/deliveries?status=dry_run&amp;since=24h"' in page
    assert page.count('class="bar"') == 24


def test_a_pause_is_shown_with_meta_s_reason_and_resume_lifts_it(site: Bridge):
    rt = site.app.extensions["bridge"]
    rt.store.pause(
        rt.phone_number_id,
        {"code": 131031, "reason": "(#131031) Business Account locked", "meaning": "The account is locked", "since": 1.0},
    )
    page = text(site, "/admin")
    assert "Sending is paused" in page and "131031" in page and "The account is locked" in page
    response = post_form(site.client, "/admin", "/admin/resume")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/"
    page = text(site, "/admin")
    assert "Sending resumed: 0 held messages queued again." in page
    assert "Sending is paused" not in page


def test_the_log_filters_by_status_and_event_type_and_pages_with_a_cursor(site: Bridge, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(deliveries_page, "PAGE_SIZE", 2)
    paid = [pay(site) for _ in range(3)]
    failed = pay(site, "payment_intent.payment_failed")
    first = text(site, "/admin/deliveries?event_type=payment_intent.succeeded")
    assert failed["id"] not in first
    assert first.count("data-delivery=") == 2
    older = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "event_type=payment_intent.succeeded" in older, "the next page keeps the filter"
    second = text(site, older)
    assert second.count("data-delivery=") == 1 and 'rel="next"' not in second
    shown = {e["id"] for e in paid if e["id"] in first + second}
    assert shown == {e["id"] for e in paid}
    assert text(site, "/admin/deliveries?status=dry_run").count("data-delivery=") == 0
    assert text(site, "/admin/deliveries?status=queued&since=1h").count("data-delivery=") == 2


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("status=lost", "Status: choose one from the list."),
        ("since=yesterday-ish", "Since: write a duration back from now"),
        ("cursor=not-a-cursor", "cursor:"),
    ],
)
def test_a_filter_the_log_cannot_use_is_explained(site: Bridge, query: str, said: str):
    assert said in text(site, f"/admin/deliveries?{query}", status=422)


def test_an_unknown_delivery_is_a_404_page(site: Bridge):
    assert "No such delivery" in text(site, "/admin/deliveries/evt_nothing:payment_received", status=404)


def test_the_service_s_refusals_are_said_in_the_page_s_language(site: Bridge):
    page = text(site, "/admin/deliveries/evt_nothing:payment_received?lang=ar", status=404)
    assert "لا توجد رسالة بهذا المعرّف" in page and "No such delivery" not in page
    post_form(site.client, "/admin/optouts", "/admin/optouts/add", phone="not a number", scope="all")
    assert "هذا ليس رقم هاتف يمكن لواتساب الوصول إليه" in text(site, "/admin/optouts")


def test_a_refusal_the_page_cannot_word_is_shown_in_english_marked_as_english(site: Bridge):
    page = text(site, "/admin/deliveries?cursor=not-a-cursor&lang=ar", status=422)
    assert re.search(r'<p class="flash error" role="alert" lang="en" dir="ltr">cursor: ', page), page
    assert '<p class="flash error" role="alert">cursor: ' in text(site, "/admin/deliveries?cursor=not-a-cursor&lang=en", status=422)


def test_a_refused_form_comes_back_to_its_page_with_the_reason(site: Bridge):
    response = site.client.post(
        "/admin/optouts/add",
        data={"csrf_token": _csrf(site, "/admin/optouts"), "phone": "not a number", "scope": "all"},
        headers={"Referer": "http://localhost/admin/optouts"},
    )
    assert response.status_code == 303 and response.headers["Location"] == "http://localhost/admin/optouts"
    assert "not a phone number WhatsApp can reach" in text(site, "/admin/optouts")


def test_a_refused_replay_says_why(site: Bridge):
    event = pay(site)
    site.work()
    (record,) = site.store.query(event_id=event["id"]).items
    page = f"/admin/deliveries/{record['id']}"
    assert ">Replay</button>" in text(site, page), "dry run deliveries can be replayed"
    assert post_form(site.client, page, f"{page}/replay").status_code == 303
    assert "Queued again" in text(site, page)
    assert post_form(site.client, page, f"{page}/replay").status_code == 303
    assert "only failed or skipped messages are replayed, and this one is queued." in text(site, page)


def test_the_mappings_page_shows_each_mapping_s_findings_next_to_it(redis: Redis, redis_url: str):
    tables = [m for m in example_raw()["mappings"] if "recipients" not in m]
    broken = next(m for m in tables if m["name"] == "payment_failed")
    broken["body"] = ["{{ object.nothing_here }}"]
    bridge = admin_bridge(redis_url, mappings=tables)
    try:
        sign_in(bridge.client)
        page = text(bridge, "/admin/mappings")
        failed = next(a for a in page.split("<article")[1:] if ">payment_failed</h2>" in a)
        assert "mappings[payment_failed].body[0]: undefined field" in failed
        received = next(a for a in page.split("<article")[1:] if ">payment_received</h2>" in a)
        assert "No problems found." in received
        assert "template checks skipped" in page.split("<article")[0], "a finding about no mapping in particular is listed above them"
    finally:
        bridge.close()


def _csrf(bridge: Bridge, page: str) -> str:
    return csrf_of(bridge.client.get(page))


def test_each_delivery_shows_its_payment_s_amount_in_the_page_s_locale(site: Bridge):
    event = samples.fresh_event("payment_intent.succeeded", phone=CUSTOMER)
    event["data"]["object"].update(amount_received=123456, currency="kwd")
    assert site.post(event).status_code == 200
    (record,) = site.store.query(event_id=event["id"]).items
    english = text(site, "/admin/deliveries?lang=en")
    assert "KWD 123.456" in english
    arabic = text(site, "/admin/deliveries?lang=ar")
    assert format_money(123456, "kwd", "ar") in arabic and format_money(123456, "kwd", "ar") != "KWD 123.456"
    assert "KWD 123.456" in text(site, f"/admin/deliveries/{record['id']}?lang=en")


def test_why_a_message_was_skipped_is_said_in_the_page_s_language_with_the_detail_marked_english(site: Bridge):
    site.worker_runtime.optouts.add(CUSTOMER, Scope.ALL, at=1.0, source="test")
    event = pay(site)
    site.work()
    (record,) = site.store.query(event_id=event["id"]).items
    assert record["status"] == Status.SKIPPED and record["reason_code"] == "opted_out"
    english = text(site, f"/admin/deliveries/{record['id']}?lang=en")
    assert "The customer opted out of these messages." in english
    arabic = text(site, f"/admin/deliveries/{record['id']}?lang=ar")
    assert "ألغى العميل الاشتراك في هذه الرسائل." in arabic
    assert re.search(r'<p class="detail" lang="en" dir="ltr">[^<]+</p>', arabic), "the worker's own words, marked as English"
    assert "ألغى العميل الاشتراك في هذه الرسائل." in text(site, "/admin/deliveries?lang=ar")
