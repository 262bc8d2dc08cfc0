"""The application catalog (rules/apps/catalog.yaml): names, ports and address ranges ->
application and category, each with a stable small id for the conntrack mark.

Ids are written in the file, not counted from its order, so adding an application never
renumbers the others (marks already in the kernel keep their meaning). Id 0 is "unknown".
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, IPvAnyNetwork, ValidationError

from ..load import Source, parse_yaml
from ..model import Frozen, Port, bounded
from ..problems import ConfigError, Problem, in_words
from .lookup import AddressRanges, DomainSuffixes
from .packet import TCP, UDP


def _shipped_catalog() -> Path:
    """rules/apps/catalog.yaml of this checkout; installed (not editable), the copy that
    setup.cfg's data_files put under <prefix>/share/pnsbox."""
    checkout = Path(__file__).resolve().parents[2] / "rules" / "apps" / "catalog.yaml"
    installed = Path(sys.prefix) / "share" / "pnsbox" / "rules" / "apps" / "catalog.yaml"
    return installed if not checkout.exists() and installed.exists() else checkout


DEFAULT_CATALOG = _shipped_catalog()
DEFAULT_LISTS = DEFAULT_CATALOG.parent.parent / "lists"   # rules/lists: domain lists by name
UNKNOWN = "unknown"
# the engine names a flow after the protocol it recognised when no application matches
PROTOCOL_APPS = ("dns", "mdns", "http", "tls", "quic", "ssh")
IP_PROTOCOLS = {"icmp": 1, "igmp": 2, "gre": 47, "esp": 50, "ah": 51, "icmpv6": 58, "sctp": 132}
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,30}")
_DOMAIN = re.compile(r"(?:[a-z0-9_-]+\.\*\.)?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


def _domain(value):
    if not isinstance(value, str) or not _DOMAIN.fullmatch(value):
        raise ValueError(f"{value!r} is not a domain suffix: write lower-case labels such as "
                         "example.co.id, or first-label.*.suffix such as lpse.*.go.id")
    return value


def _ip_protocol(value):
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 256:
        return value
    if isinstance(value, str) and value in IP_PROTOCOLS:
        return IP_PROTOCOLS[value]
    raise ValueError(f"{value!r} is not an IP protocol: write a number or one of "
                     f"{', '.join(IP_PROTOCOLS)}")


Domain = Annotated[str, BeforeValidator(_domain)]
IpProtocol = Annotated[int, BeforeValidator(_ip_protocol)]


class CategorySpec(Frozen):
    id: bounded(1, 255, "a category id")
    description: str = ""
    list: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")] | None = None  # rules/lists/<list>.txt


class AppSpec(Frozen):
    id: bounded(1, 0xFFFF, "an application id")
    category: str
    description: str = ""
    domains: list[Domain] = []
    ports: list[Port] = []
    addresses: list[IPvAnyNetwork] = []
    protocols: list[IpProtocol] = []


@dataclass(frozen=True, slots=True)
class App:
    name: str
    id: int
    category: str
    category_id: int


UNKNOWN_APP = App(UNKNOWN, 0, UNKNOWN, 0)


class Catalog:
    """Lookups by name, address, port and IP protocol, and the id <-> name tables."""

    def __init__(self, categories: dict[str, CategorySpec], apps: dict[str, AppSpec]):
        self.categories = {name: spec.id for name, spec in categories.items()}
        # categories fed by a domain list (lists.py): category -> list name
        self.category_lists = {name: spec.list for name, spec in categories.items() if spec.list}
        self.apps = {name: App(name, spec.id, spec.category, self.categories[spec.category])
                     for name, spec in apps.items()}
        self._app_names = {app.id: name for name, app in self.apps.items()}
        self._category_names = {cid: name for name, cid in self.categories.items()}
        self._domains: DomainSuffixes[App] = DomainSuffixes(
            (domain, self.apps[name]) for name, spec in apps.items() for domain in spec.domains)
        self._addresses: AddressRanges[App] = AddressRanges(
            (network, self.apps[name]) for name, spec in apps.items() for network in spec.addresses)
        self._ports: dict[tuple[int, int], App] = {}
        self._protocols: dict[int, App] = {}
        for name, spec in apps.items():
            for ports in spec.ports:
                proto = TCP if ports.protocol == "tcp" else UDP
                for port in range(ports.first, ports.last + 1):
                    self._ports[proto, port] = self.apps[name]
            for proto in spec.protocols:
                self._protocols[proto] = self.apps[name]

    # --- ids ---
    def app_id(self, name: str) -> int:
        return 0 if name == UNKNOWN else self.apps[name].id

    def app_name(self, app_id: int) -> str:
        return UNKNOWN if app_id == 0 else self._app_names[app_id]

    def category_id(self, name: str) -> int:
        return 0 if name == UNKNOWN else self.categories[name]

    def category_name(self, category_id: int) -> str:
        return UNKNOWN if category_id == 0 else self._category_names[category_id]

    # --- lookups (None when nothing matches) ---
    def by_name(self, name: str) -> App | None:
        return self._domains.match(name) if name else None

    def by_address(self, address: bytes) -> App | None:
        return self._addresses.match(address)

    def by_port(self, proto: int, port: int) -> App | None:
        return self._ports.get((proto, port))

    def by_protocol(self, proto: int) -> App | None:
        return self._protocols.get(proto)


def load_catalog(path: str | Path = DEFAULT_CATALOG) -> Catalog:
    """Read and check a catalog file; every problem is raised at once as a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError([Problem(str(path), 0, "", f"cannot read the catalog: {exc.strerror}")]) from exc
    return catalog_from_text(text, str(path))


def catalog_from_text(text: str, file: str = "catalog.yaml") -> Catalog:
    data, lines, problems = parse_yaml(text, file)
    if problems and data is None:
        raise ConfigError(problems)
    source = Source(data if isinstance(data, dict) else {}, lines, file, problems)
    if not isinstance(data, dict):
        raise ConfigError(problems + [source.problem((), "the catalog must be a mapping with "
                                                         "`categories` and `apps`")])
    for key in data:
        if key not in ("categories", "apps"):
            problems.append(source.problem((key,), f"unknown key `{key}`; allowed: apps, categories"))
    categories = _section(source, "categories", CategorySpec, problems)
    apps = _section(source, "apps", AppSpec, problems)
    _cross_check(source, categories, apps, problems)
    if problems:
        raise ConfigError(problems)
    return Catalog(categories, apps)


def _section(source: Source, section: str, spec, problems: list[Problem]) -> dict:
    raw = source.data.get(section)
    if not isinstance(raw, dict) or not raw:
        problems.append(source.problem((section,), "missing or empty: a mapping of name to entry"))
        return {}
    out = {}
    for name, value in raw.items():
        if name == UNKNOWN or not _NAME.fullmatch(name):
            problems.append(source.problem((section, name), "names are lower-case letters, digits, "
                                           "- and _, start with a letter, at most 31 characters, "
                                           "and `unknown` is reserved"))
            continue
        try:
            out[name] = spec.model_validate(value)
        except ValidationError as exc:
            for error in exc.errors():
                where = (section, name) + tuple(error["loc"])
                if error["type"] == "extra_forbidden":
                    allowed = ", ".join(spec.model_fields)
                    message = f"unknown key `{error['loc'][-1]}`; allowed: {allowed}"
                elif error["type"] == "missing":
                    message = f"missing required key `{error['loc'][-1]}`"
                else:  # in pnsbox's words, as a site's problems are
                    message = in_words(error["type"], error)
                problems.append(source.problem(where, message))
    return out


def _cross_check(source: Source, categories: dict, apps: dict, problems: list[Problem]) -> None:
    def unique(section: str, entries: dict, what: str, values) -> None:
        seen: dict = {}
        for name, field, index, value in values(entries):
            path = (section, name, field) if index is None else (section, name, field, index)
            if value in seen:
                other_file, other_line = source.where(seen[value])
                problems.append(source.problem(
                    path, f"{what} {value} is also given to `{seen[value][1]}` (line {other_line})"))
            else:
                seen[value] = path

    unique("categories", categories, "id", lambda e: ((n, "id", None, s.id) for n, s in e.items()))
    unique("apps", apps, "id", lambda e: ((n, "id", None, s.id) for n, s in e.items()))
    unique("apps", apps, "domain", lambda e: ((n, "domains", i, d) for n, s in e.items()
                                              for i, d in enumerate(s.domains)))
    unique("apps", apps, "network", lambda e: ((n, "addresses", i, str(a)) for n, s in e.items()
                                               for i, a in enumerate(s.addresses)))
    unique("apps", apps, "IP protocol", lambda e: ((n, "protocols", i, p) for n, s in e.items()
                                                   for i, p in enumerate(s.protocols)))
    port_owner: dict[tuple[str, int], tuple[str, int]] = {}
    for name, spec in apps.items():
        if spec.category not in categories:
            close = difflib.get_close_matches(spec.category, list(categories), n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            problems.append(source.problem(("apps", name, "category"),
                                           f"unknown category `{spec.category}`{hint}"))
        for index, ports in enumerate(spec.ports):
            for port in range(ports.first, ports.last + 1):
                owner = port_owner.setdefault((ports.protocol, port), (name, index))
                if owner[0] != name:
                    _, line = source.where(("apps", owner[0], "ports", owner[1]))
                    problems.append(source.problem(("apps", name, "ports", index),
                                                   f"{ports.protocol}/{port} is also given to "
                                                   f"`{owner[0]}` (line {line})"))
                    break
    if apps:
        for name in PROTOCOL_APPS:
            if name not in apps:
                problems.append(source.problem(("apps",), f"missing app `{name}`: the engine names "
                                               f"{name} flows that match no other application after it"))


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return load_catalog(DEFAULT_CATALOG)


def app_id(name: str) -> int:
    """Id of an application of the shipped catalog (0 for `unknown`)."""
    return default_catalog().app_id(name)


def app_name(app_id: int) -> str:
    return default_catalog().app_name(app_id)


def category_id(name: str) -> int:
    return default_catalog().category_id(name)


def category_name(category_id: int) -> str:
    return default_catalog().category_name(category_id)
