"""One's own account (language, password, API tokens) and, for admins, the users."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from pnsbox.wording import say

from .. import roles
from ..accounts import ROLES, AccountError
from ..context import audit, ctx, running_site, user
from ..i18n import translate

bp = Blueprint("account", __name__)


@bp.route("/account")
def index():
    return render_template("account.html", new_token=session.pop("new_token", None))


@bp.route("/account/password", methods=["POST"])
def password():
    if ctx().accounts.verify(user().name, request.form.get("current", "")) is None:
        flash(translate("The current password is wrong."), "error")
        return redirect(url_for("account.index"))
    if request.form.get("new", "") != request.form.get("again", ""):
        flash(translate("The new passwords differ."), "error")
        return redirect(url_for("account.index"))
    try:
        ctx().accounts.set_password(user().name, request.form["new"])
    except AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("account.index"))
    # Every session and API token of the user ends (the accounts file says so to every web
    # process); this browser goes on in a new session.
    ctx().sessions.end_user(user().name)
    session["sid"] = ctx().sessions.start(user().name)
    audit("user-passwd", say("audit.user-passwd", name=user().name))
    flash(translate("Password changed."), "info")
    return redirect(url_for("account.index"))


@bp.route("/account/tokens", methods=["POST"])
def add_token():
    label = request.form.get("label", "").strip()
    session["new_token"] = ctx().accounts.add_token(user().name, label)  # shown once, on the next page
    audit("token-add", say("audit.token-add", name=user().name, label=label))
    return redirect(url_for("account.index"))


@bp.route("/account/tokens/<token_id>/delete", methods=["POST"])
def delete_token(token_id: str):
    try:
        ctx().accounts.delete_token(user().name, token_id)
    except AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("account.index"))
    audit("token-del", say("audit.token-del", name=user().name, token=str(token_id)))
    return redirect(url_for("account.index"))


def _require_admin():
    roles.require(user().role == "admin", translate("only admins manage users"))


@bp.route("/users", methods=["GET", "POST"])
def users():
    _require_admin()
    if request.method == "POST":
        form = request.form
        try:
            opds = form.getlist("opds") if form.get("role") == "operator" else []
            ctx().accounts.add(form.get("name", "").strip().lower(), form.get("role", ""), form.get("password", ""),
                               opds, form.get("lang", "id"))
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            audit("user-add", say("audit.user-add.opds", name=form["name"], role=form["role"], opds=", ".join(opds))
                  if opds else say("audit.user-add", name=form["name"], role=form["role"]))
            flash(translate("User {name} added.", name=form["name"]), "info")
        return redirect(url_for("account.users"))
    return render_template("users.html", users=sorted(ctx().accounts.users().values(), key=lambda u: u.name),
                           roles=ROLES, opds=sorted(running_site().opds))


@bp.route("/users/<name>", methods=["GET", "POST"])
def edit_user(name: str):
    """An admin changes a user's role and OPDs, or gives them a new password."""
    _require_admin()
    found = ctx().accounts.get(name)
    if found is None:
        raise LookupError(name)
    if request.method == "POST":
        form = request.form
        try:
            if "password" in form:
                ctx().accounts.set_password(name, form.get("password", ""))
                ctx().sessions.end_user(name)
                audit("user-passwd", say("audit.user-passwd.reset", name=name, by=user().name))
                flash(translate("A new password for {name}; their sessions and API tokens have ended.", name=name),
                      "info")
            else:
                opds = form.getlist("opds") if form.get("role") == "operator" else []
                ctx().accounts.set_role(name, form.get("role", ""), opds)
                audit("user-role", say("audit.user-role.opds", name=name, role=form["role"], opds=", ".join(opds))
                      if opds else say("audit.user-role", name=name, role=form["role"]))
                flash(translate("User {name} changed.", name=name), "info")
        except AccountError as exc:
            flash(str(exc), "error")
            return redirect(url_for("account.edit_user", name=name))
        return redirect(url_for("account.users"))
    return render_template("user_edit.html", edited=found, roles=ROLES, opds=sorted(running_site().opds))


@bp.route("/users/<name>/delete", methods=["POST"])
def delete_user(name: str):
    _require_admin()
    if name == user().name:
        flash(translate("You cannot delete yourself."), "error")
        return redirect(url_for("account.users"))
    try:
        ctx().accounts.delete(name)
    except AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("account.users"))
    ctx().sessions.end_user(name)
    audit("user-del", say("audit.user-del", name=name))
    flash(translate("User {name} deleted.", name=name), "info")
    return redirect(url_for("account.users"))
