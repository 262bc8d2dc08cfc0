"""OPDs: the list, one OPD's detail with its usage graph, and the edit form (into the draft)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from .. import roles
from ..changeset import draft_or_new, save_edit
from ..config_edit import EditError, check_plan, check_subnets, edit_opd
from ..context import running_site, user
from ..i18n import translate
from ..site import link_text, opd_bandwidth, parse, subnets, zones_of

bp = Blueprint("opds", __name__, url_prefix="/opds")


def _visible_or_404(site, name: str) -> dict:
    """Another OPD than an operator's own is answered as if it did not exist."""
    if name not in site.opds or not roles.can_see_opd(user(), name):
        abort(404)
    return site.opds[name]


@bp.route("/")
def index():
    site = running_site()
    return render_template("opds.html", site=site, opds=roles.visible_opds(user(), site), plan=opd_bandwidth,
                           subnets=subnets, link_text=link_text)


@bp.route("/<name>")
def detail(name: str):
    site = running_site()
    opd = _visible_or_404(site, name)
    policies = [(i, p) for i, p in enumerate(site.policies) if zones_of(p) & {name, "opds"}]
    return render_template("opd.html", name=name, opd=opd, site=site, plan=opd_bandwidth(opd), policies=policies,
                           subnets=subnets(opd), link=link_text(opd.get("link")))


@bp.route("/<name>/edit", methods=["GET", "POST"])
def edit(name: str):
    roles.require(roles.can_change(user()), translate("auditors cannot change the configuration"))
    draft = draft_or_new()
    opd = _visible_or_404(parse(draft.files), name)
    plan = opd.get("bandwidth") or {}
    form = {"name": opd.get("name", ""), "subnet": ", ".join(subnets(opd)),
            "link_kind": _link_kind(opd.get("link") or {}),
            "interface": (opd.get("link") or {}).get("interface", ""),
            "vlan": (opd.get("link") or {}).get("vlan", ""), "trunk": (opd.get("link") or {}).get("trunk", ""),
            "guaranteed": plan.get("guaranteed", ""), "ceiling": plan.get("ceiling", "")}
    per_direction = "download" in plan or "upload" in plan
    if request.method == "POST":
        form.update(request.form.to_dict())
        try:
            files = edit_opd(draft.files, name, **_changes(form, per_direction))
            note = _note(name, opd, parse(files).opds[name])
            if note is None:
                flash(translate("Nothing changed."), "info")
                return redirect(url_for("opds.detail", name=name))
            save_edit(files, note)
        except EditError as exc:
            flash(str(exc), "error")
            return render_template("opd_edit.html", name=name, form=form, per_direction=per_direction), 400
        flash(translate("Saved in your draft. Review and apply it below."), "info")
        return redirect(url_for("changes.index"))
    return render_template("opd_edit.html", name=name, form=form, per_direction=per_direction)


def _note(name: str, before: dict, after: dict) -> str | None:
    """What the edit changed, for the draft's list and the version's message; None if nothing."""
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if not changed:
        return None
    plan = after.get("bandwidth") or {}
    parts = [f"bandwidth {plan.get('guaranteed')}/{plan.get('ceiling')}" if k == "bandwidth" else k for k in changed]
    return f"{name}: {', '.join(parts)}"


def _link_kind(link: dict) -> str:
    return "vlan" if "vlan" in link else "wireguard" if "wireguard" in link else "interface"


def _changes(form: dict, per_direction: bool) -> dict:
    """What the form changes; operators change the bandwidth plan only."""
    changes = {}
    if not per_direction:
        changes["guaranteed"], changes["ceiling"] = check_plan(form["guaranteed"], form["ceiling"])
    if user().role != "admin":
        return changes
    changes["name"] = form["name"]
    changes["subnets"] = check_subnets(form["subnet"])
    if form.get("link_kind") == "vlan":
        try:
            vlan = int(form["vlan"])
        except (TypeError, ValueError):
            raise EditError("link.vlan: a number from 1 to 4094") from None
        if not 1 <= vlan <= 4094 or not str(form.get("trunk", "")).strip():
            raise EditError("link: a VLAN from 1 to 4094 and the trunk interface it runs on")
        changes["link"] = {"vlan": vlan, "trunk": form["trunk"].strip()}
    elif form.get("link_kind") == "interface":
        if not str(form.get("interface", "")).strip():
            raise EditError("link.interface: give the interface name")
        changes["link"] = {"interface": form["interface"].strip()}
    return changes
