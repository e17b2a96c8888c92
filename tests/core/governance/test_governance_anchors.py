"""Truncation: the chain-head anchors the product keeps outside the database catch it.

Cutting off the newest audit entries together with their records leaves a shorter chain
that holds by itself; every write also leaves a signed anchor (seq, entry hash) in the
user's data folder, and ``audit verify`` checks the database still reaches it.
"""

from __future__ import annotations

import json

import pytest

from watchkeeper.app import cli
from watchkeeper.core.governance import GovernanceStore, verify_audit
from watchkeeper.core.paths import data_dir


def _history(url: str, approvals: int = 6) -> list[str]:
    """Writes ``approvals`` approvals (after the key's registration); their entry hashes."""
    with GovernanceStore.open(url, create=True) as store:
        for i in range(approvals):
            store.record_approval("fraud-detector", str(i), evidence={"i": i})
        return [e.entry_hash for e in store.audit_entries()]


def _truncate(url: str, tamper, keep: int) -> None:
    """Delete every audit entry after #``keep`` and the records they log, as an attacker."""
    for table in ("approvals", "identities"):
        tamper(
            url,
            f"DELETE FROM {table} WHERE id IN (SELECT record_id FROM audit_log WHERE seq > {keep})",
        )
    tamper(url, f"DELETE FROM audit_log WHERE seq > {keep}")


@pytest.mark.parametrize("removed", [1, 3, "all but one"])
def test_truncation_is_caught_by_the_anchors_the_product_wrote(tmp_path, capsys, tamper, removed):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    hashes = _history(url)
    assert len(hashes) == 7
    assert cli.main(["audit", "verify", "--db", url]) == 0
    assert "matches the anchor of entry #7" in capsys.readouterr().out

    keep = 1 if removed == "all but one" else 7 - removed
    _truncate(url, tamper, keep)
    report = verify_audit(url)
    assert report.entries == keep and report.problems  # the shorter chain alone holds...
    assert cli.main(["audit", "verify", "--db", url]) == 1  # ...but not against the anchor
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"the log ends at entry #{keep}" in err
    assert f"entry #7 ({hashes[6]}" in err and "removed" in err


def test_the_anchors_are_signed_few_and_outside_the_database(tmp_path, tamper):
    from watchkeeper.core.governance import anchors

    url = f"sqlite:///{tmp_path / 'g.db'}"
    _history(url, approvals=anchors.KEEP + 3)
    path = anchors.anchor_path(url)
    assert path.parent == data_dir() / "anchors" and path.suffix == ".json"
    assert not list(path.parent.glob("*.tmp"))  # written atomically, nothing left behind
    kept = json.loads(path.read_text())["anchors"]
    assert len(kept) == anchors.KEEP
    assert [a["seq"] for a in kept] == list(range(4 + 1, anchors.KEEP + 4 + 1))
    assert {"seq", "entry_hash", "created_at", "key_id", "signature"} <= set(kept[-1])

    # an edited anchor is reported, not trusted
    kept[-1]["seq"] = 99
    path.write_text(json.dumps({**json.loads(path.read_text()), "anchors": kept}))
    report = verify_audit(url)
    assert not report.ok
    assert "not validly signed" in str(report.first_broken) and str(path) in str(report)


def test_a_rebuilt_chain_is_caught_and_a_noted_anchor_is_checked_too(tmp_path, capsys, tamper):
    from watchkeeper.core.governance import anchors

    url = f"sqlite:///{tmp_path / 'g.db'}"
    hashes = _history(url, approvals=2)
    noted = tmp_path / "noted-head.txt"
    noted.write_text(hashes[1] + "\n")
    assert cli.main(["audit", "verify", "--db", url, "--anchor", hashes[1]]) == 0
    assert cli.main(["audit", "verify", "--db", url, "--anchor", str(noted)]) == 0
    # a copy of this machine's anchor file checks another machine's view of the database
    copied = tmp_path / "anchors-copy.json"
    copied.write_text(anchors.anchor_path(url).read_text())
    anchors.anchor_path(url).unlink()
    _truncate(url, tamper, 2)
    assert cli.main(["audit", "verify", "--db", url]) == 0  # nothing kept here: undetectable
    capsys.readouterr()
    for given in (hashes[2], str(copied)):
        assert cli.main(["audit", "verify", "--db", url, "--anchor", given]) == 1
    err = capsys.readouterr().err
    assert hashes[2] in err and "entry #3" in err
    assert cli.main(["audit", "verify", "--db", url, "--anchor", "nonsense"]) == 2
    assert "--anchor" in capsys.readouterr().err


@pytest.mark.postgres
def test_truncation_by_the_admin_is_caught_on_postgres(team_db, capsys):
    import sqlalchemy as sa

    from watchkeeper.core.governance.roles import allow_changes

    hashes = _history(team_db["alice"], approvals=4)
    engine = sa.create_engine(team_db["admin"])
    try:
        with engine.begin() as conn:
            allow_changes(conn)
            conn.execute(
                sa.text(
                    "DELETE FROM approvals WHERE id IN "
                    "(SELECT record_id FROM audit_log WHERE seq > 2)"
                )
            )
            conn.execute(sa.text("DELETE FROM audit_log WHERE seq > 2"))
    finally:
        engine.dispose()
    assert cli.main(["audit", "verify", "--db", team_db["bob"]]) == 1
    err = capsys.readouterr().err
    assert "the log ends at entry #2" in err and f"entry #5 ({hashes[4]}" in err
    assert "wk-team-pw" not in err
