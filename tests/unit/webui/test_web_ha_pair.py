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
