"""The dashboard shows the HA pair (both hubs, role, version, reachable) and a split brain."""

PAIR = {"enabled": True, "me": "hub-a", "peer": "hub-b", "role": "active", "running": 7, "confirmed": 7,
        "reachable": True, "peer_role": "standby", "peer_running": 7, "peer_confirmed": 7, "split_brain": None}


def _dashboard(browser, daemon, pair, lang="en"):
    daemon.pair = pair
    admin = browser("admin")
    admin.post("/language", {"lang": lang})
    return admin.get("/").get_data(as_text=True)


def test_the_dashboard_shows_both_hubs_with_their_role_version_and_reachability(browser, daemon):
    page = _dashboard(browser, daemon, PAIR)
    assert 'id="ha-pair"' in page
    assert "hub-a (this hub)</td><td>active</td>" in page and "<td>hub-b</td><td>standby</td>" in page
    assert "Split brain" not in page


def test_a_split_brain_and_an_unreachable_peer_are_alerts_in_the_readers_language(browser, daemon):
    page = _dashboard(browser, daemon, {**PAIR, "reachable": False, "peer_role": None,
                                        "split_brain": {"fork": 8, "since": 0}})
    assert "Split brain from version 8 on: hub-a and hub-b differ. Nothing is overwritten" in page
    assert "The HA peer hub-b does not answer" in page
    indonesian = _dashboard(browser, daemon, {**PAIR, "split_brain": {"fork": 8, "since": 0}}, lang="id")
    assert "Split brain mulai versi 8: hub-a dan hub-b berbeda" in indonesian and "cadangan" in indonesian


def test_a_box_outside_a_pair_shows_no_pair(browser, daemon):
    assert 'id="ha-pair"' not in _dashboard(browser, daemon, None)
    assert 'id="ha-pair"' not in _dashboard(browser, daemon, {"enabled": False})


def test_the_audit_page_says_which_hub_wrote_each_entry(browser, daemon):
    daemon.pair = PAIR
    page = browser("aud").get("/audit/").get_data(as_text=True)
    assert "peer:hub-b [hub-a]" in page and "version 2 made on hub-b" in page


def test_the_ha_pairs_audit_details_read_in_indonesian_and_stay_english_for_english_readers(browser, daemon,
                                                                                            tmp_path):
    from pnsbox.daemon.peer import _said
    from pnsbox.daemon.replication import RunState, describe_change
    from pnsbox.store import AuditLog
    from pnsbox.wording import say

    log = AuditLog(tmp_path)
    log.append("replicated", "admin", "peer:hub-b", say("audit.replicated", version=9, hub="hub-b", message="base"))
    log.append("follow", "pnsboxd", "peer:hub-b",
               describe_change(RunState(9, 8, {"version": 9, "rollback_to": 8}), RunState(9, 9, None), "hub-b"))
    log.append("split-brain", "pnsboxd", "peer:hub-b",
               say("audit.split-brain", me="hub-a", peer="hub-b", fork=10, mine=_said(None),
                   theirs=_said({"id": 10, "author": "ani", "time": 0, "message": "m"})))
    log.append("forced-on-standby", "admin", "local",
               say("audit.forced-on-standby", doing="confirm", hub="hub-a", active="hub-b"))
    daemon.pair, daemon.audit_entries = PAIR, log.entries()
    auditor = browser("aud")
    auditor.post("/language", {"lang": "en"})
    english = auditor.get("/audit/").get_data(as_text=True)
    assert "version 9 made on hub-b: base" in english and "hub-b confirmed version 9" in english
    assert "confirm on hub-a, the standby, although hub-b is active (--force)" in english
    auditor.post("/language", {"lang": "id"})
    page = auditor.get("/audit/").get_data(as_text=True)
    assert "versi 9 dibuat di hub-b: base" in page
    assert "hub-b mengonfirmasi versi 9" in page
    assert ("split brain: hub-a dan hub-b memegang versi yang berbeda mulai versi 10 (hub-a: tidak terbaca; hub-b: "
            "versi 10 oleh ani pada 1970-01-01 00:00:00 UTC") in page
    assert "konfirmasi di hub-a, hub cadangan, padahal hub-b yang aktif (--force)" in page
    assert "made on hub-b: base" not in page and "confirmed version" not in page and "the standby" not in page
