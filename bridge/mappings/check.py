"""`bridge check-config`: load the config, compile mappings, and render each against the samples."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.config import Config, load_config
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
    """Every problem in the config, as `file: key: problem` lines, plus warnings and a summary."""
    report = CheckReport()
    try:
        config = load_config(path, env=env)
    except ConfigError as exc:
        report.problems.extend(exc.problems)
        return report
    report.config = config
    if not config.stripe.webhook_secrets:
        report.problems.append(
            ConfigProblem(
                config.source, "stripe.webhook_secrets", "no webhook secret: set STRIPE_WEBHOOK_SECRET (every webhook would be rejected)"
            )
        )
    if config.whatsapp.dry_run:
        report.warnings.append("WHATSAPP_ACCESS_TOKEN is not set: dry run, messages go to the outbox only")
    elif not config.whatsapp.phone_number_id:
        report.problems.append(
            ConfigProblem(config.source, "whatsapp.phone_number_id", "required when an access token is set: set WHATSAPP_PHONE_NUMBER_ID")
        )
    if not config.mappings:
        report.warnings.append("no [[mappings]]: every event will be ignored")
    try:
        mappings = compile_mappings(config)
    except ConfigError as exc:
        report.problems.extend(exc.problems)
        return report
    for mapping in mappings:
        _render_samples(config, mapping, report)
    report.warnings.extend(_redis_warnings(config))
    return report


def _redis_warnings(config: Config) -> list[str]:
    """Persistence and eviction settings that could lose accepted events (a warning, not an error:
    the release phase may run before Redis is attached)."""
    from bridge.redis_conn import persistence_warnings_at

    return persistence_warnings_at(config.redis.url)


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
