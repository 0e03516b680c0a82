"""The Flask app factory: `create_app(config=None)`, served by gunicorn as `bridge:create_app()`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from bridge import defaults, ingest
from bridge.config import Config, load_config, parse_config
from bridge.errors import PayloadError, SignatureError, StoreUnavailable
from bridge.logging_setup import configure_logging
from bridge.runtime import Runtime, build_runtime
from bridge.signature import verify_event

logger = logging.getLogger(__name__)

webhooks = Blueprint("webhooks", __name__)


def runtime() -> Runtime:
    return current_app.extensions["bridge"]


def _error(status: int, message: str):
    return jsonify(error=message), status


@webhooks.post("/stripe/webhook")
def stripe_webhook():
    """Verify, dedupe and enqueue; never talk to WhatsApp inside the request."""
    rt = runtime()
    if request.content_length is not None and request.content_length > defaults.MAX_BODY_BYTES:
        return _error(413, "body larger than 1 MiB")
    try:
        payload = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _error(413, "body larger than 1 MiB")
    if len(payload) > defaults.MAX_BODY_BYTES:  # a chunked body, cut at the limit + 1
        return _error(413, "body larger than 1 MiB")
    stripe_settings = rt.config.stripe
    try:
        event = verify_event(
            payload, request.headers.get("Stripe-Signature"), stripe_settings.webhook_secrets, stripe_settings.tolerance_seconds
        )
    except SignatureError as exc:
        logger.warning("rejected webhook: %s", exc)
        return _error(400, f"signature verification failed: {exc}")
    except PayloadError as exc:
        logger.warning("rejected webhook: %s", exc)
        return _error(400, str(exc))
    try:
        outcome = ingest.accept(rt, event, payload)
    except StoreUnavailable as exc:
        logger.error("Redis unavailable, answering 503 so Stripe retries %s: %s", event["id"], exc)
        return _error(503, "temporarily unavailable, retry later")
    return jsonify(status=str(outcome)), 200


@webhooks.get("/healthz")
def healthz():
    return jsonify(status="ok"), 200


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the web app. `config` is a Config, TOML-shaped data, or None to load from the env."""
    configure_logging()
    if config is None:
        config = load_config()
    elif not isinstance(config, Config):
        config = parse_config(config)
    app = Flask("bridge")
    # Werkzeug refuses a larger Content-Length, but silently cuts a chunked body at this
    # length: one byte over the limit lets the view tell "too large" from "exactly 1 MiB".
    app.config["MAX_CONTENT_LENGTH"] = defaults.MAX_BODY_BYTES + 1
    app.extensions["bridge"] = build_runtime(config, role="web")
    app.register_blueprint(webhooks)

    @app.errorhandler(413)
    def too_large(_exc):
        return _error(413, "body larger than 1 MiB")

    @app.errorhandler(404)
    def not_found(_exc):
        return _error(404, "not found")

    @app.errorhandler(405)
    def not_allowed(_exc):
        return _error(405, "method not allowed")

    return app
