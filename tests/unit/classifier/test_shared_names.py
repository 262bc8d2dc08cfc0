"""Names from DNS answers shared by the classifier's worker processes: one worker learns, a
worker in another process names its flow by it; the table stays bounded and a torn slot
reads as absent."""

import multiprocessing

from craft import dns_message, tcp, udp

from pnsbox.classifier import Engine
from pnsbox.classifier.shared_names import SLOT, SharedNames

CLIENT, RESOLVER, SERVER = "10.1.0.2", "10.0.10.53", "203.0.113.10"


def _classify_in_another_process(names, go, out):
    engine = Engine(names=names)  # forked before the answer was learned
    go.wait(20)
    verdict = engine.packet(tcp(CLIENT, 40000, SERVER, 8443, b"\x00\x01hello"), 10.0)
    verdict = verdict or engine.packet(tcp(CLIENT, 40000, SERVER, 8443, b"more", seq=1007), 10.0)
    engine.conclude(10.0)
    flow = next(flow for _, flow in engine.flows.items())
    out.send((flow.verdict.app, flow.verdict.confidence, flow.verdict.name))


def test_an_answer_one_worker_saw_names_a_flow_in_another_process():
    names = SharedNames.create(1024)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    go = context.Event()
    worker = context.Process(target=_classify_in_another_process, args=(names, go, send))
    worker.start()
    learner = Engine(names=names)
    learner.packet(udp(CLIENT, 5000, RESOLVER, 53, dns_message("www.youtube.com")), 1.0)
    learner.packet(udp(RESOLVER, 53, CLIENT, 5000, dns_message("www.youtube.com", [SERVER])), 1.0)
    go.set()
    worker.join(20)
    assert worker.exitcode == 0
    assert receive.recv() == ("youtube", "dns", "www.youtube.com")


def test_names_expire_and_the_table_stays_bounded():
    names = SharedNames.create(64)
    names.learn(bytes([192, 0, 2, 1]), "a.example", 60, 0.0)
    assert names.name_of(bytes([192, 0, 2, 1]), 30.0) == "a.example"
    assert names.name_of(bytes([192, 0, 2, 1]), 1000.0) is None
    for i in range(5000):
        names.learn(i.to_bytes(4, "big"), f"host{i}.example", 300, 0.0)
    assert names.count() <= 64
    assert names.name_of((4999).to_bytes(4, "big"), 1.0) == "host4999.example"  # the newest stays
    names.learn(bytes(16), "v6.example", 300, 0.0)
    assert names.name_of(bytes(16), 1.0) == "v6.example" and names.name_of(bytes(4), 1.0) is None


def test_a_torn_slot_reads_as_absent_not_as_another_name():
    names = SharedNames.create(4)
    address = bytes([198, 51, 100, 7])
    names.learn(address, "bank.example", 300, 0.0)
    offset = next(o for o in range(0, 4 * SLOT, SLOT) if names._map[o + 10:o + 14] == address)
    names._map[offset + 30] ^= 0xFF  # a name byte changed under the reader
    assert names.name_of(address, 1.0) is None
