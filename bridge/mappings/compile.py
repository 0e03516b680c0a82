"""The mapping language: which Stripe events become which WhatsApp template, with what parameters.

Mappings are compiled once (at app or worker start) into `CompiledMapping`s. Templates run in
jinja2's immutable sandbox, bounded in size and time (sandbox.py), with `StrictUndefined`, so a
typo in a field name is an error (caught by `bridge check-config` against the sample events)
rather than an empty parameter that Meta rejects with 132018 after the customer has paid.

A render gives a `TemplateMessage` (bridge.whatsapp.payload): header, body and button
parameters of every kind Meta takes. Text is cleaned and cut to Meta's limits rather than
failed (bridge.whatsapp.text): a customer's long or multi-line name must not cost them their
receipt.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateSyntaxError, meta

from bridge.config import Config
from bridge.errors import ConfigError, ConfigProblem, RenderError
from bridge.mappings.filters import BRIDGE_FILTERS, FILTER_USAGE
from bridge.mappings.formatting import LATIN_DIGITS, currency_parameter_values, date_time_fallback
from bridge.mappings.sandbox import BoundedSandbox, as_render_error, evaluate_condition, render
from bridge.mappings.schema import ButtonKind, ButtonSettings, HeaderKind, MappingSettings, ParameterKind, ParameterSettings
from bridge.stripe_events.event_types import KNOWN_EVENT_TYPES
from bridge.whatsapp.payload import (
    BodyParameter,
    ButtonParameter,
    CurrencyParameter,
    DateTimeParameter,
    HeaderParameter,
    MediaParameter,
    TemplateMessage,
    TextParameter,
)
from bridge.whatsapp.text import BODY_LIMIT, HEADER_TEXT_LIMIT, clean_text, fit, fit_body

_AMOUNT = re.compile(r"^\d{1,15}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_LINK = re.compile(r"^https?://\S+$")


def make_environment() -> BoundedSandbox:
    return BoundedSandbox(BRIDGE_FILTERS, FILTER_USAGE)


ENVIRONMENT = make_environment()


@dataclass(frozen=True)
class RenderedMessage:
    mapping: str
    message: TemplateMessage
    recipient: str | None
    """What the mapping's `recipient` template rendered to; None means: use the event's phone."""
    adjustments: tuple[str, ...] = ()
    """What was changed to make the values acceptable to Meta: `body[0]: cleaned ...`, `cut ...`."""

    @property
    def template(self) -> str:
        return self.message.name

    @property
    def language(self) -> str:
        return self.message.language

    @property
    def parameters(self) -> tuple[BodyParameter, ...]:
        """The body's parameters."""
        return self.message.body


@dataclass(frozen=True)
class CompiledParameter:
    name: str | None
    key: str
    """Where it is in the config: body[1], body.amount."""
    settings: ParameterSettings
    templates: dict[str, Any]


@dataclass(frozen=True)
class CompiledHeader:
    kind: HeaderKind
    value: Any
    filename: Any | None
    name: str | None


@dataclass(frozen=True)
class CompiledButton:
    kind: ButtonKind
    index: int
    key: str
    value: Any


@dataclass(frozen=True)
class Budget:
    """How many characters the parameters may take: Meta's limits less the template's own text
    (known from the template catalogue; without it, the whole limit)."""

    body: int = BODY_LIMIT
    header: int = HEADER_TEXT_LIMIT


