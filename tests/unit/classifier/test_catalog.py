import ipaddress

import pytest

from pnsbox.classifier import catalog as catalog_module
from pnsbox.classifier.catalog import catalog_from_text, load_catalog
from pnsbox.classifier.lookup import AddressRanges, DomainSuffixes
from pnsbox.classifier.verdict import Verdict, mark, unpack_mark
from pnsbox.problems import ConfigError

PROTOCOL_APPS = "".join(f"  {n}: {{id: {i}, category: web}}\n"
                        for i, n in enumerate(("dns", "mdns", "http", "tls", "quic", "ssh"), 1))


def catalog_text(apps: str, categories: str = "  web: {id: 1}\n  video: {id: 2}\n") -> str:
    return f"categories:\n{categories}apps:\n{PROTOCOL_APPS}{apps}"


def test_the_shipped_catalog_loads_and_names_government_apps():
    catalog = load_catalog()
    expected = {
        "srikandi.arsip.go.id": "srikandi", "siasn.bkn.go.id": "siasn", "myasn.bkn.go.id": "myasn",
        "www.bkn.go.id": "bkn", "lpse.jatimprov.go.id": "lpse", "spse.inaproc.id": "lpse",
        "djponline.pajak.go.id": "djp-online", "sakti.kemenkeu.go.id": "sakti",
        "www.kemenkeu.go.id": "kemenkeu", "sipd.kemendagri.go.id": "sipd",
        "bappeda.jatengprov.go.id": "egov", "web.whatsapp.com": "whatsapp",
        "meet.google.com": "google-meet", "www.google.com": "google",
        "teams.microsoft.com": "teams", "www.tiktok.com": "tiktok", "www.vidio.com": "vidio",
        "deb.debian.org": "debian", "download.windowsupdate.com": "windows-update",
    }
    assert {name: catalog.by_name(name).name for name in expected} == expected
    assert catalog.by_name("notgo.id") is None and catalog.by_name("") is None
    assert catalog.by_name("lpse.go.id").name == "egov"  # the pattern needs a label between
    assert catalog.apps["srikandi"].category == "e-government"


def test_ids_are_stable_both_ways():
    catalog = load_catalog()
    assert catalog_module.app_id("tls") == catalog.app_id("tls") == 4
    assert catalog_module.app_name(catalog.app_id("srikandi")) == "srikandi"
    assert catalog_module.category_id("e-government") == 5
    assert catalog_module.category_name(5) == "e-government"
    assert catalog.app_id("unknown") == 0 and catalog.category_name(0) == "unknown"


def test_domain_suffixes_longest_wins_and_cost_is_per_label():
    suffixes = DomainSuffixes([("google.com", "g"), ("meet.google.com", "m"), ("a.*.go.id", "a"),
                               ("go.id", "gov")])
    assert suffixes.match("x.meet.google.com") == "m"
    assert suffixes.match("google.com") == "g"
    assert suffixes.match("agoogle.com") is None
    assert suffixes.match("a.b.c.go.id") == "a"
    assert suffixes.match("b.a.go.id") == "gov"


def test_address_ranges_nested_networks():
    ranges = AddressRanges([(ipaddress.ip_network(n), v) for n, v in [
        ("10.0.0.0/8", "outer"), ("10.1.0.0/16", "inner"), ("10.1.2.0/24", "innermost"),
        ("192.0.2.0/24", "doc"), ("2001:db8::/32", "six")]])

    def at(address):
        return ranges.match(ipaddress.ip_address(address).packed)

    assert [at(a) for a in ("10.0.0.1", "10.1.0.1", "10.1.2.3", "10.1.3.0", "10.2.0.0",
                            "192.0.2.255", "192.0.3.0", "2001:db8::5", "2001:db9::")] == \
        ["outer", "inner", "innermost", "inner", "outer", "doc", None, "six", None]


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        catalog_from_text(text, "catalog.yaml")
    return [str(p) for p in caught.value.problems]


def test_bad_entries_name_file_line_and_field():
    text = catalog_text(
        "  zoom:\n"
        "    id: 100\n"
        "    category: vidoe\n"
        "  bad:\n"
        "    id: 101\n"
        "    category: video\n"
        "    domains: [Zoom.US]\n"
        "    ports: [tcp/99999]\n"
        "    addresses: [10.0.0.1/8]\n"
        "  meet:\n"
        "    id: 100\n"
        "    category: video\n"
        "  odd:\n"
        "    id: 0\n"
        "    category: video\n"
        "    colour: red\n")
    assert problems_of(text) == [
        "catalog.yaml:13: apps.zoom.category: unknown category `vidoe`; did you mean `video`?",
        "catalog.yaml:17: apps.bad.domains[0]: 'Zoom.US' is not a domain suffix: write lower-case "
        "labels such as example.co.id, or first-label.*.suffix such as lpse.*.go.id",
        "catalog.yaml:18: apps.bad.ports[0]: 'tcp/99999': ports run from 1 to 65535, low end first",
        "catalog.yaml:19: apps.bad.addresses[0]: '10.0.0.1/8' is not a network: write it like 10.0.0.0/8 or "
        "2001:db8::/32, host bits zero",
        "catalog.yaml:21: apps.meet.id: id 100 is also given to `zoom` (line 12)",
        "catalog.yaml:24: apps.odd.id: an application id is 1 to 65535, not 0",
        "catalog.yaml:26: apps.odd.colour: unknown key `colour`; allowed: id, category, description, "
        "domains, ports, addresses, protocols",
    ]


def test_missing_protocol_apps_duplicate_domains_and_yaml_errors():
    text = "categories:\n  web: {id: 1}\napps:\n  a: {id: 1, category: web, domains: [x.id]}\n" \
           "  b: {id: 2, category: web, domains: [x.id]}\n"
    problems = "\n".join(problems_of(text))
    assert "catalog.yaml:5: apps.b.domains[0]: domain x.id is also given to `a` (line 4)" in problems
    assert "apps: missing app `tls`" in problems
    assert problems_of("apps: [")[0].startswith("catalog.yaml:2: (top): YAML syntax error")


def test_mark_layout():
    verdict = Verdict("srikandi", "e-government", "inspected", "srikandi.arsip.go.id", "tls", 101, 5)
    assert verdict.mark == 0x8000_0000 | 1 << 28 | 5 << 16 | 101
    assert unpack_mark(verdict.mark) == (101, 5, "inspected")
    assert unpack_mark(mark(0, 0, "none")) == (0, 0, "none")
    assert unpack_mark(0x1234) is None
