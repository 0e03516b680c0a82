"""`bridge check-config` renders each mapping as production would: with the Customer only when the
worker would fetch it, and with parameters printed as the customer will read them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.mappings.check import CheckReport, check, readable_parameters
from bridge.whatsapp.payload import ButtonParameter, CurrencyParameter, MediaParameter, TemplateMessage, TextParameter
from tests.conftest import EXAMPLE_CONFIG, SECRET

GREETING = """
[stripe]
webhook_secrets = ["whsec_x"]

[[mappings]]
name = "greeting"
events = ["payment_intent.succeeded", "refund.created"]
template = "payment_receipt"
language = "en_US"
body = ["{{ customer.name if customer else 'there' }}"]
"""

REFUND_WITHOUT_CUSTOMER = (
    "mappings[greeting]: reads `customer`, but the sample refund.created event names no Customer: "
    'production renders without the Customer (rendered: "there")'
)


def check_text(tmp_path: Path, text: str, redis_url: str, **env: str) -> CheckReport:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return check(str(path), env={"REDIS_URL": redis_url, **env})


def test_without_stripe_api_key_the_customer_is_not_rendered_and_a_warning_says_so(tmp_path, redis_url):
    report = check_text(tmp_path, GREETING, redis_url)
    assert report.ok, report.problems
    assert report.rendered == [
        'greeting × payment_intent.succeeded: payment_receipt [en_US] ("there")',
        'greeting × refund.created: payment_receipt [en_US] ("there")',
    ]
    assert (
        'mappings[greeting]: reads `customer`, but STRIPE_API_KEY is not set: production renders without the Customer (rendered: "there")'
    ) in report.warnings
    assert REFUND_WITHOUT_CUSTOMER in report.warnings


def test_with_stripe_api_key_the_sample_customer_is_rendered_where_the_event_names_one(tmp_path, redis_url):
    report = check_text(tmp_path, GREETING, redis_url, STRIPE_API_KEY="rk_test_123")
    assert report.rendered == [
        'greeting × payment_intent.succeeded: payment_receipt [en_US] ("Jenny Rosen")',
        'greeting × refund.created: payment_receipt [en_US] ("there")',  # a Refund has no customer field
    ]
    assert [w for w in report.warnings if "reads `customer`" in w] == [REFUND_WITHOUT_CUSTOMER]


def test_a_mapping_that_needs_the_customer_fails_without_stripe_api_key(tmp_path, redis_url):
    text = GREETING.replace("customer.name if customer else 'there'", "customer.name").replace(', "refund.created"', "")
    report = check_text(tmp_path, text, redis_url)
    assert [str(p) for p in report.problems] == [
        f"{tmp_path / 'config.toml'}: mappings[greeting].body[0]: undefined field: None (null) has no attribute 'name' "
        "(rendering the sample payment_intent.succeeded event without the Customer: STRIPE_API_KEY is not set)"
    ]
    assert check_text(tmp_path, text, redis_url, STRIPE_API_KEY="rk_test_123").ok


def test_the_example_config_passes_without_stripe_api_key(redis_url):
    report = check(str(EXAMPLE_CONFIG), env={"REDIS_URL": redis_url, "STRIPE_WEBHOOK_SECRET": SECRET})
    assert report.ok, report.problems
    assert 'refund_created × refund.created: refund_issued [en_US] ("there", "$19.99", "pi_3QxT8bX2kLq9NfA01hK7yZ2m")' in report.rendered


@pytest.mark.parametrize(
    ("parameters", "printed"),
    [
        ([TextParameter(text="Jenny Rosen"), TextParameter(text="$19.99")], '"Jenny Rosen", "$19.99"'),
        ([TextParameter(text="Jenny", name="first_name")], 'first_name="Jenny"'),
        ([TextParameter(text="\u200f1.999\xa0د.ك.")], '"\u200f1.999\xa0د.ك."'),
        ([TextParameter(text='say "hi"')], '"say \\"hi\\""'),
        ([CurrencyParameter("KWD 1.500", "KWD", 1500, name="total")], 'total="KWD 1.500"'),
    ],
)
def test_parameters_are_printed_as_readable_text(parameters, printed):
    assert readable_parameters(TemplateMessage("t", "en_US", body=tuple(parameters))) == printed


def test_a_header_and_buttons_are_printed_with_the_body():
    message = TemplateMessage(
        "t",
        "en_US",
        header=MediaParameter("document", "https://files.example/i.pdf", "Invoice 12.pdf"),
        body=(TextParameter("Jenny"),),
        buttons=(ButtonParameter("url", 0, "i/abc"),),
    )
    assert readable_parameters(message) == 'header="[document: Invoice 12.pdf]", "Jenny", button[0]="i/abc"'
