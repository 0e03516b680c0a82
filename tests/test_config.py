from __future__ import annotations

import dataclasses

import pytest

from bridge.config import Config, load_config, parse_config, syntax_problem, validate_config
from bridge.errors import ConfigError
from tests.conftest import EXAMPLE_CONFIG, example_raw


def problems(excinfo) -> list[str]:
    return [str(p) for p in excinfo.value.problems]


def test_example_config_loads_with_every_documented_default():
    config = load_config(EXAMPLE_CONFIG, env={})
    assert config.stripe.tolerance_seconds == 300
    assert config.whatsapp.api_base_url == "https://graph.facebook.com"
    assert config.whatsapp.dry_run
    assert config.whatsapp.business_account_id == ""
    assert {m.name for m in config.mappings} >= {"payment_received", "charge_refunded", "invoice_paid"}
    assert config.mapped_event_types() == {
        "checkout.session.completed",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.refunded",
        "refund.created",
        "invoice.paid",
        "invoice.payment_failed",
        "charge.dispute.created",
    }


def test_environment_overrides_the_file():
    env = {
        "REDIS_URL": "redis://cache.internal:6379/2",
        "STRIPE_WEBHOOK_SECRET": "whsec_a, whsec_b",
        "STRIPE_API_KEY": "rk_test_123",
        "STRIPE_API_BASE_URL": "http://127.0.0.1:12111",
        "WHATSAPP_ACCESS_TOKEN": "EAAG-token",
        "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "WHATSAPP_BUSINESS_ACCOUNT_ID": "102290129340398",
        "WHATSAPP_API_BASE_URL": "http://127.0.0.1:9999/",
        "WHATSAPP_API_VERSION": "v24.0",
    }
    config = load_config(EXAMPLE_CONFIG, env=env)
    assert config.redis.url == "redis://cache.internal:6379/2"
    assert config.stripe.webhook_secrets == ("whsec_a", "whsec_b")
    assert config.stripe.api_key == "rk_test_123"
    assert config.stripe.api_base_url == "http://127.0.0.1:12111"
    assert config.whatsapp.access_token == "EAAG-token"
    assert not config.whatsapp.dry_run
    assert config.whatsapp.phone_number_id == "106540352242922"
    assert config.whatsapp.business_account_id == "102290129340398"
    assert config.whatsapp.api_base_url == "http://127.0.0.1:9999"
    assert config.whatsapp.api_version == "v24.0"


def test_redis_tls_url_wins_over_redis_url():
    config = load_config(EXAMPLE_CONFIG, env={"REDIS_URL": "redis://a:1", "REDIS_TLS_URL": "rediss://b:2"})
    assert config.redis.url == "rediss://b:2"


def test_config_path_comes_from_bridge_config(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(EXAMPLE_CONFIG.read_text())
    assert load_config(env={"BRIDGE_CONFIG": str(path)}).source == str(path)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(ConfigError) as excinfo:
        load_config(tmp_path / "nope.toml", env={})
    assert problems(excinfo) == [f"{tmp_path / 'nope.toml'}: (file): not found: copy config.example.toml there or set BRIDGE_CONFIG"]


def test_a_file_that_is_not_utf8_is_a_config_error_not_a_traceback(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[whatsapp]\ntimezone = "Europe/Zürich"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env={})
    assert problems(excinfo) == [f"{path}: (file): is not UTF-8 text (byte 31); TOML files are UTF-8"]


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("[stripe]\ntolerance_seconds = = 3\n", "line 2, column 21", "Invalid value"),
        ("[stripe]\n\n[stripe]\n", "line 3, column 8", "Cannot declare ('stripe',) twice"),
        ('[whatsapp]\ntimezone = "UTC', "end of file", "Unterminated string"),
    ],
)
def test_toml_syntax_error_names_the_file_line_and_column(tmp_path, text, where, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env={})
    assert problems(excinfo) == [f"{path}: {where}: {problem}"]


def test_a_syntax_message_without_a_position_is_kept_whole():
    assert str(syntax_problem("config.toml", "Something odd")) == "config.toml: (syntax): Something odd"


def test_mistakes_name_file_key_and_problem():
    raw = example_raw()
    raw["stripe"]["tolerance_seconds"] = "soon"
    raw["whatsapp"]["api_versoin"] = "v23.0"
    raw["mappings"][1]["template"] = "Payment Receipt"
    raw["mappings"][2]["name"] = raw["mappings"][0]["name"]
    del raw["mappings"][3]["language"]
    with pytest.raises(ConfigError) as excinfo:
        parse_config(raw, source="config.toml")
    lines = problems(excinfo)
    assert 'config.toml: stripe.tolerance_seconds: must be a whole number, not the text "soon"' in lines
    assert "config.toml: whatsapp.api_versoin: unknown key (check the spelling against config.example.toml)" in lines
    assert any(line.startswith("config.toml: mappings[payment_received].template: WhatsApp template names") for line in lines)
    assert "config.toml: mappings[charge_refunded].language: required key is missing" in lines


