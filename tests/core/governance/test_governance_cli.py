"""``watchkeeper audit verify`` and ``watchkeeper db init|upgrade`` through the real CLI entry."""

from __future__ import annotations

import subprocess
import sys

from watchkeeper.app import cli
from watchkeeper.core.governance import GovernanceStore


def test_db_init_then_audit_verify_good_then_broken(tmp_path, capsys, tamper):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    assert cli.main(["db", "init", "--db", url]) == 0
    assert "at revision 0005_chain_constraints" in capsys.readouterr().out
    with GovernanceStore.open(url) as store:
        store.record_approval("m", "1", evidence={"auc": 0.9})
        target = store.record_approval("m", "2", evidence={"auc": 0.8})
    assert cli.main(["audit", "verify", "--db", url]) == 0
    assert "audit chain of 3 entries and 3 signed records holds" in capsys.readouterr().out

    tamper(url, "UPDATE approvals SET comment = 'changed' WHERE id = :id", {"id": target.id})
    assert cli.main(["audit", "verify", "--db", url]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("watchkeeper audit: audit chain broken: first broken: audit entry #3")
    assert f"approvals record {target.id}" in err and "altered" in err
    assert "\n" not in err and "Traceback" not in captured.err


def test_db_upgrade_and_the_bad_inputs_exit_2_in_one_line(tmp_path, capsys):
    path = tmp_path / "g.db"
    assert cli.main(["db", "upgrade", "--db", str(path)]) == 2
    assert "no governance database" in capsys.readouterr().err
    from watchkeeper.core.governance import db

    db.upgrade(str(path), "0002_decisions")
    assert cli.main(["db", "upgrade", "--db", str(path)]) == 0
    assert "upgraded from 0002_decisions to 0005_chain_constraints" in capsys.readouterr().out
    assert cli.main(["db", "upgrade", "--db", str(path)]) == 0
    assert "already at revision 0005_chain_constraints" in capsys.readouterr().out

    assert cli.main(["audit", "verify", "--db", str(tmp_path / "missing.db")]) == 2
    assert cli.main(["audit", "verify", "--db", "oracle://u:pw@h/x"]) == 2
    err = capsys.readouterr().err
    assert "pw@" not in err and err.count("\n") == 2
    assert cli.main(["db", "init", "--roles", "--db", str(tmp_path / "x.db")]) == 2
    assert "roles exist only on PostgreSQL" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()  # refused before creating anything


def test_db_init_with_roles_on_postgres(postgres_url, capsys):
    assert cli.main(["db", "init", "--roles", "--db", postgres_url]) == 0
    out = capsys.readouterr().out
    assert "watchkeeper_approver" in out and "***" in out and "wk-test-superuser" not in out
    assert cli.main(["audit", "verify", "--db", postgres_url]) == 0


def test_the_command_modules_import_nothing_heavy():
    code = (
        "import sys, watchkeeper.app.commands.audit, watchkeeper.app.commands.db; "
        "heavy = {'sqlalchemy', 'alembic', 'cryptography', 'keyring', 'PySide6'}; "
        "heavy &= set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
