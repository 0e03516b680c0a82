"""`bridge check-config`: load the config, compile mappings, and render each against the samples."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bridge.config import Config, ConfigReading, read_config
from bridge.errors import ConfigError, ConfigProblem, RecipientError, RenderError
from bridge.mappings.compile import CompiledMapping, build_context, compile_mappings
from bridge.stripe_events import samples
from bridge.stripe_events.recipient import phone_on_customer, phone_on_object
from bridge.whatsapp.phones import normalize


@dataclass
class CheckReport:
    config: Config | None = None
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rendered: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(path: str | None = None, env: dict[str, str] | None = None) -> CheckReport:
    """Every problem in the config, as `file: key: problem` lines, plus warnings and a summary.

    The parts of the file that validated are checked further even when other parts have problems
    (a misspelt table does not stop the mappings from being rendered), so one run shows everything.
    """
    report = CheckReport()
    try:
        reading = read_config(path, env=env)
    except ConfigError as exc:  # unreadable or not TOML: nothing else to check
        report.problems.extend(exc.problems)
        return report
    report.config = config = reading.config
    report.problems.extend(reading.problems)
    _check_settings(reading, report)
    for mapping in _compile_each(config, report):
        _render_samples(config, mapping, report)
    if "redis" not in reading.invalid_sections:
        report.warnings.extend(_redis_warnings(config))
    return report


def _check_settings(reading: ConfigReading, report: CheckReport) -> None:
    """What a valid file may still lack to run. A table with problems is skipped: its defaults
    would only add findings that fixing the table makes wrong."""
    config, invalid = reading.config, reading.invalid_sections
    if "stripe" not in invalid and not config.stripe.webhook_secrets:
        report.problems.append(
            ConfigProblem(
                config.source, "stripe.webhook_secrets", "no webhook secret: set STRIPE_WEBHOOK_SECRET (every webhook would be rejected)"
            )
        )
    if "whatsapp" not in invalid:
        if config.whatsapp.dry_run:
            report.warnings.append("WHATSAPP_ACCESS_TOKEN is not set: dry run, messages go to the outbox only")
        elif not config.whatsapp.phone_number_id:
            problem = "required when an access token is set: set WHATSAPP_PHONE_NUMBER_ID"
            report.problems.append(ConfigProblem(config.source, "whatsapp.phone_number_id", problem))
    if not config.mappings and "mappings" not in invalid:
        report.warnings.append("no [[mappings]]: every event will be ignored")


def _compile_each(config: Config, report: CheckReport) -> list[CompiledMapping]:
    """Compile the mappings one by one, so that a broken one does not keep the others from being rendered."""
    compiled = []
    for settings in config.mappings:
        try:
            compiled.extend(compile_mappings(replace(config, mappings=(settings,))))
        except ConfigError as exc:
            report.problems.extend(exc.problems)
    return compiled


def _redis_warnings(config: Config) -> list[str]:
    """Persistence and eviction settings that could lose accepted events (a warning, not an error:
    the release phase may run before Redis is attached)."""
    from redis.exceptions import RedisError

    from bridge.redis_conn import connect, persistence_warnings

    try:
        client = connect(config.redis.url, socket_timeout=2.0)
        try:
            return persistence_warnings(client)
        finally:
            client.close()
    except (RedisError, OSError) as exc:
        return [f"Redis at the configured URL did not answer ({type(exc).__name__}); persistence not checked"]


def _render_samples(config: Config, mapping: CompiledMapping, report: CheckReport) -> None:
    available = set(samples.event_types())
    customer = samples.sample_customer()
    for event_type in mapping.settings.events:
        if event_type not in available:
            report.warnings.append(f"{mapping.label()}: no sample {event_type} event to render against")
            continue
        event = samples.sample_event(event_type)
        context = build_context(event, customer, language=mapping.settings.language, timezone=config.whatsapp.timezone)
        key_prefix = mapping.label()
        try:
            if not mapping.applies(context):
                report.warnings.append(f"{key_prefix}: `when` is false for the sample {event_type} event")
                continue
            message = mapping.render(context)
        except RenderError as exc:
            report.problems.append(
                ConfigProblem(
                    config.source, f"{key_prefix}.{exc.key}", f"{_strip_key(str(exc), exc.key)} (rendering the sample {event_type} event)"
                )
            )
            continue
        obj = event["data"]["object"]
        try:
            normalize(message.recipient or phone_on_object(obj) or phone_on_customer(customer), config.whatsapp.default_country)
        except RecipientError as exc:
            key = "recipient" if message.recipient else "events"
            report.problems.append(ConfigProblem(config.source, f"{key_prefix}.{key}", f"{exc} (rendering the sample {event_type} event)"))
            continue
        params = ", ".join(repr(p.text) if p.name is None else f"{p.name}={p.text!r}" for p in message.parameters)
        report.rendered.append(f"{mapping.name} × {event_type}: {message.template} [{message.language}] ({params})")


def _strip_key(message: str, key: str | None) -> str:
    return message.removeprefix(f"{key}: ") if key else message
