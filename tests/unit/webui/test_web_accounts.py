import json
import stat

import pytest

from webui.accounts import AccountError, AccountStore


@pytest.fixture
def store(tmp_path):
    return AccountStore(tmp_path / "users.json")


def test_passwords_are_kept_as_argon2id_hashes_only(store, tmp_path):
    store.add("budi", "admin", "a-long-password")
    text = (tmp_path / "users.json").read_text()
    assert "a-long-password" not in text
    assert json.loads(text)["users"]["budi"]["hash"].startswith("$argon2id$")
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600
    assert store.verify("budi", "a-long-password").role == "admin"
    assert store.verify("budi", "wrong-password") is None
    assert store.verify("nobody", "a-long-password") is None


def test_rules_for_accounts(store):
    with pytest.raises(AccountError, match="at least"):
        store.add("budi", "admin", "short")
    with pytest.raises(AccountError, match="needs at least one OPD"):
        store.add("budi", "operator", "a-long-password")
    with pytest.raises(AccountError, match="only operators"):
        store.add("budi", "auditor", "a-long-password", ["dinkes"])
    with pytest.raises(AccountError, match="role"):
        store.add("budi", "root", "a-long-password")
    with pytest.raises(AccountError, match="user name"):
        store.add("Budi Santoso", "admin", "a-long-password")
    store.add("budi", "admin", "a-long-password")
    with pytest.raises(AccountError, match="exists"):
        store.add("budi", "admin", "a-long-password")


def test_password_change_and_delete(store):
    store.add("sri", "auditor", "first-password")
    store.set_password("sri", "second-password")
    assert store.verify("sri", "first-password") is None
    assert store.verify("sri", "second-password")
    store.delete("sri")
    assert store.get("sri") is None
    with pytest.raises(AccountError):
        store.delete("sri")


def test_api_tokens_are_shown_once_and_kept_as_digests(store, tmp_path):
    store.add("budi", "admin", "a-long-password")
    token = store.add_token("budi", "backup script")
    assert token.split("_", 2)[2] not in (tmp_path / "users.json").read_text()
    assert store.user_of_token(token).name == "budi"
    assert store.user_of_token(token + "x") is None
    assert store.user_of_token("nonsense") is None
    token_id = token.split("_")[1]
    store.delete_token("budi", token_id)
    assert store.user_of_token(token) is None


def test_first_admin_is_made_once(store):
    password = store.ensure_first_admin()
    assert password and not password.startswith("-")
    assert store.verify("admin", password).role == "admin"
    assert store.ensure_first_admin() is None


def test_another_process_editing_the_file_is_seen(store, tmp_path):
    store.add("budi", "admin", "a-long-password")
    AccountStore(tmp_path / "users.json").delete("budi")  # as `pnsbox user del` would
    assert store.get("budi") is None
