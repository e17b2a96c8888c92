"""Percent-encoded credentials in a registry URL (issue 17, finding 8).

A URL spells ``@ : / %`` in a password percent-encoded: ``alice:p%40ss%2Fw@host`` is the
password ``p@ss/w``. Before, the encoded text itself was sent (HTTP) or encoded a second time
(a database registry), so the right password was refused; and a PostgreSQL login refused was
reported as "HTTP 401". Tested against the session's real ``mlflow server`` with basic auth
and an MLflow store on the session's real PostgreSQL cluster.
"""

from __future__ import annotations

import itertools
from urllib.parse import quote

import pytest
import requests

from watchkeeper.core.registry.client import MlflowRegistry
from watchkeeper.core.registry.credentials import redact_uri, scrub, split_credentials
from watchkeeper.core.registry.errors import RegistryAuthError

#: Every character a URL's user-info must encode, and a percent sign that looks encoded.
PASSWORD = "p@ss/w:rd%41?#x"
ENCODED = quote(PASSWORD, safe="")
_users = itertools.count()


def _forms() -> tuple[str, ...]:
    return (PASSWORD, ENCODED, "p@ss/w")


def test_split_credentials_decodes_user_and_password() -> None:
    uri = f"http://al%40ice:{ENCODED}@h:5000/x"
    assert split_credentials(uri) == ("http://al%40ice@h:5000/x", "al@ice", PASSWORD)
    assert split_credentials("http://u:p%40ss@h:5000/x") == ("http://u@h:5000/x", "u", "p@ss")
    shown = redact_uri(f"http://u:{ENCODED}@h/?again={ENCODED}")
    assert ENCODED not in shown and PASSWORD not in shown and shown.startswith("http://u@h/")
    text = scrub(f"sent {ENCODED} and {PASSWORD}", (PASSWORD,))
    assert all(form not in text for form in (PASSWORD, ENCODED))


@pytest.mark.slow
def test_encoded_password_logs_in_to_mlflow_basic_auth(auth_server) -> None:
    user = f"enc{next(_users)}"
    r = requests.post(
        f"{auth_server.url}/api/2.0/mlflow/users/create",
        json={"username": user, "password": PASSWORD},
        auth=(auth_server.admin_user, auth_server.admin_password),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    uri = auth_server.url.replace("http://", f"http://{user}:{ENCODED}@")
    with MlflowRegistry(uri) as reg:
        assert reg.alias_version("fraud-detector", "champion") == "1"
        assert all(form not in reg.uri + repr(reg) for form in _forms())
    wrong = auth_server.url.replace("http://", f"http://{user}:{quote('p@ss/w', safe='')}@")
    with MlflowRegistry(wrong) as reg, pytest.raises(RegistryAuthError) as info:
        reg.snapshot()
    assert info.value.status == 401 and f"for user {user!r}" in str(info.value)
    assert all(form not in str(info.value) for form in _forms())


@pytest.fixture(scope="module")
def pg_registry(postgres, tmp_path_factory) -> tuple[str, str]:
    """An MLflow store on the real cluster and a role ``reg_reader`` whose password needs
    encoding; returns (the URL with the encoded password, the database's plain location)."""
    import psycopg
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as Models
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as Tracking

    url = postgres.create_database("wk_registry_encoded")
    # MLflow creates its tables and default experiment, as a server would
    tracking, models = Tracking(url, str(tmp_path_factory.mktemp("artifacts"))), Models(url)
    models.create_registered_model("encoded-model")
    for store in (tracking, models):
        store.engine.dispose()
    dsn = f"host=127.0.0.1 port={postgres.port} user=postgres password={postgres.password}"
    with psycopg.connect(dsn + " dbname=wk_registry_encoded", autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("CREATE ROLE reg_reader LOGIN PASSWORD {}").format(
                psycopg.sql.Literal(PASSWORD)
            )
        )
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reg_reader")
    where = f"127.0.0.1:{postgres.port}/wk_registry_encoded"
    return f"postgresql+psycopg://reg_reader:{ENCODED}@{where}", where


def test_encoded_password_opens_a_postgresql_registry(pg_registry) -> None:
    uri, _ = pg_registry
    with MlflowRegistry(uri) as reg:
        assert [m.name for m in reg.snapshot().models] == ["encoded-model"]
        assert all(form not in reg.uri + repr(reg) for form in _forms())


def test_postgresql_login_refused_is_worded_as_a_database_login(pg_registry) -> None:
    _, where = pg_registry
    for user, password in (("reg_reader", "p@ss/w"), ("nobody", PASSWORD)):
        uri = f"postgresql+psycopg://{user}:{quote(password, safe='')}@{where}"
        with MlflowRegistry(uri) as reg, pytest.raises(RegistryAuthError) as info:
            reg.snapshot()
        message = str(info.value)
        assert f"the database refused the login for user {user!r}" in message
        assert "wrong password or no such role" in message
        assert "HTTP" not in message and "401" not in message and "\n" not in message
        assert all(form not in message for form in _forms())