@dataclass(frozen=True)
class CompiledMapping:
    settings: MappingSettings
    when: Callable[..., Any] | None
    body: tuple[CompiledParameter, ...]
    header: CompiledHeader | None = None
    buttons: tuple[CompiledButton, ...] = ()
    recipient: Any | None = None
    uses_customer: bool = False
    """Some template or `when` names `customer`: the Customer must be fetched before rendering."""
    when_uses_customer: bool = False
    """`when` names `customer`; otherwise it is decided before any Customer lookup."""

    @property
    def name(self) -> str:
        return self.settings.name

    def label(self) -> str:
        return self.settings.label

    def applies(self, context: Mapping[str, Any]) -> bool:
        """Evaluate the `when` filter; no filter means always."""
        if self.when is None:
            return True
        try:
            return evaluate_condition(self.when, context)
        except RenderError as exc:
            raise type(exc)(f"when: {exc}", mapping=self.name, key="when") from None

    def render(self, context: Mapping[str, Any], budget: Budget = Budget()) -> RenderedMessage:
        """Render every parameter and the recipient, in the context's `_language`; raise
        RenderError naming the failing key. Text is cleaned and cut to fit `budget`, and each
        such change is noted in `adjustments`."""
        notes: list[str] = []
        body = self._fitted_body([self._parameter(p, context, notes) for p in self.body], budget.body, notes)
        message = TemplateMessage(
            name=self.settings.template,
            language=str(context.get("_language") or self.settings.language),
            header=self._header(context, budget.header, notes) if self.header is not None else None,
            body=tuple(body),
            buttons=tuple(self._button(b, context, notes) for b in self.buttons),
        )
        recipient = None
        if self.recipient is not None:
            recipient = self._render_one(self.recipient, context, "recipient").strip() or None
        return RenderedMessage(mapping=self.name, message=message, recipient=recipient, adjustments=tuple(notes))

    # -- body --------------------------------------------------------------------------------

    def _parameter(self, parameter: CompiledParameter, context: Mapping[str, Any], notes: list[str]) -> BodyParameter:
        kind, key, name = parameter.settings.kind, parameter.key, parameter.name
        if kind is ParameterKind.CURRENCY:
            amount = self._amount(parameter.templates["amount"], context, f"{key}.amount")
            currency = self._currency(parameter.templates["currency"], context, f"{key}.currency")
            try:
                fallback, code, amount_1000 = currency_parameter_values(amount, currency, _language(context), **_formatting(context))
            except ValueError as exc:  # an amount finer than amount_1000 holds (CLF, UYW)
                raise RenderError(f"{key}: {exc}", mapping=self.name, key=key) from None
            return CurrencyParameter(fallback, code, amount_1000, name)
        if kind is ParameterKind.DATE_TIME:
            value = self._render_one(parameter.templates["value"], context, f"{key}.value").strip()
            return DateTimeParameter(self._date(value, parameter.settings, context, f"{key}.value"), name)
        return TextParameter(self._text(parameter.templates["text"], context, key, notes), name)

    def _fitted_body(self, parameters: list[BodyParameter], budget: int, notes: list[str]) -> list[BodyParameter]:
        """Cut the text parameters, longest first, so that the whole body fits."""
        texts = [p.text for p in parameters if isinstance(p, TextParameter)]
        fixed = sum(len(p.shown) for p in parameters if not isinstance(p, TextParameter))
        left = max(budget - fixed, 0)
        fitted = iter(fit_body(texts, left))
        result: list[BodyParameter] = []
        for compiled, parameter in zip(self.body, parameters, strict=True):
            if isinstance(parameter, TextParameter):
                text = next(fitted)
                if text != parameter.text:
                    notes.append(
                        f"{compiled.key}: cut from {len(parameter.text):,} to {len(text):,} characters to fit the body ({budget:,} left)"
                    )
                parameter = TextParameter(text, parameter.name)
            result.append(parameter)
        return result

    def _amount(self, template: Any, context: Mapping[str, Any], key: str) -> int:
        text = self._render_one(template, context, key).strip()
        if not _AMOUNT.match(text):
            raise RenderError(
                f"{key}: must render an amount in minor units (Stripe's integer), got {text[:40]!r}", mapping=self.name, key=key
            )
        return int(text)

    def _currency(self, template: Any, context: Mapping[str, Any], key: str) -> str:
        text = self._render_one(template, context, key).strip()
        if not _CURRENCY.match(text):
            raise RenderError(f"{key}: must render a three-letter currency code, got {text[:40]!r}", mapping=self.name, key=key)
        return text

    def _date(self, value: str, settings: ParameterSettings, context: Mapping[str, Any], key: str) -> str:
        try:
            timestamp = float(value)
            timezone = str(context.get("_timezone") or "UTC")
            return date_time_fallback(
                timestamp, _language(context), timezone, fmt=settings.format, with_time=settings.time, **_formatting(context)
            )
        except (ValueError, OverflowError, OSError) as exc:
            raise RenderError(f"{key}: must render a unix timestamp ({exc})", mapping=self.name, key=key) from None

    # -- header and buttons ------------------------------------------------------------------

    def _header(self, context: Mapping[str, Any], limit: int, notes: list[str]) -> HeaderParameter:
        header = self.header
        assert header is not None
        if header.kind is HeaderKind.TEXT:
            text = self._text(header.value, context, "header.text", notes)
            fitted = fit(text, max(limit, 2))
            if fitted != text:
                notes.append(f"header.text: cut from {len(text):,} to {len(fitted):,} characters to fit the header ({limit} left)")
            return TextParameter(fitted, header.name)
        key = f"header.{header.kind}"
        link = self._render_one(header.value, context, key).strip()
        if not _LINK.match(link):
            raise RenderError(f"{key}: must render a public http(s) link to the media, got {link[:60]!r}", mapping=self.name, key=key)
        filename = self._text(header.filename, context, "header.filename", notes) if header.filename is not None else None
        return MediaParameter(str(header.kind), link, filename)

    def _button(self, button: CompiledButton, context: Mapping[str, Any], notes: list[str]) -> ButtonParameter:
        if button.kind is ButtonKind.URL:
            suffix = self._render_one(button.value, context, button.key).strip()
            if not suffix or any(ch.isspace() for ch in suffix):
                problem = "rendered empty" if not suffix else "holds white space, which cannot be part of a URL"
                raise RenderError(f"{button.key}: {problem}", mapping=self.name, key=button.key)
            return ButtonParameter("url", button.index, suffix)
        return ButtonParameter("quick_reply", button.index, self._text(button.value, context, button.key, notes))

    # -- rendering one template --------------------------------------------------------------

    def _text(self, template: Any, context: Mapping[str, Any], key: str, notes: list[str]) -> str:
        raw = self._render_one(template, context, key)
        text = clean_text(raw)
        if not text:
            raise RenderError(f"{key}: rendered empty (Meta rejects empty parameters)", mapping=self.name, key=key)
        if text != raw.strip():
            notes.append(f"{key}: line breaks, tabs, control characters or runs of spaces were cleaned (Meta refuses them)")
        return text

    def _render_one(self, template: Any, context: Mapping[str, Any], key: str) -> str:
        try:
            return render(template, context)
        except RenderError as exc:
            raise type(exc)(f"{key}: {exc}", mapping=self.name, key=key) from None


