"""The registry over HTTP: a real ``mlflow server`` on loopback, started by the session fixture."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from registry_testkit import WRONG_PASSWORD, make_model, mlflow_env

from watchkeeper.core.registry.aliases import move_alias
from watchkeeper.core.registry.cache import RegistryCache, refresh
from watchkeeper.core.registry.client import MlflowRegistry
from watchkeeper.core.registry.credentials import Credentials
from watchkeeper.core.registry.errors import (
    AliasConflict,
    RegistryAuthError,
    RegistryNotFound,
    RegistryUnreachable,
)

pytestmark = pytest.mark.slow

#: Upper bound asserted for "fails fast"; the goal (and default configuration) is < 5 s.
FAST = 10.0


def test_reads_everything_back_over_http(server_pool, check_demo) -> None:
    server = server_pool.plain
    with MlflowRegistry(server.url) as reg:
        snap = reg.snapshot()
        check_demo(snap, server_pool.written["plain"], artifacts=False)
        assert snap.calls == 4  # models, versions, experiments, runs: no per-version trip
        one = reg.snapshot("fraud-detector", artifacts=True)
        check_demo(one, server_pool.written["plain"], artifacts=True)


def test_calls_do_not_grow_with_versions(mlflow_server) -> None:
    """Adding models and versions (without runs) adds no round trip to a refresh."""
    with MlflowRegistry(mlflow_server.url) as reg:
        before = reg.snapshot()
        make_model(mlflow_server.url, versions=5, prefix="grow")
        make_model(mlflow_server.url, versions=7, prefix="grow")
        after = reg.snapshot()
    assert len(after.models) == len(before.models) + 2
    assert after.calls == before.calls


def test_reference_artifact_over_http(server_pool, tmp_path: Path) -> None:
    server = server_pool.plain
    run_id = server_pool.written["plain"]["churn-model"]["versions"]["3"]["run_id"]
    with MlflowRegistry(server.url) as reg:
        lin = reg.lineage(run_id)
        assert lin.reference_path == "reference/reference.parquet"
        local = reg.download_artifact(run_id, lin.reference_path, tmp_path)
    assert pq.read_table(local).num_rows == 300
    with MlflowRegistry(server.url) as reg, pytest.raises(RegistryNotFound):
        reg.lineage("0" * 32)


def test_guarded_alias_move_over_http(mlflow_server) -> None:
    name = make_model(mlflow_server.url, versions=3, aliases={"champion": "1"})
    with MlflowRegistry(mlflow_server.url) as mine, MlflowRegistry(mlflow_server.url) as theirs:
        move = move_alias(mine, name, "champion", expected="1", target="2")
        assert move.changed and move.previous == "1"
        assert theirs.alias_version(name, "champion") == "2"
        # we decided on "2"; a colleague moves it to "3" before we act
        decided_on = mine.alias_version(name, "champion")
        move_alias(theirs, name, "champion", expected="2", target="3")
        t0 = time.monotonic()
        with pytest.raises(AliasConflict, match="someone else moved it"):
            move_alias(mine, name, "champion", expected=decided_on, target="1")
        assert time.monotonic() - t0 < FAST
        assert mine.alias_version(name, "champion") == "3"


def test_concurrent_guarded_moves_one_wins(mlflow_server) -> None:
    """Two threads race from the same expected state: never both report success silently."""
    name = make_model(mlflow_server.url, versions=3, aliases={"champion": "1"})
    results: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def mover(target: str) -> None:
        with MlflowRegistry(mlflow_server.url) as reg:
            barrier.wait()
            try:
                results[target] = move_alias(reg, name, "champion", expected="1", target=target)
            except AliasConflict as exc:
                results[target] = exc

    threads = [threading.Thread(target=mover, args=(t,)) for t in ("2", "3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with MlflowRegistry(mlflow_server.url) as reg:
        final = reg.alias_version(name, "champion")
    winners = [t for t, r in results.items() if not isinstance(r, Exception)]
    # Every move reported as done matches the final state, unless both landed inside the
    # documented race window (each saw "1", each re-read its own write before the other's).
    assert final in ("2", "3")
    assert final in winners or not winners


def test_wrong_password_is_refused_clearly(auth_server) -> None:
    creds = Credentials(username=auth_server.admin_user, password=WRONG_PASSWORD)
    with (
        MlflowRegistry(auth_server.url, credentials=creds) as reg,
        pytest.raises(RegistryAuthError) as info,
    ):
        reg.snapshot()
    msg = str(info.value)
    assert info.value.status == 401
    assert "refused the credentials" in msg and "'admin'" in msg and auth_server.url in msg
    assert WRONG_PASSWORD not in msg and WRONG_PASSWORD not in repr(info.value)
    with MlflowRegistry(auth_server.url) as reg, pytest.raises(RegistryAuthError) as info:
        reg.snapshot()
    assert "needs credentials" in str(info.value)


def test_right_password_reads_and_read_only_user_cannot_move(server_pool, check_demo) -> None:
    import requests

    server = server_pool.auth
    admin = Credentials(username=server.admin_user, password=server.admin_password)
    with MlflowRegistry(server.url, credentials=admin) as reg:
        check_demo(reg.snapshot(), server_pool.written["auth"], artifacts=False)
    reader_pw = "reader-Pw-4412"
    r = requests.post(
        f"{server.url}/api/2.0/mlflow/users/create",
        json={"username": "reader", "password": reader_pw},
        auth=(server.admin_user, server.admin_password),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    # the password can also sit in the URI; it is moved out of it at once
    uri = server.url.replace("http://", f"http://reader:{reader_pw}@")
    with MlflowRegistry(uri) as reg:
        assert reader_pw not in reg.uri and reader_pw not in repr(reg)
        assert reg.alias_version("fraud-detector", "champion") == "1"  # READ is the default
        with pytest.raises(RegistryAuthError) as info:
            move_alias(reg, "fraud-detector", "champion", expected="1", target="2")
    assert info.value.status == 403 and "denied permission" in str(info.value)
    assert reader_pw not in str(info.value)


def test_token_credentials_are_sent_as_bearer(mlflow_server) -> None:
    """A plain server ignores the token; what matters is that it is used and never shown."""
    from registry_testkit import TOKEN_SECRET

    creds = Credentials(token=TOKEN_SECRET)
    with MlflowRegistry(mlflow_server.url, credentials=creds) as reg:
        assert reg.snapshot("churn-model").model("churn-model")
        assert TOKEN_SECRET not in repr(reg)


def test_server_stopped_while_connected(server_pool, tmp_path: Path, record_property) -> None:
    server = server_pool.doomed
    cache = RegistryCache(tmp_path / "cache")
    creds = Credentials(username="nobody", password="doomed-Pw-1")  # plain server ignores it
    with MlflowRegistry(server.url, credentials=creds) as reg:
        live = refresh(reg, cache)
        assert not live.stale and live.model("fraud-detector")
        live_one = refresh(reg, cache, "churn-model", artifacts=True)
        assert live_one.calls > 4

        server.stop()

        t0 = time.monotonic()
        stale = refresh(reg, cache)
        first = time.monotonic() - t0
        assert stale.stale and stale.calls == 0
        assert stale.fetched_at == live.fetched_at
        assert [m.name for m in stale.models] == [m.name for m in live.models]
        assert "unreachable" in stale.stale_reason and server.url in stale.stale_reason
        # one model: served from its own entry or from the full snapshot, whichever is newer
        stale_one = refresh(reg, cache, "churn-model")
        assert stale_one.stale and [m.name for m in stale_one.models] == ["churn-model"]

        t0 = time.monotonic()
        with pytest.raises(RegistryUnreachable) as info:
            reg.alias_version("fraud-detector", "champion")
        second = time.monotonic() - t0
        with pytest.raises(RegistryUnreachable) as info2:
            move_alias(reg, "fraud-detector", "champion", expected="1", target="2")
    msg = str(info.value)
    assert msg.startswith(f"MLflow registry at {server.url} is unreachable (connection refused)")
    assert "doomed-Pw-1" not in msg + str(info2.value) + str(stale.to_dict())
    record_property("unreachable_refresh_seconds", round(first, 3))
    record_property("unreachable_call_seconds", round(second, 3))
    print(
        f"\nunreachable: refresh answered stale in {first:.3f} s, a call failed in {second:.3f} s"
    )
    assert first < FAST and second < FAST


def test_unreachable_and_never_cached(tmp_path: Path) -> None:
    from servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with MlflowRegistry(url) as reg, pytest.raises(RegistryUnreachable) as info:
        refresh(reg, RegistryCache(tmp_path))
    assert "no earlier state of it is cached" in str(info.value)


def test_silent_server_times_out_within_five_seconds(record_property) -> None:
    """A host that accepts the connection and never answers: the timeout, not minutes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # never accept(): the kernel completes the handshake, nobody reads
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with MlflowRegistry(url) as reg:
            t0 = time.monotonic()
            with pytest.raises(RegistryUnreachable) as info:
                reg.snapshot()
            took = time.monotonic() - t0
    finally:
        listener.close()
    record_property("silent_server_seconds", round(took, 3))
    print(f"\nsilent server: reported unreachable after {took:.3f} s")
    assert "timed out" in str(info.value)
    assert took < 5.5


def test_write_portfolio_with_auth_env_leaves_no_password_behind(auth_server) -> None:
    """The test helper's environment juggling restores the variables it touched."""
    import os

    with mlflow_env("someone", "pw"):
        assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "pw"
    assert os.environ.get("MLFLOW_TRACKING_PASSWORD") is None
