"""A read-only view of a site's files (pnsbox.yaml plus opds/*.yaml) for the pages: OPDs with the
file they live in, services, policies in order, the pipe. The daemon validates; this only reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from pnsbox.load import parse_yaml

from .rates import parse_rate

MAIN = "pnsbox.yaml"


@dataclass
class Site:
    data: dict                      # pnsbox.yaml's content with every OPD merged under `opds`
    opd_files: dict[str, str] = field(default_factory=dict)  # OPD -> the file that defines it

    @property
    def name(self) -> str:
        return (self.data.get("site") or {}).get("name", "")

    @property
    def timezone(self) -> str:
        return (self.data.get("site") or {}).get("timezone", "Asia/Jakarta")

    @property
    def opds(self) -> dict[str, dict]:
        return self.data.get("opds") or {}

    @property
    def services(self) -> dict[str, dict]:
        return self.data.get("services") or {}

    @property
    def policies(self) -> list[dict]:
        return self.data.get("policies") or []

    def pipe(self) -> dict[str, int]:
        """The purchased pipe per direction, in bits per second (download, upload)."""
        uplink = (self.data.get("site") or {}).get("uplink") or {}
        both = uplink.get("bandwidth")
        try:
            return {"download": parse_rate(uplink.get("download", both) or 0),
                    "upload": parse_rate(uplink.get("upload", both) or 0)}
        except ValueError:
            return {"download": 0, "upload": 0}


def parse(files: dict[str, str]) -> Site:
    """Files as the daemon keeps them -> a Site. Unreadable YAML gives an empty part, not an error:
    the daemon's validation is what names problems."""
    def load(text: str) -> dict:
        loaded = parse_yaml(text, MAIN)[0]  # pnsbox's bounded parser: no aliases, size and depth capped
        return loaded if isinstance(loaded, dict) else {}

    data = load(files.get(MAIN, ""))
    opds = dict(data.get("opds") or {})
    opd_files = dict.fromkeys(opds, MAIN)
    for name in sorted(files):
        if name.startswith("opds/"):
            for opd, body in load(files[name]).items():
                opds[opd] = body
                opd_files[opd] = name
    data["opds"] = opds
    return Site(data, opd_files)


def opd_bandwidth(opd: dict) -> dict[str, dict[str, int]]:
    """An OPD's plan as {download: {guaranteed, ceiling}, upload: {...}} in bits per second."""
    plan = opd.get("bandwidth") or {}
    result = {}
    for direction in ("download", "upload"):
        part = plan.get(direction) or plan
        try:
            result[direction] = {"guaranteed": parse_rate(part.get("guaranteed") or 0),
                                 "ceiling": parse_rate(part.get("ceiling") or part.get("guaranteed") or 0)}
        except ValueError:
            result[direction] = {"guaranteed": 0, "ceiling": 0}
    return result


def names_in(value) -> list[str]:
    """A policy's `from` or `to` as a list of zone names."""
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def zones_of(policy: dict) -> set[str]:
    return set(names_in(policy.get("from"))) | set(names_in(policy.get("to")))


def subnets(opd: dict) -> list[str]:
    return names_in(opd.get("subnet"))


def link_text(link) -> str:
    if not isinstance(link, dict):
        return str(link or "")
    if "vlan" in link:
        return f"VLAN {link['vlan']} on {link.get('trunk', '?')}"
    if "wireguard" in link:
        return "WireGuard"
    return str(link.get("interface", ""))
