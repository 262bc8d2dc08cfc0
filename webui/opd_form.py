"""The OPD form's bandwidth part: the plan for both directions or per direction, and the traffic
classes, read from the form as typed (pnsbox's model says whether they are right, so the form
accepts exactly what the CLI accepts) and written back from an OPD for the page."""

from __future__ import annotations

from pnsbox.model import DIRECTIONS, Opd, format_rate

BLANK_CLASS_ROWS = 2  # empty rows for new classes under the OPD's own


def _rate(bits: int | None) -> str:
    return format_rate(bits) if bits else ""


def _number_or_text(text: str):
    """A share as typed: `40` is the number 40 (as an admin writes it in YAML), `40%` stays text."""
    text = text.strip()
    return int(text) if text.isdigit() else text


def form_from_opd(opd: Opd | None) -> dict:
    """The plan and classes of OPD as the form shows them."""
    plan = opd.bandwidth if opd else None
    per_direction = bool(plan and (plan.download or plan.upload))
    form = {"plan_mode": "per_direction" if per_direction else "both",
            "guaranteed": _rate(plan.guaranteed) if plan else "", "ceiling": _rate(plan.ceiling) if plan else ""}
    for direction in DIRECTIONS:
        rates = plan.rates(direction) if plan else None
        form[f"{direction}_guaranteed"] = _rate(rates.guaranteed) if rates else ""
        form[f"{direction}_ceiling"] = _rate(rates.ceiling) if rates else ""
    rows = []
    for name, tclass in (plan.classes.items() if plan else ()):
        match = tclass.match
        rows.append({"name": name, "share": f"{tclass.share:g}%", "ceiling": _rate(tclass.ceiling),
                     "services": list(match.services) if match else [],
                     "ports": ", ".join(map(str, match.ports)) if match else "",
                     "app": list(match.app) if match else [], "category": list(match.category) if match else []})
    form["classes"] = rows + [{"name": "", "share": "", "ceiling": "", "services": [], "ports": "", "app": [],
                               "category": []} for _ in range(BLANK_CLASS_ROWS)]
    return form


def plan_from_form(form) -> dict:
    """{guaranteed, ceiling} or {download: {..}, upload: {..}} as typed (a MultiDict or a dict)."""
    if form.get("plan_mode") == "per_direction":
        return {direction: {"guaranteed": form.get(f"{direction}_guaranteed", "").strip(),
                            "ceiling": form.get(f"{direction}_ceiling", "").strip()} for direction in DIRECTIONS}
    return {"guaranteed": form.get("guaranteed", "").strip(), "ceiling": form.get("ceiling", "").strip()}


def classes_from_form(form) -> dict:
    """name -> {share, ceiling, match} for every row with a name that is not marked for removal."""
    classes = {}
    index = 0
    while f"class-{index}-name" in form:
        prefix = f"class-{index}-"
        index += 1
        name = form.get(prefix + "name", "").strip()
        if not name or form.get(prefix + "remove"):
            continue
        ports = [part for part in form.get(prefix + "ports", "").replace(",", " ").split() if part]
        match = {"services": _list(form, prefix + "services"), "ports": ports, "app": _list(form, prefix + "app"),
                 "category": _list(form, prefix + "category")}
        tclass = {"share": _number_or_text(form.get(prefix + "share", "")),
                  "ceiling": form.get(prefix + "ceiling", "").strip(),
                  "match": {key: values for key, values in match.items() if values}}
        classes[name] = {key: value for key, value in tclass.items() if value not in ("", {})}
    return classes


def _list(form, key: str) -> list[str]:
    values = form.getlist(key) if hasattr(form, "getlist") else form.get(key) or []
    return [v for v in values if v]


def rows_from_form(form) -> list[dict]:
    """The class rows as the user typed them, to show again when the draft refuses them."""
    rows, index = [], 0
    while f"class-{index}-name" in form:
        prefix = f"class-{index}-"
        rows.append({"name": form.get(prefix + "name", ""), "share": form.get(prefix + "share", ""),
                     "ceiling": form.get(prefix + "ceiling", ""), "services": _list(form, prefix + "services"),
                     "ports": form.get(prefix + "ports", ""), "app": _list(form, prefix + "app"),
                     "category": _list(form, prefix + "category"), "remove": bool(form.get(prefix + "remove"))})
        index += 1
    return rows
