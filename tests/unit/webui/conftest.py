"""A Flask test client against a fake pnsboxd (no socket, no kernel)."""

import pytest
from webui_fakes import PASSWORDS, Browser, FakeDaemon

from webui.app import create_app
from webui.settings import Settings


@pytest.fixture
def daemon():
    return FakeDaemon()


@pytest.fixture
def app(tmp_path, daemon):
    settings = Settings(state_dir=tmp_path / "web", socket="/nonexistent", secure_cookies=False)
    app = create_app(settings, daemon)
    accounts = app.extensions["pnsbox"].accounts
    accounts.add("admin", "admin", PASSWORDS["admin"])
    accounts.add("opdinkes", "operator", PASSWORDS["opdinkes"], ["dinkes"])
    accounts.add("aud", "auditor", PASSWORDS["aud"])
    return app


@pytest.fixture
def browser(app):
    def signed_in(name: str) -> Browser:
        b = Browser(app)
        assert b.login(name).status_code == 302
        return b
    return signed_in
