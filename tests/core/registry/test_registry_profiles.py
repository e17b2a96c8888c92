"""Connection profiles: stored without secrets; secrets only in the keyring; plaintext said."""

from __future__ import annotations

import json
from collections.abc import Iterator

import keyring
import keyring.backend
import pytest
from keyring.backends import fail
from registry_testkit import MemoryKeyring

from watchkeeper.core.paths import config_dir
from watchkeeper.core.registry.credentials import Credentials, redact_uri, split_credentials
from watchkeeper.core.registry.profiles import (
    KeyringUnavailable,
    PlaintextKeyringError,
    Profile,
    ProfileError,
    ProfileStore,
    keyring_status,
)

DB_PW = "db-Pa55-ZXQ-91"
REG_PW = "reg-Pa55-QWE-17"
TOKEN = "tok-AbC-123-xyz"


@pytest.fixture
def secure_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(previous)


@pytest.fixture
def plaintext_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """keyrings.alt's file backend, as ``keyring`` picks it with no D-Bus session."""
    from keyrings.alt.file import PlaintextKeyring

    previous = keyring.get_keyring()
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    keyring.core.init_backend()
    assert isinstance(keyring.get_keyring(), PlaintextKeyring)
    yield keyring.get_keyring()
    keyring.set_keyring(previous)


def _profile(**kw: object) -> Profile:
    base = {
        "name": "team-prod",
        "display_name": "Payments risk (production)",
        "registry_uri": f"https://ana:{REG_PW}@mlflow.example.org/",
        "telemetry_source": "duckdb:///data/telemetry.duckdb#predictions",
        "shared_db_url": f"postgresql+psycopg://ana:{DB_PW}@db.example.org/watchkeeper",
    }
    base.update(kw)
    return Profile(**base)  # type: ignore[arg-type]


def test_profile_file_holds_no_secret(secure_keyring: MemoryKeyring) -> None:
    store = ProfileStore()
    saved = store.save(_profile())
    assert store.path.parent == config_dir()
    text = store.path.read_text()
    assert REG_PW not in text and DB_PW not in text
    doc = json.loads(text)
    entry = doc["profiles"][0]
    assert entry["registry_uri"] == "https://ana@mlflow.example.org/"
    assert entry["shared_db_url"] == "postgresql+psycopg://ana@db.example.org/watchkeeper"
    assert entry["registry_auth"] == "basic" and entry["registry_username"] == "ana"
    # the secrets went to the keyring, and only there
    assert store.get_secret("team-prod", "registry-password") == REG_PW
    assert store.get_secret("team-prod", "database-password") == DB_PW
    assert saved == store.get("team-prod")
    assert store.registry_credentials(saved) == Credentials("ana", REG_PW)
    assert REG_PW not in repr(store.registry_credentials(saved))
    assert store.find_by_registry("https://ana@mlflow.example.org") == saved


def test_token_profile_and_delete(secure_keyring: MemoryKeyring) -> None:
    store = ProfileStore()
    p = store.save(
        _profile(name="tok", registry_uri="https://mlflow.example.org", shared_db_url=None),
        secrets={"registry-token": TOKEN},
    )
    assert p.registry_auth == "token"
    assert store.registry_credentials(p).token == TOKEN
    assert TOKEN not in store.path.read_text()
    store.delete("tok")
    assert store.list() == []
    assert not secure_keyring.store


def test_plaintext_keyring_is_reported_and_refused(plaintext_keyring: object) -> None:
    status = keyring_status()
    assert status.plaintext and status.usable
    assert "plain text" in status.message and "PlaintextKeyring" in status.message
    store = ProfileStore()
    with pytest.raises(PlaintextKeyringError) as info:
        store.save(_profile())
    assert "plain text" in str(info.value) and "nothing was saved" in str(info.value)
    assert REG_PW not in str(info.value)
    assert not store.path.exists()  # neither the profile...
    assert keyring.get_password("watchkeeper", "profile:team-prod:registry-password") is None
    # ...unless the user agrees, having been told
    store.save(_profile(), allow_plaintext=True)
    assert store.get_secret("team-prod", "registry-password") == REG_PW


def test_no_keyring_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        status = keyring_status()
        assert not status.usable and "no OS keyring" in status.message
        with pytest.raises(KeyringUnavailable):
            ProfileStore().save(_profile())
        assert not ProfileStore().path.exists()
    finally:
        keyring.set_keyring(previous)


def test_profile_validation(secure_keyring: MemoryKeyring) -> None:
    with pytest.raises(ProfileError, match="profile name"):
        Profile(name="../etc")
    with pytest.raises(ProfileError, match="registry_auth"):
        Profile(name="x", registry_auth="kerberos")
    with pytest.raises(ProfileError, match="unknown key"):
        Profile.from_dict({"name": "x", "password": "nope"})
    store = ProfileStore()
    with pytest.raises(ProfileError, match="no connection profile named 'ghost'"):
        store.get("ghost")
    with pytest.raises(ProfileError, match="secret kind"):
        store.save(Profile(name="x"), secrets={"ssh-key": "k"})
    # a profile that says it needs a password the keyring does not have
    p = store.save(Profile(name="y", registry_uri="https://h", registry_auth="basic",
                           registry_username="bo"))  # fmt: skip
    with pytest.raises(ProfileError, match="no registry-password in the keyring"):
        store.registry_credentials(p)


def test_uri_helpers() -> None:
    assert split_credentials("http://u:p%40ss@h:5000/x") == ("http://u@h:5000/x", "u", "p@ss")
    assert split_credentials("sqlite:////tmp/x.db") == ("sqlite:////tmp/x.db", None, None)
    assert redact_uri("http://u:hunter2@h/") == "http://u@h/"
    assert redact_uri("https://h/x?token=abc&model=m") == "https://h/x?token=***&model=m"
    c = Credentials("u", "hunter2", "tok")
    assert "hunter2" not in repr(c) and "tok'" not in str(c) and "***" in repr(c)
