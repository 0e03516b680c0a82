"""What a mapping sends for one event, shown before it is sent: the template's text with the
parameters filled in (from the catalogue, when there is one) and the exact Cloud API request.

Shared by `bridge preview` and `bridge send-test` (and, later, the admin API and settings page).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.config import Config
from bridge.delivery.records import delivery_id
from bridge.errors import RecipientError
from bridge.mappings.compile import CompiledMapping
from bridge.mappings.outgoing import render_message, template_for
from bridge.stripe_events.recipient import phone_for
from bridge.whatsapp.catalogue import Catalogue, Template
from bridge.whatsapp.payload import TemplateMessage, TextParameter, build_template_payload
from bridge.whatsapp.phones import normalize

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


@dataclass(frozen=True)
class FilledTemplate:
    """The message as the customer reads it."""

    header: str | None
    body: str
    footer: str | None
    buttons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preview:
    mapping: str
    event_id: str
    event_type: str
    skipped: str | None = None
    """Why nothing would be sent (the mapping's `when`, no usable phone number)."""
    language: str | None = None
    recipients: tuple[str, ...] = ()
    """The numbers the worker would send to: the customer's, or every staff number."""
    requests: tuple[dict[str, Any], ...] = ()
    """The Cloud API body for each recipient, exactly as the worker sends it."""
    text: FilledTemplate | None = None
    """None without a templates snapshot."""
    adjustments: tuple[str, ...] = field(default=())

    @property
    def request(self) -> dict[str, Any] | None:
        return self.requests[0] if self.requests else None


def preview(
    config: Config,
    mapping: CompiledMapping,
    event: Mapping[str, Any],
    customer: Mapping[str, Any] | None,
    catalogue: Catalogue | None,
    *,
    to: str | None = None,
) -> Preview:
    """What the worker would send for `event`; `to` replaces the recipient (a test send).
    Raises RenderError, as the worker would record it."""
    base = {"mapping": mapping.name, "event_id": str(event.get("id", "")), "event_type": str(event.get("type", ""))}
    rendered = render_message(config, mapping, event, customer, catalogue)
    if rendered is None:
        return Preview(**base, skipped="the mapping's `when` filter is false for this event")
    message = rendered.message
    try:
        recipients = _recipients(config, mapping, rendered.recipient, event, customer, to)
    except RecipientError as exc:
        return Preview(**base, skipped=str(exc), language=message.language)
    ids = _delivery_ids(base["event_id"], mapping, recipients, test=to is not None)
    requests = tuple(build_template_payload(number, message, callback_data=ids[n]) for n, number in enumerate(recipients))
    template = template_for(mapping, message.language, catalogue)
    text = fill(template, message) if template is not None else None
    return Preview(**base, language=message.language, recipients=recipients, requests=requests, text=text, adjustments=rendered.adjustments)


def _recipients(
    config: Config,
    mapping: CompiledMapping,
    rendered: str | None,
    event: Mapping[str, Any],
    customer: Mapping[str, Any] | None,
    to: str | None,
) -> tuple[str, ...]:
    country = config.whatsapp.default_country
    if to is not None:
        return (normalize(to, country),)
    if mapping.settings.recipients:
        return mapping.settings.recipients
    phone = phone_for(rendered, event.get("data", {}).get("object", {}), customer)
    if not phone:
        raise RecipientError("no phone number on the event or its Customer")
    return (normalize(phone, country),)


def _delivery_ids(event_id: str, mapping: CompiledMapping, recipients: tuple[str, ...], *, test: bool) -> list[str]:
    """The `biz_opaque_callback_data` the worker sends: the delivery id (a test send says so)."""
    if test:
        return [f"send-test:{mapping.name}"]
    if mapping.settings.recipients:
        return [delivery_id(event_id, mapping.name, staff=n) for n in range(1, len(recipients) + 1)]
    return [delivery_id(event_id, mapping.name)]


def fill(template: Template, message: TemplateMessage) -> FilledTemplate:
    """The template's text with each placeholder replaced by the value sent for it."""
    body = {(p.name or str(n)): p.shown for n, p in enumerate(message.body, start=1)}
    header = None
    if template.header_text is not None:
        value = message.header.shown if isinstance(message.header, TextParameter) else ""
        header = _PLACEHOLDER.sub(value, template.header_text)
    elif message.header is not None:
        header = message.header.shown
    buttons = tuple(_button(template, message, button.index) for button in template.buttons)
    return FilledTemplate(
        header, _PLACEHOLDER.sub(lambda m: body.get(m.group(1), m.group(0)), template.body_text), template.footer_text, buttons
    )


def _button(template: Template, message: TemplateMessage, index: int) -> str:
    button = next(b for b in template.buttons if b.index == index)
    value = next((b.value for b in message.buttons if b.index == index), None)
    if button.type == "URL" and button.url:
        return f"{button.text}: {_PLACEHOLDER.sub(value or '', button.url)}"
    if button.type == "QUICK_REPLY" and value is not None:
        return f"{button.text} (payload {value})"
    return button.text
