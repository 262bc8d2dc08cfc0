"""OPDs: the list, one OPD's detail with its usage graph, and the edit form (into the draft)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from pnsbox.errors import ConfigError
from pnsbox.model import Link, Opd, format_rate

from .. import roles
from ..changeset import draft_or_new, save_edit, validated
from ..config_edit import EditError, add_opd, delete_opd, edit_opd, form_subnets, form_vlan
from ..context import running_site, user
from ..i18n import problem_text, translate
from ..paging import page_of
from ..site import link_text, opd_bandwidth, parse, plan_in_force, subnets, zones_of

bp = Blueprint("opds", __name__, url_prefix="/opds")


def _visible_or_404(site, name: str) -> Opd:
    """Another OPD than an operator's own is answered as if it did not exist."""
    if name not in site.opds or not roles.can_see_opd(user(), name):
        abort(404)
    return site.opds[name]


@bp.route("/")
def index():
    site = running_site()
    listing = page_of(roles.visible_opds(user(), site).items(),
                      lambda item: f"{item[0]} {item[1].name} {' '.join(subnets(item[1]))} {link_text(item[1].link)}")
    return render_template("opds.html", site=site, opds=dict(listing.items), listing=listing, plan=opd_bandwidth,
                           subnets=subnets, link_text=link_text)


@bp.route("/<name>")
def detail(name: str):
    site = running_site()
    return _detail_page(name, _visible_or_404(site, name), site)


def _detail_page(name: str, opd: Opd, site, token: str | None = None):
    from ..edges import edge_states

    policies = [(i, p) for i, p in enumerate(site.policies) if zones_of(p) & {name, "opds"}]
    now, window = plan_in_force(site, opd)
    return render_template("opd.html", name=name, opd=opd, site=site, plan=opd_bandwidth(opd), policies=policies,
                           subnets=subnets(opd), link=link_text(opd.link), edge=edge_states().get(name), token=token,
                           now_plan=now, window=window)


@bp.route("/<name>/edge/<action>", methods=["POST"])
def edge_action(name: str, action: str):
    """An admin issues an enrollment token for the OPD's edge (shown once, on this page and
    nowhere else), or disables or enables the edge."""
    from pnsbox.control import messages as m

    from ..context import ctx, signed

    roles.require(user().role == "admin", translate("only admins enrol, disable and enable edges"))
    site = running_site()
    opd = _visible_or_404(site, name)
    if action == "token":
        expires = request.form.get("expires", "24h")
        if expires not in ("1h", "24h", "7d"):
            abort(400)
        reply = ctx().daemon.edge_token(m.EdgeTokenRequest(opd=name, expires=expires, **signed()))
        return _detail_page(name, opd, site, token=reply.token)
    if action not in ("disable", "enable"):
        abort(404)
    toggle = ctx().daemon.edge_disable if action == "disable" else ctx().daemon.edge_enable
    toggle(m.EdgeRequest(opd=name, **signed()))
    flash(translate("The edge of {opd} is disabled: its tunnel is cut.", opd=name) if action == "disable"
          else translate("The edge of {opd} is enabled again.", opd=name), "info")
    return redirect(url_for("opds.detail", name=name))


def _require_admin():
    roles.require(user().role == "admin", translate("only admins add and delete OPDs"))


@bp.route("/new", methods=["GET", "POST"])
def new():
    """An admin adds an OPD: into the draft, reviewed and applied like every change."""
    _require_admin()
    form = {k: request.form.get(k, "").strip() for k in ("key", "name", "subnet", "link_kind", "interface", "vlan",
                                                           "trunk", "guaranteed", "ceiling")}
    if request.method == "POST":
        link = ({"vlan": form_vlan(form["vlan"]), "trunk": form["trunk"]} if form["link_kind"] == "vlan"
                else {"interface": form["interface"]})
        subnets_typed = form_subnets(form["subnet"])
        fields = {"name": form["name"], "subnet": subnets_typed[0] if len(subnets_typed) == 1 else subnets_typed,
                  "link": link, "bandwidth": {"guaranteed": form["guaranteed"], "ceiling": form["ceiling"]}
                  if form["guaranteed"] or form["ceiling"] else None}
        try:
            files = add_opd(draft_or_new().files, form["key"], fields)
            save_edit(files, f"{form['key']}: new OPD")
        except EditError as exc:
            flash(str(exc), "error")
            return render_template("opd_new.html", form=form), 400
        except ConfigError as exc:
            return render_template("opd_new.html", form=form, problems=exc.problems), exc.http_status
        flash(translate("Saved in your draft. Review and apply it below."), "info")
        return redirect(url_for("changes.index"))
    return render_template("opd_new.html", form=form)


