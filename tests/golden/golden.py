"""A golden case: tests/golden/NN-area-name/ holds

  site/           the site (pnsbox.yaml, opds/*.yaml)
  facts.yaml      the kernel's facts, as the capability probe would give them
  case.yaml       optional: `at`, the moment rendered (time-of-day rates), default DEFAULT_AT;
                  `peer`: the hub of an HA site rendered for (then expected.keepalived,
                  expected.keepalived_script and expected.conntrackd too)
  observed.yaml   optional (plan cases): `interfaces` that exist on the box, and `running:
                  previous` when the box runs what previous/ renders, as pnsbox applied it
  previous/       the site the box runs (with `running: previous`)
  expected.nft expected.tc expected.links expected.iptables   what render gives (and apply loads)
  expected.plan   what `pnsbox plan` would print (plan cases)

`make golden-update` rewrites the expected files; review the diff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from pnsbox.apply.pipeline import Inputs, Renders, _steps
from pnsbox.facts import Facts
from pnsbox.load import load_site
from pnsbox.model import Config
from pnsbox.observe.tc import SeenClass, SeenTree
from pnsbox.plan import Observed, PlanError, describe
from pnsbox.render.site import Artifacts, windows_at
from pnsbox.render.tc import allocate_slots
from pnsbox.validate import build

HERE = Path(__file__).resolve().parent
DEFAULT_AT = "2026-12-01T03:00:00+00:00"  # a Tuesday, 10:00 in Jakarta
PARTS = ("nft", "tc", "links", "iptables")
HA_PARTS = ("keepalived", "keepalived_script", "conntrackd")  # cases with a `peer` only


def case_dirs() -> list[Path]:
    return sorted(path.parent for path in HERE.glob("[0-9][0-9]-*/facts.yaml"))


def _yaml(path: Path) -> dict:
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


@dataclass
class Case:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def site(self) -> Path:
        return self.path / "site"

    @property
    def facts_file(self) -> Path:
        return self.path / "facts.yaml"

    @property
    def facts(self) -> Facts:
        return Facts.from_dict(_yaml(self.facts_file))

    @property
    def at(self) -> str:
        return str(_yaml(self.path / "case.yaml").get("at", DEFAULT_AT))

    @property
    def peer(self) -> str | None:
        return _yaml(self.path / "case.yaml").get("peer")

    @property
    def observed_spec(self) -> dict | None:
        path = self.path / "observed.yaml"
        return _yaml(path) if path.is_file() else None

    def config(self, which: str = "site") -> Config:
        return build(load_site(self.path / which))

    def inputs(self, config: Config, slots: dict[str, int] | None = None) -> Inputs:
        return Inputs(self.facts, allocate_slots(config, slots), windows_at(config, datetime.fromisoformat(self.at)),
                      peer=self.peer)

    def desired(self, config: Config, slots: dict[str, int] | None = None) -> Artifacts:
        """What apply renders for this case: the apply pipeline's own render path."""
        from pnsbox.apply.pipeline import catalog_for

        return Renders().site(config, self.inputs(config, slots), catalog_for(config))

    def previous(self) -> Artifacts | None:
        spec = self.observed_spec or {}
        if spec.get("running") != "previous":
            return None
        return self.desired(self.config("previous"))

    def observed(self) -> Observed:
        """The box as observe.box would read it: the interfaces that exist, and everything
        previous/ made when pnsbox applied it (its table, addresses, routes, links, trees)."""
        spec = self.observed_spec or {}
        links = {name: {"up": True} for name in spec.get("interfaces", [])}
        before = self.previous()
        if before is None:
            return Observed(links=links, addresses=set(), routes=set(), forwarding=False, ruleset_digest=None)
        made = {link.device for link in before.net.links if link.vlan} | {t.device for t in before.shaping.trees}
        links |= {device: {"up": True} for device in made | {link.device for link in before.net.links}}
        addresses = {(a.device, a.address) for a in before.net.addresses}
        trees = {tree.device: SeenTree(root=True, classes={
            c.minor: SeenClass(c.minor, c.parent, c.rate, c.ceil, c.prio, c.minor if c.leaf else None)
            for c in tree.classes}, leaf_kinds={c.minor: before.shaping.leaf_qdisc for c in tree.classes if c.leaf})
            for tree in before.shaping.trees}
        return Observed(links=links, addresses=addresses,
                        routes={(r.destination, r.device, r.gateway) for r in before.net.routes},
                        forwarding=True, ruleset_digest=before.ruleset.digest, owned_addresses=addresses,
                        owned_links=made, last_ruleset=before.ruleset.text, tc=trees,
                        clsact={device for device, _ in before.shaping.redirects},
                        owned_redirects={device: (ifb, True) for device, ifb in before.shaping.redirects},
                        queue_rules=before.queue_rules, queue_jump=before.queue_rules is not None)

    def plan_steps(self):
        """The steps apply would take on the observed box (raises PlanError)."""
        config = self.config()
        before = self.previous()
        given = self.inputs(config, before.slots if before else None)
        desired = self.desired(config, given.slots)
        assert desired.wireguard is None, "a WireGuard case needs the kernel's peers observed too"
        return _steps(desired, self.observed(), given, netns=None, state_dir="/nonexistent")

    def plan_text(self) -> str:
        """As `pnsbox plan` prints it: the kernel's warnings, then the steps."""
        try:
            return describe(self.plan_steps(), self.desired(self.config()).warnings)
        except PlanError as exc:
            return f"error: {exc}\n"
