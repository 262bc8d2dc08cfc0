"""The Flask app through its test client: sign-in, roles on pages and API, CSRF, tokens, language."""

import contextlib
import io
import json
import re

import pytest
from markupsafe import escape
from webui_fakes import PASSWORDS, Browser, csrf_of, example_files

from pnsbox.errors import ConfigError
from pnsbox.load import load_site
from pnsbox.problems import Problem
from pnsbox.validate import build
from pnsbox.wording import render
from webui.i18n_strings import texts


def test_every_page_needs_a_signed_in_user(app):
    client = app.test_client()
    for path in ("/", "/opds/", "/opds/dinkes", "/policies/", "/bandwidth/", "/changes/", "/history/", "/audit/",
                 "/account", "/users"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    assert client.get("/api/v1/opds").status_code == 401
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_sign_in_out_and_audit(app, daemon):
    b = Browser(app)
    assert b.login("admin").status_code == 302
    assert b.get("/").status_code == 200
    assert ("/audit/event", {"action": "login", "detail": "admin (admin)", "author": "admin", "from": "web:127.0.0.1",
                             "port": "tcp/443", "role": "admin",
                             "said": {"code": "audit.login", "args": {"name": "admin", "role": "admin"}}}) in daemon.posts
    assert b.post("/logout").status_code == 302
    assert b.get("/").status_code == 302
    assert any(body["action"] == "logout" for path, body in daemon.posts if path == "/audit/event")


def test_wrong_passwords_are_throttled(app, daemon):
    b = Browser(app)
    for _ in range(5):
        assert b.login("admin", "wrong-password").status_code == 401
    throttled = b.login("admin")  # even the right password waits now
    assert throttled.status_code == 429
    assert "detik" in throttled.get_data(as_text=True)
    assert sum(body["action"] == "login-failed" for path, body in daemon.posts if path == "/audit/event") == 5


def test_forms_without_their_csrf_token_are_refused(app, browser, daemon):
    admin = browser("admin")
    response = admin.post("/opds/dinkes/edit", {"guaranteed": "60mbit", "ceiling": "250mbit"}, csrf=False)
    assert response.status_code == 400
    assert admin.post("/logout", csrf=False).status_code == 400
    api = admin.client.put("/api/v1/opds/dinkes/bandwidth", json={"guaranteed": "60mbit", "ceiling": "250mbit"})
    assert api.status_code == 400  # a browser session calling the API needs the token too
    assert not [p for p, _ in daemon.posts if p == "/apply"]


def test_admin_edits_reviews_applies_and_confirms(app, browser, daemon):
    admin = browser("admin")
    assert admin.post("/opds/dinkes/edit", {"name": "Dinas Kesehatan", "subnet": "10.21.0.0/24",
                                            "link_kind": "interface", "interface": "opd-dinkes",
                                            "guaranteed": "60mbit", "ceiling": "250mbit"}).status_code == 302
    review = admin.get("/changes/").get_data(as_text=True)
    assert "+    guaranteed: 60mbit" in review and "~ class dinkes" in review
    # the note is the author's own words for the version's message: in their language (Indonesian by default)
    assert app.extensions["pnsbox"].drafts.get("admin").notes == ["dinkes: paket 60mbit/250mbit"]
    assert admin.post("/changes/apply", {"message": "more for dinkes", "confirm": "120"}).status_code == 302
    assert daemon.pending["version"] == 2
    apply_body = [b for p, b in daemon.posts if p == "/apply"][-1]
    assert apply_body["author"] == "admin" and apply_body["confirm"] == 120 and apply_body["port"] == "tcp/443"
    assert 'class="countdown"' in admin.get("/changes/").get_data(as_text=True)
    admin.post("/changes/confirm")
    assert daemon.confirmed == 2 and daemon.pending is None


def test_config_problems_show_file_line_and_field(app, browser, daemon):
    admin = browser("admin")
    admin.post("/opds/dinkes/edit", {"name": "x", "subnet": "10.21.0.0/24", "link_kind": "interface",
                                     "interface": "opd-dinkes", "guaranteed": "60mbit", "ceiling": "250mbit"})
    daemon.problems = [Problem("opds/health-and-planning.yaml", 7, "opds.dinkes.bandwidth.ceiling", "over the pipe")]
    page = admin.get("/changes/").get_data(as_text=True)
    assert "<td>opds/health-and-planning.yaml</td><td>7</td>" in page
    assert "<code>opds.dinkes.bandwidth.ceiling</code>" in page and "over the pipe" in page


def test_bad_form_input_gets_a_clear_error(app, browser):
    admin = browser("admin")
    response = admin.post("/opds/dinkes/edit", {"name": "x", "subnet": "10.21.0.0/24", "link_kind": "interface",
                                                "interface": "opd-dinkes", "guaranteed": "90mbit", "ceiling": "50mbit"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "<td><code>opds.dinkes.bandwidth.ceiling</code></td><td>batas atas 50mbit di bawah jaminan 90mbit</td>" \
        in page  # pnsbox's own problem, in the reader's language (Indonesian by default)
    assert app.extensions["pnsbox"].drafts.get("admin") is None  # nothing was saved


def test_a_rate_the_cli_refuses_is_refused_by_the_form_and_the_api_with_the_same_words(app, browser, daemon, tmp_path):
    """`50m` is not a rate to pnsbox; the web UI's own parser once took it as 50 Mbit/s."""
    from pnsbox.cli import main

    files = {name: text.replace("guaranteed: 50mbit", "guaranteed: 50m", 1) if name.endswith("health-and-planning.yaml")
             else text for name, text in example_files().items()}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    cli = io.StringIO()
    with contextlib.redirect_stderr(cli):
        assert main(["validate", "-c", str(tmp_path)]) == 1
    line, = [p.removeprefix(f"{tmp_path}/") for p in cli.getvalue().splitlines()[:-1]]
    file, number, path, message = re.fullmatch(r"(.+?):(\d+): (\S+): (.+)", line).groups()
    assert path == "opds.dinkes.bandwidth.guaranteed"

    admin = browser("admin")
    form = admin.post("/opds/dinkes/edit", {"name": "Dinas Kesehatan", "subnet": "10.21.0.0/24",
                                            "link_kind": "interface", "interface": "opd-dinkes",
                                            "guaranteed": "50m", "ceiling": "200mbit"})
    assert form.status_code == 422
    said, = pytest.raises(ConfigError, build, load_site(tmp_path)).value.problems  # the same problem, with its code
    assert str(said) == cli.getvalue().splitlines()[0] and said.message == message
    assert f"<tr><td>{file}</td><td>{number}</td><td><code>{path}</code></td><td>{escape(render(said.said, 'id'))}" \
           "</td></tr>" in form.get_data(as_text=True)  # worded in the reader's language, FILE:LINE and path kept
    api = admin.client.put("/api/v1/opds/dinkes/bandwidth", json={"guaranteed": "50m", "ceiling": "200mbit"},
                           headers={"X-CSRFToken": csrf_of(admin.get("/account").get_data(as_text=True))})
    assert api.status_code == 422 and api.get_json()["problems"] == [line]
    coded, = api.get_json()["problems_said"]  # beside the English line: its place, its code and arguments
    assert coded == {"file": file, "line": int(number), "path": path, **said.said}
    assert render(coded, "en") == message and render(coded, "id") == render(said.said, "id") != message
    assert not [p for p, _ in daemon.posts if p == "/apply"]


def test_the_file_editor_refuses_what_the_cli_refuses_with_its_file_and_line_and_keeps_the_text_as_typed(
        app, browser, tmp_path):
    """The raw editor reads text through pnsbox.load, as `pnsbox validate` does; ruamel never judges it."""
    from pnsbox.cli import main

    files = example_files()
    broken = files["opds/diskominfo.yaml"].replace("diskominfo:", "diskominfo: &anchor", 1)
    (tmp_path / "opds").mkdir()
    for name, text in {**files, "opds/diskominfo.yaml": broken}.items():
        (tmp_path / name).write_text(text)
    cli = io.StringIO()
    with contextlib.redirect_stderr(cli):
        assert main(["validate", "-c", str(tmp_path)]) == 1
    line, = [p.removeprefix(f"{tmp_path}/") for p in cli.getvalue().splitlines()[:-1]]
    file, number, path, message = re.fullmatch(r"(.+?):(\d+): (\S*): (.+)", line).groups()

    admin = browser("admin")
    refused = admin.post("/changes/file", {"name": "opds/diskominfo.yaml", "text": broken})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    alias = {"code": "config.yaml.alias", "args": {}}
    assert message == render(alias, "en")  # the CLI's English, worded below in the reader's language
    assert f"<tr><td>{file}</td><td>{number}</td><td><code>{path}</code></td><td>{escape(render(alias, 'id'))}" \
           "</td></tr>" in page
    assert escape(broken) in page  # the admin's text comes back as typed, to be fixed
    assert app.extensions["pnsbox"].drafts.get("admin") is None  # nothing was saved

    typed = "# kept as typed\ndiskominfo:   {name: IT,   subnet: 10.30.0.0/24,  link: {interface: lan3}}  # odd spacing\n"
    assert admin.post("/changes/file", {"name": "opds/diskominfo.yaml", "text": typed}).status_code == 302
    assert app.extensions["pnsbox"].drafts.get("admin").files["opds/diskominfo.yaml"] == typed


def test_auditor_reads_everything_and_changes_nothing(app, browser, daemon):
    auditor = browser("aud")
    for path in ("/", "/opds/", "/opds/bappeda", "/history/", "/history/1", "/audit/", "/bandwidth/"):
        assert auditor.get(path).status_code == 200, path
    for path, data in (("/opds/dinkes/edit", {"guaranteed": "1mbit", "ceiling": "2mbit"}), ("/changes/apply", {}),
                       ("/changes/confirm", {}), ("/history/1/rollback", {}), ("/policies/edit", {"policies": "[]"}),
                       ("/policies/move", {"index": "0", "direction": "down"}), ("/users", {"name": "x"})):
        assert auditor.post(path, data).status_code == 403, path
    assert not [p for p, _ in daemon.posts if p in ("/apply", "/confirm", "/rollback")]


def test_operator_sees_only_their_own_opds(app, browser):
    operator = browser("opdinkes")
    assert operator.get("/opds/dinkes").status_code == 200
    assert operator.get("/opds/bappeda").status_code == 404
    assert operator.get("/opds/bappeda/edit").status_code == 404
    listing = operator.get("/opds/").get_data(as_text=True)
    assert "opd-dinkes" in listing and "bappeda" not in listing
    assert operator.get("/history/").status_code == 403 and operator.get("/audit/").status_code == 403
    live = operator.get("/api/v1/live").get_json()
    assert set(live["opds"]) == {"dinkes"}
    assert {row["label"] for row in live["classes"]["pnsbox-dl"]} == {"pipe", "dinkes"}


def test_operator_changes_only_their_bandwidth_plan(app, browser, daemon):
    operator = browser("opdinkes")
    # fields beyond the plan are ignored for operators
    operator.post("/opds/dinkes/edit", {"name": "Hacked", "subnet": "10.99.0.0/24", "guaranteed": "60mbit",
                                        "ceiling": "250mbit"})
    draft = app.extensions["pnsbox"].drafts.get("opdinkes")
    assert "Hacked" not in json.dumps(draft.files) and "60mbit" in draft.files["opds/health-and-planning.yaml"]
    assert operator.post("/changes/apply", {"confirm": "0"}).status_code == 302
    assert daemon.pending  # operators always get a confirm deadline
    assert operator.post("/opds/bappeda/edit", {"guaranteed": "1mbit", "ceiling": "2mbit"}).status_code == 404


def test_api_tokens(app, browser, daemon):
    admin = browser("admin")
    admin.post("/account/tokens", {"label": "script"})
    token = admin.get("/account").get_data(as_text=True).split('id="new-token">')[1].split("<")[0]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/opds", headers=headers).status_code == 200
    assert client.get("/api/v1/opds", headers={"Authorization": "Bearer pnsbox_x_y"}).status_code == 401
    reply = client.put("/api/v1/opds/dinkes/bandwidth", headers=headers,
                       json={"guaranteed": "70mbit", "ceiling": "250mbit", "confirm": 60})
    assert reply.status_code == 200 and daemon.pending["version"] == 2
    assert client.put("/api/v1/opds/dinkes/bandwidth", headers=headers,
                      json={"guaranteed": "70mbit", "ceiling": "2mbit"}).status_code == 422


def test_api_roles(app, daemon):
    accounts = app.extensions["pnsbox"].accounts
    operator = {"Authorization": f"Bearer {accounts.add_token('opdinkes', 't')}"}
    auditor = {"Authorization": f"Bearer {accounts.add_token('aud', 't')}"}
    client = app.test_client()
    assert set(client.get("/api/v1/opds", headers=operator).get_json()) == {"dinkes"}
    assert client.get("/api/v1/opds/bappeda", headers=operator).status_code == 404
    assert client.put("/api/v1/opds/bappeda/bandwidth", headers=operator,
                      json={"guaranteed": "1mbit", "ceiling": "2mbit"}).status_code == 404
    assert client.post("/api/v1/explain", headers=operator, json={"from": "bappeda", "to": "internet"}).status_code == 403
    files = dict(daemon.versions[1]["files"])
    files["pnsbox.yaml"] = files["pnsbox.yaml"].replace("bandwidth: 1gbit", "bandwidth: 2gbit")
    assert client.post("/api/v1/apply", headers=operator, json={"files": files}).status_code == 403
    # A second spelling of a file name must not smuggle a whole config past the scope check.
    smuggled = {**daemon.versions[1]["files"], "./pnsbox.yaml": files["pnsbox.yaml"]}
    assert client.post("/api/v1/apply", headers=operator, json={"files": smuggled, "confirm": 60}).status_code == 403
    assert client.put("/api/v1/opds/dinkes/bandwidth", headers=auditor,
                      json={"guaranteed": "1mbit", "ceiling": "2mbit"}).status_code == 403
    assert client.post("/api/v1/rollback", headers=auditor, json={"version": 1}).status_code == 403
    assert client.get("/api/v1/audit", headers=auditor).get_json()["verify"]["intact"]
    assert client.get("/api/v1/history", headers=operator).status_code == 403
    assert not [p for p, _ in daemon.posts if p in ("/apply", "/rollback")]


def test_openapi_describes_every_api_route(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    routes = {str(r.rule).replace("/api/v1", "").replace("<int:", "{").replace("<", "{").replace(">", "}")
              for r in app.url_map.iter_rules() if str(r.rule).startswith("/api/v1/")}
    assert routes - {"/openapi.json"} == set(document["paths"])


def test_indonesian_by_default_english_per_user(app, browser):
    client = app.test_client()
    assert "Kata sandi" in client.get("/login").get_data(as_text=True)
    admin = browser("admin")
    assert "Dasbor" in admin.get("/").get_data(as_text=True)
    admin.post("/language", {"lang": "en"})
    assert "Dashboard" in admin.get("/").get_data(as_text=True)
    assert app.extensions["pnsbox"].accounts.get("admin").lang == "en"
    assert "Dasbor" in browser("aud").get("/").get_data(as_text=True)  # others keep theirs


def test_every_text_has_an_indonesian_translation():
    from webui.i18n import catalog

    assert not texts() - set(catalog("id"))


def test_idle_sessions_end(app, browser):
    admin = browser("admin")
    sessions = app.extensions["pnsbox"].sessions
    sessions.clock = lambda: 10**10  # far beyond the idle timeout
    response = admin.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_cookies_are_httponly_and_samesite(tmp_path, daemon):
    from webui.app import create_app
    from webui.settings import Settings

    app = create_app(Settings(state_dir=tmp_path / "w", socket="/x", secure_cookies=True), daemon)
    app.extensions["pnsbox"].accounts.add("admin", "admin", PASSWORDS["admin"])
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost")
    response = client.post("/login", base_url="https://localhost", headers={"Referer": "https://localhost/login"},
                           data={"username": "admin", "password": PASSWORDS["admin"],
                                 "csrf_token": csrf_of(page.get_data(as_text=True))})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_explain_asks_about_zones_not_the_requester(app, browser):
    page = browser("admin").get("/policies/?from=dinkes&to=simpeg&port=tcp/443").get_data(as_text=True)
    assert "accept by policy x from dinkes" in page  # the fake sends no codes: its English as it came
    operator = browser("opdinkes")
    assert "from bappeda" not in operator.get("/policies/?from=bappeda&to=internet").get_data(as_text=True)


def test_reports_show_a_months_usage_to_each_role_as_far_as_it_sees(app, browser):
    admin = browser("admin").get("/reports/").get_data(as_text=True)
    assert "dinkes" in admin and "bappeda" in admin and "2026-10" in admin
    operator = browser("opdinkes")
    page = operator.get("/reports/?month=2026-11").get_data(as_text=True)
    assert "dinkes" in page and "bappeda" not in page
    csv_text = operator.get("/reports/2026-11.csv").get_data(as_text=True)
    assert csv_text.splitlines() == ["month,opd,tx_bytes,tx_packets,rx_bytes,rx_packets",
                                     "2026-11,dinkes,1000,10,5000,20"]
    assert operator.get("/reports/?month=nope").status_code == 400
    assert "2026-11" in browser("aud").get("/reports/").get_data(as_text=True)


def test_the_monthly_evaluation_shows_each_role_what_it_may_see_with_charts_and_a_pdf(app, browser):
    admin = browser("admin")
    page = admin.get("/reports/?month=2026-11").get_data(as_text=True)
    assert 'id="evaluation"' in page and 'id="province"' in page and "bappeda" in page
    assert 'id="report-charts"' in page and "/api/v1/reports/2026-11/hourly/*" in page  # the province's curve
    cells = page.split('class="opd-categories">')[1:]  # each OPD's top categories, in table order
    assert cells[0].startswith("e-government") and cells[1].startswith("video") and "(45%)" in cells[1]
    report = admin.get("/api/v1/reports/2026-11").get_json()
    assert [c[0] for c in report["opds"]["dinkes"]["categories"]] == ["video", "web"]
    assert abs(report["opds"]["dinkes"]["down"]["p95"] - 20e6) < 0.01 * 20e6
    pdf = admin.get("/reports/2026-11.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
    operator = browser("opdinkes")
    page = operator.get("/reports/?month=2026-11").get_data(as_text=True)
    assert 'id="evaluation"' in page and 'id="province"' not in page
    assert "bappeda" not in page.split('id="evaluation"')[1]
    assert "video" in page and "e-government" not in page  # its own OPD's categories, not another's
    assert set(operator.get("/api/v1/reports/2026-11").get_json()["opds"]) == {"dinkes"}
    assert operator.get("/api/v1/reports/2026-11/hourly/bappeda").status_code == 404
    assert operator.get("/api/v1/reports/2026-11/hourly/*").status_code == 404
    assert len(operator.get("/api/v1/reports/2026-11/hourly/dinkes").get_json()["hours"]) == 3
    csv_text = operator.get("/reports/2026-11/evaluation.csv").get_data(as_text=True).splitlines()
    assert csv_text[0].startswith("month,opd,direction,bytes") and {r.split(",")[1] for r in csv_text[1:]} == {"dinkes"}
    assert "Evaluasi bulanan" in browser("aud").get("/reports/?month=2026-11").get_data(as_text=True)
    assert "No rate series" in admin.get("/reports/?month=2026-10").get_data(as_text=True) or \
        "Belum ada deret laju" in admin.get("/reports/?month=2026-10").get_data(as_text=True)


def test_the_review_shows_what_this_kernel_cannot_give_before_the_steps(app, browser, daemon):
    from pnsbox.render.site import NO_FTP_HELPER

    daemon.plan_warnings = [NO_FTP_HELPER]
    admin = browser("admin")
    admin.post("/opds/dinkes/edit", {"name": "Dinas Kesehatan", "subnet": "10.21.0.0/24", "link_kind": "interface",
                                     "interface": "opd-dinkes", "guaranteed": "60mbit", "ceiling": "250mbit"})
    review = admin.get("/changes/").get_data(as_text=True)
    warning = review.index('class="alert warn plan-warning"')
    assert "nf_conntrack_ftp" in review[warning:] and warning < review.index('id="plan-steps"')
    daemon.plan_warnings = []
    assert "plan-warning" not in admin.get("/changes/").get_data(as_text=True)
