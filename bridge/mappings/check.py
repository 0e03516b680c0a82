"""`bridge check-config`: load the config, compile mappings, and render each against the samples."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bridge.config import Config, ConfigReading, read_config, validate_config
from bridge.consent.policy import compile_policy
from bridge.delivery.template_states import TemplateState, reported_states
from bridge.errors import ConfigError, ConfigProblem, RecipientError, RenderError
from bridge.mappings.compile import Budget, CompiledMapping, RenderedMessage, compile_mappings
from bridge.mappings.outgoing import context_for
from bridge.mappings.templates_check import body_budget, category_findings, check_mapping, header_budget, status_findings
from bridge.stripe_events import samples
from bridge.stripe_events.recipient import customer_id, phone_for
from bridge.whatsapp.catalogue import Catalogue, Template, TemplateStatus, load_snapshot, normalize_language
from bridge.whatsapp.payload import TemplateMessage
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
    try:
        reading = read_config(path, env=env)
    except ConfigError as exc:  # unreadable or not TOML: nothing else to check
        return CheckReport(problems=list(exc.problems))
    return check_reading(reading)


@dataclass(frozen=True)
class KnownTemplates:
    """A merchant's templates, for checking its mappings: its snapshot (None: none pulled yet) and
    what Meta's webhook reported about its templates. The file's merchant's come from the snapshot
    file and the deployment's own keys instead."""

    catalogue: Catalogue | None
    states: Mapping[tuple[str, str], TemplateState]
    missing: str
    """The warning when there is no snapshot."""


def check_mappings(config: Config, tables: Any, *, source: str = "request", templates: KnownTemplates | None = None) -> CheckReport:
    """`check` for mappings given as `[[mappings]]`-shaped tables (the admin API, the settings page),
    against the rest of a loaded `config`: the same findings `bridge check-config` would print.
    `templates`: a merchant's own, instead of the file's snapshot."""
    parsed = validate_config({"mappings": tables}, source=source, env={})
    problems = [p for p in parsed.problems if p.key.startswith("mappings")]
    reading = ConfigReading(replace(config, mappings=parsed.config.mappings, source=source), tuple(problems))
    return check_reading(reading, settings=False, templates=templates)


def check_reading(reading: ConfigReading, *, settings: bool = True, templates: KnownTemplates | None = None) -> CheckReport:
    """Every finding of `check` for a config already read (as far as it validated); without
    `settings`, only the mappings' findings (not what the rest of the file lacks)."""
    report = CheckReport()
    report.config = config = reading.config
    report.problems.extend(reading.problems)
    if settings:
        _check_settings(reading, report)
    redis_usable = "redis" not in reading.invalid_sections
    if templates is not None:
        states, catalogue = dict(templates.states), templates.catalogue
        if catalogue is None:
            report.warnings.append(templates.missing)
    else:
        states = reported_states(config.redis.url, config.redis.key_prefix) if redis_usable else {}
        catalogue = _catalogue(reading, report)
    if catalogue is not None:
        catalogue = catalogue.overlaid({key: state.reported() for key, state in states.items()})
    for mapping in _compile_each(config, report):
        if catalogue is not None:
            _check_against_templates(config, mapping, catalogue, report)
        else:
            _check_against_reported(config, mapping, states, report)
        _render_samples(config, mapping, catalogue, report)
    if redis_usable and settings:
        report.warnings.extend(_redis_warnings(config))
    report.problems = list(dict.fromkeys(report.problems))  # a mistake found in several languages, once
    report.warnings = list(dict.fromkeys(report.warnings))
    return report


def _catalogue(reading: ConfigReading, report: CheckReport) -> Catalogue | None:
    """The templates snapshot, when there is one (`bridge templates pull` writes it)."""
    if "whatsapp" in reading.invalid_sections:
        return None
    path = reading.config.whatsapp.templates_file
    try:
        catalogue = load_snapshot(path)
    except ConfigError as exc:
        report.problems.extend(exc.problems)
        return None
    if catalogue is None:
        report.warnings.append(f"template checks skipped: no templates snapshot at {path} (run `bridge templates pull`)")
    return catalogue


def _check_against_templates(config: Config, mapping: CompiledMapping, catalogue: Catalogue, report: CheckReport) -> None:
    for finding in check_mapping(mapping.settings, catalogue):
        problem = ConfigProblem(config.source, f"{mapping.label()}.{finding.key}", finding.problem)
        if finding.error:
            report.problems.append(problem)
        else:
            report.warnings.append(str(problem))


def _check_against_reported(
    config: Config, mapping: CompiledMapping, states: Mapping[tuple[str, str], TemplateState], report: CheckReport
) -> None:
    """Without a snapshot, what Meta's webhook reported still counts: a paused template, a new category."""
    for language in mapping.settings.languages:
        state = states.get((mapping.settings.template, normalize_language(language)))
        if state is None:
            continue
        template = mapping.settings.template
        findings = (*status_findings(template, state.status or TemplateStatus.APPROVED), *category_findings(template, state.category or ""))
        for finding in findings:
            problem = ConfigProblem(config.source, f"{mapping.label()}.{finding.key}", f"{finding.problem} (Meta's webhook{_on(state)})")
            if finding.error:
                report.problems.append(problem)
            else:
                report.warnings.append(str(problem))


