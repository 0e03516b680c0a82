"""Load the bridge's settings: a TOML file validated with marshmallow, then environment overrides.

Twelve-factor order: defaults < config file < environment variables. Every mistake is reported
as `file: key: problem`, naming the environment variable when the value came from there.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from bridge import defaults
from bridge.errors import ConfigError, ConfigProblem
from bridge.mappings.formatting import DIGIT_SYSTEMS, LATIN_DIGITS
from bridge.mappings.schema import MappingSchema, MappingSettings
from bridge.merchants.sealing import parse_keys

ENVIRONMENT = "environment"
"""Pseudo file name used in error lines for values that came from environment variables."""


@dataclass(frozen=True)
class StripeSettings:
    webhook_secrets: tuple[str, ...] = ()
    tolerance_seconds: int = defaults.STRIPE_TOLERANCE_SECONDS
    api_key: str | None = None
    api_base_url: str | None = None
    app_secret: str = ""
    """The Stripe App's signing secret (STRIPE_APP_SECRET): verifies the app's settings view's
    requests to /apps/v1. Empty: /apps/v1 answers 503."""


@dataclass(frozen=True)
class WhatsAppSettings:
    phone_number_id: str = ""
    access_token: str = ""
    business_account_id: str = ""
    """The WhatsApp Business Account (WABA) whose templates `bridge templates pull` reads."""
    templates_file: str = defaults.TEMPLATES_FILE
    """The template catalogue's snapshot; a relative path is relative to the config file's folder."""
    app_secret: str = ""
    """The Meta app's secret: Meta's webhook posts are signed with it. Empty: they are refused (503)."""
    verify_token: str = ""
    """Chosen by you and typed into Meta's app dashboard: Meta's subscription handshake must present it."""
    api_base_url: str = defaults.WHATSAPP_API_BASE_URL
    api_version: str = defaults.WHATSAPP_API_VERSION
    default_country: str | None = defaults.DEFAULT_COUNTRY
    timezone: str = defaults.TIMEZONE
    timeout_seconds: float = defaults.WHATSAPP_TIMEOUT_SECONDS
    messages_per_second: float = defaults.MESSAGES_PER_SECOND
    pair_interval_seconds: float = defaults.PAIR_INTERVAL_SECONDS

    @property
    def dry_run(self) -> bool:
        """With no access token nothing is sent: messages go to the outbox instead."""
        return not self.access_token


@dataclass(frozen=True)
class RedisSettings:
    url: str = defaults.REDIS_URL
    key_prefix: str = defaults.KEY_PREFIX
    queue: str = defaults.QUEUE_NAME
    event_ttl_seconds: int = defaults.EVENT_TTL_SECONDS
    delivery_ttl_seconds: int | None = None
    """The older name of [retention] delivery_days, in seconds: when given, it wins."""


@dataclass(frozen=True)
class DeliverySettings:
    max_attempts: int = defaults.MAX_ATTEMPTS
    backoff_base_seconds: float = defaults.BACKOFF_BASE_SECONDS
    backoff_max_seconds: float = defaults.BACKOFF_MAX_SECONDS
    give_up_after_seconds: int = defaults.GIVE_UP_AFTER_SECONDS
    job_timeout_seconds: int = defaults.JOB_TIMEOUT_SECONDS
    on_ambiguous: str = defaults.ON_AMBIGUOUS
    ambiguous_wait_seconds: float = defaults.AMBIGUOUS_WAIT_SECONDS
    order_wait_seconds: float = defaults.ORDER_WAIT_SECONDS
    pause_probe_seconds: float = defaults.PAUSE_PROBE_SECONDS


@dataclass(frozen=True)
class FormattingSettings:
    """How money and dates are written in parameters (bridge.mappings.formatting)."""

    digits: str = LATIN_DIGITS
    """"latn" (Western digits) or "arab" (Arabic-Indic, in Arabic templates only)."""
    bidi_marks: bool = False
    """Keep the direction marks babel puts around Arabic numbers and dates (removed by default)."""


class ConsentMode(StrEnum):
    OPT_OUT = "opt_out"
    """Send unless the customer opted out."""
    OPT_IN = "opt_in"
    """Send only with recorded consent: `opt_in_when` true for the event, or an opt-in on record."""


@dataclass(frozen=True)
class ConsentSettings:
    """WhatsApp's policy: the customer's opt-in, and honouring every opt-out (bridge.consent)."""

    mode: ConsentMode = ConsentMode.OPT_OUT
    opt_in_when: str | None = None
    """opt_in mode: a Jinja expression over event, object and customer that means "consented"."""
    stop_keywords: tuple[str, ...] = defaults.STOP_KEYWORDS
    start_keywords: tuple[str, ...] = defaults.START_KEYWORDS
    stop_reply: dict[str, str] = field(default_factory=dict)
    """language → a confirmation sent after a stop keyword (none by default)."""
    start_reply: dict[str, str] = field(default_factory=dict)
    forward_url: str | None = None
    """Where other messages from customers are forwarded (a helpdesk), signed with forward_secret."""
    forward_secret: str | None = None


@dataclass(frozen=True)
class RetentionSettings:
    delivery_days: float = defaults.DELIVERY_RETENTION_DAYS
    """How long delivery records (and their history) are kept."""


@dataclass(frozen=True)
class AdminSettings:
    token: str = ""
    """The admin API's bearer token (ADMIN_TOKEN). Empty: every admin route answers 503."""


