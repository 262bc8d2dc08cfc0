"""Sessions and accounts as an appliance should keep them: polling keeps no session alive, a new
password ends every session and token (from the CLI too), tokens expire, weak passwords are
refused, operators learn nothing of zones they may not see, and the API answers errors in JSON."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from webui_fakes import PASSWORDS, Browser, csrf_of

from webui.accounts import AccountError

ROOT = Path(__file__).resolve().parents[3]


def test_polling_the_live_graphs_does_not_keep_a_session_alive(app, browser):
    now = [time.time()]
    app.extensions["pnsbox"].sessions.clock = lambda: now[0]
    admin = browser("admin")
    for _ in range(4):  # a page left open polls for 20 minutes, nobody at the desk
        now[0] += 5 * 60
        response = admin.get("/api/v1/live")
    assert response.status_code == 401
    assert admin.get("/").status_code == 302


def test_a_person_at_work_keeps_the_session(app, browser):
    now = [time.time()]
    app.extensions["pnsbox"].sessions.clock = lambda: now[0]
    admin = browser("admin")
    for _ in range(4):
        now[0] += 5 * 60
        assert admin.get("/").status_code == 200


def _token_works(app, token) -> bool:
    return app.test_client().get("/api/v1/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_pnsbox_user_passwd_ends_every_web_session_and_token(app, browser, tmp_path):
    admin = browser("admin")
    token = app.extensions["pnsbox"].accounts.add_token("admin", "script")
    assert admin.get("/").status_code == 200 and _token_works(app, token)
    changed = subprocess.run([sys.executable, "-m", "pnsbox.cli", "user", "--web-state-dir", str(tmp_path / "web"),
                              "--socket", str(tmp_path / "none.sock"), "passwd", "admin", "--password-stdin"],
                             input="a-new-long-secret-9\n", capture_output=True, text=True, cwd=ROOT)
    assert changed.returncode == 0, changed.stderr
    assert "sessions and API tokens have ended" in changed.stdout
    assert admin.get("/").status_code == 302  # the web process learnt it from the accounts file
    assert not _token_works(app, token)


def test_a_password_changed_in_the_web_ui_ends_the_other_sessions_and_every_token(app, browser):
    here, elsewhere = browser("admin"), browser("admin")
    token = app.extensions["pnsbox"].accounts.add_token("admin", "script")
    response = here.post("/account/password", {"current": PASSWORDS["admin"], "new": "a-new-long-secret-9",
                                               "again": "a-new-long-secret-9"})
    assert response.status_code == 302
    assert here.get("/account").status_code == 200  # the one who changed it goes on
    assert elsewhere.get("/").status_code == 302
    assert not _token_works(app, token)


def test_api_tokens_expire(app):
    accounts = app.extensions["pnsbox"].accounts
    fresh = accounts.add_token("aud", "report script")
    expired = accounts.add_token("aud", "old", days=0)
    assert _token_works(app, fresh) and not _token_works(app, expired)
    token = next(t for t in accounts.get("aud").tokens.values() if t["name"] == "report script")
    assert 89 * 86400 < token["expires"] - time.time() <= 90 * 86400


@pytest.mark.parametrize("password", ["Password123!", "1234567890", "qwertyuiop1", "Rahasia2024!", "budi12345678",
                                      "aaaaaaaaaaaa", "short-1"])
def test_weak_passwords_are_refused(app, password):
    with pytest.raises(AccountError):
        app.extensions["pnsbox"].accounts.add("budi", "auditor", password)


def test_a_weak_new_password_is_refused_in_the_web_ui(app, browser):
    admin = browser("admin")
    admin.post("/account/password", {"current": PASSWORDS["admin"], "new": "Password2024", "again": "Password2024"})
    assert "first that attackers try" in admin.get("/account").get_data(as_text=True)
    assert Browser(app).login("admin").status_code == 302  # the old password still holds


def test_the_users_form_does_not_default_to_admin(app, browser):
    admin = browser("admin")
    page = admin.get("/users").get_data(as_text=True)
    select = page[page.index('<select name="role"'):page.index("</select>", page.index('<select name="role"'))]
    assert '<option value="" selected disabled>' in select and 'value="admin" selected' not in select
    admin.post("/users", {"name": "sri", "password": "a-long-secret-for-sri", "lang": "id"})
    assert app.extensions["pnsbox"].accounts.get("sri") is None


def test_an_operators_explain_to_an_unknown_zone_answers_as_for_a_hidden_one(app, browser, daemon):
    operator = browser("opdinkes")
    csrf = {"X-CSRFToken": csrf_of(operator.get("/account").get_data(as_text=True))}

    def explain(target):
        return operator.client.post("/api/v1/explain", json={"from": "dinkes", "to": target}, headers=csrf)

    hidden, unknown = explain("bappeda"), explain("no-such-zone")
    assert hidden.status_code == unknown.status_code == 403
    assert hidden.get_json() == unknown.get_json()
    page = operator.get("/policies/?from=dinkes&to=no-such-zone").get_data(as_text=True)
    assert "Penjelasan hanya untuk OPD Anda sendiri" in page and "unknown" not in page
    assert not [p for p, _ in daemon.posts if p == "/explain"]
    assert explain("internet").status_code == 200


def test_api_errors_are_json(app):
    token = app.extensions["pnsbox"].accounts.add_token("admin", "t")
    client, auth = app.test_client(), {"Authorization": f"Bearer {token}"}
    for response, status in ((client.post("/api/v1/plan", data=b"x" * (3 << 20), content_type="application/json",
                                          headers=auth), 413),
                             (client.post("/api/v1/plan", data=b"{bad", content_type="application/json", headers=auth),
                              400),
                             (client.post("/api/v1/rollback", json={"version": "x"}, headers=auth), 400),
                             (client.get("/api/v1/no-such-thing", headers=auth), 404),
                             (client.delete("/api/v1/opds", headers=auth), 405)):
        assert response.status_code == status
        assert response.is_json and response.get_json()["error"], response.get_data(as_text=True)[:80]
