"""Mount the admin API on the app: flask-smorest's Api (the OpenAPI document), its blueprints, the
door in front of them, and service errors answered as JSON."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api
from flask_smorest import Blueprint as ApiBlueprint
from werkzeug.exceptions import HTTPException

from bridge.api import backfill, customers, deliveries, mappings, optouts, sending, templates
from bridge.api.auth import API_PREFIX, AdminDoor
from bridge.api.schemas import ErrorSchema
from bridge.errors import ServiceError, StoreUnavailable
from bridge.runtime import Runtime
from bridge.web.errors import json_error

OPENAPI_PATH = f"{API_PREFIX}/openapi.json"


class AdminApi(Api):
    """flask-smorest's Api answering errors as the rest of the bridge does: `{"error": ..., "errors": ...}`."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        if error.response is not None:  # an answer already made (the door's)
            return error.response
        data = getattr(error, "data", None) or {}
        details = {"errors": data.get("messages") or data.get("errors")} if data.get("messages") or data.get("errors") else {}
        message = data.get("message") or _MESSAGES.get(error.code or 500) or error.description or error.name
        response = json_error(error.code or 500, message, **details)
        response.headers.update(data.get("headers") or {})
        return response


_MESSAGES = {422: "the request did not validate: see errors", 400: "the request is malformed"}


def register_admin_api(app: Flask, runtime: Runtime) -> None:
    """The /api/v1 routes, their OpenAPI document, and the bearer-token door in front of them."""
    app.config.update(
        API_TITLE="stripe-whatsapp-bridge admin API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": 'Every route needs `Authorization: Bearer $ADMIN_TOKEN`; errors are `{"error": ...}`.'},
            "security": [{"bearerAuth": []}],
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
    )
    api = AdminApi(app)
    door = AdminDoor(runtime.redis, runtime.keys, runtime.config.admin.token, runtime.config.web.proxy_hops)
    app.extensions["bridge_admin_door"] = door
    for module in (deliveries, mappings, templates, optouts, customers, sending, backfill):
        blueprint: ApiBlueprint = module.blp
        api.register_blueprint(blueprint)
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(StoreUnavailable, _store_unavailable)


def _service_error(exc: ServiceError) -> Any:
    return json_error(exc.status, str(exc), **({"meta_error": exc.meta_error} if hasattr(exc, "meta_error") else {}))


def _store_unavailable(_exc: StoreUnavailable) -> Any:
    return json_error(503, "Redis is unavailable: retry later")
