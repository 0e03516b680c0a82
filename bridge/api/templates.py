"""/api/v1/templates: the business account's approved templates (the snapshot), and pulling it again."""

from __future__ import annotations

from typing import Any

from bridge.api.auth import admin_blueprint
from bridge.api.schemas import PulledSchema, TemplateListSchema
from bridge.services import templates as service
from bridge.web.common import runtime

blp = admin_blueprint("templates", "The WhatsApp message templates the mappings send.")


@blp.get("/templates")
@blp.response(200, TemplateListSchema)
def list_templates() -> Any:
    """The snapshot's templates with what Meta's webhook reported since the pull."""
    listing = service.list_templates(runtime())
    catalogue = listing.catalogue
    ordered = sorted(catalogue.templates, key=lambda t: (t.name, t.language)) if catalogue else []
    return {
        "snapshot": listing.path,
        "pulled_at": catalogue.pulled_at if catalogue else None,
        "business_account_id": catalogue.business_account_id if catalogue else None,
        "items": [service.template_json(t) for t in ordered],
        "reported_only": [
            {"name": name, "language": language, "status": state.status, "category": state.category}
            for (name, language), state in sorted(listing.reported_only.items())
        ],
    }


@blp.post("/templates/pull")
@blp.response(200, PulledSchema)
def pull() -> Any:
    """Read every template of the business account from Meta and write the snapshot."""
    pulled = service.pull_templates(runtime().config)
    return {
        "snapshot": pulled.path,
        "templates": len(pulled.templates),
        "approved": pulled.approved,
        "languages": pulled.languages,
        "requests": pulled.requests,
        "business_account_id": pulled.business_account_id,
    }
