"""The business account's template catalogue: what the snapshot holds (with what Meta's webhook
reported since), and pulling a fresh snapshot from Meta."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bridge.config import Config
from bridge.errors import AccountError, ConfigError, ConfigProblem, Conflict, DeliveryError, InvalidRequest, TransientError
from bridge.merchants.runtime import merchant_store
from bridge.merchants.templates import save_merchant_snapshot, where
from bridge.runtime import Runtime
from bridge.whatsapp.catalogue import (
    Catalogue,
    Template,
    TemplateFormatError,
    load_snapshot,
    parse_template,
    save_snapshot,
    snapshot_json,
)
from bridge.whatsapp.client import TemplateListing as FetchedTemplates
from bridge.whatsapp.client import fetch_templates


def current_catalogue(rt: Runtime) -> Catalogue | None:
    """The snapshot the worker renders with: the process's own, else read from the file now (the
    web process doesn't load it at start). An unreadable snapshot is a Conflict naming the file."""
    if rt.catalogue is not None:
        return rt.catalogue
    try:
        return load_snapshot(rt.config.whatsapp.templates_file)
    except ConfigError as exc:
        raise Conflict("; ".join(str(p) for p in exc.problems)) from None


@dataclass(frozen=True)
class TemplateListing:
    path: str
    catalogue: Catalogue | None
    """The snapshot with Meta's reports laid over it; None when nothing was pulled yet."""
    reported_only: dict[tuple[str, str], Any]
    """(name, language) → what Meta reported of a template the snapshot doesn't have."""


def list_templates(rt: Runtime) -> TemplateListing:
    """The snapshot's templates, each with what Meta's webhook reported since the pull."""
    path = rt.config.whatsapp.templates_file
    catalogue = current_catalogue(rt)
    states = rt.templates.all()
    if catalogue is None:
        return TemplateListing(path, None, states)
    catalogue = catalogue.overlaid({key: state.reported() for key, state in states.items()})
    return TemplateListing(path, catalogue, {key: s for key, s in states.items() if catalogue.find(*key) is None})


def template_json(template: Template) -> dict[str, Any]:
    """One template as `templates list --json` prints it and the admin API answers it."""
    header = {"format": template.header_format, "placeholders": list(template.header_placeholders)} if template.header_format else None
    return {
        "name": template.name,
        "language": template.language,
        "status": template.status,
        "category": template.category,
        "parameter_format": template.parameter_format.value,
        "header": header,
        "body": {"placeholders": list(template.body_placeholders)},
        "buttons": [{"index": b.index, "type": b.type, "text": b.text, "placeholders": list(b.placeholders)} for b in template.buttons],
        "id": template.id,
        "reported_at": template.reported_at,
    }


@dataclass(frozen=True)
class Pulled:
    path: str
    templates: list[Template]
    requests: int
    business_account_id: str

    @property
    def languages(self) -> list[str]:
        return sorted({t.language for t in self.templates})

    @property
    def approved(self) -> int:
        return sum(t.approved for t in self.templates)


class PullRefused(Conflict):
    """Meta refused the pull (or answered something else than templates); nothing was written."""

    def __init__(self, message: str, hint: str):
        super().__init__(f"{message}; {hint}")
        self.refusal = message
        self.hint = hint


def pull_templates(config: Config, *, now: float | None = None) -> Pulled:
    """Read every template of the business account from Meta and write the snapshot file."""
    problems = pull_problems(config)
    if problems:
        raise InvalidRequest("; ".join(str(p) for p in problems))
    whatsapp, account = config.whatsapp, config.whatsapp.business_account_id
    listing, parsed = _fetch(config)
    try:
        path = save_snapshot(
            whatsapp.templates_file,
            business_account_id=account,
            api_version=whatsapp.api_version,
            pulled_at=time.time() if now is None else now,
            templates=listing.templates,
        )
    except ConfigError as exc:
        raise Conflict("; ".join(str(p) for p in exc.problems)) from None
    return Pulled(str(path), parsed, listing.requests, account)


def pull_merchant_templates(rt: Runtime, *, now: float | None = None) -> Pulled:
    """Read every template of a merchant's business account from Meta into its snapshot in Redis
    (`rt`: the merchant's Runtime, its token opened); every process then rebuilds the merchant."""
    account, whatsapp = rt.keys.account, rt.config.whatsapp
    if account is None:
        raise ValueError("the file's merchant's templates go to its templates_file: pull_templates")
    if not whatsapp.business_account_id:
        raise InvalidRequest(
            f"merchant {account} has no WhatsApp Business Account id: set it first (`bridge merchants add {account} "
            "--business-account-id ...`, or the Stripe App's settings)"
        )
    if not whatsapp.access_token:
        raise Conflict(f"merchant {account} has no access token: set it first (the Stripe App's settings, or `bridge merchants add`)")
    listing, parsed = _fetch(rt.config)
    pulled_at = time.time() if now is None else now
    save_merchant_snapshot(
        rt.redis, rt.keys, snapshot_json(whatsapp.business_account_id, whatsapp.api_version, pulled_at, listing.templates)
    )
    merchant_store(rt).touch(account)
    rt.catalogue = Catalogue(business_account_id=whatsapp.business_account_id, pulled_at=pulled_at, templates=tuple(parsed))
    return Pulled(where(account), parsed, listing.requests, whatsapp.business_account_id)


def _fetch(config: Config) -> tuple[FetchedTemplates, list[Template]]:
    """Every template of the config's business account, as Meta sent them and parsed (PullRefused)."""
    whatsapp, account = config.whatsapp, config.whatsapp.business_account_id
    try:
        listing = fetch_templates(whatsapp, account)
        return listing, [parse_template(raw) for raw in listing.templates]
    except DeliveryError as exc:
        raise PullRefused(f"business account {account}: {exc}", _hint(exc)) from None
    except TemplateFormatError as exc:
        answer = f"business account {account}: Meta answered something that is not a template ({exc})"
        raise PullRefused(answer, "nothing was written") from None


def pull_problems(config: Config) -> list[ConfigProblem]:
    """What a pull lacks to ask Meta, as config problems naming where to set it."""
    problems = []
    if not config.whatsapp.access_token:
        problems.append(
            ConfigProblem(
                config.source,
                "whatsapp.access_token",
                "empty: pulling templates needs a system-user token with whatsapp_business_management (set WHATSAPP_ACCESS_TOKEN)",
            )
        )
    if not config.whatsapp.business_account_id:
        problems.append(
            ConfigProblem(
                config.source,
                "whatsapp.business_account_id",
                "empty: pulling templates needs the WhatsApp Business Account ID, not the phone number ID "
                "(set WHATSAPP_BUSINESS_ACCOUNT_ID or [whatsapp] business_account_id)",
            )
        )
    return problems


def _hint(exc: DeliveryError) -> str:
    """What to do about a refused pull, in the merchant's terms."""
    if isinstance(exc, AccountError):
        return "check WHATSAPP_ACCESS_TOKEN: a system-user token with whatsapp_business_management for this business account"
    if exc.code == 100 and exc.subcode == 33:
        return "check the business account ID (WhatsApp Manager, account overview; not the phone number ID) and the token's access to it"
    if isinstance(exc, TransientError):
        return "Meta or the network failed for now: nothing was written, try again later"
    return f"nothing was written ({exc.meaning})" if exc.meaning else "nothing was written"
