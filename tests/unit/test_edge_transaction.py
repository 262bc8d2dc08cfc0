"""The edge keeps pnsboxd's records (store.History, state.StateFiles) for the configs the hub
sends; a round that finds the edge stopped mid-transaction settles it first, as pnsboxd's start
does. (Applying and rolling back against the kernel: tests/kernel/test_edge_enrollment.py.)"""

import json

from pnsbox.edge.runtime import CONFIG_FILE, HUB, EdgeState, _settle
from pnsbox.state import Pending


def recorded(state: EdgeState, digest: str, version: int) -> int:
    config = {"digest": digest, "version": version, "hub": {"tunnel_address": "10.255.0.1"}}
    return state.history.record({CONFIG_FILE: json.dumps(config)}, HUB, "hub version", digest).id


def test_the_confirmed_version_is_the_last_good_config(tmp_path):
    state = EdgeState(tmp_path)
    assert state.last_good is None
    state.records.set_confirmed(recorded(state, "aaaa", 1))
    recorded(state, "bbbb", 2)  # tried, not confirmed
    assert state.last_good["digest"] == "aaaa"


def test_a_version_left_pending_by_a_stopped_edge_is_confirmed_when_its_check_holds(tmp_path):
    state = EdgeState(tmp_path)
    first = recorded(state, "aaaa", 1)
    state.records.set_confirmed(first)
    second = recorded(state, "bbbb", 2)
    state.records.set_pending(Pending(second, 0.0, first, HUB))
    note = _settle(state, None, 0)  # no check to run: it holds
    assert note == f"version {second} passed its check after a restart: confirmed"
    assert (state.records.confirmed(), state.records.pending(), state.last_good["digest"]) == (second, None, "bbbb")


def test_nothing_to_settle_when_no_transaction_was_cut_off(tmp_path):
    state = EdgeState(tmp_path)
    state.records.set_confirmed(recorded(state, "aaaa", 1))
    assert _settle(state, None, 5) is None
    assert state.records.confirmed() == 1 and state.records.pending() is None