@dataclass(frozen=True)
class WebSettings:
    proxy_hops: int = defaults.PROXY_HOPS
    """How many proxies stand before the app (Heroku's router: 1). The client's address is that many
    entries from the end of X-Forwarded-For, and X-Forwarded-Proto is believed; 0 trusts neither."""


@dataclass(frozen=True)
class HealthSettings:
    """What `GET /readyz` checks (bridge.observability.readiness)."""

    templates_max_age_hours: float = defaults.TEMPLATES_MAX_AGE_HOURS
    """The templates snapshot may be this old before readiness fails (no snapshot: not checked)."""
    metrics_token: str = ""
    """When set, `GET /metrics` needs `Authorization: Bearer` this (METRICS_TOKEN). Empty: open."""


@dataclass(frozen=True)
class MerchantsSettings:
    """Merchants other than the file's own: Stripe App installs (bridge.merchants)."""

    encryption_key: str = ""
    """BRIDGE_ENCRYPTION_KEY: Fernet keys, newest first, that seal merchants' credentials at rest.
    Empty: no merchant credential can be stored."""


@dataclass(frozen=True)
class Config:
    stripe: StripeSettings = field(default_factory=StripeSettings)
    whatsapp: WhatsAppSettings = field(default_factory=WhatsAppSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    formatting: FormattingSettings = field(default_factory=FormattingSettings)
    consent: ConsentSettings = field(default_factory=ConsentSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    web: WebSettings = field(default_factory=WebSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    merchants: MerchantsSettings = field(default_factory=MerchantsSettings)
    mappings: tuple[MappingSettings, ...] = ()
    source: str = "<defaults>"
    """The file the settings were read from, for error messages."""

    @property
    def delivery_ttl_seconds(self) -> int:
        """How long delivery records, their history and indexes are kept."""
        return self.redis.delivery_ttl_seconds or round(self.retention.delivery_days * 86400)

    def mapped_event_types(self) -> frozenset[str]:
        return frozenset(t for m in self.mappings for t in m.events)


# --- schemas ---------------------------------------------------------------------------------

_URL = re.compile(r"^https?://[^\s/]+")
_API_VERSION = re.compile(r"^v\d+\.\d+$")


def _given(value: Any) -> str:
    """A wrong value as the user wrote it in TOML, so they can find it in their file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'the text "{value}"' + (" (write the number without quotes)" if _is_number_text(value) else "")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return str(value)


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _WholeNumber(fields.Integer):
    """An integer setting. marshmallow's Integer would turn "10" or 8.5 into a number silently:
    a quoted or fractional value is a mistake the user should see, not a guess we make."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"must be a whole number, not {_given(value)}")
        return value


class _Number(fields.Float):
    """A decimal setting: a whole number is one too (timeout_seconds = 10); text, booleans, nan and
    inf are not."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationError(f"must be a number, not {_given(value)}")
        return float(value)


class _Flag(fields.Boolean):
    """A true/false setting. marshmallow's Boolean would take "yes", "off" or 1: TOML has booleans,
    so anything else is a mistake the user should see."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(f"must be true or false, not {_given(value)}")
        return value


class _StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class StripeSchema(_StrictSchema):
    webhook_secrets = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list)
    tolerance_seconds = _WholeNumber(load_default=defaults.STRIPE_TOLERANCE_SECONDS, validate=validate.Range(min=1))
    api_key = fields.String(load_default=None, allow_none=True)
    api_base_url = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(_URL, error="must be an http(s) URL"))
    app_secret = fields.String(load_default="")

    @post_load
    def make(self, data: dict, **_: Any) -> StripeSettings:
        data["webhook_secrets"] = tuple(data["webhook_secrets"])
        data["api_key"] = data["api_key"] or None
        return StripeSettings(**data)


class WhatsAppSchema(_StrictSchema):
    phone_number_id = fields.String(
        load_default="", validate=validate.Regexp(r"^\d*$", error="must be the numeric phone number ID from WhatsApp Manager")
    )
    access_token = fields.String(load_default="")
    business_account_id = fields.String(
        load_default="", validate=validate.Regexp(r"^\d*$", error="must be the numeric WhatsApp Business Account ID from WhatsApp Manager")
    )
    templates_file = fields.String(load_default=defaults.TEMPLATES_FILE, validate=validate.Length(min=1, error="must name a file"))
    app_secret = fields.String(load_default="")
    verify_token = fields.String(load_default="")
    api_base_url = fields.String(
        load_default=defaults.WHATSAPP_API_BASE_URL, validate=validate.Regexp(_URL, error="must be an http(s) URL")
    )
    api_version = fields.String(
        load_default=defaults.WHATSAPP_API_VERSION, validate=validate.Regexp(_API_VERSION, error="must look like v23.0")
    )
    default_country = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[A-Z]{2}$", error="must be a two-letter ISO region such as US")
    )
    timezone = fields.String(load_default=defaults.TIMEZONE)
    timeout_seconds = _Number(load_default=defaults.WHATSAPP_TIMEOUT_SECONDS, validate=validate.Range(min=0.1, max=25))
    messages_per_second = _Number(
        load_default=defaults.MESSAGES_PER_SECOND,
        validate=validate.Range(min=0.01, max=1000, error="must be between 0.01 and 1000 (Meta's maximum)"),
    )
    pair_interval_seconds = _Number(load_default=defaults.PAIR_INTERVAL_SECONDS, validate=validate.Range(min=0))

    @post_load
    def make(self, data: dict, **_: Any) -> WhatsAppSettings:
        data["api_base_url"] = data["api_base_url"].rstrip("/")
        return WhatsAppSettings(**data)


