"""plan_tc: desired HTB trees vs what tc shows -> the fewest tc steps, in a safe order (pure)."""

from pathlib import Path

from pnsbox.load import load_site, load_text
from pnsbox.observe.tc import SeenTree, parse_classes
from pnsbox.plan_tc import redirect_steps, tree_steps
from pnsbox.render.tc import allocate_slots, render_shaping
from pnsbox.validate import build

EXAMPLE = Path(__file__).resolve().parents[2] / "rules" / "examples" / "province"


def seen_from(tree, leaf="pfifo") -> SeenTree:
    """What tc would show for a tree that was applied exactly."""
    return SeenTree(root=True, classes={
        c.minor: type("C", (), {"minor": c.minor, "parent": c.parent, "rate": c.rate, "ceil": c.ceil,
                                "prio": c.prio, "leaf": c.minor if c.leaf else None})()
        for c in tree.classes}, leaf_kinds={c.minor: leaf for c in tree.classes if c.leaf})


def shaping_of(config, windows=frozenset()):
    return render_shaping(config, allocate_slots(config), "pfifo", windows)


def test_unchanged_tree_needs_nothing():
    shaping = shaping_of(build(load_site(EXAMPLE)))
    for tree in shaping.trees:
        assert tree_steps(tree, seen_from(tree), "pfifo") == []


def test_a_rate_change_is_one_in_place_change_per_direction():
    config = build(load_site(EXAMPLE))
    before = shaping_of(config)
    after = shaping_of(config, frozenset({"office-hours"}))  # bappeda's plan changes
    for old, new in zip(before.trees, after.trees, strict=True):
        steps = tree_steps(new, seen_from(old), "pfifo")
        assert [s.lines for s in steps] == [(next(line for line in _lines(new) if "classid 1:120 " in line)
                                             .replace("class add", "class change"),)]
        assert steps[0].phase == "before" and "bappeda" in steps[0].text


def _lines(tree):
    from pnsbox.render.tc import class_line

    return [class_line("add", tree.device, c) for c in tree.classes]


def test_removed_opd_classes_go_after_the_ruleset_children_first():
    config = build(load_site(EXAMPLE))
    old = shaping_of(config).trees[0]
    smaller = config.model_copy(update={"opds": {k: v for k, v in config.opds.items() if k != "dinkes"}})
    kept_slots = allocate_slots(smaller, allocate_slots(config))  # bappeda keeps its slot
    assert kept_slots == {"diskominfo": 0, "bappeda": 2, "dispar": 3}
    new = render_shaping(smaller, kept_slots, "pfifo").trees[0]
    steps = tree_steps(new, seen_from(old), "pfifo")
    deleted = [s.lines[0].split()[-1] for s in steps]
    assert all(s.phase == "after" for s in steps)
    assert set(deleted) == {"1:110", "1:111", "1:112", "1:113"} and deleted[-1] == "1:110"


def test_a_new_leaf_kind_removes_the_old_leaf_first_because_tc_replaces_only_within_a_kind():
    tree = shaping_of(build(load_site(EXAMPLE))).trees[0]
    steps = tree_steps(tree, seen_from(tree, leaf="pfifo"), "fq_codel")
    leaves = [c for c in tree.classes if c.leaf]
    assert len(steps) == len(leaves)
    for step, cls in zip(steps, leaves, strict=True):
        handle = f"{cls.minor:x}:"
        assert step.lines == (f"qdisc del dev pnsbox-dl parent 1:{cls.minor:x} handle {handle}",
                              f"qdisc replace dev pnsbox-dl parent 1:{cls.minor:x} handle {handle} fq_codel")


def test_missing_root_builds_the_whole_tree():
    tree = shaping_of(build(load_site(EXAMPLE))).trees[0]
    steps = tree_steps(tree, SeenTree(), "pfifo")
    assert len(steps) == 1 and steps[0].lines[0].startswith("qdisc add dev pnsbox-dl root handle 1: htb")


def test_redirects_only_where_missing_and_removed_only_if_ours():
    config = build(load_text("""\
site:
  name: t
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
opds:
  a: {name: A, subnet: 10.21.0.0/24, link: {interface: opd-a}}
"""))
    shaping = shaping_of(config)
    links = {"wan0": {}, "opd-a": {}, "opd-old": {}, "eth9": {}}
    owned = {"wan0": ("pnsbox-ul", True), "opd-old": ("pnsbox-dl", True), "eth9": ("pnsbox-dl", False)}
    steps = redirect_steps(shaping, clsact={"wan0", "opd-old", "eth9"}, owned=owned, links=links)
    assert [s.text for s in steps] == ["+ shaping: opd-a egress feeds pnsbox-dl",
                                       "- shaping: eth9 no longer feeds a tree",
                                       "- shaping: opd-old no longer feeds a tree"]
    assert steps[1].lines == ("filter del dev eth9 egress pref 1 protocol ip u32",)  # not their clsact
    assert steps[2].lines == ("qdisc del dev opd-old clsact",)


def test_tc_class_text_is_parsed_with_stats():
    text = """class htb 1:110 parent 1:1 leaf 110: prio 3 rate 33333Kbit ceil 200Mbit burst 1599b cburst 1600b
 Sent 1200 bytes 10 pkt (dropped 2, overlimits 0 requeues 0)
 rate 9600bit 1pps backlog 0b 0p requeues 0
 lended: 4 borrowed: 7 giants: 0
class htb 1:1 root rate 1Gbit ceil 1Gbit burst 1375b cburst 1375b
"""
    classes = parse_classes(text)
    leaf, root = classes[0x110], classes[1]
    assert (leaf.parent, leaf.rate, leaf.ceil, leaf.prio, leaf.leaf) == (1, 33_333_000, 200_000_000, 3, 0x110)
    assert (leaf.bytes, leaf.packets, leaf.drops, leaf.borrowed, leaf.rate_now) == (1200, 10, 2, 7, 9600)
    assert root.parent is None and root.rate == 10**9


def test_a_rate_change_and_a_new_leaf_queue_both_happen():
    config = build(load_site(EXAMPLE))
    old = shaping_of(config).trees[0]
    new = render_shaping(config, allocate_slots(config), "pfifo", frozenset({"office-hours"})).trees[0]
    steps = tree_steps(new, seen_from(old, leaf="fq_codel"), "pfifo")
    bappeda = [s for s in steps if "1:120" in s.text]
    assert [[line.split()[0:2] for line in s.lines] for s in bappeda] == [
        [["class", "change"]], [["qdisc", "del"], ["qdisc", "replace"]]]


def test_an_opd_losing_its_classes_gets_its_leaf_after_the_children_go():
    config = build(load_site(EXAMPLE))
    old = shaping_of(config).trees[0]
    plain = config.opds["dinkes"].bandwidth.model_copy(update={"classes": {}})
    flat = config.model_copy(update={"opds": {**config.opds,
                                              "dinkes": config.opds["dinkes"].model_copy(update={"bandwidth": plain})}})
    steps = tree_steps(shaping_of(flat).trees[0], seen_from(old), "pfifo")
    lines = [line for s in steps for line in s.lines]
    last_delete = max(i for i, line in enumerate(lines) if line.startswith("class del"))
    leaf = next(i for i, line in enumerate(lines) if line.startswith("qdisc replace") and "parent 1:110 " in line)
    assert leaf > last_delete
