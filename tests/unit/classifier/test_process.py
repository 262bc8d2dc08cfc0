"""The classifier process's pure parts: the netfilterqueue callback (accept always, mark
once decided, count), the NFQNL config message, the kernel's queue file, the metrics."""

import io
import struct

from craft import tcp
from prometheus_client import CollectorRegistry, generate_latest

from pnsbox.classifier import Engine
from pnsbox.classifier.metrics import ClassifierCollector
from pnsbox.classifier.queue import NFQA_CFG_F_FAIL_OPEN, ack_of, config_message, read_queue_stats
from pnsbox.classifier.worker import Classifier

C, S = "10.0.0.2", "203.0.113.2"


class FakePacket:
    def __init__(self, ident: int, payload: bytes):
        self.id, self.payload, self.mark, self.verdicts = ident, payload, None, []

    def get_payload(self):
        return self.payload

    def set_mark(self, mark):
        self.mark = mark

    def accept(self):
        self.verdicts.append("accept")


def http_flow(sport: int, host: str) -> list[bytes]:
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    return [tcp(C, sport, S, 80, flags=0x02, seq=1), tcp(S, 80, C, sport, flags=0x12, seq=9),
            tcp(C, sport, S, 80, flags=0x10, seq=2), tcp(C, sport, S, 80, request, flags=0x18, seq=2)]


def feed(classifier: Classifier, packets: list[bytes], first_id: int = 1) -> list[FakePacket]:
    fakes = [FakePacket(first_id + i, p) for i, p in enumerate(packets)]
    for fake in fakes:
        classifier(fake)
    return fakes


def test_every_packet_is_accepted_and_the_deciding_one_carries_the_mark():
    classifier = Classifier(Engine(), 0)
    fakes = feed(classifier, http_flow(40000, "www.youtube.com"))
    assert [f.verdicts for f in fakes] == [["accept"]] * 4
    assert [f.mark for f in fakes[:3]] == [None] * 3
    app = classifier.engine.catalog.apps["youtube"]
    assert fakes[3].mark & 0x8000FFFF == 0x80000000 | app.id
    snap = classifier.snapshot()
    assert snap["flows"] == {("youtube", "video"): 1} and snap["packets"] == 4
    assert snap["bytes"][("youtube", "video")] == sum(len(p) for p in http_flow(40000, "www.youtube.com"))
    assert sum(snap["latency"]["counts"]) == 1


def test_garbage_is_accepted_unmarked_and_never_raises():
    classifier = Classifier(Engine(), 0)

    class Broken(FakePacket):
        def get_payload(self):
            raise RuntimeError("payload gone")

    broken = Broken(1, b"")
    classifier(broken)
    junk = feed(classifier, [b"", b"\x45" * 3, b"\x60" + bytes(50)], first_id=2)
    assert broken.verdicts == ["accept"] and all(f.verdicts == ["accept"] and f.mark is None for f in junk)
    assert classifier.snapshot()["errors"] == 1


def test_gaps_in_packet_ids_and_ids_not_received_yet_count_as_overflow():
    classifier = Classifier(Engine(), 0)
    feed(classifier, http_flow(40001, "a.example")[:2], first_id=1)  # ids 1, 2
    feed(classifier, http_flow(40002, "b.example")[:1], first_id=6)  # 3-5 never came
    assert classifier.snapshot()["overflow"] == 3
    # the kernel numbered 10 packets; one waits in the socket; 7-9 did not fit in it
    assert classifier.snapshot({"id_sequence": 10, "backlog": 1})["overflow"] == 6


def test_config_message_sets_fail_open_and_the_kernel_acknowledgement_is_read():
    message = config_message(3, seq=7, maxlen=100, flags=NFQA_CFG_F_FAIL_OPEN)
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", message)
    assert length == len(message) == 16 + 4 + 3 * 8
    assert kind == (3 << 8) | 2 and flags == 0x1 | 0x4 and seq == 7
    assert struct.unpack_from("!H", message, 18)[0] == 3  # the queue number
    attrs = {struct.unpack_from("=H", message, at + 2)[0]: struct.unpack_from("!I", message, at + 4)[0]
             for at in range(20, len(message), 8)}
    assert attrs == {3: 100, 4: NFQA_CFG_F_FAIL_OPEN, 5: NFQA_CFG_F_FAIL_OPEN}
    ack = struct.pack("=IHHII", 36, 2, 0, 7, 0) + struct.pack("=i", 0) + message[:16]
    assert ack_of(ack, 7) == 0 and ack_of(ack, 8) is None
    refused = struct.pack("=IHHII", 36, 2, 0, 7, 0) + struct.pack("=i", -95) + message[:16]
    assert ack_of(refused, 7) == 95


def test_the_kernel_queue_file_is_read_per_queue():
    proc = io.BytesIO(b"    0   4680     2 2  4016     5     6       99  1\n    1   4681     0 2  4016     0     0        7  1\n")
    assert read_queue_stats(proc) == {
        0: {"portid": 4680, "backlog": 2, "dropped": 5, "user_dropped": 6, "id_sequence": 99},
        1: {"portid": 4681, "backlog": 0, "dropped": 0, "user_dropped": 0, "id_sequence": 7}}


def test_metrics_add_the_workers_up():
    workers = [Classifier(Engine(), n) for n in (0, 1)]
    feed(workers[0], http_flow(40000, "www.youtube.com"))
    feed(workers[1], http_flow(40001, "nothing.example"))
    kernel = {0: {"portid": 1, "backlog": 0, "dropped": 0, "user_dropped": 0, "id_sequence": 4}}
    registry = CollectorRegistry()
    registry.register(ClassifierCollector(lambda: [w.snapshot() for w in workers], lambda: kernel, lambda: True))
    text = generate_latest(registry).decode()
    assert 'pnsbox_classifier_flows_total{app="youtube",category="video"} 1.0' in text
    assert 'pnsbox_classifier_flows_total{app="http",category="web"} 1.0' in text
    assert 'pnsbox_classifier_category_flows_total{category="web"} 1.0' in text
    assert 'pnsbox_classifier_packets_total{queue="1"} 4.0' in text
    assert 'pnsbox_classifier_verdicts_total{confidence="inspected"} 2.0' in text
    assert "pnsbox_classifier_verdict_latency_seconds_count 2.0" in text
    assert "pnsbox_classifier_unknown_ratio 0.0" in text
    assert 'pnsbox_classifier_queue_kernel_packets_total{queue="0"} 4.0' in text
    assert "pnsbox_classifier_ready 1.0" in text
