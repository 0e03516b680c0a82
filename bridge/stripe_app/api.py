"""/apps/v1: the Stripe App's backend, called by its settings view inside the Stripe Dashboard.

Every request but a CORS preflight is signed (`Stripe-Signature`, see `signature.py`) and the
signature is checked before anything else about the request: 401 first, validation after. The
signed account is the only merchant a request can read or change. The view runs in the
Dashboard's sandboxed iframe (origin `null`), so answers carry `Access-Control-Allow-Origin: *`:
the signature, not the origin, is what authenticates.

It acts through the same service layer as the admin API and the settings page, on the merchant's
own Runtime (its number, token, mappings and keys): `bridge.services.merchants`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from bridge.delivery.records import Status
from bridge.errors import InvalidRequest, NotFound, PayloadError, ServiceError, SignatureError
from bridge.mappings.live import compile_saved
from bridge.merchants.records import Merchant, MerchantStatus
from bridge.merchants.store import MerchantChanges
from bridge.runtime import Runtime
from bridge.services import deliveries as deliveries_service
from bridge.services import merchants as service
from bridge.services.deliveries import masked_request
from bridge.services.mappings import ChosenEvent, MappingRefused, choose_event, preview_mapping
from bridge.services.send_test import SendRefused, send_test
from bridge.services.templates import current_catalogue, pull_merchant_templates
from bridge.stripe_events import samples
from bridge.stripe_events.app_signature import AppCaller, verify_app_request
from bridge.web.errors import json_error
from bridge.whatsapp.catalogue import Catalogue

PREFIX = "/apps/v1"
apps = Blueprint("stripe_app", __name__, url_prefix=PREFIX)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, PUT, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Stripe-Signature, Content-Type",
    "Access-Control-Max-Age": "600",
}
SETTINGS_FIELDS = frozenset({"phone_number_id", "business_account_id", "access_token", "mappings"})
MAX_DELIVERIES = 100


def _runtime() -> Runtime:
    return current_app.extensions["bridge"]


@apps.before_request
def _verify() -> Response | None:
    """The door: a preflight passes, anything else needs the app's signature before it is read."""
    if request.method == "OPTIONS":
        return Response(status=204)
    secret = _runtime().config.stripe.app_secret
    if not secret:
        return json_error(503, "the Stripe App backend is off: set STRIPE_APP_SECRET (the app's signing secret)")
    if request.method != "GET":
        g.body = _parsed_body()  # read once: the views take it from here, after the signature holds
    ids: Mapping[str, Any] = request.args if request.method == "GET" else (g.body or {})
    try:
        g.caller = verify_app_request(ids.get("user_id"), ids.get("account_id"), request.headers.get("Stripe-Signature"), secret)
    except SignatureError as exc:
        return json_error(401, f"not a signed request of the Stripe App: {exc}")
    return None