class RedisSchema(_StrictSchema):
    url = fields.String(
        load_default=defaults.REDIS_URL,
        validate=validate.Regexp(r"^(redis|rediss|unix)://", error="must be a redis://, rediss:// or unix:// URL"),
    )
    key_prefix = fields.String(
        load_default=defaults.KEY_PREFIX, validate=validate.Regexp(r"^[A-Za-z0-9_.-]+$", error="letters, digits, _ . - only")
    )
    queue = fields.String(
        load_default=defaults.QUEUE_NAME, validate=validate.Regexp(r"^[A-Za-z0-9_.-]+$", error="letters, digits, _ . - only")
    )
    event_ttl_seconds = _WholeNumber(
        load_default=defaults.EVENT_TTL_SECONDS,
        validate=validate.Range(min=4 * 24 * 3600, error="must be at least 4 days: Stripe retries for 3"),
    )
    delivery_ttl_seconds = _WholeNumber(load_default=None, allow_none=True, validate=validate.Range(min=3600))

    @post_load
    def make(self, data: dict, **_: Any) -> RedisSettings:
        return RedisSettings(**data)


class DeliverySchema(_StrictSchema):
    max_attempts = _WholeNumber(load_default=defaults.MAX_ATTEMPTS, validate=validate.Range(min=1, max=100))
    backoff_base_seconds = _Number(load_default=defaults.BACKOFF_BASE_SECONDS, validate=validate.Range(min=0))
    backoff_max_seconds = _Number(load_default=defaults.BACKOFF_MAX_SECONDS, validate=validate.Range(min=0))
    give_up_after_seconds = _WholeNumber(load_default=defaults.GIVE_UP_AFTER_SECONDS, validate=validate.Range(min=1))
    job_timeout_seconds = _WholeNumber(load_default=defaults.JOB_TIMEOUT_SECONDS, validate=validate.Range(min=1, max=3600))
    on_ambiguous = fields.String(load_default=defaults.ON_AMBIGUOUS, validate=validate.OneOf(["resend", "fail"]))
    ambiguous_wait_seconds = _Number(load_default=defaults.AMBIGUOUS_WAIT_SECONDS, validate=validate.Range(min=0))
    order_wait_seconds = _Number(load_default=defaults.ORDER_WAIT_SECONDS, validate=validate.Range(min=0))
    pause_probe_seconds = _Number(load_default=defaults.PAUSE_PROBE_SECONDS, validate=validate.Range(min=1))

    @post_load
    def make(self, data: dict, **_: Any) -> DeliverySettings:
        return DeliverySettings(**data)


