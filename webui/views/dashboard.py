"""The dashboard: live graphs (the browser polls /api/v1/live) and alerts."""

from __future__ import annotations

from flask import Blueprint, render_template

from pnsbox.control import messages as m
from pnsbox.errors import PnsboxError

from .. import roles
from ..context import ctx, running_site, status, user
from ..i18n import said, translate

bp = Blueprint("dashboard", __name__)


def alerts(box: m.Status) -> list[tuple[str, str]]:
    """(level, text) for what needs someone's attention."""
    found = []
    if box.pending:
        found.append(("warn", translate("Version {version} waits for a confirm: {seconds} s left, then it is rolled back.",
                                        version=box.pending.version,
                                        seconds=int(box.confirm_seconds_left or 0))))
    if box.drift_repairs:
        found.append(("warn", translate("Drift repaired {count} time(s) since pnsboxd started: someone changed what pnsbox owns in the kernel.",
                                        count=box.drift_repairs)))
    codes = box.last_check_failures_said or [None] * len(box.last_check_failures)
    for failure, code in zip(box.last_check_failures, codes, strict=False):
        found.append(("error", translate("Check failed: {failure}", failure=said(failure, code))))
    if box.classifier and box.classifier.down:
        found.append(("error", translate("Traffic classifier is down: traffic flows unclassified.")))
    if box.last_drift:
        found.append(("warn", translate("Last drift repair: {detail}",
                                        detail=said(box.last_drift["detail"], box.last_drift.get("said")))))
    if box.running is None:
        found.append(("warn", translate("No configuration runs yet.")))
    return found


@bp.route("/")
def index():
    box = status()
    site = running_site()
    opds = roles.visible_opds(user(), site)
    from ..edges import edge_states

    pair = ha_pair()
    return render_template("dashboard.html", box=box, alerts=alerts(box) + pair_alerts(pair) +
                           edge_alerts(opds, edge_states()), site=site, opds=opds, pipe=site.pipe(),
                           hubs=pair_rows(pair))


def ha_pair() -> dict:
    """pnsboxd's GET /ha; a daemon outside a pair (or older than the route) shows no pair."""
    try:
        return ctx().daemon.ha()
    except PnsboxError:
        return {"enabled": False}


def pair_rows(pair: dict) -> list[dict]:
    """Both hubs of an HA pair for the dashboard's table: name, role, version, reachable."""
    if not pair.get("enabled") or not pair.get("peer"):
        return []
    return [{"name": pair["me"], "this": True, "role": pair["role"], "running": pair["running"],
             "confirmed": pair["confirmed"], "reachable": True},
            {"name": pair["peer"], "this": False, "role": pair.get("peer_role") or "unknown",
             "running": pair.get("peer_running"), "confirmed": pair.get("peer_confirmed"),
             "reachable": bool(pair.get("reachable"))}]


def pair_alerts(pair: dict) -> list[tuple[str, str]]:
    """A split brain, and a peer this hub cannot reach (changes are not replicated to it)."""
    if not pair.get("enabled") or not pair.get("peer"):
        return []
    found = []
    split = pair.get("split_brain")
    if split:
        found.append(("error", translate(
            "Split brain from version {fork} on: {me} and {peer} differ. Nothing is overwritten (pnsbox ha resolve).",
            me=pair["me"], peer=pair["peer"], fork=split["fork"])))
    if pair.get("reachable") is False:
        found.append(("warn", translate("The HA peer {peer} does not answer: changes reach it when it returns.",
                                        peer=pair["peer"])))
    return found


def edge_alerts(opds, edges: dict) -> list[tuple[str, str]]:
    """An enrolled, enabled edge without a recent handshake is down: its OPD is cut off.
    `opds`: the OPDs the reader may see; `edges`: pnsboxd's GET /edges."""
    visible = set(opds)
    return [("error", translate("The edge box of {opd} is down: no handshake with the hub in the last 3 minutes.",
                                opd=name))
            for name, edge in sorted(edges.items())
            if name in visible and edge.get("enrolled") and not edge.get("disabled") and edge.get("up") is False]
