"""The compiled hot path (mypyc, `make native`) and its pure-Python sources: which one a
process loads, and that both classify every flow of the nDPI corpus alike."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from craft import CORPUS

from pnsbox.classifier import native

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = Path(native.__file__).resolve().parent

# Run in a fresh process (the choice is made at import): which modules are compiled, then
# every flow's verdict over the corpus (its mark too), the key the engine gave each packet,
# the engine's counters (parser errors included: a type the compiled build enforces and a
# packet breaks would show there), and the QUIC parser's answers to its datagrams cut at
# every tenth byte (the truncated and damaged cases, not only the good ones).
REPLAY = r"""
import json, sys
from pnsbox.classifier import Engine, native
from pnsbox.classifier.capture import read
from pnsbox.classifier import quic
from pnsbox.classifier.packet import UDP, parse
corpus = sys.argv[1]
out = {"compiled": native.compiled_modules(), "describe": native.describe(), "flows": [], "quic": [],
       "keys": [], "stats": [], "direct_header_protection": quic._new_ecb is not quic._public_ecb}
import pathlib
for path in sorted((pathlib.Path(corpus) / "pcap").iterdir()):
    engine = Engine()
    for _, packet in read(path):
        verdict = engine.packet(packet, 0.0)
        out["keys"].append([repr(engine.last_key), verdict is None or verdict.mark])
        p = parse(packet)
        if p and p.proto == UDP and quic.recognised(packet[p.start:p.end]):
            payload = packet[p.start:p.end]
            for cut in range(7, len(payload), 10):
                out["quic"].append(repr(quic.ClientInitials().feed(payload[:cut])))
    engine.conclude(0.0)
    for key, flow in engine.flows.items():
        v = flow.verdict
        out["flows"].append([path.name, repr(key), v.app, v.category, v.protocol, v.name, v.confidence,
                             v.mark])
    s = engine.stats
    out["stats"].append([path.name, s.packets, s.inspected, s.flows, s.errors, s.by_confidence])
json.dump(out, sys.stdout)
"""


def replay(pure: bool) -> dict:
    env = dict(os.environ)
    env.pop(native.PURE_ENV, None)
    if pure:
        env[native.PURE_ENV] = "1"
    done = subprocess.run([sys.executable, "-c", REPLAY, str(CORPUS)], env=env, capture_output=True,
                          text=True, check=True, timeout=300)
    return json.loads(done.stdout)


def built() -> bool:
    """Whether `make native` left a compiled module for each hot-path source, none stale."""
    return all(list(PACKAGE_DIR.glob(f"{name}.*.so")) for name in native.HOT_PATH) and not native._stale()


@pytest.fixture(scope="module")
def both():
    if not (CORPUS / "pcap").is_dir():
        pytest.skip(f"the nDPI corpus is not at {CORPUS}")
    return replay(pure=False), replay(pure=True)


def test_a_built_hot_path_is_what_loads_and_the_switch_loads_the_sources(both):
    compiled, pure = both
    assert pure["compiled"] == [] and "pure Python" in pure["describe"]
    if not built():
        pytest.skip("make native did not build the hot path here (no compiler or mypy): pure Python only")
    assert compiled["compiled"] == list(native.HOT_PATH)
    assert compiled["describe"].startswith("hot path compiled")


def test_compiled_and_pure_python_give_every_corpus_flow_the_same_verdict(both):
    compiled, pure = both
    assert len(pure["flows"]) > 500 and len(pure["quic"]) > 1000
    assert compiled["flows"] == pure["flows"]
    assert compiled["keys"] == pure["keys"]
    assert compiled["stats"] == pure["stats"]
    assert sum(stats[4] for stats in pure["stats"]) == 0  # no parser raised on the corpus
    assert compiled["quic"] == pure["quic"]
    # the same way to the same answer: cryptography's direct AES-ECB constructor in both
    assert compiled["direct_header_protection"] == pure["direct_header_protection"]


def test_the_parser_tests_pass_on_the_pure_python_sources_too():
    """The suite runs on whatever loads by default (the compiled build after make native);
    the parsers' and the engine's own tests, RFC 9001 vectors and fuzzing included, run
    again on the sources."""
    if not built():
        pytest.skip("nothing compiled: the suite itself already ran on the sources")
    env = dict(os.environ, **{native.PURE_ENV: "1"})
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(HERE / "test_quic.py"), str(HERE / "test_tls.py"), str(HERE / "test_fuzz.py"),
                           str(HERE / "test_payloads.py"), str(HERE / "test_engine.py"),
                           str(HERE / "test_packet.py"), str(HERE / "test_process.py"), str(HERE / "test_dns.py"),
                           str(HERE / "test_catalog.py"), "-k", "not shared_names and not dns_never"],
                          env=env, capture_output=True, text=True, timeout=600, cwd=HERE.parents[2])
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
