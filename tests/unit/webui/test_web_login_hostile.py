"""Sign-in under attack: bounded fields and throttle memory, lockouts that hit only the attacker,
HEAD is no login, `next=` stays on the site."""

import gc
import tracemalloc

from webui_fakes import PASSWORDS, csrf_of

from webui.throttle import LoginThrottle

ATTACKER = {"REMOTE_ADDR": "192.0.2.66"}


def _login(client, name, password, environ=None, query=""):
    environ = environ or {}
    token = csrf_of(client.get("/login", environ_base=environ).get_data(as_text=True))
    return client.post(f"/login{query}", data={"username": name, "password": password, "csrf_token": token},
                       environ_base=environ)


def _server_side(snapshot):
    return snapshot.filter_traces([tracemalloc.Filter(False, "*/werkzeug/test.py")])


def _audited(daemon, action):
    return [body for path, body in daemon.posts if path == "/audit/event" and body["action"] == action]


def test_huge_user_names_cost_no_memory_that_stays(app):
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(60):
        response = client.post("/login", data={"username": f"{i}" + "x" * 500_000, "password": "p",
                                               "csrf_token": token})
        assert response.status_code in (400, 413)
    gc.collect()  # the test client's own leftovers are not the server's
    grown = sum(s.size_diff for s in _server_side(tracemalloc.take_snapshot()).compare_to(_server_side(before),
                                                                                          "filename"))
    tracemalloc.stop()
    assert grown < 2_000_000, f"{grown} bytes kept after 60 anonymous posts of 500 kB names"
    assert len(app.extensions["pnsbox"].throttle) == 0


def test_the_throttle_forgets_the_oldest_keys_past_its_bound():
    throttle = LoginThrottle(5, 300, max_keys=1000)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(30_000):
        throttle.failed(f"198.51.100.{i % 250}", f"user{i}" + "y" * 200)
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert len(throttle) <= 1000
    assert grown < 3_000_000, f"{grown} bytes for 30,000 made-up names"  # ~25 MB if all were kept
    # the addresses that keep trying stay counted: they are touched at every try
    assert throttle.wait_seconds("198.51.100.1", "someone-new") > 0


def test_guessing_from_elsewhere_does_not_lock_the_admin_out(app, daemon):
    attacker = app.test_client()
    for _ in range(5):
        assert _login(attacker, "admin", "wrong-password", ATTACKER).status_code == 401
    assert _login(attacker, "admin", PASSWORDS["admin"], ATTACKER).status_code == 429
    assert _login(app.test_client(), "admin", PASSWORDS["admin"]).status_code == 302  # from the admin's own desk
    locked = _audited(daemon, "login-locked")
    assert len(locked) == 1 and "192.0.2.66" in locked[0]["detail"]


def test_one_address_trying_many_names_is_locked_whatever_the_name():
    clock = [1000.0]
    throttle = LoginThrottle(5, 300, address_attempts=20, clock=lambda: clock[0])
    for i in range(20):
        throttle.failed("192.0.2.66", f"guess{i}")
    assert throttle.wait_seconds("192.0.2.66", "admin") == 301
    assert throttle.wait_seconds("203.0.113.5", "admin") == 0
    clock[0] += 301  # the lock ends by itself; trying while locked counted nothing
    assert throttle.wait_seconds("192.0.2.66", "admin") == 0


def test_head_on_the_login_page_is_not_a_failed_login(app, daemon):
    client = app.test_client()
    for _ in range(6):
        assert client.head("/login").status_code == 200
    assert not _audited(daemon, "login-failed")
    assert _login(client, "admin", PASSWORDS["admin"]).status_code == 302


def test_next_accepts_only_paths_on_this_site(app):
    for query, expected in (("?next=/%09/evil.example", "/"), ("?next=//evil.example", "/"),
                            ("?next=/%5Cevil.example", "/"), ("?next=https://evil.example/", "/"),
                            ("?next=/%0D%0A/evil.example", "/"), ("?next=/opds/dinkes", "/opds/dinkes")):
        response = _login(app.test_client(), "admin", PASSWORDS["admin"], query=query)
        assert response.status_code == 302
        assert response.headers["Location"] == expected, query
