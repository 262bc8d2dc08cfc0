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
from ..opd_form import classes_from_form, form_from_opd, plan_from_form, rows_from_form
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


def _form_page(form: dict, status: int = 200, problems=None, name: str | None = None):
    """The one OPD form: a new OPD (no NAME) or an existing one; admins see every field, operators
    the bandwidth plan and classes of their own OPDs."""
    from pnsbox.classifier.catalog import default_catalog

    site = parse(draft_or_new().files)
    catalog = default_catalog()
    return render_template("opd_form.html", name=name, form=form, problems=problems or [],
                           services=sorted(site.services), catalog_apps=sorted(catalog.apps),
                           catalog_categories=sorted(catalog.categories)), status


_IDENTITY = ("key", "name", "subnet", "link_kind", "interface", "vlan", "trunk")


@bp.route("/new", methods=["GET", "POST"])
def new():
    """An admin adds an OPD: into the draft, reviewed and applied like every change."""
    _require_admin()
    form = {**form_from_opd(None), **{k: request.form.get(k, "").strip() for k in _IDENTITY}}
    if request.method == "POST":
        form.update(_typed(request.form))
        plan, classes = plan_from_form(request.form), classes_from_form(request.form)
        rates = [r for value in plan.values() for r in (value.values() if isinstance(value, dict) else [value])]
        fields = {"name": form["name"], "subnet": _subnet_field(form["subnet"]), "link": _link_field(form),
                  "bandwidth": {**plan, **({"classes": classes} if classes else {})} if any(rates) or classes
                  else None}
        try:
            files = add_opd(draft_or_new().files, form["key"], fields)
            save_edit(files, translate("{name}: new OPD", name=form["key"]))
        except EditError as exc:
            flash(str(exc), "error")
            return _form_page(form, 400)
        except ConfigError as exc:
            return _form_page(form, exc.http_status, exc.problems)
        flash(translate("Saved in your draft. Review and apply it below."), "info")
        return redirect(url_for("changes.index"))
    return _form_page(form)


def _typed(posted) -> dict:
    """What the user typed, to show again when the draft refuses it."""
    form = {k: posted.get(k, "") for k in ("plan_mode", "guaranteed", "ceiling", "download_guaranteed",
                                           "download_ceiling", "upload_guaranteed", "upload_ceiling") if k in posted}
    if "class-0-name" in posted:
        form["classes"] = rows_from_form(posted)
    return form


def _subnet_field(text: str):
    typed = form_subnets(text)
    return typed[0] if len(typed) == 1 else typed


def _link_field(form: dict) -> dict:
    return ({"vlan": form_vlan(form.get("vlan", "")), "trunk": str(form.get("trunk", "")).strip()}
            if form.get("link_kind") == "vlan" else {"interface": str(form.get("interface", "")).strip()})


@bp.route("/<name>/delete", methods=["POST"])
def delete(name: str):
    """An admin removes an OPD in the draft; the review says what still names it."""
    _require_admin()
    try:
        save_edit(delete_opd(draft_or_new().files, name), translate("{name}: OPD removed", name=name))
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
    form = {"name": opd.name, "subnet": ", ".join(subnets(opd)), "link_kind": _link_kind(opd.link),
            "interface": opd.link.interface or "", "vlan": opd.link.vlan or "", "trunk": opd.link.trunk or "",
            **form_from_opd(opd)}
    if request.method == "POST":
        form.update({k: v for k, v in request.form.items() if k in _IDENTITY})
        form.update(_typed(request.form))
        try:
            files = edit_opd(draft.files, name, **_changes(request.form))
            note = _note(name, opd, validated(files).opds[name])
            if note is None:
                flash(translate("Nothing changed."), "info")
                return redirect(url_for("opds.detail", name=name))
            save_edit(files, note)
        except EditError as exc:
            flash(str(exc), "error")
            return _form_page(form, 400, name=name)
        except ConfigError as exc:  # pnsbox's own problems, as `pnsbox validate` prints them
            return _form_page(form, exc.http_status, exc.problems, name=name)
        flash(translate("Saved in your draft. Review and apply it below."), "info")
        return redirect(url_for("changes.index"))
    return _form_page(form, name=name)


def _note(name: str, before: Opd, after: Opd) -> str | None:
    """What the edit changed, for the draft's list and the version's message; None if nothing.
    In its author's language: the message they apply is their own words, kept as written."""
    changed = sorted(key for key, field in Opd.model_fields.items() if getattr(before, key) != getattr(after, key))
    if not changed:
        return None
    plan = after.bandwidth
    parts = [translate("bandwidth {guaranteed}/{ceiling}", guaranteed=format_rate(plan.guaranteed),
                       ceiling=format_rate(plan.ceiling))
             if key == "bandwidth" and plan and plan.guaranteed and plan.ceiling else key for key in changed]
    return f"{name}: {', '.join(parts)}"


def _link_kind(link: Link) -> str:
    return "wireguard" if link.is_wireguard else "vlan" if link.is_vlan else "interface"


def _changes(posted) -> dict:
    """What the form changes, as typed; operators change the bandwidth plan and classes only. A
    post without the plan's fields (an older form, a script) changes the rates it names only."""
    changes = {}
    if "plan_mode" in posted:
        changes["plan"] = plan_from_form(posted)
    elif "guaranteed" in posted or "ceiling" in posted:
        changes["guaranteed"], changes["ceiling"] = posted.get("guaranteed", "").strip(), posted.get("ceiling", "").strip()
    if "class-0-name" in posted:
        changes["classes"] = classes_from_form(posted)
    if user().role != "admin":
        return changes
    if "name" in posted:
        changes["name"] = posted["name"]
    if "subnet" in posted:
        changes["subnets"] = form_subnets(posted["subnet"])
    if posted.get("link_kind") in ("vlan", "interface"):
        changes["link"] = _link_field(posted)
    return changes
