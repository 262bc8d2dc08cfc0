"""Edits of a site's YAML files that keep the admin's comments and layout (ruamel.yaml round trip).
Each function takes the files and returns new files; only the file that changes is re-written.
Values are written as given: whether they are right is pnsbox's model's to say (changeset.validated),
so a form accepts exactly what the CLI accepts. ruamel only writes: text an admin typed is read by
pnsbox.load first (its bounds, its refusals, its FILE:LINE problems), never judged by ruamel."""

from __future__ import annotations

import io

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from pnsbox.errors import BadRequest, ConfigError
from pnsbox.load import MAIN_FILE, load_files, parse_yaml

MAIN = MAIN_FILE
EditError = BadRequest  # an edit that cannot be made at all (the message names the field)


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap lines the admin wrote
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _load(text: str):
    try:
        return _yaml().load(text) or CommentedMap()
    except YAMLError as exc:
        raise EditError(f"the file is not valid YAML: {exc}") from None


def _readable(text: str, file: str, prefix: tuple = ()) -> None:
    """Text an admin typed, read as `pnsbox validate` reads a file: refused with its FILE:LINE
    problem (syntax, anchors, too big, too deep) before ruamel or pnsboxd ever see it."""
    data, _, problems = parse_yaml(text, file, prefix)
    if data is None:
        raise ConfigError(problems)


def _dump(data) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def _opd_node(files: dict[str, str], opd: str):
    """(file name, its parsed document, the OPD's mapping)."""
    source = load_files(files)  # where it is written, even in a draft that does not validate yet
    if opd not in (source.data.get("opds") or {}):
        raise EditError(f"no OPD {opd}")
    where = source.where(("opds", opd))[0]
    document = _load(files[where])
    node = document["opds"][opd] if where == MAIN else document[opd]
    return where, document, node


def form_subnets(text: str) -> list[str]:
    """The subnet field as typed: one or more, separated by commas or spaces (the model checks each)."""
    return [part for part in text.replace(",", " ").split() if part]


def form_vlan(text: str) -> int | str:
    """A VLAN id as a number when it is one; anything else goes to the model as typed, to be refused there."""
    text = str(text).strip()
    return int(text) if text.isdigit() else text


def edit_opd(files: dict[str, str], opd: str, *, name: str | None = None, subnets: list[str] | None = None,
             link: dict | None = None, guaranteed: str | None = None, ceiling: str | None = None,
             plan: dict | None = None, classes: dict | None = None) -> dict[str, str]:
    """Change the given fields of one OPD; everything else (schedules' plans, comments) stays.
    PLAN: {guaranteed, ceiling} for both directions or {download: {..}, upload: {..}} (the other
    form is removed); CLASSES: the OPD's traffic classes, name -> {share, ceiling, match}, in full."""
    where, document, node = _opd_node(files, opd)
    if plan is not None or classes is not None:
        bandwidth = node.get("bandwidth")
        if bandwidth is None:
            bandwidth = node["bandwidth"] = CommentedMap()
        if plan is not None:
            _set_plan(bandwidth, plan)
        if classes is not None:
            _set_classes(bandwidth, classes)
    if name is not None:
        node["name"] = name.strip()
    if subnets is not None:
        node["subnet"] = subnets[0] if len(subnets) == 1 else CommentedSeq(subnets or [])
    if link is not None:
        node["link"] = _merged_link(node.get("link"), link)
    if guaranteed is not None or ceiling is not None:
        plan = node.get("bandwidth")
        if plan is None:
            plan = node["bandwidth"] = CommentedMap()
        if "download" in plan or "upload" in plan:
            raise EditError("bandwidth: this plan is set per direction; change it in the file editor")
        if guaranteed is not None:
            plan["guaranteed"] = guaranteed
        if ceiling is not None:
            plan["ceiling"] = ceiling
    return {**files, where: _dump(document)}


_PLAN_KEYS = ("guaranteed", "ceiling", "download", "upload")


def _set_plan(bandwidth, plan: dict) -> None:
    """The rates of the plan as given, in place of the ones before (their position kept)."""
    for key in _PLAN_KEYS:
        if key in plan:
            value = plan[key]
            if isinstance(value, dict):
                pair = bandwidth.get(key) if isinstance(bandwidth.get(key), dict) else None
                if pair is None:
                    pair = CommentedMap()
                    pair.fa.set_flow_style()  # {guaranteed: 80mbit, ceiling: 300mbit}, as a schedule's plan
                pair.update(value)
                value = pair
            if key in bandwidth:
                bandwidth[key] = value
            else:
                bandwidth.insert(sum(1 for k in _PLAN_KEYS[:_PLAN_KEYS.index(key)] if k in bandwidth), key, value)
        elif key in bandwidth:
            del bandwidth[key]


def _set_classes(bandwidth, classes: dict) -> None:
    """The OPD's classes as given: a class kept keeps its comments, one left out goes."""
    if not classes:
        bandwidth.pop("classes", None)
        return
    current = bandwidth.get("classes") if isinstance(bandwidth.get("classes"), dict) else None
    if current is None:
        current = bandwidth["classes"] = CommentedMap()
    for gone in [name for name in current if name not in classes]:
        del current[gone]
    for name, wanted in classes.items():
        node = current.get(name) if isinstance(current.get(name), dict) else None
        if node is None:
            node = CommentedMap()
            node.fa.set_flow_style()  # one line, as the classes an admin writes by hand
        for key in ("share", "ceiling", "match"):
            if wanted.get(key) not in (None, "", {}):
                node[key] = _match(node.get(key), wanted[key]) if key == "match" else wanted[key]
            elif key in node:
                del node[key]
        current[name] = node


