"""Check a mapping against the approved templates (the catalogue snapshot), before Meta refuses a send.

What Meta would refuse, found before deploy: a template or language that does not exist
(132001), a template not APPROVED (132015 paused, 132016 disabled, ...), positional against
named parameters, a wrong number or wrong names of parameters in the header, the body or a
button (132000), a parameter of the wrong kind for its component (132012). A MARKETING template
for a payment notice is a warning: Meta bills it, caps it per customer, and 131050 applies.

Pure functions: a mapping's settings and a Template in, findings out.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.mappings.schema import ButtonKind, HeaderKind, MappingSettings
from bridge.whatsapp.catalogue import Catalogue, Category, ParameterFormat, Template, TemplateButton, TemplateStatus
from bridge.whatsapp.text import BODY_LIMIT, HEADER_TEXT_LIMIT

STATUS_MEANINGS: dict[str, str] = {
    TemplateStatus.PENDING: "Meta is still reviewing it (up to 24 hours); sends fail with 132001 until it is approved",
    TemplateStatus.REJECTED: "Meta rejected it; see the reason in WhatsApp Manager, then edit and resubmit it",
    TemplateStatus.PAUSED: "Meta paused it for low quality (sends fail with 132015); edit it or wait for Meta to unpause it",
    TemplateStatus.DISABLED: "Meta disabled it for good after repeated pauses (sends fail with 132016); create a new template",
    TemplateStatus.IN_APPEAL: "its rejection is under appeal; it cannot be sent until the appeal is decided",
}


SENDABLE = frozenset({TemplateStatus.APPROVED, TemplateStatus.REINSTATED, TemplateStatus.UNARCHIVED})
"""Statuses a send goes through with (REINSTATED, UNARCHIVED: approved again, as Meta's webhook says)."""


@dataclass(frozen=True)
class Finding:
    key: str
    """Where in the mapping: template, language, header, body, body[1], buttons[0], ..."""
    problem: str
    error: bool = True


def check_mapping(mapping: MappingSettings, catalogue: Catalogue) -> list[Finding]:
    """Every way `mapping` does not fit its template, in each of its languages."""
    findings: list[Finding] = []
    if not catalogue.languages_of(mapping.template):
        return [Finding("template", f"{mapping.template} is not in the templates snapshot: check the name, or pull again")]
    for language in mapping.languages:
        template = catalogue.find(mapping.template, language)
        if template is None:
            have = ", ".join(catalogue.languages_of(mapping.template))
            findings.append(
                Finding("language", f"{mapping.template} has no {language} translation (it has {have}); Meta refuses the send (132001)")
            )
            continue
        findings += [_in(language, mapping, f) for f in _check_template(mapping, template)]
    return _unique(findings)


def _in(language: str, mapping: MappingSettings, finding: Finding) -> Finding:
    """Say which language a finding is about when the mapping has several."""
    if len(mapping.languages) == 1:
        return finding
    return Finding(finding.key, f"[{language}] {finding.problem}", finding.error)


def _unique(findings: list[Finding]) -> list[Finding]:
    """Each finding once (a mistake common to every language is reported once per language)."""
    return list(dict.fromkeys(findings))


def _check_template(mapping: MappingSettings, template: Template) -> list[Finding]:
    return [
        *status_findings(template.name, template.status),
        *category_findings(template.name, template.category),
        *_parameter_format(mapping, template),
        *_header(mapping, template),
        *_body(mapping, template),
        *_buttons(mapping, template),
    ]


def status_findings(name: str, status: str) -> list[Finding]:
    """A template that is not APPROVED cannot be sent: say what its status means."""
    if status in SENDABLE:
        return []
    if status == TemplateStatus.FLAGGED:
        meaning = "Meta flagged it for low quality: it is still sent, but Meta pauses it if its quality does not improve"
        return [Finding("template", f"{name} is {status}: {meaning}", error=False)]
    meaning = STATUS_MEANINGS.get(status, "only APPROVED templates can be sent")
    return [Finding("template", f"{name} is {status}: {meaning}")]


def category_findings(name: str, category: str) -> list[Finding]:
    """A payment notice belongs in a UTILITY template: warn about the other categories."""
    if category == Category.MARKETING:
        return [
            Finding(
                "template",
                f"{name} is a MARKETING template: Meta bills it and caps how many marketing messages a customer "
                "gets, and customers who stopped marketing messages (131050) never get it. A payment notice belongs in a UTILITY template",
                error=False,
            )
        ]
    if category == Category.AUTHENTICATION:
        return [
            Finding("template", f"{name} is an AUTHENTICATION template, meant for one-time passwords, not payment notices", error=False)
        ]
    return []


def _parameter_format(mapping: MappingSettings, template: Template) -> list[Finding]:
    if not mapping.body or not template.body_placeholders:
        return []
    named = template.parameter_format == ParameterFormat.NAMED
    if named and not mapping.named:
        example = ", ".join(f"{name} = ..." for name in template.body_placeholders)
        return [
            Finding(
                "body", f"the template uses named parameters ({_shown(template.body_placeholders)}): give body as a table {{ {example} }}"
            )
        ]
    if mapping.named and not named:
        return [
            Finding(
                "body", f"the template uses positional parameters ({_shown(template.body_placeholders)}): give body as a list, in order"
            )
        ]
    return []


def _body(mapping: MappingSettings, template: Template) -> list[Finding]:
    wanted = template.body_placeholders
    if mapping.named and template.parameter_format == ParameterFormat.NAMED:
        given = tuple(name for name, _ in mapping.body if name is not None)
        return _names("body", given, wanted)
    if mapping.named != (template.parameter_format == ParameterFormat.NAMED) and mapping.body and wanted:
        return []  # reported by _parameter_format
    if len(mapping.body) != len(wanted):
        template_says = f"{len(wanted)} parameter{'s' * (len(wanted) != 1)}" + (f" ({_shown(wanted)})" if wanted else "")
        return [
            Finding("body", f"the template's body takes {template_says}, the mapping gives {len(mapping.body)}; Meta refuses that (132000)")
        ]
    return []


def _names(key: str, given: tuple[str, ...], wanted: tuple[str, ...]) -> list[Finding]:
    findings = []
    unknown = [name for name in given if name not in wanted]
    missing = [name for name in wanted if name not in given]
    if unknown:
        findings.append(Finding(key, f"the template has no {_shown(unknown)} (it has {_shown(wanted)}); Meta refuses that (132000)"))
    if missing:
        findings.append(
            Finding(key, f"the template's {_shown(missing)} {'is' if len(missing) == 1 else 'are'} not given; Meta refuses that (132000)")
        )
    return findings


def _header(mapping: MappingSettings, template: Template) -> list[Finding]:
    header, kind = mapping.header, (template.header_format or "").lower()
    if kind in ("image", "document", "video"):
        if header is None or header.kind != kind:
            given = f"gives a {header.kind} header" if header is not None else "gives none"
            example = f'{{ {kind} = "https://..."{", filename = ..." if kind == "document" else ""} }}'
            return [
                Finding(
                    "header", f"the template has a {kind.upper()} header, the mapping {given}: give header = {example} (132012 otherwise)"
                )
            ]
        if kind == "document" and header.filename is None:
            return [Finding("header", 'a document header without filename shows as "Untitled": add filename = "..."', error=False)]
        return []
    if kind == "text" and template.header_placeholders:
        return _text_header(mapping, template)
    if header is not None:
        has = f"a {kind.upper()} header without a parameter" if kind else "no header"
        return [Finding("header", f"the template has {has}; remove the mapping's header (132000 otherwise)")]
    return []


def _text_header(mapping: MappingSettings, template: Template) -> list[Finding]:
    header, (placeholder,) = mapping.header, template.header_placeholders[:1]
    if header is None or header.kind is not HeaderKind.TEXT:
        return [
            Finding("header", f'the template\'s header takes a text parameter ({_shown([placeholder])}): give header = {{ text = "..." }}')
        ]
    if template.parameter_format == ParameterFormat.NAMED and header.name != placeholder:
        return [
            Finding(
                "header", f'the template\'s header parameter is named {placeholder}: give header = {{ text = ..., name = "{placeholder}" }}'
            )
        ]
    return []


def _buttons(mapping: MappingSettings, template: Template) -> list[Finding]:
    findings = []
    given = {button.index: (position, button) for position, button in enumerate(mapping.buttons)}
    for button in template.buttons:
        # A copy-code button has no placeholder, but its code is always sent as a parameter.
        if (button.placeholders or button.type == "COPY_CODE") and button.index not in given:
            findings.append(_missing_button(button))
    for index, (position, button) in given.items():
        target = next((b for b in template.buttons if b.index == index), None)
        key = f"buttons[{position}]"
        if target is None:
            findings.append(
                Finding(key, f"the template has no button {index} (it has {len(template.buttons)}); Meta refuses that (132000)")
            )
        elif button.kind is ButtonKind.URL and not (target.type == "URL" and target.placeholders):
            findings.append(
                Finding(key, f"button {index} is {_describe(target)}: only a URL button ending in {{{{1}}}} takes a url suffix")
            )
        elif button.kind is ButtonKind.QUICK_REPLY and target.type != "QUICK_REPLY":
            findings.append(Finding(key, f"button {index} is {_describe(target)}: only a quick reply takes a payload"))
    return findings


def _missing_button(button: TemplateButton) -> Finding:
    where = f"the template's button {button.index} ({_describe(button)})"
    if button.type == "URL":
        return Finding("buttons", f'{where} needs its URL suffix: add {{ url = "...", index = {button.index} }}')
    return Finding("buttons", f"{where} takes a parameter the bridge does not send (131008): use a template without it")


def _describe(button: TemplateButton) -> str:
    if button.type == "URL":
        return f"URL {button.url}"
    return f"{button.type} {button.text!r}"


def _shown(names: tuple[str, ...] | list[str]) -> str:
    return " ".join(f"{{{{{name}}}}}" for name in names)


def body_budget(template: Template | None) -> int:
    """Characters the body's parameters may take: Meta's limit less the template's own text."""
    return BODY_LIMIT if template is None else BODY_LIMIT - template.text_length_without_placeholders()


def header_budget(template: Template | None) -> int:
    """Characters a text header's parameter may take."""
    if template is None or not template.header_text:
        return HEADER_TEXT_LIMIT
    own = len(template.header_text) - sum(len(f"{{{{{name}}}}}") for name in template.header_placeholders)
    return HEADER_TEXT_LIMIT - own
