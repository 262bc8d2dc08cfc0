"""The dashboard warns about an edge that is down, to those who may see its OPD."""

import pytest

from webui.app import create_app
from webui.settings import Settings
from webui.views.dashboard import edge_alerts


@pytest.fixture
def app(tmp_path):
    return create_app(Settings(state_dir=tmp_path / "web", socket="/nonexistent", secure_cookies=False))


@pytest.mark.parametrize("edge, warned", [
    ({"enrolled": True, "up": False}, True),
    ({"enrolled": True, "up": True}, False),
    ({"enrolled": True, "up": False, "disabled": True}, False),  # revoked on purpose: not an outage
    ({"enrolled": False}, False),
])
def test_an_enrolled_edge_without_a_handshake_is_an_alert(app, edge, warned):
    with app.test_request_context("/?lang=en"):
        found = edge_alerts(["disdik", "dinkes"], {"disdik": edge})
    assert bool(found) == warned
    if warned:
        assert found[0][0] == "error" and "disdik" in found[0][1]


def test_an_operator_is_not_warned_about_an_opd_they_cannot_see(app):
    with app.test_request_context("/"):
        assert edge_alerts(["dinkes"], {"disdik": {"enrolled": True, "up": False}}) == []