def _match(before, wanted: dict) -> CommentedMap:
    """A class's match on one line, as admins write it: {services: [simpeg], ports: [tcp/443]};
    a list that names the same things as before keeps its order (a form's list has its own)."""
    before = before if isinstance(before, dict) else {}
    node = CommentedMap()
    for key, values in wanted.items():
        same = isinstance(before.get(key), list) and sorted(map(str, before[key])) == sorted(map(str, values))
        node[key] = before[key] if same else CommentedSeq(values)
    node.fa.set_flow_style()
    return node


def add_opd(files: dict[str, str], key: str, fields: dict) -> dict[str, str]:
    """A new OPD: in its own opds/KEY.yaml when the site keeps OPDs in files, else under `opds:`."""
    key = key.strip()
    if key in (load_files(files).data.get("opds") or {}):
        raise EditError(f"opds.{key}: there is an OPD {key} already")
    node = CommentedMap((k, v) for k, v in fields.items() if v not in (None, "", [], {}))
    if any(name.startswith("opds/") for name in files):
        name = f"opds/{key}.yaml"
        if name in files:
            raise EditError(f"opds.{key}: the file {name} exists already")
        return {**files, name: _dump(CommentedMap([(key, node)]))}
    document = _load(files.get(MAIN, ""))
    if document.get("opds") is None:
        document["opds"] = CommentedMap()
    document["opds"][key] = node
    return {**files, MAIN: _dump(document)}


def delete_opd(files: dict[str, str], key: str) -> dict[str, str]:
    """Remove an OPD; an OPD file left empty goes too. What still names it, pnsbox's checks say."""
    where, document, _ = _opd_node(files, key)
    if where == MAIN:
        del document["opds"][key]
    else:
        del document[key]
        if not document:
            return {k: v for k, v in files.items() if k != where}
    return {**files, where: _dump(document)}


def add_policy(files: dict[str, str], policy: dict, position: int) -> dict[str, str]:
    """Insert a policy at POSITION (1 = first; past the end = last)."""
    document = _load(files.get(MAIN, ""))
    if document.get("policies") is None:
        document["policies"] = CommentedSeq()
    node = CommentedMap((k, v) for k, v in policy.items() if v not in (None, "", [], False))
    node.fa.set_flow_style()  # one line, like the policies an admin writes by hand
    document["policies"].insert(max(0, min(position - 1, len(document["policies"]))), node)
    return {**files, MAIN: _dump(document)}


def delete_policy(files: dict[str, str], index: int) -> dict[str, str]:
    document = _load(files.get(MAIN, ""))
    policies = document.get("policies") or []
    if not 0 <= index < len(policies):
        raise EditError("policies: no such position")
    del policies[index]
    return {**files, MAIN: _dump(document)}


def _merged_link(current, wanted: dict):
    """Keep the link's other keys (an address, ...) when its kind stays the same."""
    if isinstance(current, dict) and set(wanted) <= set(current) | {"interface", "vlan", "trunk"} and (
            ("interface" in wanted) == ("interface" in current)):
        for key, value in wanted.items():
            current[key] = value
        return current
    return CommentedMap(wanted)


def policies_text(files: dict[str, str]) -> str:
    document = _load(files.get(MAIN, ""))
    return _dump(document.get("policies") or CommentedSeq())


def set_policies(files: dict[str, str], text: str) -> dict[str, str]:
    """Replace the ordered list of policies with the admin's YAML (comments inside it are kept)."""
    _readable(text, "policies", ("policies",))
    policies = _load(text)
    if not isinstance(policies, list) or not all(isinstance(p, dict) for p in policies):
        raise EditError("policies: write a list of policies, each like `- {name: x, from: a, to: b, action: accept}`")
    document = _load(files.get(MAIN, ""))
    document["policies"] = policies
    return {**files, MAIN: _dump(document)}


def move_policy(files: dict[str, str], index: int, delta: int) -> dict[str, str]:
    document = _load(files.get(MAIN, ""))
    policies = document.get("policies") or []
    target = index + delta
    if not (0 <= index < len(policies) and 0 <= target < len(policies)):
        raise EditError("policies: no such position")
    policies.insert(target, policies.pop(index))
    return {**files, MAIN: _dump(document)}


def set_file(files: dict[str, str], name: str, text: str) -> dict[str, str]:
    """The file editor: a whole file; a new name must be pnsbox.yaml or opds/NAME.yaml."""
    name = name.strip()
    if name != MAIN and not (name.startswith("opds/") and name.endswith(".yaml") and "/" not in name[5:]
                             and len(name) > 10):
        raise EditError("file: a site holds pnsbox.yaml and opds/NAME.yaml only")
    _readable(text, name, () if name == MAIN else ("opds",))  # the draft keeps the text exactly as typed
    if not text.strip() and name != MAIN:
        return {k: v for k, v in files.items() if k != name}  # an emptied OPD file is removed
    return {**files, name: text if text.endswith("\n") else text + "\n"}