def test_duplicate_mapping_names_are_reported():
    raw = example_raw()
    raw["mappings"][2]["name"] = raw["mappings"][0]["name"]
    with pytest.raises(ConfigError) as excinfo:
        parse_config(raw, source="config.toml")
    assert problems(excinfo) == ["config.toml: mappings[2].name: duplicate mapping name 'checkout_paid': names must be unique"]


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError) as excinfo:
        load_config(EXAMPLE_CONFIG, env={"WHATSAPP_API_VERSION": "23", "REDIS_URL": "localhost:6379"})
    lines = problems(excinfo)
    assert "environment: WHATSAPP_API_VERSION: must look like v23.0" in lines
    assert "environment: REDIS_URL: must be a redis://, rediss:// or unix:// URL" in lines


def test_a_business_account_id_that_is_not_numeric_names_where_it_came_from():
    with pytest.raises(ConfigError) as excinfo:
        load_config(EXAMPLE_CONFIG, env={"WHATSAPP_BUSINESS_ACCOUNT_ID": "my-waba"})
    assert problems(excinfo) == [
        "environment: WHATSAPP_BUSINESS_ACCOUNT_ID: must be the numeric WhatsApp Business Account ID from WhatsApp Manager"
    ]
    raw = example_raw()
    raw["whatsapp"]["business_account_id"] = 102290129340398
    with pytest.raises(ConfigError) as excinfo:
        parse_config(raw, source="config.toml")
    assert problems(excinfo) == ["config.toml: whatsapp.business_account_id: Not a valid string."]


def test_the_template_catalogue_lives_beside_the_config_file_by_default(tmp_path):
    folder = tmp_path / "merchant"
    folder.mkdir()
    (folder / "config.toml").write_text("[stripe]\nwebhook_secrets = []\n")  # no [whatsapp] table at all
    assert load_config(folder / "config.toml", env={}).whatsapp.templates_file == str(folder / "templates.json")
    assert load_config(EXAMPLE_CONFIG, env={}).whatsapp.templates_file == str(EXAMPLE_CONFIG.parent / "templates.json")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("catalogue/waba.json", "merchant/catalogue/waba.json"),
        ("../shared.json", "merchant/../shared.json"),
        ("/srv/t.json", "/srv/t.json"),
    ],
)
def test_a_templates_file_given_in_the_config_is_relative_to_the_config_files_folder(tmp_path, written, expected):
    folder = tmp_path / "merchant"
    folder.mkdir()
    (folder / "config.toml").write_text(f'[whatsapp]\ntemplates_file = "{written}"\n')
    config = load_config(folder / "config.toml", env={})
    assert config.whatsapp.templates_file == (expected if expected.startswith("/") else str(tmp_path / expected))


def test_without_a_config_file_the_templates_file_is_as_written():
    assert parse_config({"whatsapp": {"templates_file": "t.json"}}, source="<dict>").whatsapp.templates_file == "t.json"
    assert parse_config({}, source="<dict>").whatsapp.templates_file == "templates.json"


def test_body_must_be_list_or_table():
    raw = example_raw()
    raw["mappings"][0]["body"] = "{{ object.id }}"
    with pytest.raises(ConfigError) as excinfo:
        parse_config(raw, source="c.toml")
    expected = "must be a list of parameters (positional template) or a table name = parameter (named template)"
    assert problems(excinfo) == [f"c.toml: mappings[checkout_paid].body: {expected}"]


@pytest.mark.parametrize(
    ("section", "key", "value", "problem"),
    [
        ("whatsapp", "timeout_seconds", "10", 'must be a number, not the text "10" (write the number without quotes)'),
        ("delivery", "max_attempts", 8.5, "must be a whole number, not 8.5"),
        ("stripe", "tolerance_seconds", "300", 'must be a whole number, not the text "300" (write the number without quotes)'),
        ("delivery", "max_attempts", True, "must be a whole number, not true"),
        ("delivery", "backoff_base_seconds", False, "must be a number, not false"),
        ("whatsapp", "messages_per_second", float("nan"), "must be a number, not nan"),
        ("delivery", "backoff_max_seconds", float("inf"), "must be a number, not inf"),
        ("redis", "event_ttl_seconds", [1], "must be a whole number, not a list"),
    ],
)
def test_a_number_of_the_wrong_type_is_an_error_not_converted(section, key, value, problem):
    raw = example_raw()
    raw[section][key] = value
    with pytest.raises(ConfigError) as excinfo:
        parse_config(raw, source="config.toml")
    assert problems(excinfo) == [f"config.toml: {section}.{key}: {problem}"]


