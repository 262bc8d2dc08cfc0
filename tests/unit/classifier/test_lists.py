"""Domain lists as categories: the TrustPositif file format, suffix matching, the compiled
table, the engine's verdicts, reloads that keep the old lists on a bad file."""

import time

import pytest
from craft import client_hello, tcp, tls_records

from pnsbox.classifier import Engine
from pnsbox.classifier.catalog import default_catalog
from pnsbox.classifier.lists import (
    DomainTable,
    Lists,
    compile_file,
    compile_lists,
    compile_table,
    open_lists,
    read_domains,
)
from pnsbox.problems import ConfigError

LIST = """# TrustPositif, domains
judi-online.example
*.slot-gacor.example
.togel.example.
Bola88.Example   # upper case, a trailing comment

"""


def test_the_trustpositif_format_reads_domains_comments_and_wildcards(tmp_path):
    path = tmp_path / "trustpositif.txt"
    path.write_text(LIST)
    assert read_domains(path) == ["judi-online.example", "slot-gacor.example", "togel.example",
                                  "bola88.example"]
    path.write_text("bücher.example\n")
    assert read_domains(path) == ["xn--bcher-kva.example"]


def test_a_bad_line_is_reported_with_file_and_line_and_nothing_loads(tmp_path):
    path = tmp_path / "trustpositif.txt"
    path.write_text("ok.example\nnot a domain\n\nhttp://x.example/\n")
    with pytest.raises(ConfigError) as caught:
        compile_file(path)
    text = str(caught.value)
    assert f"{path}:2:" in text and f"{path}:4:" in text and "is not a domain" in text


def test_an_entry_matches_its_domain_and_names_under_it_but_not_its_neighbours():
    table = DomainTable(compile_table(["judi-online.example", "slot.co.id"]))
    assert table.matches("judi-online.example") and table.matches("www.judi-online.example")
    assert table.matches("a.b.slot.co.id")
    assert not table.matches("judionline.example") and not table.matches("example")
    assert not table.matches("co.id") and not table.matches("xjudi-online.example")


def test_a_table_compiled_by_another_interpreter_is_refused():
    table = compile_table(["a.example"])
    table[1] ^= 1  # the check value another hash seed would give
    with pytest.raises(ValueError, match="another process"):
        DomainTable(table)


def test_a_listed_name_takes_the_lists_category_and_keeps_its_application(tmp_path):
    (tmp_path / "trustpositif.txt").write_text(LIST + "tiktok.com\n")
    catalog = default_catalog()
    engine = Engine(catalog)
    engine.lists = open_lists(catalog, compile_lists(catalog, tmp_path, tmp_path / "compiled"))

    def sni(name, port):
        return engine.packet(tcp("10.1.0.2", port, "198.51.100.7", 443, tls_records(client_hello(name))))

    listed, neighbour, app = sni("www.judi-online.example", 40000), sni("judionline.example", 40001), \
        sni("www.tiktok.com", 40002)
    assert (listed.app, listed.category) == ("tls", "blocked-trustpositif")
    assert listed.category_id == catalog.categories["blocked-trustpositif"]
    assert (neighbour.app, neighbour.category) == ("tls", "web")
    assert (app.app, app.category) == ("tiktok", "blocked-trustpositif")


def test_a_synthetic_million_domain_list_compiles_in_under_five_seconds_of_cpu(tmp_path):
    path = tmp_path / "trustpositif.txt"
    with open(path, "w") as file:
        file.write("# synthetic\n")
        for i in range(1_000_000):
            file.write(f"situs{i}.judi{i % 977}.example\n")
    started = time.process_time()
    table = DomainTable(compile_file(path))
    assert time.process_time() - started < 5
    assert len(table._slots) * 8 <= 20 * 2**20  # 16 MiB of slots for a million names
    assert table.matches(f"situs999999.judi{999999 % 977}.example")
    assert table.matches("www.situs0.judi0.example") and not table.matches("situs0.judi1.example")


def test_the_engine_without_lists_is_unchanged():
    assert not Lists([])
    verdict = Engine().packet(tcp("10.1.0.2", 4, "198.51.100.7", 443, tls_records(client_hello("x.example"))))
    assert verdict.category == "web"
