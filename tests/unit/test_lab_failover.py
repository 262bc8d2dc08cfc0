"""Reading a failover off iperf3's intervals and a request loop's attempts."""

from pnsbox.lab.failover import attempts, outage, stalls


def interval(start: float, nbytes: int, length: float = 0.1) -> dict:
    return {"sum": {"start": start, "end": start + length, "bytes": nbytes}}


def test_stalls_are_the_spells_without_a_byte_longest_first():
    series = [1, 1, 0, 0, 0, 1, 0, 1, 0, 0]
    spells = stalls([interval(i / 10, n) for i, n in enumerate(series)])
    assert [round(s, 3) for s in spells] == [0.3, 0.2, 0.1]  # the one at the end counts too
    assert stalls([interval(0, 5), interval(0.1, 5)]) == []


def test_outage_runs_from_the_last_answer_to_the_next_one():
    tries = attempts("10.0 10.1 0\n10.2 10.7 28\n10.8 11.3 28\n11.4 11.5 0\n11.6 11.7 0\n")
    longest, failed = outage(tries)
    assert round(longest, 3) == 1.3 and failed == 2  # 10.1 -> 11.4


def test_a_loop_that_never_failed_has_only_its_own_pauses():
    longest, failed = outage(attempts("1.0 1.1 0\n1.15 1.2 0\n"))
    assert round(longest, 3) == 0.05 and failed == 0
