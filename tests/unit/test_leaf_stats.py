"""The leaf queues' own counters, read from `tc -s qdisc show` (iproute2 6.1's text)."""

from pnsbox.observe.tc import LeafStats, parse_leaf_stats

SHOWN = """\
qdisc htb 1: root refcnt 2 r2q 10 default 0x10 direct_packets_stat 0 direct_qlen 32
 Sent 6100000 bytes 4100 pkt (dropped 12, overlimits 900 requeues 0)
 backlog 0b 0p requeues 0
qdisc fq_codel 10: parent 1:10 limit 10240p flows 1024 quantum 1514 target 5ms interval 100ms memory_limit 32Mb ecn drop_batch 64
 Sent 6024960 bytes 3980 pkt (dropped 12, overlimits 0 requeues 0)
 backlog 3028b 2p requeues 0
  maxpacket 1514 drop_overlimit 0 new_flow_count 3 ecn_mark 0
  new_flows_len 0 old_flows_len 1
qdisc pfifo 20: parent 1:20 limit 1000p
 Sent 700 bytes 7 pkt (dropped 0, overlimits 0 requeues 0)
 backlog 0b 0p requeues 0
"""


def test_each_leaf_under_an_htb_class_gets_its_kind_and_counters_and_the_root_is_left_out():
    assert parse_leaf_stats(SHOWN) == {
        0x10: LeafStats("fq_codel", bytes=6024960, packets=3980, drops=12, backlog=3028),
        0x20: LeafStats("pfifo", bytes=700, packets=7, drops=0, backlog=0),
    }


def test_no_qdiscs_no_leaves():
    assert parse_leaf_stats("") == {}