_DIGITS_PROBLEM = "must be " + " or ".join(f'"{d}"' for d in DIGIT_SYSTEMS)


class FormattingSchema(_StrictSchema):
    digits = fields.String(
        load_default=LATIN_DIGITS,
        validate=validate.OneOf(DIGIT_SYSTEMS, error=_DIGITS_PROBLEM),
        error_messages={"invalid": _DIGITS_PROBLEM},
    )
    bidi_marks = _Flag(load_default=False)

    @post_load
    def make(self, data: dict, **_: Any) -> FormattingSettings:
        return FormattingSettings(**data)


def _keywords(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError('must be a list of words, such as ["STOP", "UNSUBSCRIBE"]')
    return tuple(v.strip() for v in value)


def _replies(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()):
        raise ValidationError('must be a table language = "text", such as { en = "You will not get more messages from us." }')
    return dict(value)


class ConsentSchema(_StrictSchema):
    mode = fields.String(
        load_default=ConsentMode.OPT_OUT, validate=validate.OneOf(list(ConsentMode), error='must be "opt_out" or "opt_in"')
    )
    opt_in_when = fields.String(load_default=None, allow_none=True)
    stop_keywords = fields.Function(deserialize=_keywords, load_default=lambda: defaults.STOP_KEYWORDS)
    start_keywords = fields.Function(deserialize=_keywords, load_default=lambda: defaults.START_KEYWORDS)
    stop_reply = fields.Function(deserialize=_replies, load_default=dict)
    start_reply = fields.Function(deserialize=_replies, load_default=dict)
    forward_url = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(_URL, error="must be an http(s) URL"))
    forward_secret = fields.String(load_default=None, allow_none=True)

    @post_load
    def make(self, data: dict, **_: Any) -> ConsentSettings:
        if data["forward_url"] and not data["forward_secret"]:
            raise ValidationError({"forward_secret": ["required with forward_url: the helpdesk checks what it receives with it"]})
        return ConsentSettings(**{**data, "mode": ConsentMode(data["mode"])})


class RetentionSchema(_StrictSchema):
    delivery_days = _Number(load_default=defaults.DELIVERY_RETENTION_DAYS, validate=validate.Range(min=1, max=3650))

    @post_load
    def make(self, data: dict, **_: Any) -> RetentionSettings:
        return RetentionSettings(**data)


