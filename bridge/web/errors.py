"""JSON error answers: every error the web process gives is `{"error": "..."}` with its status."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify


def error_response(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


def json_error(status: int, message: str, **details: Any) -> Response:
    """`{"error": message, ...details}` as a response with `status`."""
    response = jsonify(error=message, **details)
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Werkzeug's HTML error pages become JSON, so no client ever parses HTML from the bridge."""

    @app.errorhandler(413)
    def too_large(_exc):
        return error_response(413, "body larger than 1 MiB")

    @app.errorhandler(408)
    def too_slow(exc):
        response, status = error_response(408, exc.description)
        response.headers["Connection"] = "close"
        return response, status

    @app.errorhandler(404)
    def not_found(_exc):
        return error_response(404, "not found")

    @app.errorhandler(405)
    def not_allowed(_exc):
        return error_response(405, "method not allowed")
