"""The `bridge` command as a user runs it: check-config, simulate against a running app, --help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bridge.cli import main
from bridge.delivery.records import Status
from bridge.stripe_events import samples
from tests.conftest import EXAMPLE_CONFIG, ROOT, SECRET, Bridge

BRIDGE = [sys.executable, "-m", "bridge.cli"]


def run_bridge(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "WHATSAPP_", "BRIDGE_"))}
    full_env.update(env or {})
    return subprocess.run(
        [*BRIDGE, *args], capture_output=True, text=True, env=full_env, cwd=cwd or ROOT, timeout=60, stdin=subprocess.DEVNULL
    )


def test_help_lists_every_command():
    result = run_bridge("--help")
    assert result.returncode == 0
    for command in ("dev", "worker", "simulate", "check-config", "outbox", "deliveries", "replay", "resume", "optout", "templates"):
        assert command in result.stdout


def test_readme_lists_every_command_and_only_those():
    commands_block = (ROOT / "README.md").read_text().split("## Commands", 1)[1].split("```")[1]
    documented = [line.split()[1] for line in commands_block.strip().splitlines()]
    assert sorted(documented) == sorted(main.commands)


def test_simulate_help_lists_the_sample_types():
    result = run_bridge("simulate", "--help")
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split("EVENT_TYPE is one of the sample types:")[1].split("Options:")[0].split()
    assert listed == samples.event_types()


def test_check_config_passes_on_the_example_with_a_secret():
    result = run_bridge("check-config", "--config", str(EXAMPLE_CONFIG), env={"STRIPE_WEBHOOK_SECRET": SECRET})
    assert result.returncode == 0, result.stderr
    assert "9 mappings OK" in result.stdout
    assert 'ok: payment_received × payment_intent.succeeded: payment_receipt [en_US] ("Jenny Rosen", "$19.99", "6735")' in result.stdout
    assert "dry run" in result.stderr


ARABIC = """
[stripe]
webhook_secrets = ["whsec_x"]

[[mappings]]
name = "receipt_ar"
events = ["payment_intent.succeeded"]
template = "payment_receipt"
language = "ar"
body = ["{{ object.amount | money('kwd') }}"]
"""


def test_check_config_prints_parameters_as_the_customer_reads_them(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(ARABIC)
    result = run_bridge("check-config", "--config", str(path))
    assert result.returncode == 0, result.stderr
    # babel's direction marks around the amount are removed ([formatting] bidi_marks = false).
    assert 'ok: receipt_ar × payment_intent.succeeded: payment_receipt [ar] ("1.999\xa0د.ك.")' in result.stdout
    assert "\\u200f" not in result.stdout and "\\xa0" not in result.stdout


def test_check_config_without_a_secret_fails():
    result = run_bridge("check-config", "--config", str(EXAMPLE_CONFIG))
    assert result.returncode == 1
    assert f"{EXAMPLE_CONFIG}: stripe.webhook_secrets: no webhook secret" in result.stderr


BROKEN = """
[stripe]
webhook_secrets = ["whsec_x"]

[[mappings]]
name = "typo_field"
events = ["payment_intent.succeeded"]
template = "payment_receipt"
language = "en_US"
body = ["{{ object.shipping.nmae }}", "{{ object.amount_received | money(object.currency) }}"]

[[mappings]]
name = "bad_jinja"
events = ["invoice.paid"]
template = "invoice_paid"
language = "en_US"
body = ["{{ object.number }"]

[[mappings]]
name = "bad_type"
events = ["invoice.payed"]
template = "invoice_paid"
language = "en_US"
body = ["{{ object.number }}"]

[[mappings]]
name = "bad_when"
events = ["charge.refunded"]
template = "refund_issued"
language = "en_US"
when = "object.refunded =="
body = ["{{ object.id }}"]
"""


def test_check_config_reports_every_mapping_mistake_as_file_key_problem(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(BROKEN)
    result = run_bridge("check-config", "--config", str(path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith(f"{path}: mappings[bad_jinja].body[0]: template syntax error") for line in lines), lines
    assert f"{path}: mappings[bad_type].events[0]: unknown Stripe event type 'invoice.payed'" in lines
    assert any(line.startswith(f"{path}: mappings[bad_when].when: expression syntax error") for line in lines), lines


def test_check_config_reports_undefined_fields_against_the_samples(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(BROKEN.split('[[mappings]]\nname = "bad_jinja"')[0])
    result = run_bridge("check-config", "--config", str(path))
    assert result.returncode == 1
    problems = [line for line in result.stderr.strip().splitlines() if not line.startswith("warning: ")]
    assert problems == [
        f"{path}: mappings[typo_field].body[0]: undefined field: the object has no attribute 'nmae' "
        "(rendering the sample payment_intent.succeeded event)"
    ]


SEVERAL_MISTAKES = """
[stripe]
webhook_secrets = ["whsec_x"]

[whatsap]
timezone = "UTC"

[delivery]
max_attempts = "8"

[[mappings]]
name = "typo_field"
events = ["payment_intent.succeeded"]
template = "payment_receipt"
language = "en_US"
body = ["{{ object.shipping.nmae }}"]

[[mappings]]
name = "bad_template_name"
events = ["invoice.paid"]
template = "Invoice Paid"
language = "en_US"
body = ["{{ object.number }}"]

[[mappings]]
name = "bad_jinja"
events = ["invoice.paid"]
template = "invoice_paid"
language = "en_US"
body = ["{{ object.number }"]

[[mappings]]
name = "fine"
events = ["invoice.paid"]
template = "invoice_paid"
language = "en_US"
body = ["{{ object.number }}"]
"""


def test_check_config_shows_every_finding_of_a_file_in_one_run(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(SEVERAL_MISTAKES)
    result = run_bridge("check-config", "--config", str(path))
    assert result.returncode == 1
    problems = [line for line in result.stderr.strip().splitlines() if not line.startswith("warning: ")]
    expected = [
        f"{path}: whatsap: unknown key (check the spelling against config.example.toml)",
        f'{path}: delivery.max_attempts: must be a whole number, not the text "8"',
        f"{path}: mappings[bad_template_name].template: WhatsApp template names are lowercase letters",
        f"{path}: mappings[bad_jinja].body[0]: template syntax error",
        f"{path}: mappings[typo_field].body[0]: undefined field: the object has no attribute 'nmae'",
    ]
    assert len(problems) == len(expected), problems
    for line, start in zip(problems, expected, strict=True):
        assert line.startswith(start), (line, start)
    assert "ok: fine × invoice.paid: invoice_paid [en_US]" in result.stdout


def test_simulate_posts_a_signed_event_to_a_running_app(served, dry_bridge: Bridge):
    url = served(dry_bridge.app)
    result = run_bridge(
        "simulate", "payment_intent.succeeded", "--url", url, "--phone", "+5511987654321", env={"STRIPE_WEBHOOK_SECRET": SECRET}
    )
    assert result.returncode == 0, result.stderr
    assert '{"status":"queued"}' in result.stdout
    dry_bridge.work()
    (entry,) = dry_bridge.store.outbox()
    assert entry["request"]["to"] == "+5511987654321"
    assert entry["request"]["template"]["name"] == "payment_receipt"
    assert dry_bridge.deliveries()[0]["status"] == Status.DRY_RUN


def test_simulate_with_the_wrong_secret_is_rejected(served, dry_bridge: Bridge):
    url = served(dry_bridge.app)
    result = run_bridge("simulate", "invoice.paid", "--url", url, "--secret", "whsec_wrong")
    assert result.returncode == 1
    assert "400" in result.stdout
    assert dry_bridge.queued_jobs() == 0