def _token() -> fields.String:
    """A bearer token setting: empty (off), or long enough not to be guessed."""
    return fields.String(
        load_default="",
        validate=validate.Regexp(
            rf"^(|\S{{{defaults.ADMIN_TOKEN_MIN_LENGTH},}})$",
            error=f"must be at least {defaults.ADMIN_TOKEN_MIN_LENGTH} characters without spaces: generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        ),
    )


class AdminSchema(_StrictSchema):
    token = _token()

    @post_load
    def make(self, data: dict, **_: Any) -> AdminSettings:
        return AdminSettings(**data)


class WebSchema(_StrictSchema):
    proxy_hops = _WholeNumber(load_default=defaults.PROXY_HOPS, validate=validate.Range(min=0, max=10))

    @post_load
    def make(self, data: dict, **_: Any) -> WebSettings:
        return WebSettings(**data)


class HealthSchema(_StrictSchema):
    templates_max_age_hours = _Number(
        load_default=defaults.TEMPLATES_MAX_AGE_HOURS, validate=validate.Range(min=0, min_inclusive=False, error="must be more than 0")
    )
    metrics_token = _token()

    @post_load
    def make(self, data: dict, **_: Any) -> HealthSettings:
        return HealthSettings(**data)


def _fernet_keys(value: str) -> None:
    if value:
        try:
            parse_keys(value)
        except ValueError as exc:
            raise ValidationError(f"{exc}; generate one with `bridge merchants new-key`") from None


class MerchantsSchema(_StrictSchema):
    encryption_key = fields.String(load_default="", validate=_fernet_keys)

    @post_load
    def make(self, data: dict, **_: Any) -> MerchantsSettings:
        return MerchantsSettings(**data)


_SECTIONS: dict[str, type[Schema]] = {
    "stripe": StripeSchema,
    "whatsapp": WhatsAppSchema,
    "redis": RedisSchema,
    "delivery": DeliverySchema,
    "formatting": FormattingSchema,
    "consent": ConsentSchema,
    "retention": RetentionSchema,
    "admin": AdminSchema,
    "web": WebSchema,
    "health": HealthSchema,
    "merchants": MerchantsSchema,
}
"""The config's tables; `[[mappings]]` is validated entry by entry."""


# --- environment -----------------------------------------------------------------------------

# env var → (section, key, parser). REDIS_TLS_URL is handled separately: it wins over REDIS_URL.
_ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "STRIPE_WEBHOOK_SECRET": ("stripe", "webhook_secrets"),
    "STRIPE_API_KEY": ("stripe", "api_key"),
    "STRIPE_API_BASE_URL": ("stripe", "api_base_url"),
    "WHATSAPP_ACCESS_TOKEN": ("whatsapp", "access_token"),
    "WHATSAPP_PHONE_NUMBER_ID": ("whatsapp", "phone_number_id"),
    "WHATSAPP_BUSINESS_ACCOUNT_ID": ("whatsapp", "business_account_id"),
    "WHATSAPP_API_BASE_URL": ("whatsapp", "api_base_url"),
    "WHATSAPP_API_VERSION": ("whatsapp", "api_version"),
    "WHATSAPP_APP_SECRET": ("whatsapp", "app_secret"),
    "WHATSAPP_VERIFY_TOKEN": ("whatsapp", "verify_token"),
    "ADMIN_TOKEN": ("admin", "token"),
    "METRICS_TOKEN": ("health", "metrics_token"),
    "STRIPE_APP_SECRET": ("stripe", "app_secret"),
    "BRIDGE_ENCRYPTION_KEY": ("merchants", "encryption_key"),
}


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """Overlay environment variables onto the raw TOML data; return which keys came from where."""
    origin: dict[tuple[str, str], str] = {}
    for var, (section, key) in _ENV_OVERRIDES.items():
        if var not in env:
            continue
        value: Any = env[var]
        if key == "webhook_secrets":
            value = [s.strip() for s in value.split(",") if s.strip()]
        table = raw.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = value
            origin[(section, key)] = var
    redis_url = env.get("REDIS_TLS_URL") or env.get("REDIS_URL")
    if redis_url:
        table = raw.setdefault("redis", {})
        if isinstance(table, dict):
            table["url"] = redis_url
            origin[("redis", "url")] = "REDIS_TLS_URL" if env.get("REDIS_TLS_URL") else "REDIS_URL"
    return origin


