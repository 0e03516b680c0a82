"""/admin/optouts: who must not be messaged; add one, or record that a customer opted in again."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from bridge.delivery.optouts import Scope
from bridge.errors import InvalidRequest
from bridge.services import optouts as service
from bridge.settings_page.i18n import N_, _, isolate
from bridge.web.common import runtime

pages = Blueprint("optouts", __name__)

SCOPE_NAMES = {Scope.ALL: N_("every message"), Scope.MARKETING: N_("marketing messages")}
SOURCE = "settings page"


def chosen_scope(value: str | None, *, required: bool) -> Scope | None:
    if not value and not required:
        return None
    try:
        return Scope(value or "")
    except ValueError:
        raise InvalidRequest(_("Scope: choose one from the list.")) from None


@pages.get("/optouts")
def listing() -> str:
    return render_template("optouts.html", optouts=service.list_optouts(runtime()), scopes=SCOPE_NAMES)


@pages.post("/optouts/add")
def add() -> Response:
    scope = chosen_scope(request.form.get("scope"), required=True)
    assert scope is not None
    note = request.form.get("note", "").strip() or None
    change = service.add_optout(runtime(), request.form.get("phone", ""), scope, source=SOURCE, note=note)
    if change.changed:
        flash(_("%(phone)s will not get these messages any more.", phone=isolate(change.phone)), "success")
    else:
        flash(_("%(phone)s had already opted out.", phone=isolate(change.phone)), "info")
    return redirect(url_for("optouts.listing"), 303)


@pages.post("/optouts/remove")
def remove() -> Response:
    scope = chosen_scope(request.form.get("scope"), required=False)
    change = service.remove_optout(runtime(), request.form.get("phone", ""), scope, source=SOURCE)
    if change.changed:
        flash(_("%(phone)s gets messages again (recorded as an opt-in).", phone=isolate(change.phone)), "success")
    else:
        flash(_("%(phone)s had not opted out; an opt-in is recorded.", phone=isolate(change.phone)), "info")
    return redirect(url_for("optouts.listing"), 303)
