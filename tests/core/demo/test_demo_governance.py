"""The demo workspace's governance history: plausible, signed, verifiable, reproducible."""

from __future__ import annotations

import datetime as dt

from watchkeeper.core.demo.governance import PERSONAS, write_demo_history
from watchkeeper.core.governance import GovernanceStore, verify_audit

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
        inc_1042, inc_1057 = store.incident_notes("fraud-detector")
        assert {link["id"] for link in inc_1042.links} >= {rollback.id}
        assert inc_1042.starts_at <= rollback.created_at <= inc_1042.ends_at
        assert inc_1057.ends_at is None  # still open at the demo's as-of date
        assert store.card("fraud-detector", "2").revision == 2
        assert store.spec_version("fraud-detector").version == 1
        times = [e.created_at for e in store.audit_entries()]
        assert times == sorted(times)


def test_the_demo_history_happens_where_the_telemetry_and_registry_say(tmp_path):
    """Dates agree with the demo: v1 approved after its training run (2026-02-02) and v2 after
    its own (2026-03-20); v2 rolled back before its shadow scoring starts (day 90); the
    pipeline incident note starts on the telemetry's planted incident day (95)."""
    from watchkeeper.core import demo
    from watchkeeper.core.demo import fraud as demo_fraud
    from watchkeeper.core.demo.registry import PORTFOLIO

    url = f"sqlite:///{tmp_path / 'g.db'}"
    write_demo_history(url)
    versions = PORTFOLIO["fraud-detector"]["versions"]

    def trained(v):
        return dt.datetime.fromisoformat(versions[v]["trained"]).replace(tzinfo=dt.UTC)

    def day(n):
        return demo.START + dt.timedelta(days=n)

    with GovernanceStore.open(url) as store:
        v1, v2 = store.approvals("fraud-detector")
        assert trained("1") < v1.created_at < trained("2") < v2.created_at
        (rollback,) = store.rollbacks("fraud-detector")
        assert v2.created_at < rollback.created_at < day(demo_fraud.SHADOW_DAY)
        notes = store.incident_notes("fraud-detector")
        assert notes[-1].starts_at == day(demo_fraud.INCIDENT_DAY)
        times = [e.created_at for e in store.audit_entries()]
        assert day(0) < times[0] and times[-1] < demo.START + dt.timedelta(days=120)