_UNKNOWN_KEY = "unknown key (check the spelling against config.example.toml)"


def _flatten(messages: Any, path: str = "") -> list[tuple[str, str]]:
    """Turn marshmallow's nested error dict into (dotted key, problem) pairs."""
    if isinstance(messages, dict):
        out: list[tuple[str, str]] = []
        for key, sub in messages.items():
            if isinstance(key, int):
                sub_path = f"{path}[{key}]"
            elif key == "_schema":
                sub_path = path
            else:
                sub_path = f"{path}.{key}" if path else str(key)
            out.extend(_flatten(sub, sub_path))
        return out
    if isinstance(messages, list):
        return [pair for m in messages for pair in _flatten(m, path)]
    problem = str(messages)
    if problem == "Unknown field.":
        problem = _UNKNOWN_KEY
    elif problem == "Missing data for required field.":
        problem = "required key is missing"
    return [(path or "(top level)", problem)]


def _problems(source: str, messages: Any, origin: dict[tuple[str, str], str], raw: dict[str, Any]) -> list[ConfigProblem]:
    problems = []
    for key, problem in _flatten(messages):
        parts = tuple(key.split(".")[:2])
        var = origin.get(parts)  # type: ignore[arg-type]
        if var is not None:
            problems.append(ConfigProblem(ENVIRONMENT, var, problem))
        else:
            problems.append(ConfigProblem(source, _friendly_key(key, raw), problem))
    return problems


def _friendly_key(key: str, raw: dict[str, Any]) -> str:
    """Name mappings by their `name` (`mappings[refund_notice].template`), by their position
    only when they have no usable name (`mappings[3].name`)."""
    match = re.match(r"^mappings\[(\d+)\](.*)$", key)
    if not match:
        return key
    index, rest = int(match.group(1)), match.group(2)
    mappings = raw.get("mappings")
    name = None
    if isinstance(mappings, list) and index < len(mappings) and isinstance(mappings[index], dict):
        name = mappings[index].get("name")
    return f"mappings[{name if _usable_name(name) else index}]" + rest


def _usable_name(name: Any) -> bool:
    return isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name) is not None


@dataclass(frozen=True)
class ConfigReading:
    """A config as far as it validated, and every problem found in it.

    `config` holds every section and mapping that validated: a section with problems keeps its
    defaults (and is named in `invalid_sections`), a mapping with problems is left out. Only
    `bridge check-config` looks at a reading with problems, to check the parts that did validate.
    """

    config: Config
    problems: tuple[ConfigProblem, ...] = ()
    invalid_sections: frozenset[str] = frozenset()
    """The tables with problems, and "mappings" when some entry was left out."""

    def config_or_raise(self) -> Config:
        if self.problems:
            raise ConfigError(list(self.problems))
        return self.config