def _on(state: TemplateState) -> str:
    latest = max((t for t in (state.status_at, state.category_at) if t), default=None)
    return f" on {datetime.fromtimestamp(latest, tz=UTC):%Y-%m-%d %H:%M} UTC" if latest else ""


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
    if "whatsapp" not in invalid and not config.whatsapp.app_secret:
        report.warnings.append(
            "WHATSAPP_APP_SECRET is not set: Meta's webhook posts (delivery statuses, STOP replies, template changes) are refused with 503"
        )
    if "consent" not in invalid:
        try:
            compile_policy(config)
        except ConfigError as exc:
            report.problems.extend(exc.problems)


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
    from bridge.redis_conn import persistence_warnings_at

    return persistence_warnings_at(config.redis.url)


def _render_samples(config: Config, mapping: CompiledMapping, catalogue: Catalogue | None, report: CheckReport) -> None:
    """Render each sample event of the mapping's types in each of its languages (those the
    catalogue has, when there is one), as production would."""
    available = set(samples.event_types())
    languages = [lang for lang in mapping.settings.languages if catalogue is None or catalogue.find(mapping.settings.template, lang)]
    for event_type in mapping.settings.events:
        if event_type not in available:
            report.warnings.append(f"{mapping.label()}: no sample {event_type} event to render against")
            continue
        for language in languages:
            template = catalogue.find(mapping.settings.template, language) if catalogue is not None else None
            _render_sample(config, mapping, event_type, _Rendering(language, template), report)


@dataclass(frozen=True)
class _Rendering:
    """A language to render in, and the template (from the catalogue) the message goes into."""

    language: str
    template: Template | None

    @property
    def budget(self) -> Budget:
        return Budget(body=body_budget(self.template), header=header_budget(self.template))


@dataclass(frozen=True)
class _Sample:
    """A sample event and the Customer production would render it with (None: `missing` says why)."""

    event_type: str
    event: dict[str, Any]
    customer: dict[str, Any] | None
    missing: str | None

    @property
    def obj(self) -> dict[str, Any]:
        return self.event["data"]["object"]

    def named_for(self, mapping: CompiledMapping) -> str:
        """How a finding names what was rendered: `the sample X event`, and without what."""
        without = f" without the Customer: {self.missing}" if mapping.uses_customer and self.missing else ""
        return f"the sample {self.event_type} event{without}"


def _render_sample(config: Config, mapping: CompiledMapping, event_type: str, rendering: _Rendering, report: CheckReport) -> None:
    """Render one sample event as production would, and report what came out."""
    event = samples.sample_event(event_type)
    sample = _Sample(event_type, event, *production_customer(event, api_key_set=bool(config.stripe.api_key)))
    message = _render(config, mapping, sample, rendering, report)
    if message is None or not _has_recipient(config, mapping, message, sample, report):
        return
    for note in message.adjustments:
        key, _, what = note.partition(": ")
        report.warnings.append(f"{config.source}: {mapping.label()}.{key}: {what} (the sample {event_type} event, {message.language})")
    parameters = readable_parameters(message.message)
    if mapping.uses_customer and sample.missing:
        report.warnings.append(
            f"{mapping.label()}: reads `customer`, but {sample.missing}: production renders without the Customer (rendered: {parameters})"
        )
    report.rendered.append(f"{mapping.name} × {event_type}: {message.template} [{message.language}] ({parameters})")


def production_customer(event: dict[str, Any], *, api_key_set: bool) -> tuple[dict[str, Any] | None, str | None]:
    """The Customer the worker would render `event` with (the sample Customer standing in for a
    lookup), or None and why not. Like the worker: an expanded `customer` is used as it is, else
    the Customer is looked up only with STRIPE_API_KEY set and a Customer id on the object."""
    obj = event["data"]["object"]
    if isinstance(obj.get("customer"), dict):
        return obj["customer"], None
    if customer_id(obj) is None:
        return None, f"the sample {event['type']} event names no Customer"
    if not api_key_set:
        return None, "STRIPE_API_KEY is not set"
    return samples.sample_customer(), None


def _render(
    config: Config, mapping: CompiledMapping, sample: _Sample, rendering: _Rendering, report: CheckReport
) -> RenderedMessage | None:
    """The rendered message, or None after reporting why there is none."""
    context = context_for(config, sample.event, sample.customer, rendering.language)
    try:
        if not mapping.applies(context):
            report.warnings.append(f"{mapping.label()}: `when` is false for {sample.named_for(mapping)}")
            return None
        return mapping.render(context, rendering.budget)
    except RenderError as exc:
        problem = f"{_strip_key(str(exc), exc.key)} (rendering {sample.named_for(mapping)})"
        report.problems.append(ConfigProblem(config.source, f"{mapping.label()}.{exc.key}", problem))
        return None


def _has_recipient(config: Config, mapping: CompiledMapping, message: RenderedMessage, sample: _Sample, report: CheckReport) -> bool:
    if mapping.settings.recipients:
        return True  # staff numbers, checked when the config was read
    phone = phone_for(message.recipient, sample.obj, sample.customer)
    try:
        normalize(phone, config.whatsapp.default_country)
    except RecipientError as exc:
        key = "recipient" if message.recipient else "events"
        report.problems.append(ConfigProblem(config.source, f"{mapping.label()}.{key}", f"{exc} (rendering {sample.named_for(mapping)})"))
        return False
    return True


def readable_parameters(message: TemplateMessage) -> str:
    """A message's parameters as a merchant reads them: JSON strings that show Arabic, no-break
    spaces and every other character as it is, not as Python escapes."""
    parts = [f"header={_quoted(message.header.shown)}"] if message.header is not None else []
    parts += [_quoted(p.shown) if p.name is None else f"{p.name}={_quoted(p.shown)}" for p in message.body]
    parts += [f"button[{b.index}]={_quoted(b.value)}" for b in message.buttons]
    return ", ".join(parts)


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _strip_key(message: str, key: str | None) -> str:
    return message.removeprefix(f"{key}: ") if key else message
