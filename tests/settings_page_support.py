"""What the settings page's tests share: a bridge with ADMIN_TOKEN set, reading a form's CSRF
token out of a page, and signing in the way a browser does (form post with the token)."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import Bridge, make_config

TOKEN = "settings-admin-token-0123456789"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def admin_bridge(redis_url: str, fake: Any = None, *, token: str = TOKEN, **sections: Any) -> Bridge:
    """A bridge (web app and in-process worker) with the settings page on."""
    return Bridge(make_config(redis_url, fake, dry_run=fake is None, admin={"token": token}, **sections))


def csrf_of(response: TestResponse) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF.search(response.get_data(as_text=True))
    assert found, f"no csrf_token field on the page ({response.status_code})"
    return found.group(1)


def sign_in(client: FlaskClient, token: str = TOKEN, **headers: str) -> TestResponse:
    """Open the sign-in form and post it with its CSRF token and `token`."""
    form = client.get("/admin", headers=headers)
    return client.post("/admin/sign-in", data={"csrf_token": csrf_of(form), "token": token}, headers=headers)


def post_form(client: FlaskClient, page: str, action: str, **fields: str) -> TestResponse:
    """Post a form of `page` to `action` with the page's CSRF token, as the browser would."""
    return client.post(action, data={"csrf_token": csrf_of(client.get(page)), **fields})
