"""The Flask app factory: `create_app(config=None)`, served by gunicorn as `bridge:create_app()`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from bridge import defaults
from bridge.api.setup import register_admin_api
from bridge.config import Config, load_config, parse_config
from bridge.merchants.registry import MerchantRegistry
from bridge.observability.logs import configure_logging
from bridge.observability.redact import protect
from bridge.observability.sentry import init_sentry
from bridge.runtime import Role, build_runtime
from bridge.settings_page.app import create_page_app
from bridge.stripe_app.api import apps as stripe_app_api
from bridge.web import security
from bridge.web.errors import register_error_handlers
from bridge.web.health import health
from bridge.web.stripe_webhook import stripe_webhook
from bridge.web.whatsapp_webhook import whatsapp_webhook


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the web app. `config` is a Config, TOML-shaped data, or None to load from the env."""
    configure_logging()
    if config is None:
        config = load_config()
    elif not isinstance(config, Config):
        config = parse_config(config)
    protect(config)
    init_sentry()
    app = Flask("bridge")
    # Werkzeug refuses a larger Content-Length, but silently cuts a chunked body at this
    # length: one byte over the limit lets the view tell "too large" from "exactly 1 MiB".
    app.config["MAX_CONTENT_LENGTH"] = defaults.MAX_BODY_BYTES + 1
    app.extensions["bridge"] = runtime = build_runtime(config, role=Role.WEB)
    app.extensions["bridge.merchants"] = MerchantRegistry(runtime, role=Role.WEB)
    app.register_blueprint(stripe_webhook)
    app.register_blueprint(whatsapp_webhook)
    app.register_blueprint(health)
    register_admin_api(app, runtime)
    app.register_blueprint(stripe_app_api)
    register_error_handlers(app)
    # The settings page is its own app: the webhooks never open a session or render a template.
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/admin": create_page_app(runtime)})  # type: ignore[method-assign]
    security.install(app, proxy_hops=config.web.proxy_hops)
    return app