@bp.route("/<name>/delete", methods=["POST"])
def delete(name: str):
    """An admin removes an OPD in the draft; the review says what still names it."""
    _require_admin()
    try:
        save_edit(delete_opd(draft_or_new().files, name), f"{name}: OPD removed")
    except (EditError, ConfigError) as exc:  # still named elsewhere: pnsbox's problems say where
        for line in getattr(exc, "problems", None) or [exc]:
            flash(problem_text(line), "error")
        return redirect(url_for("opds.index"))
    flash(translate("Saved in your draft. Review and apply it below."), "info")
    return redirect(url_for("changes.index"))


@bp.route("/<name>/edit", methods=["GET", "POST"])
def edit(name: str):
    roles.require(roles.can_change(user()), translate("auditors cannot change the configuration"))
    draft = draft_or_new()
    opd = _visible_or_404(parse(draft.files), name)
    plan = opd.bandwidth
    per_direction = bool(plan and (plan.download or plan.upload))
    form = {"name": opd.name, "subnet": ", ".join(subnets(opd)), "link_kind": _link_kind(opd.link),
            "interface": opd.link.interface or "", "vlan": opd.link.vlan or "", "trunk": opd.link.trunk or "",
            "guaranteed": format_rate(plan.guaranteed) if plan and plan.guaranteed else "",
            "ceiling": format_rate(plan.ceiling) if plan and plan.ceiling else ""}
    if request.method == "POST":
        form.update(request.form.to_dict())
        try:
            files = edit_opd(draft.files, name, **_changes(form, per_direction))
            note = _note(name, opd, validated(files).opds[name])
            if note is None:
                flash(translate("Nothing changed."), "info")
                return redirect(url_for("opds.detail", name=name))
            save_edit(files, note)
        except EditError as exc:
            flash(str(exc), "error")
            return render_template("opd_edit.html", name=name, form=form, per_direction=per_direction), 400
        except ConfigError as exc:  # pnsbox's own problems, as `pnsbox validate` prints them
            return render_template("opd_edit.html", name=name, form=form, per_direction=per_direction,
                                   problems=exc.problems), exc.http_status
        flash(translate("Saved in your draft. Review and apply it below."), "info")
        return redirect(url_for("changes.index"))
    return render_template("opd_edit.html", name=name, form=form, per_direction=per_direction)


def _note(name: str, before: Opd, after: Opd) -> str | None:
    """What the edit changed, for the draft's list and the version's message; None if nothing."""
    changed = sorted(key for key, field in Opd.model_fields.items() if getattr(before, key) != getattr(after, key))
    if not changed:
        return None
    plan = after.bandwidth
    parts = [f"bandwidth {format_rate(plan.guaranteed)}/{format_rate(plan.ceiling)}"
             if key == "bandwidth" and plan and plan.guaranteed and plan.ceiling else key for key in changed]
    return f"{name}: {', '.join(parts)}"


def _link_kind(link: Link) -> str:
    return "wireguard" if link.is_wireguard else "vlan" if link.is_vlan else "interface"


def _changes(form: dict, per_direction: bool) -> dict:
    """What the form changes, as typed; operators change the bandwidth plan only."""
    changes = {}
    if not per_direction:
        changes["guaranteed"], changes["ceiling"] = form["guaranteed"].strip(), form["ceiling"].strip()
    if user().role != "admin":
        return changes
    changes["name"] = form["name"]
    changes["subnets"] = form_subnets(form["subnet"])
    if form.get("link_kind") == "vlan":
        changes["link"] = {"vlan": form_vlan(form.get("vlan", "")), "trunk": str(form.get("trunk", "")).strip()}
    elif form.get("link_kind") == "interface":
        changes["link"] = {"interface": str(form.get("interface", "")).strip()}
    return changes
