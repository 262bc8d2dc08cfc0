"""The HA pair's replication logic: how two histories relate, what a hub does, the pair key."""

import time

import pytest

from pnsbox.daemon import pairkey
from pnsbox.daemon.peer import Chain, pair_of, parse_peers
from pnsbox.daemon.replication import RunState, describe_change, fingerprint, next_step, relation
from pnsbox.store import History


def chain(*files: str, start: str = "") -> list[tuple[int, str]]:
    out, previous = [], start
    for number, text in enumerate(files, 1):
        previous = fingerprint(previous, number, number - 1 or None, {"pnsbox.yaml": text})
        out.append((number, previous))
    return out


def test_a_hub_missing_the_newest_versions_fetches_them_oldest_first():
    mine, theirs = chain("a", "b"), chain("a", "b", "c", "d", "e")
    found = relation(mine, theirs)
    assert (found.kind, found.missing) == ("behind", [3, 4, 5])
    assert next_step(found.kind, "standby", "active") == "catch-up"
    assert relation(theirs, mine).kind == "ahead"
    assert next_step("ahead", "active", "standby") == "wait"


def test_a_new_standby_with_no_history_fetches_every_version():
    assert relation([], chain("a", "b")).missing == [1, 2]


def test_the_same_files_in_the_same_order_are_the_same_history_whoever_applied_them():
    assert relation(chain("a", "b"), chain("a", "b")).kind == "same"


def test_two_hubs_that_each_made_a_version_with_the_same_number_are_a_split_brain_from_that_number():
    mine, theirs = chain("a", "b", "c-on-hub-a"), chain("a", "b", "c-on-hub-b", "d-on-hub-b")
    found = relation(mine, theirs)
    assert (found.kind, found.fork) == ("diverged", 3)
    assert next_step(found.kind, "standby", "active") == "split-brain"  # never a catch-up over it


def test_a_difference_deep_in_the_history_is_found_although_the_newest_numbers_agree():
    mine, theirs = chain("a", "x", "c"), chain("a", "y", "c")
    assert relation(mine, theirs).fork == 2  # the chain carries version 2's difference up to 3


def test_histories_with_versions_only_each_side_holds_are_a_split_brain():
    mine, theirs = [(1, "p"), (2, "q")], [(1, "p"), (3, "r")]
    assert relation(mine, theirs).kind == "diverged"


def test_a_standby_follows_the_active_runs_a_confirm_or_a_rollback_but_an_active_does_not_follow():
    assert next_step("same", "standby", "active") == "follow"
    assert next_step("same", "unknown", "active") == "follow"
    assert next_step("same", "active", "standby") == "wait"
    assert next_step("same", "active", "active") == "wait"  # both claim the addresses: nobody leads


def test_a_change_past_its_confirm_deadline_is_not_followed_it_is_being_rolled_back():
    pending = {"version": 6, "deadline": 100.0, "rollback_to": 5}
    assert RunState(6, 5, pending).reverting(100.0)
    assert not RunState(6, 5, pending).reverting(99.0)
    assert not RunState(6, 6, None).reverting(1e12)


def test_the_audit_words_name_a_confirm_and_a_rollback_on_the_peer():
    pending = {"version": 6, "deadline": 1.0, "rollback_to": 5, "author": "ana"}
    waiting = RunState(6, 5, pending)
    assert describe_change(waiting, RunState(6, 6, None), "hub-a") == "hub-a confirmed version 6"
    assert "went back to version 5" in describe_change(waiting, RunState(5, 5, None), "hub-a")


def test_a_history_chain_is_computed_once_and_again_after_versions_are_set_aside(tmp_path):
    history = History(tmp_path)
    for text in ("a", "b", "c"):
        history.record({"pnsbox.yaml": text}, "ana", "m", None)
    assert Chain(history).get() == chain("a", "b", "c")
    cached = Chain(history)
    cached.get()
    history.set_aside(2, "split-brain-test")
    assert cached.get() == chain("a")
    assert sorted(p.name for p in (tmp_path / "history" / "split-brain-test").iterdir()) == ["000002.json",
                                                                                            "000003.json"]


def test_an_adopted_version_keeps_its_number_author_and_time_and_must_be_the_next_one(tmp_path):
    history = History(tmp_path)
    history.record({"pnsbox.yaml": "a"}, "ana", "first", "d1")
    made = {"id": 2, "parent": 1, "author": "budi", "time": 12.5, "message": "on hub-a",
            "files": {"pnsbox.yaml": "b"}, "digest": "d2"}
    assert history.adopt(made).__dict__ == {**made, "said": None}  # a person's message: no code
    with pytest.raises(ValueError, match="cannot follow version 2"):
        history.adopt({**made, "id": 4})


def test_the_peer_is_the_other_hub_and_a_wrong_name_says_which_hubs_there_are():
    peers = parse_peers("hub-a=10.254.0.1, hub-b=10.254.0.2")
    pair = pair_of(None, "hub-b", peers)
    assert (pair.peer, pair.my_address, pair.peer_address, pair.port) == ("hub-a", "10.254.0.2", "10.254.0.1", 7443)
    with pytest.raises(ValueError, match="--peer hub-a or --peer hub-b"):
        pair_of(None, "hub-c", peers)
    with pytest.raises(ValueError, match="exactly two"):
        parse_peers("hub-a=10.254.0.1")


def test_a_signed_request_passes_once_and_a_replay_a_wrong_key_or_an_old_one_is_refused():
    key = bytes(range(32))
    headers = pairkey.sign_request(key, "GET", "/peer/state", b"")
    verifier = pairkey.Verifier(key)
    assert verifier.check("GET", "/peer/state", b"", headers) is None
    assert verifier.check("GET", "/peer/state", b"", headers) == "replayed request"
    other = pairkey.sign_request(bytes(32), "GET", "/peer/state", b"")
    assert "wrong signature" in verifier.check("GET", "/peer/state", b"", other)
    moved = pairkey.sign_request(key, "GET", "/peer/state", b"")
    assert "wrong signature" in verifier.check("POST", "/peer/state", b"", moved)  # method and path are signed
    old = pairkey.sign_request(key, "GET", "/peer/state", b"", when=time.time() - 120)
    assert "off our clock" in verifier.check("GET", "/peer/state", b"", old)
    assert verifier.check("GET", "/peer/state", b"", {}) == "unsigned request"


def test_an_answer_is_genuine_only_for_its_own_request_and_body():
    key = bytes(range(32))
    signature = pairkey.sign_answer(key, "nonce-1", 200, b'{"a": 1}')
    assert pairkey.answer_is_genuine(key, "nonce-1", 200, b'{"a": 1}', signature)
    assert not pairkey.answer_is_genuine(key, "nonce-2", 200, b'{"a": 1}', signature)
    assert not pairkey.answer_is_genuine(key, "nonce-1", 200, b'{"a": 2}', signature)
    assert not pairkey.answer_is_genuine(key, "nonce-1", 200, b'{"a": 1}', None)


def test_a_pair_key_is_made_once_for_root_only_and_a_bad_file_is_named(tmp_path):
    path = pairkey.create(tmp_path / "ha.key")
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(pairkey.read(path)) == 32
    with pytest.raises(FileExistsError):
        pairkey.create(path)
    (tmp_path / "bad.key").write_text("not hex\n")
    with pytest.raises(pairkey.PairKeyError, match="bad.key: not a pair key"):
        pairkey.read(tmp_path / "bad.key")
    with pytest.raises(pairkey.PairKeyError, match="pnsbox ha pair-key"):
        pairkey.read(tmp_path / "missing.key")
