"""Services and policies: the ordered list, the admin's editor, and "explain"."""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for

from pnsbox.control import messages as m
from pnsbox.errors import ConfigError, PnsboxError

from .. import roles
from ..changeset import draft_or_new, save_edit
from ..config_edit import EditError, add_policy, delete_policy, move_policy, policies_text, set_policies
from ..context import ctx, running_site, user
from ..i18n import error_text, explain_text, problem_text, translate
from ..site import zones_of

bp = Blueprint("policies", __name__, url_prefix="/policies")


def _require_admin():
    roles.require(user().role == "admin", translate("only admins edit policies"))


@bp.route("/")
def index():
    site = running_site()
    policies = [(i, p) for i, p in enumerate(site.policies) if roles.can_see_policy(user(), p)]
    services = site.services if user().role != "operator" else {
        name: s for name, s in site.services.items() if any(name in zones_of(p) for _, p in policies)}
    zones = sorted({*roles.visible_opds(user(), site), *services, "internet", "box"})
    answer, error = None, None
    query = {k: request.args.get(k, "").strip() for k in ("from", "to", "port")}
    if query["from"] and query["to"]:
        answer, error = _explain(query, site)
    from pnsbox.classifier.catalog import default_catalog

    catalog = default_catalog()
    return render_template("policies.html", site=site, policies=policies, services=services, zones=zones,
                           catalog_apps=sorted(catalog.apps), catalog_categories=sorted(catalog.categories),
                           query=query, answer=answer, error=error, hits=_hits(),
                           answer_text=explain_text(answer) if answer else None)


def _hits() -> dict[int, int]:
    """Packets each policy's rules counted in the kernel, by the policy's index (the rules'
    comments say `policies[N] NAME`)."""
    try:
        rules = ctx().daemon.get("/counters").get("rules") or {}
    except PnsboxError:
        return {}
    hits: dict[int, int] = {}
    for comment, count in rules.items():
        found = re.match(r"policies\[(\d+)\]", comment)
        if found:
            hits[int(found.group(1))] = hits.get(int(found.group(1)), 0) + count.get("packets", 0)
    return hits


def _explain(query: dict, site) -> tuple[dict | None, str | None]:
    if not roles.may_explain(user(), site, query["from"], query["to"]):
        return None, translate("Explain asks about your own OPDs: put one of them in `from` or `to`.")
    try:
        asked = m.ExplainRequest(source=query["from"], target=query["to"], port=query["port"] or None)
        return ctx().daemon.explain(asked), None
    except PnsboxError as exc:
        return None, error_text(exc)


@bp.route("/edit", methods=["GET", "POST"])
def edit():
    _require_admin()
    draft = draft_or_new()
    text = request.form.get("policies") if request.method == "POST" else policies_text(draft.files)
    if request.method == "POST":
        try:
            save_edit(set_policies(draft.files, text), translate("policies edited"))
        except EditError as exc:
            flash(str(exc), "error")
            return render_template("policies_edit.html", text=text), 400
        except ConfigError as exc:  # pnsbox's own problems, as `pnsbox validate` prints them
            return render_template("policies_edit.html", text=text, problems=exc.problems), exc.http_status
        flash(translate("Saved in your draft. Review and apply it below."), "info")
        return redirect(url_for("changes.index"))
    return render_template("policies_edit.html", text=text)


def _one_or_list(values: list[str]):
    return values[0] if len(values) == 1 else values


@bp.route("/new", methods=["POST"])
def new():
    """An admin adds a policy at a row of the table, into the draft."""
    _require_admin()
    form = request.form
    ports = [p for p in form.get("ports", "").replace(",", " ").split() if p]
    policy = {"name": form.get("name", "").strip(), "from": _one_or_list(form.getlist("from")),
              "to": _one_or_list(form.getlist("to")), "ports": ports,
              "app": form.get("app", "").strip() or None, "category": form.get("category", "").strip() or None,
              "action": form.get("action", ""), "schedule": form.get("schedule") or None,
              "log": form.get("log") == "on"}
    try:
        position = int(form.get("position") or 10_000)
        files = add_policy(draft_or_new().files, policy, position)
        save_edit(files, translate("policy {name} added at row {row}", name=policy["name"],
                                   row=min(position, len(running_site().policies) + 1)))
    except (EditError, ConfigError, ValueError) as exc:
        for line in getattr(exc, "problems", None) or [exc]:
            flash(problem_text(line), "error")
        return redirect(url_for("policies.index"))
    flash(translate("Saved in your draft. Review and apply it below."), "info")
    return redirect(url_for("changes.index"))


@bp.route("/<int:row>/delete", methods=["POST"])
def delete(row: int):
    _require_admin()
    try:
        save_edit(delete_policy(draft_or_new().files, row - 1), translate("policy at row {row} removed", row=row))
    except (EditError, ConfigError) as exc:
        for line in getattr(exc, "problems", None) or [exc]:
            flash(problem_text(line), "error")
        return redirect(url_for("policies.index"))
    flash(translate("Saved in your draft. Review and apply it below."), "info")
    return redirect(url_for("changes.index"))


@bp.route("/move", methods=["POST"])
def move():
    _require_admin()
    draft = draft_or_new()
    try:
        index, delta = int(request.form["index"]), (-1 if request.form.get("direction") == "up" else 1)
        save_edit(move_policy(draft.files, index, delta),
                  translate("policy {row} moved up", row=index + 1) if delta < 0 else
                  translate("policy {row} moved down", row=index + 1))
    except (EditError, ConfigError, ValueError, KeyError) as exc:
        flash(str(exc), "error")
    return redirect(url_for("changes.index"))
