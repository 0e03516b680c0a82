"""The message a mapping makes of an event, as the worker sends it: in the customer's language,
fitted to the approved template. One function, so that `bridge preview` and `bridge send-test`
show exactly what the worker sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.config import Config
from bridge.mappings.compile import Budget, CompiledMapping, RenderedMessage, build_context
from bridge.mappings.language import choose_language
from bridge.mappings.templates_check import body_budget, header_budget
from bridge.stripe_events.recipient import preferred_locales
from bridge.whatsapp.catalogue import Catalogue, Template


def template_for(mapping: CompiledMapping, language: str, catalogue: Catalogue | None) -> Template | None:
    return catalogue.find(mapping.settings.template, language) if catalogue is not None else None


def message_language(
    mapping: CompiledMapping, event: Mapping[str, Any], customer: Mapping[str, Any] | None, catalogue: Catalogue | None
) -> str:
    """The customer's language when the template has it (their Customer's `preferred_locales`,
    then a Checkout Session's `locale`), else the mapping's first. Staff alerts use the first."""
    settings = mapping.settings
    if settings.recipients:
        return settings.language
    available = catalogue.languages_of(settings.template) if catalogue is not None else None
    obj = event.get("data", {}).get("object", {})
    return choose_language(settings.languages, preferred=preferred_locales(obj, customer), available=available or None)


def context_for(config: Config, event: Mapping[str, Any], customer: Mapping[str, Any] | None, language: str) -> dict[str, Any]:
    """The render context for `language`, with the [formatting] settings the filters and parameters use."""
    formatting = config.formatting
    return build_context(
        event,
        customer,
        language=language,
        timezone=config.whatsapp.timezone,
        digits=formatting.digits,
        bidi_marks=formatting.bidi_marks,
    )


def render_message(
    config: Config,
    mapping: CompiledMapping,
    event: Mapping[str, Any],
    customer: Mapping[str, Any] | None,
    catalogue: Catalogue | None,
    *,
    when_decided: bool = False,
) -> RenderedMessage | None:
    """The message for `event` (None when the mapping's `when` says no); RenderError when it
    cannot be made. `when_decided`: the caller already found `when` true (the worker decides a
    `when` that does not read the Customer before fetching it)."""
    language = message_language(mapping, event, customer, catalogue)
    context = context_for(config, event, customer, language)
    if not when_decided and not mapping.applies(context):
        return None
    template = template_for(mapping, language, catalogue)
    return mapping.render(context, Budget(body=body_budget(template), header=header_budget(template)))
