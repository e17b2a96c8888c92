"""The demo workspace's governance history: plausible, signed, verifiable, reproducible."""

from __future__ import annotations

from watchkeeper.core.governance import GovernanceStore, verify_audit
from watchkeeper.core.governance.demo import PERSONAS, write_demo_history

SPEC = (
    '[model]\nname = "fraud-detector"\n\n[telemetry]\nsource = "../telemetry.duckdb#predictions"\n'
)


def test_the_demo_history_verifies_and_is_reproducible(tmp_path):
    spec = tmp_path / "fraud-detector.toml"
    spec.write_text(SPEC, encoding="utf-8")
    heads = []
    for name in ("a.db", "b.db"):
        history = write_demo_history(f"sqlite:///{tmp_path / name}", spec_files=[spec])
        report = verify_audit(str(tmp_path / name))
        assert report.ok, report.problems
        assert report.head_hash == history.head_hash
        heads.append(history.head_hash)
    assert heads[0] == heads[1]  # same inputs, same file contents

    with GovernanceStore.open(str(tmp_path / "a.db")) as store:
        approvals = store.approvals("fraud-detector")
        assert [(a.model_version, a.actor) for a in approvals] == [
            ("1", PERSONAS["risk"]),
            ("2", PERSONAS["risk"]),
        ]
        assert not any(a.actor_verified for a in approvals)
        (rollback,) = store.rollbacks("fraud-detector")
        assert (rollback.from_version, rollback.to_version) == ("2", "1")
        assert store.rollback_applications(rollback.id)[0].result == "succeeded"
        (note,) = store.incident_notes("fraud-detector")
        assert {link["id"] for link in note.links} >= {rollback.id}
        assert note.starts_at <= rollback.created_at <= note.ends_at
        assert store.card("fraud-detector", "2").revision == 2
        assert store.spec_version("fraud-detector").version == 1
        times = [e.created_at for e in store.audit_entries()]
        assert times == sorted(times)
