"""pnsboxd's parse memo: after any edit, what it assembles from the pieces it saw before is exactly
what one parse of the whole text gives: data, every line, the node count, the problems."""

import random

import pytest

from pnsbox import load
from pnsbox.load import Budget, load_files, parse_yaml
from pnsbox.parse_memo import Lines, ParseMemo

SITE = """\
# a site written by hand
site:
  name: memo
  uplink: {{interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}}
schedules:
  office: {{days: [mon, tue], from: "07:30", to: "16:00"}}
opds:
{opds}
policies:
  # the order matters
{policies}
checks:
  - {{name: up, ping: 10.0.0.1}}
"""


def site(n: int = 12) -> str:
    opds = []
    for i in range(n):
        if i % 5 == 0:
            opds += [f"  opd{i}:", f"    name: OPD {i}", f"    subnet: 10.{i}.0.0/24",
                     "    note: |", "      two lines", "      of text", "", f"    link: {{interface: o{i}}}"]
        else:
            opds.append(f"  opd{i}: {{name: 'OPD {i}', subnet: 10.{i}.0.0/24, link: {{interface: o{i}}}, "
                        f"bandwidth: {{guaranteed: {i + 1}mbit, ceiling: 100mbit}}}}  # number {i}")
        if i % 4 == 3:
            opds.append("# between OPDs")
    policies = []
    for i in range(n):
        policies.append(f"  - {{name: p{i}, from: opd{i}, to: internet, ports: [tcp/{80 + i}], action: accept}}")
        if i % 3 == 0:
            policies += [f"  - name: q{i}", f"    from: opd{i}", "    to: opd0", "    action: drop", ""]
    return SITE.format(opds="\n".join(opds), policies="\n".join(policies))


def whole(text: str):
    budget = Budget()
    data, lines, problems = load._parse(text, "pnsbox.yaml", (), budget)
    return data, dict(lines), problems, budget.nodes


def memoised(text: str, memo: ParseMemo):
    budget = Budget()
    data, lines, problems = parse_yaml(text, "pnsbox.yaml", (), budget, memo)
    memo.loaded()
    return data, dict(lines), problems, budget.nodes


EDITS = [
    lambda rows, r, i: rows[i].replace("mbit", "kbit", 1),  # a rate
    lambda rows, r, i: rows[i].replace("tcp/", "udp/", 1),
    lambda rows, r, i: rows[r.randrange(len(rows))],  # a copy of another row (duplicates, misplaced items)
    lambda rows, r, i: "",
    lambda rows, r, i: "# a comment",
    lambda rows, r, i: "  " + rows[i],  # deeper
    lambda rows, r, i: rows[i][1:],  # shallower
    lambda rows, r, i: "  x",
    lambda rows, r, i: "\t" + rows[i],
    lambda rows, r, i: rows[i] + " &anchor",
    lambda rows, r, i: rows[i].replace("{", "[", 1),  # broken flow
    lambda rows, r, i: "---",
    lambda rows, r, i: "opds: {}",
    lambda rows, r, i: "  - {name: new, from: opd1, to: opd2, action: accept}",
    lambda rows, r, i: "  opd99: {name: New, subnet: 10.99.0.0/24, link: {interface: o99}}",
]


@pytest.mark.parametrize("seed", range(6))
def test_after_any_edit_the_memo_gives_exactly_what_the_whole_parse_gives(seed):
    r = random.Random(seed)
    memo = ParseMemo()
    text = site()
    assert memoised(text, memo) == whole(text)
    spliced = 0
    for _ in range(60):
        rows = text.split("\n")
        for _ in range(r.choice((1, 1, 1, 2))):
            i = r.randrange(len(rows))
            new = r.choice(EDITS)(rows, r, i)
            if r.random() < 0.5:
                rows[i] = new
            else:
                rows.insert(i, new)
        edited = "\n".join(rows)
        expected = whole(edited)
        assert memoised(edited, memo) == expected, edited
        spliced += isinstance(parse_yaml(edited, "pnsbox.yaml", (), Budget(), memo)[1], Lines)
        memo.loaded()
        if not expected[2] and r.random() < 0.7:
            text = edited  # go on from a text that parses, like a site being edited
    assert spliced >= 5  # edits that parse were assembled from pieces, not parsed whole


def test_a_rate_change_or_a_new_policy_parses_only_the_item_that_changed(monkeypatch):
    memo = ParseMemo()
    text = site(40)
    memoised(text, memo)
    parsed = []
    real = load._parse
    monkeypatch.setattr(load, "_parse", lambda t, *a, **k: parsed.append(t) or real(t, *a, **k))
    import pnsbox.parse_memo
    monkeypatch.setattr(pnsbox.parse_memo, "_parse", load._parse)
    changed = text.replace("bandwidth: {guaranteed: 8mbit", "bandwidth: {guaranteed: 9mbit")
    changed = changed.replace("  - {name: p3,", "  - {name: extra, from: opd1, to: opd2, action: accept}\n  - {name: p3,")
    assert memoised(changed, memo) == whole(changed)
    items = [t.split("\n")[0] for t in parsed if t.startswith("  ")]  # the rest: the skeleton, and whole()
    assert sorted(items) == sorted(["  - {name: extra, from: opd1, to: opd2, action: accept}",
                                    next(line for line in changed.split("\n") if line.startswith("  opd7:"))])


def test_the_bounds_hold_as_in_the_whole_parse(monkeypatch):
    memo = ParseMemo()
    deep = site().replace("  opd1: {", "  opd1: {x: " + "[" * 30 + "]" * 30 + ", ")
    assert memoised(deep, memo) == whole(deep) and "nested deeper" in whole(deep)[2][0].message
    monkeypatch.setattr(load, "MAX_NODES", 300)
    monkeypatch.setattr(load.Budget.__init__, "__defaults__", (300,))
    big = site(30)
    assert memoised(big, memo) == whole(big) and "too many values" in whole(big)[2][0].message


def test_a_site_of_several_files_loads_the_same_with_and_without_the_memo():
    files = {"pnsbox.yaml": site(6), "opds/more.yaml": "more1: {name: M, subnet: 10.200.0.0/24, link: {interface: m1}}\n"}
    memo = ParseMemo()
    for _ in range(2):
        with_memo, without = load_files(files, "/etc/pnsbox", memo), load_files(files, "/etc/pnsbox")
        assert with_memo.data == without.data and dict(with_memo.lines) == dict(without.lines)
        assert with_memo.where(("opds", "more1", "subnet")) == ("/etc/pnsbox/opds/more.yaml", 1)