@apps.after_request
def _cors(response: Response) -> Response:
    response.headers.update(CORS_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _parsed_body() -> dict[str, Any] | None:
    """The JSON body as an object, or None when it is not one (it then fails the signature)."""
    try:
        body = json.loads(request.get_data() or b"{}")
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _json_object() -> dict[str, Any]:
    """The signed request's JSON body, as `_verify` parsed it; a 422 when it is not an object."""
    body = g.get("body")
    if body is None:
        raise InvalidRequest("the body must be a JSON object")
    return body


def _caller() -> AppCaller:
    return g.caller


def _merchant(rt: Runtime) -> Merchant | None:
    return service.merchant_store(rt).get(_caller().account_id)


def settings_json(account: str, merchant: Merchant | None) -> dict[str, Any]:
    """The settings as the view reads them: the token only as whether one is set."""
    if merchant is None:
        return {
            "account_id": account,
            "status": MerchantStatus.PENDING.value,
            "phone_number_id": None,
            "business_account_id": None,
            "access_token_set": False,
            "mappings": [],
        }
    return {
        "account_id": account,
        "status": merchant.status.value,
        "phone_number_id": merchant.phone_number_id or None,
        "business_account_id": merchant.business_account_id or None,
        "access_token_set": merchant.has_access_token,
        "mappings": merchant.mappings,
    }


def _refused(refused: MappingRefused) -> Response:
    report = refused.report
    findings = [f"{p.key}: {p.problem}" for p in report.problems]
    return json_error(422, "mappings not saved: fix the problems found", errors={"mappings": findings})


@apps.get("/settings")
def get_settings() -> Any:
    rt = _runtime()
    return jsonify(settings_json(_caller().account_id, _merchant(rt)))


@apps.put("/settings")
def put_settings() -> Any:
    rt, account = _runtime(), _caller().account_id
    body = _json_object()
    unknown = sorted(set(body) - SETTINGS_FIELDS - {"user_id", "account_id"})
    errors: dict[str, list[str]] = {name: ["unknown field"] for name in unknown}
    for name in ("phone_number_id", "business_account_id", "access_token"):
        if name in body and body[name] is not None and not isinstance(body[name], str):
            errors[name] = ["must be a string or null"]
    if "mappings" in body and not (isinstance(body["mappings"], list) and all(isinstance(t, dict) for t in body["mappings"])):
        errors["mappings"] = ["must be a list of objects shaped as the config's [[mappings]] tables"]
    if errors:
        return json_error(422, "the settings did not validate", errors=errors)
    given = {name: body[name] for name in SETTINGS_FIELDS if name in body}
    changes = MerchantChanges(**{name: value if name == "mappings" else (value or "") for name, value in given.items()})
    try:  # an install whose event never reached the bridge is added here, by its first save
        merchant = service.update_merchant(rt, account, changes, create_as="stripe app settings")
    except MappingRefused as refused:
        return _refused(refused)
    return jsonify(settings_json(account, merchant))


@apps.get("/templates")
def get_templates() -> Any:
    return _templates_json(current_catalogue(_merchant_runtime()))


@apps.post("/templates/pull")
def pull_templates() -> Any:
    """Read the merchant's templates from Meta now (its business account id and token must be set)."""
    rt = _merchant_runtime()
    pull_merchant_templates(rt)
    return _templates_json(rt.catalogue)


def _templates_json(catalogue: Catalogue | None) -> Response:
    templates = [
        {
            "name": t.name,
            "language": t.language,
            "status": t.status,
            "category": t.category,
            "placeholders": list(t.body_placeholders),
        }
        for t in (catalogue.templates if catalogue else ())
    ]
    return jsonify({"templates": templates, "pulled_at": catalogue.pulled_at if catalogue else None})


@apps.post("/preview")
def post_preview() -> Any:
    rt = _merchant_runtime()
    body = _json_object()
    table, event_type = body.get("mapping"), body.get("event_type")
    if not isinstance(table, dict):
        return json_error(422, "mapping: an object shaped as a [[mappings]] table", errors={"mapping": ["required object"]})
    if event_type is not None and not isinstance(event_type, str):
        return json_error(422, "event_type: a Stripe event type", errors={"event_type": ["must be a string"]})
    report = service.check_merchant_mappings(_runtime(), _caller().account_id, [table])  # against its own templates
    if report.problems:
        return _refused(MappingRefused(report))
    mapping = compile_saved(rt.config, str(table.get("name")), table)
    if mapping is None:
        raise InvalidRequest("mapping: it does not compile")
    chosen: ChosenEvent = choose_event(mapping, event_type=event_type if event_type in samples.event_types() else None)
    shown = preview_mapping(rt, mapping, chosen)
    text = shown.text
    return jsonify(
        {
            "text": text.body if text else None,
            "request": masked_request(dict(shown.request)) if shown.request else None,
            "event_type": chosen.event.get("type"),
            "skipped": shown.skipped,
        }
    )


@apps.post("/send-test")
def post_send_test() -> Any:
    rt = _merchant_runtime()
    body = _json_object()
    name, phone = body.get("mapping"), body.get("phone")
    errors = {
        field: ["required string"] for field, value in (("mapping", name), ("phone", phone)) if not isinstance(value, str) or not value
    }
    if errors:
        return json_error(422, "mapping and phone are required", errors=errors)
    mapping = rt.mappings.get(name)
    if mapping is None:
        raise NotFound(f"no mapping named {name!r} in this account's settings")
    try:
        sent = send_test(rt, mapping, choose_event(mapping), phone)
    except SendRefused as refused:
        return json_error(422, str(refused), meta_error=refused.meta_error)
    return jsonify({"wamid": sent.wamid, "to": sent.to, "dry_run": sent.dry_run})


@apps.get("/deliveries")
def get_deliveries() -> Any:
    rt = _merchant_runtime()
    try:
        limit = min(max(int(request.args.get("limit", "20")), 1), MAX_DELIVERIES)
    except ValueError:
        return json_error(422, "limit: a whole number", errors={"limit": ["must be a whole number"]})
    status_text = request.args.get("status") or None
    try:
        status = Status(status_text) if status_text else None
    except ValueError:
        return json_error(422, f"status: one of {', '.join(s.value for s in Status)}", errors={"status": ["not a status"]})
    page = deliveries_service.list_deliveries(rt, status=status, limit=limit)
    return jsonify({"deliveries": [delivery_json(record) for record in page.items]})


def delivery_json(record: Mapping[str, Any]) -> dict[str, Any]:
    """A delivery as the view lists it (the number already masked by the service)."""
    code = record.get("error_code")
    return {
        "id": record.get("id"),
        "event_id": record.get("event_id"),
        "event_type": record.get("event_type"),
        "mapping": record.get("mapping"),
        "status": record.get("status"),
        "phone": record.get("recipient"),
        "created_at": record.get("created_at"),
        "updated_at": record.get("updated_at"),
        "wamid": record.get("wamid"),
        "error": {"code": code, "meaning": record.get("error_meaning")} if code else None,
    }


def _merchant_runtime() -> Runtime:
    """The signed account's Runtime; 404 until its settings are saved once."""
    rt, account = _runtime(), _caller().account_id
    merchant = service.merchant_store(rt).get(account)
    if merchant is None:
        raise NotFound(f"{account} has no settings yet: save them first (PUT {PREFIX}/settings)")
    return service.merchant_runtime(rt, merchant)


@apps.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Response:
    return json_error(exc.status, str(exc), **({"meta_error": exc.meta_error} if hasattr(exc, "meta_error") else {}))


@apps.errorhandler(PayloadError)
def _payload_error(exc: PayloadError) -> Response:
    return json_error(422, str(exc))
