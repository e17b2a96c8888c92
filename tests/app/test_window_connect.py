"""The sign-in/connection dialog: workspace defaults, profiles, the keyring, the identity shown."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from watchkeeper.app.dialogs.connect import ConnectDialog
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.registry.profiles import Profile, ProfileStore

pytestmark = pytest.mark.usefixtures("plaintext_keyring")


@pytest.fixture
def workspace(demo_workspace: Path, tmp_path: Path) -> Path:
    shutil.copy2(demo_workspace / "governance.db", tmp_path / "governance.db")
    return tmp_path


def connect(qtbot, runner: TaskRunner, dialog: ConnectDialog) -> None:
    with qtbot.waitSignal(runner.task_finished, timeout=20_000) as done:
        dialog.connect_now()
    assert done.args == ["connect", "done"], dialog.banner.text()


def test_workspace_defaults_sign_in_as_the_local_unverified_os_login(
    qtbot, workspace: Path
) -> None:
    import getpass

    runner = TaskRunner()
    dialog = ConnectDialog(runner, workspace, profiles=ProfileStore(workspace / "profiles.json"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.profile_combo.currentText() == f"Workspace defaults ({workspace.name})"
    assert not dialog.use_button.isEnabled()
    connect(qtbot, runner, dialog)
    text = dialog.identity_label.text()
    assert f"Signed in as <b>{getpass.getuser()}</b>" in text and "unverified" in text
    assert dialog.use_button.isEnabled()
    dialog.accept()
    assert dialog.result() == ConnectDialog.DialogCode.Accepted
    assert dialog.target.database_url == f"sqlite:///{workspace / 'governance.db'}"


def test_a_plaintext_keyring_is_named_and_nothing_is_stored_without_consent(
    qtbot, workspace: Path
) -> None:
    profiles = ProfileStore(workspace / "profiles.json")
    profiles.save(
        Profile(
            "team",
            display_name="Fraud team",
            registry_uri="http://registry.invalid:5000",
            registry_auth="basic",
            registry_username="alice",
            shared_db_url=f"sqlite:///{workspace / 'governance.db'}",
        )
    )
    runner = TaskRunner()
    dialog = ConnectDialog(runner, workspace, profiles=profiles)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.profile_combo.setCurrentIndex(dialog.profile_combo.findText("Fraud team"))
    assert dialog.registry_secret.isEnabled() and not dialog.db_password.isEnabled()
    assert "plain text" in dialog.keyring_label.text()
    assert "plain-text" in dialog.remember.text() and not dialog.remember.isChecked()
    dialog.registry_secret.setText("s3cret")
    connect(qtbot, runner, dialog)
    assert profiles.get_secret("team", "registry-password") is None  # not stored silently
    assert dialog.target.registry_credentials.password == "s3cret"
    assert dialog.target.label == "Fraud team"

    dialog.remember.setChecked(True)  # the user's consent, after being told
    connect(qtbot, runner, dialog)
    assert profiles.get_secret("team", "registry-password") == "s3cret"
    assert dialog.banner.text().startswith("Remembered")
    # Reopened, the password comes from the keyring.
    again = ConnectDialog(runner, workspace, profiles=profiles)
    qtbot.addWidget(again)
    again.profile_combo.setCurrentIndex(again.profile_combo.findText("Fraud team"))
    assert again.registry_secret.text() == "s3cret"


def test_a_postgresql_role_is_shown_as_verified(qtbot, postgres_url: str, tmp_path: Path) -> None:
    url = sa.make_url(postgres_url)
    profiles = ProfileStore(tmp_path / "profiles.json")
    profiles.save(
        Profile(
            "shared",
            shared_db_url=f"postgresql://{url.username}@{url.host}:{url.port}/{url.database}",
        )
    )
    runner = TaskRunner()
    dialog = ConnectDialog(runner, None, profiles=profiles)
    qtbot.addWidget(dialog)
    assert dialog.db_password.isEnabled()
    dialog.db_password.setText(url.password)
    with qtbot.waitSignal(runner.task_finished, timeout=20_000) as done:
        dialog.connect_now()  # an empty database: the window never migrates it
    assert done.args == ["connect", "failed"]
    assert "watchkeeper db upgrade" in dialog.banner.text()
    from watchkeeper.core.governance import db

    db.upgrade(postgres_url)  # what its admin runs
    dialog.db_password.setText("wrong password")
    with qtbot.waitSignal(runner.task_finished, timeout=20_000) as done:
        dialog.connect_now()
    assert done.args == ["connect", "failed"]
    assert "Could not connect" in dialog.banner.text()
    assert "wrong password" not in dialog.banner.text()
    dialog.db_password.setText(url.password)
    connect(qtbot, runner, dialog)
    text = dialog.identity_label.text()
    assert f"Signed in as <b>{url.username}</b>" in text and "verified</span> (PostgreSQL" in text
    assert dialog.identity.verified