def numeric_settings() -> list[tuple[str, str, str]]:
    """(section, key, "int" or "float") of every numeric setting, read from the settings classes."""
    sections = {f.name: f.default_factory for f in dataclasses.fields(Config) if f.default_factory is not dataclasses.MISSING}
    return [
        (section, f.name, f.type)
        for section, settings in sections.items()
        if dataclasses.is_dataclass(settings)
        for f in dataclasses.fields(settings)
        if f.type in ("int", "float")
    ]


@pytest.mark.parametrize(("section", "key", "kind"), numeric_settings())
def test_every_numeric_setting_refuses_quoted_numbers_and_booleans(section, key, kind):
    expected = "must be a whole number" if kind == "int" else "must be a number"
    for wrong in ("1", True):
        raw = example_raw()
        raw.setdefault(section, {})[key] = wrong
        with pytest.raises(ConfigError) as excinfo:
            parse_config(raw, source="config.toml")
        (line,) = problems(excinfo)
        assert line.startswith(f"config.toml: {section}.{key}: {expected}, not "), line


def test_a_whole_number_is_a_valid_decimal_setting():
    raw = example_raw()
    raw["whatsapp"]["timeout_seconds"] = 10
    raw["delivery"]["backoff_max_seconds"] = 60
    config = parse_config(raw, source="config.toml")
    assert config.whatsapp.timeout_seconds == 10.0 and isinstance(config.whatsapp.timeout_seconds, float)
    assert config.delivery.backoff_max_seconds == 60.0


def test_a_misspelt_table_does_not_hide_the_other_mistakes():
    raw = example_raw()
    raw["whatsap"] = raw.pop("whatsapp")
    raw["delivery"]["max_attempts"] = "8"
    raw["mappings"][3]["template"] = "Refund Issued"
    raw["mappings"][5]["evnets"] = ["invoice.paid"]
    raw["mappings"][6] = "invoice_payment_failed"
    raw["mappings"][2]["name"] = raw["mappings"][0]["name"]
    with pytest.raises(ConfigError) as excinfo:
        parse_config(raw, source="config.toml")
    assert problems(excinfo) == [
        'config.toml: delivery.max_attempts: must be a whole number, not the text "8" (write the number without quotes)',
        "config.toml: mappings[charge_refunded].template: WhatsApp template names are lowercase letters, digits and underscores",
        "config.toml: mappings[invoice_paid].evnets: unknown key (check the spelling against config.example.toml)",
        "config.toml: mappings[6]: must be a table",
        "config.toml: whatsap: unknown key (check the spelling against config.example.toml)",
        "config.toml: mappings[2].name: duplicate mapping name 'checkout_paid': names must be unique",
    ]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"stripe": "whsec_x"}, "config.toml: stripe: must be a table"),
        ({"mappings": {"name": "x"}}, "config.toml: mappings: must be an array of tables: write each entry under [[mappings]]"),
        ({"mappings": [{"name": "x"}]}, "config.toml: mappings[x].events: required key is missing"),
        ({"Stripe": {}}, "config.toml: Stripe: unknown key (check the spelling against config.example.toml)"),
    ],
)
def test_a_table_of_the_wrong_shape_is_named(raw, problem):
    with pytest.raises(ConfigError) as excinfo:
        parse_config(raw, source="config.toml")
    assert problem in problems(excinfo)


def test_a_reading_keeps_every_part_that_validated():
    raw = example_raw()
    raw["delivery"]["max_attempts"] = 0
    raw["mappings"][1]["language"] = "English"
    reading = validate_config(raw, source="config.toml", env={"WHATSAPP_API_VERSION": "v24.0"})
    assert [str(p) for p in reading.problems] == [
        "config.toml: delivery.max_attempts: Must be greater than or equal to 1 and less than or equal to 100.",
        "config.toml: mappings[payment_received].language: must be a WhatsApp language code such as en or en_US",
    ]
    assert reading.invalid_sections == {"delivery", "mappings"}
    assert reading.config.whatsapp.api_version == "v24.0"
    assert [m.name for m in reading.config.mappings] == [m["name"] for i, m in enumerate(raw["mappings"]) if i != 1]
    assert [m.index for m in reading.config.mappings] == [i for i in range(len(raw["mappings"])) if i != 1]
