"""The mapping language: which Stripe events become which WhatsApp template, with what parameters.

Mappings are compiled once (at app or worker start) into `CompiledMapping`s. Templates run in
jinja2's immutable sandbox, bounded in size and time (sandbox.py), with `StrictUndefined`, so a
typo in a field name is an error (caught by `bridge check-config` against the sample events)
rather than an empty parameter that Meta rejects with 132018 after the customer has paid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateSyntaxError, meta

from bridge.config import Config, MappingSettings
from bridge.errors import ConfigError, ConfigProblem, RenderError
from bridge.mappings.filters import BRIDGE_FILTERS, FILTER_USAGE
from bridge.mappings.sandbox import BoundedSandbox, as_render_error, evaluate_condition, render
from bridge.stripe_events.event_types import KNOWN_EVENT_TYPES
from bridge.whatsapp.payload import Parameter
from bridge.whatsapp.text import BODY_LIMIT, clean_text, fit_body


def make_environment() -> BoundedSandbox:
    return BoundedSandbox(BRIDGE_FILTERS, FILTER_USAGE)


ENVIRONMENT = make_environment()


@dataclass(frozen=True)
class RenderedMessage:
    mapping: str
    template: str
    language: str
    parameters: tuple[Parameter, ...]
    recipient: str | None
    """What the mapping's `recipient` template rendered to; None means: use the event's phone."""


@dataclass(frozen=True)
class CompiledMapping:
    settings: MappingSettings
    when: Callable[..., Any] | None
    body: tuple[tuple[str | None, str, Any], ...]
    """(parameter name or None, config key, compiled template) in send order."""
    recipient: Any | None
    uses_customer: bool
    """Some template or `when` names `customer`: the Customer must be fetched before rendering."""
    when_uses_customer: bool = False
    """`when` names `customer`; otherwise it is decided before any Customer lookup."""

    @property
    def name(self) -> str:
        return self.settings.name

    def label(self) -> str:
        return f"mappings[{self.settings.index}] ({self.settings.name})"

    def applies(self, context: Mapping[str, Any]) -> bool:
        """Evaluate the `when` filter; no filter means always."""
        if self.when is None:
            return True
        try:
            return evaluate_condition(self.when, context)
        except RenderError as exc:
            raise type(exc)(f"when: {exc}", mapping=self.name, key="when") from None

    def render(self, context: Mapping[str, Any]) -> RenderedMessage:
        """Render every parameter and the recipient; raise RenderError naming the failing key.

        Parameters are cleaned and cut to fit the body rather than failed: a customer's long or
        multi-line name must not cost them their receipt."""
        texts = [self._render_parameter(template, context, key) for _, key, template in self.body]
        # The template's own text is not known here, so the budget is the whole body limit.
        fitted = fit_body(texts, BODY_LIMIT)
        parameters = [Parameter(text=text, name=name) for (name, _, _), text in zip(self.body, fitted, strict=True)]
        recipient = None
        if self.recipient is not None:
            recipient = self._render_one(self.recipient, context, "recipient").strip() or None
        return RenderedMessage(
            mapping=self.name,
            template=self.settings.template,
            language=self.settings.language,
            parameters=tuple(parameters),
            recipient=recipient,
        )

    def _render_parameter(self, template: Any, context: Mapping[str, Any], key: str) -> str:
        text = clean_text(self._render_one(template, context, key))
        if not text:
            raise RenderError(f"{key}: rendered empty (Meta rejects empty parameters)", mapping=self.name, key=key)
        return text

    def _render_one(self, template: Any, context: Mapping[str, Any], key: str) -> str:
        try:
            return render(template, context)
        except RenderError as exc:
            raise type(exc)(f"{key}: {exc}", mapping=self.name, key=key) from None


def build_context(event: Mapping[str, Any], customer: Mapping[str, Any] | None, *, language: str, timezone: str) -> dict[str, Any]:
    """The names a mapping template can use."""
    obj = event.get("data", {}).get("object", {}) if isinstance(event.get("data"), Mapping) else {}
    return {
        "event": event,
        "object": obj,
        "customer": customer,
        "_language": language,
        "_timezone": timezone,
    }


def compile_mappings(config: Config) -> list[CompiledMapping]:
    """Compile every mapping once; raise ConfigError listing all syntax and event-type mistakes."""
    problems: list[ConfigProblem] = []
    compiled = []
    for settings in config.mappings:
        mapping, mapping_problems = _compile_one(settings, config.source)
        problems.extend(mapping_problems)
        if mapping is not None:
            compiled.append(mapping)
    if problems:
        raise ConfigError(problems)
    return compiled


def _compile_one(settings: MappingSettings, source: str) -> tuple[CompiledMapping | None, list[ConfigProblem]]:
    label = f"mappings[{settings.index}] ({settings.name})"
    problems = [
        ConfigProblem(source, f"{label}.events[{i}]", f"unknown Stripe event type {event_type!r}")
        for i, event_type in enumerate(settings.events)
        if KNOWN_EVENT_TYPES and event_type not in KNOWN_EVENT_TYPES
    ]
    compiler = _TemplateCompiler(source, label)
    when = compiler.expression(settings.when, "when") if settings.when is not None else None
    if isinstance(settings.body, dict):
        body = tuple((name, f"body.{name}", compiler.template(text, f"body.{name}")) for name, text in settings.body.items())
    else:
        body = tuple((None, f"body[{i}]", compiler.template(text, f"body[{i}]")) for i, text in enumerate(settings.body))
    recipient = compiler.template(settings.recipient, "recipient") if settings.recipient is not None else None
    problems.extend(compiler.problems)
    if problems:
        return None, problems
    return CompiledMapping(
        settings=settings,
        when=when,
        body=body,
        recipient=recipient,
        uses_customer="customer" in compiler.referenced,
        when_uses_customer="customer" in compiler.when_names,
    ), []


@dataclass
class _TemplateCompiler:
    """Compiles one mapping's templates, collecting problems and the names they use.

    Anything jinja2 raises on a hostile template (a literal of 5,000 digits, brackets nested
    thousands deep) is a problem too: compile_mappings raises nothing but ConfigError."""

    source: str
    label: str
    problems: list[ConfigProblem] = field(default_factory=list)
    referenced: set[str] = field(default_factory=set)
    when_names: set[str] = field(default_factory=set)

    def template(self, text: str, key: str) -> Any:
        try:
            self.referenced.update(meta.find_undeclared_variables(ENVIRONMENT.parse(text)))
            return ENVIRONMENT.from_string(text)
        except TemplateSyntaxError as exc:
            return self._problem(key, f"template syntax error: {exc.message} (line {exc.lineno})")
        except Exception as exc:
            return self._problem(key, f"cannot be compiled: {as_render_error(exc)}")

    def expression(self, text: str, key: str) -> Any:
        try:
            self.when_names = meta.find_undeclared_variables(ENVIRONMENT.parse("{{ " + text + " }}"))
            self.referenced.update(self.when_names)
            return ENVIRONMENT.compile_expression(text, undefined_to_none=False)
        except TemplateSyntaxError as exc:
            return self._problem(key, f"expression syntax error: {exc.message}")
        except Exception as exc:
            return self._problem(key, f"cannot be compiled: {as_render_error(exc)}")

    def _problem(self, key: str, problem: str) -> None:
        self.problems.append(ConfigProblem(self.source, f"{self.label}.{key}", problem))
