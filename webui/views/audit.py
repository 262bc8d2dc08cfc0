"""The audit trail, newest first, with the daemon's verdict on its hash chain."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from .. import roles
from ..context import ctx, running_site, user
from ..i18n import audit_kind, said, translate
from ..paging import page_of

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.route("/")
def index():
    roles.require(roles.can_read_history(user()), translate("the audit trail is for admins and auditors"))
    entries = list(reversed(ctx().daemon.audit()))
    actions = sorted({e.action for e in entries})
    action = request.args.get("action", "")
    if action:
        entries = [e for e in entries if e.action == action]
    listing = page_of(entries, lambda e: f"{e.seq} {e.action} {audit_kind(e.action)} {e.actor} {e.from_} {e.detail} "
                                         f"{said(e.detail, e.said)} {e.hub or ''}")  # found in either language
    return render_template("audit.html", entries=listing.items, listing=listing, actions=actions, action=action,
                           verdict=ctx().daemon.audit_verify(), zone=running_site().timezone)