def validate_config(
    raw: Mapping[str, Any], *, source: str = "<dict>", env: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> ConfigReading:
    """Validate each table and each `[[mappings]]` entry on its own: one mistake (a misspelt
    table, say) never hides the others. Relative file paths in the settings are relative to
    `base_dir` (the config file's folder) when given, else to the working directory."""
    data = _deep_copy(raw)
    origin = _apply_env(data, env or {})
    sections: dict[str, Any] = {}
    mappings: tuple[MappingSettings, ...] = ()
    messages: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            sections[key], messages[key] = _load_table(_SECTIONS[key](), value)
        elif key == "mappings":
            mappings, messages[key] = _load_mappings(value)
        else:
            messages[key] = [_UNKNOWN_KEY]
    messages = {key: m for key, m in messages.items() if m}
    config = Config(**{key: settings for key, settings in sections.items() if key not in messages}, mappings=mappings, source=source)
    if base_dir is not None:
        config = _resolve_paths(config, base_dir)
    problems = _problems(source, messages, origin, data) + _cross_checks(config)
    return ConfigReading(config, tuple(problems), frozenset(messages.keys() & {*_SECTIONS, "mappings"}))


def _resolve_paths(config: Config, base_dir: Path) -> Config:
    """Files named in the config are found beside it, wherever the command runs from: a
    `bridge templates pull` from another folder must update the catalogue the worker reads."""
    templates_file = base_dir / Path(config.whatsapp.templates_file).expanduser()
    return replace(config, whatsapp=replace(config.whatsapp, templates_file=str(templates_file)))


def _load_table(schema: Schema, value: Any) -> tuple[Any, Any]:
    """(what `schema` made of the table, None), or (None, marshmallow's error messages)."""
    if not isinstance(value, dict):
        return None, ["must be a table"]
    try:
        return schema.load(value), None
    except ValidationError as exc:
        return None, exc.messages


def _load_mappings(value: Any) -> tuple[tuple[MappingSettings, ...], Any]:
    """Every `[[mappings]]` entry that validates, and the error messages of the others by index."""
    if not isinstance(value, list):
        return (), ["must be an array of tables: write each entry under [[mappings]]"]
    mappings, messages = [], {}
    for index, entry in enumerate(value):
        loaded, messages[index] = _load_table(MappingSchema(), entry)
        if loaded is not None:
            mappings.append(MappingSettings(index=index, table=_deep_copy(entry), **loaded))
    return tuple(mappings), {index: m for index, m in messages.items() if m}


def _cross_checks(config: Config) -> list[ConfigProblem]:
    """Rules across keys. A section with problems holds its defaults, which pass them."""
    problems = []
    seen: set[str] = set()
    for m in config.mappings:
        if m.name in seen:
            problems.append(
                ConfigProblem(config.source, f"mappings[{m.index}].name", f"duplicate mapping name {m.name!r}: names must be unique")
            )
        seen.add(m.name)
    if config.delivery.backoff_max_seconds < config.delivery.backoff_base_seconds:
        problems.append(ConfigProblem(config.source, "delivery.backoff_max_seconds", "must be at least backoff_base_seconds"))
    return problems


def parse_config(raw: Mapping[str, Any], *, source: str = "<dict>", env: Mapping[str, str] | None = None) -> Config:
    """Validate already-parsed TOML data (plus environment overrides) into a Config; raise
    ConfigError listing every problem."""
    return validate_config(raw, source=source, env=env).config_or_raise()


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file to read: $BRIDGE_CONFIG, else ./config.toml."""
    env = os.environ if env is None else env
    return Path(env.get("BRIDGE_CONFIG") or defaults.CONFIG_PATH)


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Read, validate and return the config; raise ConfigError naming file, key and problem."""
    return read_config(path, env=env).config_or_raise()


def read_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> ConfigReading:
    """Read and validate the config file as far as it goes (see `validate_config`). Raise ConfigError
    only when the file cannot be read or is not TOML: then there is nothing else to check."""
    env = os.environ if env is None else env
    path = Path(path) if path is not None else config_path(env)
    return validate_config(_read_toml(path), source=str(path), env=env, base_dir=path.parent)


def _read_toml(path: Path) -> dict[str, Any]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(source, "(file)", "not found: copy config.example.toml there or set BRIDGE_CONFIG")]) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem(source, "(file)", f"cannot be read: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(source, "(file)", f"is not UTF-8 text (byte {exc.start}); TOML files are UTF-8")]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([syntax_problem(source, str(exc))]) from None


# tomllib ends its messages with where it stopped: "Invalid value (at line 2, column 21)".
_TOML_POSITION = re.compile(r"^(?P<message>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$", re.DOTALL)


def syntax_problem(source: str, message: str) -> ConfigProblem:
    """A TOML syntax error as `file: line 3, column 5: what is wrong`, like every other config mistake."""
    match = _TOML_POSITION.match(message)
    if match is None:
        return ConfigProblem(source, "(syntax)", message)
    where = f"line {match['line']}, column {match['column']}" if match["line"] else "end of file"
    return ConfigProblem(source, where, match["message"])
