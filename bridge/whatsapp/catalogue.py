"""The template catalogue: the WhatsApp Business Account's templates as Meta describes them.

`bridge templates pull` reads them from `GET /{waba-id}/message_templates` and keeps a snapshot
file; everything else reads the snapshot, never Meta (template management allows about 200
requests an hour, far too few to ask per message). Parsing is pure: `parse_template` turns one of
Meta's template objects into a `Template`. The snapshot keeps Meta's objects as they came, so a
better parser later applies to an old snapshot without pulling again.

Meta's shapes (template management reference, /work/shared/research/whatsapp-cloud-api.md §5):
component `type` is UPPERCASE on read (HEADER, BODY, FOOTER, BUTTONS), lowercase in sends;
placeholders are `{{1}}`, `{{2}}`... (POSITIONAL) or `{{first_name}}` (NAMED); a URL button may
end in one `{{1}}`, its suffix, whatever the template's parameter format.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError, ConfigProblem

SNAPSHOT_FORMAT = 1
"""Bumped only if the snapshot's own keys change; Meta's template objects are stored as given."""


class TemplateStatus(StrEnum):
    """A template's review state (Meta's documented values). Only APPROVED can be sent."""

    APPROVED = "APPROVED"
    PENDING = "PENDING"
    REJECTED = "REJECTED"
    PAUSED = "PAUSED"
    DISABLED = "DISABLED"
    IN_APPEAL = "IN_APPEAL"
    PENDING_DELETION = "PENDING_DELETION"
    DELETED = "DELETED"
    REINSTATED = "REINSTATED"
    FLAGGED = "FLAGGED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    ARCHIVED = "ARCHIVED"
    UNARCHIVED = "UNARCHIVED"
    LOCKED = "LOCKED"


class Category(StrEnum):
    UTILITY = "UTILITY"
    MARKETING = "MARKETING"
    AUTHENTICATION = "AUTHENTICATION"


class ParameterFormat(StrEnum):
    POSITIONAL = "POSITIONAL"
    """`{{1}}`, `{{2}}`: parameters are sent in order, without names (Meta's default)."""
    NAMED = "NAMED"
    """`{{first_name}}`: each parameter is sent with its `parameter_name`, in any order."""


NOT_SENDABLE = frozenset(
    {
        TemplateStatus.PENDING,
        TemplateStatus.REJECTED,
        TemplateStatus.PAUSED,
        TemplateStatus.DISABLED,
        TemplateStatus.IN_APPEAL,
        TemplateStatus.PENDING_DELETION,
        TemplateStatus.DELETED,
        TemplateStatus.ARCHIVED,
        TemplateStatus.LOCKED,
    }
)
"""States in which Meta refuses a send (132001, 132015, 132016). FLAGGED still sends (Meta warns
before it pauses); REINSTATED and UNARCHIVED are sendable again; a state Meta adds later is not
taken as a reason to stop sending."""


def blocks_sending(status: str) -> bool:
    return status.upper() in NOT_SENDABLE


def known_status(status: str) -> TemplateStatus | None:
    """The enum member for a status Meta sent, or None for a value this bridge does not know yet
    (Meta adds states; the raw text is kept on the Template either way)."""
    try:
        return TemplateStatus(status)
    except ValueError:
        return None


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def placeholders(text: str | None) -> tuple[str, ...]:
    """The distinct placeholders of `text` in order of first appearance, as written: "1", "first_name"."""
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(text or ""):
        seen.setdefault(match.group(1))
    return tuple(seen)


def normalize_language(code: str) -> str:
    """Meta's template language code for `code`: Meta writes `en_US` in the templates API and
    `en-US` in webhooks. The language is lower-case, a two-letter region upper-case (pt-br →
    pt_BR); other subtags (zh_Hant) keep their case."""
    parts = re.split(r"[-_]", code.strip())
    language, rest = parts[0].lower(), parts[1:]
    return "_".join([language, *(part.upper() if len(part) == 2 else part for part in rest)])


@dataclass(frozen=True)
class TemplateButton:
    """One button of a template. A URL button's `url` may end in `{{1}}`: its suffix is sent as a
    parameter. Quick replies have no placeholder but may take a payload at send time."""

    index: int
    type: str
    """URL, QUICK_REPLY, PHONE_NUMBER, COPY_CODE, FLOW, ... as Meta writes it."""
    text: str
    url: str | None
    placeholders: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    """One template in one language, as far as sending it is concerned."""

    name: str
    language: str
    status: str
    """Meta's text; compare with TemplateStatus (a StrEnum), or see `known_status`."""
    category: str
    parameter_format: ParameterFormat
    header_format: str | None
    """TEXT, IMAGE, DOCUMENT, VIDEO, LOCATION; None when the template has no header."""
    header_text: str | None
    header_placeholders: tuple[str, ...]
    body_text: str
    body_placeholders: tuple[str, ...]
    footer_text: str | None
    buttons: tuple[TemplateButton, ...]
    id: str | None = None
    reported_at: float | None = None
    """Set when Meta's webhook changed the status or category after the snapshot was pulled."""

    @property
    def approved(self) -> bool:
        return self.status == TemplateStatus.APPROVED

    def text_length_without_placeholders(self) -> int:
        """The body's own characters: Meta's 1,024-character limit counts these plus the parameters."""
        return len(_PLACEHOLDER.sub("", self.body_text))


class TemplateFormatError(ValueError):
    """Meta's template object lacks what every template has (a name, a language)."""


def parse_template(raw: Mapping[str, Any]) -> Template:
    """A Template from one object of Meta's `message_templates` answer. Lenient where Meta may grow
    (unknown statuses, categories, component or button types are kept or skipped); strict only
    about a name and a language, without which the object is not a template."""
    if not isinstance(raw, Mapping):
        raise TemplateFormatError(f"a template must be an object, not {type(raw).__name__}")
    name, language = raw.get("name"), raw.get("language")
    if not isinstance(name, str) or not name:
        raise TemplateFormatError("a template without a name")
    if not isinstance(language, str) or not language:
        raise TemplateFormatError(f"template {name!r} has no language")
    components = _components(raw.get("components"))
    header = components.get("HEADER")
    header_text = _text(header.get("text")) if header else None
    body_text = _text(components.get("BODY", {}).get("text")) or ""
    return Template(
        name=name,
        language=normalize_language(language),
        status=str(raw.get("status") or ""),
        category=str(raw.get("category") or ""),
        parameter_format=_parameter_format(raw.get("parameter_format"), header_text, body_text),
        header_format=_header_format(header),
        header_text=header_text,
        header_placeholders=placeholders(header_text),
        body_text=body_text,
        body_placeholders=placeholders(body_text),
        footer_text=_text(components.get("FOOTER", {}).get("text")),
        buttons=_buttons(components.get("BUTTONS", {}).get("buttons")),
        id=str(raw["id"]) if raw.get("id") is not None else None,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _header_format(header: Mapping[str, Any] | None) -> str | None:
    if header is None:
        return None
    kind = _text(header.get("format"))
    return kind.upper() if kind else "TEXT"  # Meta always writes it; a header without one is text


def _components(value: Any) -> dict[str, Mapping[str, Any]]:
    """Components by UPPERCASE type (Meta writes them so on read; accept any case anyway)."""
    found: dict[str, Mapping[str, Any]] = {}
    for component in value if isinstance(value, list) else []:
        if isinstance(component, Mapping) and isinstance(component.get("type"), str):
            found.setdefault(component["type"].upper(), component)
    return found


def _parameter_format(value: Any, *texts: str | None) -> ParameterFormat:
    if isinstance(value, str) and value.upper() in ParameterFormat.__members__:
        return ParameterFormat(value.upper())
    # Older answers (and `fields=` without parameter_format) omit it: the placeholders tell.
    names = [p for text in texts for p in placeholders(text)]
    return ParameterFormat.NAMED if any(not p.isdigit() for p in names) else ParameterFormat.POSITIONAL


def _buttons(value: Any) -> tuple[TemplateButton, ...]:
    # `index` is the button's position among all buttons: sends name buttons by it.
    buttons = []
    for index, button in enumerate(value if isinstance(value, list) else []):
        if not isinstance(button, Mapping):
            continue
        url = _text(button.get("url"))
        kind = str(button.get("type") or "").upper()
        buttons.append(TemplateButton(index, kind, _text(button.get("text")) or "", url, placeholders(url) if kind == "URL" else ()))
    return tuple(buttons)


@dataclass(frozen=True)
class Catalogue:
    """Every template of one WhatsApp Business Account, as pulled at `pulled_at` (unix time)."""

    business_account_id: str
    pulled_at: float
    templates: tuple[Template, ...]

    @cached_property
    def _index(self) -> dict[tuple[str, str], Template]:
        return {(t.name, t.language): t for t in self.templates}

    def find(self, name: str, language: str) -> Template | None:
        """The template `name` in `language` (en-US and en_US are the same); None when absent."""
        return self._index.get((name, normalize_language(language)))

    def languages_of(self, name: str) -> list[str]:
        """The languages `name` exists in, sorted: what to suggest when a language is missing."""
        return sorted(t.language for t in self.templates if t.name == name)

    def overlaid(self, reported: Mapping[tuple[str, str], Reported]) -> Catalogue:
        """The catalogue with what Meta's webhook reported since the pull (a pause, a new category)."""
        templates = []
        for template in self.templates:
            news = reported.get((template.name, template.language))
            if news is not None:
                template = replace(
                    template,
                    status=news.status or template.status,
                    category=news.category or template.category,
                    reported_at=news.at,
                )
            templates.append(template)
        return replace(self, templates=tuple(templates))


@dataclass(frozen=True)
class Reported:
    """What Meta's webhook last said of one template: its status and category (either may be unknown)."""

    status: str | None
    category: str | None
    at: float | None = None


# --- snapshot file -----------------------------------------------------------------------------


def snapshot_json(business_account_id: str, api_version: str, pulled_at: float, templates: Sequence[Mapping[str, Any]]) -> str:
    """The snapshot file's text: Meta's template objects unchanged, with where and when they came from."""
    document = {
        "format": SNAPSHOT_FORMAT,
        "business_account_id": business_account_id,
        "api_version": api_version,
        "pulled_at": pulled_at,
        "templates": list(templates),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def save_snapshot(
    path: str | Path, *, business_account_id: str, api_version: str, pulled_at: float, templates: Sequence[Mapping[str, Any]]
) -> Path:
    """Write the snapshot atomically: a temporary file in the same folder, then a rename, so a
    reader (a worker starting) sees the old catalogue or the new one, never half of one."""
    path = Path(path)
    text = snapshot_json(business_account_id, api_version, pulled_at, templates)
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
            temporary = Path(handle.name)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file private; the catalogue is no secret, and a worker running as
        # another user must be able to read it.
        temporary.chmod(0o644)
        temporary.replace(path)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise ConfigError([ConfigProblem(str(path), "(file)", f"cannot be written: {exc.strerror}")]) from None
    return path


def load_snapshot(path: str | Path) -> Catalogue | None:
    """The catalogue in the snapshot at `path`; None when there is no such file (nothing pulled
    yet, or no file configured: a merchant's, for now). A file that cannot be read or is not a
    snapshot raises ConfigError naming the file."""
    if not str(path):
        return None
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise _invalid(path, f"cannot be read: {reason}") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise _invalid(path, f"is not JSON ({exc})") from None
    return parse_snapshot(document, path)


def parse_snapshot(document: Any, path: str | Path = "<snapshot>") -> Catalogue:
    """A Catalogue from a parsed snapshot document; ConfigError when it is not one."""
    if not isinstance(document, dict) or not isinstance(document.get("templates"), list):
        raise _invalid(path, "is not a template snapshot (no list of templates)")
    waba, pulled_at = document.get("business_account_id"), document.get("pulled_at")
    if not isinstance(waba, str) or isinstance(pulled_at, bool) or not isinstance(pulled_at, int | float):
        raise _invalid(path, "is not a template snapshot (business_account_id or pulled_at missing)")
    templates = []
    for index, raw in enumerate(document["templates"]):
        try:
            templates.append(parse_template(raw))
        except TemplateFormatError as exc:
            raise _invalid(path, f"templates[{index}]: {exc}") from None
    return Catalogue(business_account_id=waba, pulled_at=float(pulled_at), templates=tuple(templates))


def _invalid(path: str | Path, problem: str) -> ConfigError:
    return ConfigError([ConfigProblem(str(path), "(file)", f"{problem}: run `bridge templates pull` to write it again")])
