"""pipeline.Renders, what pnsboxd keeps of its renders: what it hands back is what a fresh
render gives, byte for byte (its drift check compares the kernel with it)."""

from pathlib import Path

from pnsbox.apply.pipeline import Inputs, Renders, catalog_for
from pnsbox.facts import Facts
from pnsbox.load import load_files
from pnsbox.render.site import site
from pnsbox.sitefiles import read_site
from pnsbox.validate import build

EXAMPLE = Path(__file__).resolve().parents[2] / "rules" / "examples" / "province"
GIVEN = Inputs(Facts(("pfifo", "fq_codel")), {}, frozenset())


def config_of(files):
    return build(load_files(files))


def fresh(config):
    return site(config, GIVEN.facts, catalog_for(config), GIVEN.slots, GIVEN.windows)


def test_a_render_after_a_rate_change_or_a_new_policy_equals_a_fresh_one():
    files = read_site(EXAMPLE)
    tourism = files["opds/tourism.yaml"]
    rates = {**files, "opds/tourism.yaml": tourism.replace("ceiling: 50mbit", "ceiling: 40mbit")}
    policy = {**files, "pnsbox.yaml": files["pnsbox.yaml"].replace(
        "policies:", "policies:\n  - {name: extra, from: dispar, to: simpeg, ports: [tcp/8443], action: accept}", 1)}
    renders, catalog = Renders(), catalog_for(config_of(files))
    before = renders.site(config_of(files), GIVEN, catalog)
    changed = config_of(rates)
    after = renders.site(changed, GIVEN, catalog)  # the kept render, its HTB trees anew
    assert after == fresh(changed) and after.shaping != before.shaping and after.ruleset == before.ruleset
    added = config_of(policy)
    assert renders.site(added, GIVEN, catalog) == fresh(added) != before  # another structure: rendered whole