def _language(context: Mapping[str, Any]) -> str:
    return str(context.get("_language") or "en_US")


def _formatting(context: Mapping[str, Any]) -> dict[str, Any]:
    return {"digits": context.get("_digits", LATIN_DIGITS), "bidi_marks": bool(context.get("_bidi_marks", False))}


def build_context(
    event: Mapping[str, Any],
    customer: Mapping[str, Any] | None,
    *,
    language: str,
    timezone: str,
    digits: str = LATIN_DIGITS,
    bidi_marks: bool = False,
) -> dict[str, Any]:
    """The names a mapping template can use (and, underscored, what the filters format with)."""
    obj = event.get("data", {}).get("object", {}) if isinstance(event.get("data"), Mapping) else {}
    return {
        "event": event,
        "object": obj,
        "customer": customer,
        "_language": language,
        "_timezone": timezone,
        "_digits": digits,
        "_bidi_marks": bidi_marks,
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
    problems = [
        ConfigProblem(source, f"{settings.label}.events[{i}]", f"unknown Stripe event type {event_type!r}")
        for i, event_type in enumerate(settings.events)
        if KNOWN_EVENT_TYPES and event_type not in KNOWN_EVENT_TYPES
    ]
    compiler = _TemplateCompiler(source, settings.label)
    when = compiler.expression(settings.when, "when") if settings.when is not None else None
    body = tuple(_compile_parameter(compiler, name, position, p) for position, (name, p) in enumerate(settings.body))
    header = _compile_header(compiler, settings) if settings.header is not None else None
    buttons = tuple(_compile_button(compiler, position, b) for position, b in enumerate(settings.buttons))
    recipient = compiler.template(settings.recipient, "recipient") if settings.recipient is not None else None
    problems.extend(compiler.problems)
    if problems:
        return None, problems
    return CompiledMapping(
        settings=settings,
        when=when,
        body=body,
        header=header,
        buttons=buttons,
        recipient=recipient,
        uses_customer="customer" in compiler.referenced,
        when_uses_customer="customer" in compiler.when_names,
    ), []


def _compile_button(compiler: _TemplateCompiler, position: int, button: ButtonSettings) -> CompiledButton:
    key = f"buttons[{position}].{'url' if button.kind is ButtonKind.URL else 'payload'}"
    return CompiledButton(button.kind, button.index, key, compiler.template(button.value, key))


def _compile_parameter(compiler: _TemplateCompiler, name: str | None, position: int, settings: ParameterSettings) -> CompiledParameter:
    key = f"body.{name}" if name is not None else f"body[{position}]"
    if settings.kind is ParameterKind.TEXT:
        return CompiledParameter(name, key, settings, {"text": compiler.template(settings.template("text"), key)})
    templates = {part: compiler.template(text, f"{key}.{part}") for part, text in settings.templates}
    return CompiledParameter(name, key, settings, templates)


def _compile_header(compiler: _TemplateCompiler, settings: MappingSettings) -> CompiledHeader:
    header = settings.header
    assert header is not None
    value = compiler.template(header.value, f"header.{header.kind}")
    filename = compiler.template(header.filename, "header.filename") if header.filename is not None else None
    return CompiledHeader(header.kind, value, filename, header.name)


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
