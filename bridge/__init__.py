"""Stripe → WhatsApp notification bridge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Any = None) -> Flask:
    """The Flask app factory (gunicorn: `bridge:create_app()`); see `bridge.web.app.create_app`."""
    # Imported here so `import bridge.config` and `bridge --help` don't load Flask and RQ.
    from bridge.web.app import create_app as factory

    return factory(config)


__all__ = ["create_app"]
