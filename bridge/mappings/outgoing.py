"""The message a mapping makes of an event, as the worker sends it: in the customer's language,
fitted to the approved template. One function, so that `bridge preview` and `bridge send-test`
show exactly what the worker sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.config import Config
from bridge.mappings.compile import Budget, CompiledMapping, RenderedMessage, build_context
from bridge.mappings.templates_check import body_budget, header_budget
from bridge.whatsapp.catalogue import Catalogue, Template


def template_for(mapping: CompiledMapping, language: str, catalogue: Catalogue | None) -> Template | None:
    return catalogue.find(mapping.settings.template, language) if catalogue is not None else None


def message_language(
    mapping: CompiledMapping, event: Mapping[str, Any], customer: Mapping[str, Any] | None, catalogue: Catalogue | None
) -> str:
    """The language to send in: the mapping's default for now."""
    return mapping.settings.language


def context_for(config: Config, event: Mapping[str, Any], customer: Mapping[str, Any] | None, language: str) -> dict[str, Any]:
    return build_context(event, customer, language=language, timezone=config.whatsapp.timezone)


def render_message(
    config: Config,
    mapping: CompiledMapping,
    event: Mapping[str, Any],
    customer: Mapping[str, Any] | None,
    catalogue: Catalogue | None,
) -> RenderedMessage | None:
    """The message for `event` (None when the mapping's `when` says no); RenderError when it cannot be made."""
    language = message_language(mapping, event, customer, catalogue)
    context = context_for(config, event, customer, language)
    if not mapping.applies(context):
        return None
    template = template_for(mapping, language, catalogue)
    return mapping.render(context, Budget(body=body_budget(template), header=header_budget(template)))
