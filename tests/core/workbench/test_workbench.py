"""The workbench core without Qt: portfolio, drift, performance, health, slices and the
gate, from a live workspace and from an offline bundle (the evidence abstraction)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.progress import Cancelled
from watchkeeper.core.workbench.analyses import run_drift, run_performance
from watchkeeper.core.workbench.challenger import challenger_of, run_challenger
from watchkeeper.core.workbench.evidence import BundleEvidence, WorkspaceEvidence, open_evidence
from watchkeeper.core.workbench.health import run_health
from watchkeeper.core.workbench.portfolio import load_portfolio
from watchkeeper.core.workbench.slices import run_slices

START, END = "2026-03-30", "2026-04-06"


@pytest.fixture(scope="module")
def workspace_copy(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("workbench-ws") / "ws"
    shutil.copytree(demo_workspace, target)
    return target


@pytest.fixture(scope="module")
def bundle_path(workspace_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from watchkeeper.core.bundle.export import export_bundle

    out = tmp_path_factory.mktemp("workbench-bundle") / "fraud.wkbundle"
    export_bundle(
        workspace_copy / "specs" / "fraud-detector.toml",
        out,
        start=START,
        end=END,
        signer=Signer.from_seed("workbench tests"),
        exporter="exporter",
    )
    return out


@pytest.fixture(scope="module")
def closed_registry_bundle(workspace_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Exported while the spec's registry URL pointed at a closed port: no snapshot."""
    from watchkeeper.core.bundle.export import export_bundle

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path_factory.mktemp("workbench-closed")
    text = (workspace_copy / "specs" / "fraud-detector.toml").read_text(encoding="utf-8")
    text = text.replace('"sqlite:///../registry/mlflow.db"', f'"http://127.0.0.1:{port}"')
    text = text.replace("../telemetry.duckdb", str(workspace_copy / "telemetry.duckdb"))
    text = text.replace("sqlite:///../governance.db", f"sqlite:///{workspace_copy}/governance.db")
    spec = folder / "closed.toml"
    spec.write_text(text, encoding="utf-8")
    info = export_bundle(
        spec, folder / "closed.wkbundle", start=START, end=END, signer=Signer.generate()
    )
    assert info.registry_reason and info.governance_reason is None
    return info.path


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any socket connection or SQL engine is refused and recorded."""
    import sqlalchemy

    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args[:2]))
        raise OSError("offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(sqlalchemy, "create_engine", refuse)
    return attempts


def test_workspace_portfolio_and_analyses(demo_workspace: Path) -> None:
    evidence = open_evidence(demo_workspace)
    assert isinstance(evidence, WorkspaceEvidence)
    portfolio = evidence.load_portfolio()
    assert portfolio.kind == "workspace" and portfolio.aliases_from == "registry"
    assert portfolio == load_portfolio(demo_workspace)
    fraud = portfolio.model("fraud-detector")
    assert fraud is not None and fraud.champion == "1" and fraud.evidence is None
    assert challenger_of(fraud, "1") == "2"
    drift = run_drift(fraud, "1", "7d")
    assert drift.windows and drift.features
    perf = run_performance(fraud, "1", "7d")
    assert perf.baseline is not None and perf.baseline.value > 0.7 and not perf.notes


def test_a_cancelled_analysis_stops(demo_workspace: Path) -> None:
    fraud = load_portfolio(demo_workspace).model("fraud-detector")
    with pytest.raises(Cancelled):
        run_drift(fraud, "1", None, cancelled=lambda: True)
    with pytest.raises(Cancelled):
        run_slices(fraud, "1", cancelled=lambda: True)


def test_every_analysis_runs_on_a_bundle_offline(bundle_path: Path, offline: list[str]) -> None:
    evidence = open_evidence(bundle_path)
    assert isinstance(evidence, BundleEvidence)
    try:
        portfolio = evidence.load_portfolio()
        assert portfolio.kind == "bundle" and portfolio.aliases_from == "registry snapshot"
        (entry,) = portfolio.models
        assert entry.evidence is evidence
        assert [(v.version, v.role) for v in entry.versions] == [
            ("1", "champion"),
            ("2", "challenger"),
        ]
        assert all(v.rows and v.rows > 1000 for v in entry.versions)
        # drift against the bundled reference profile (the January events are not bundled)
        drift = run_drift(entry, "1", "1d")
        assert len(drift.windows) == 7
        assert drift.reference_rows == evidence.reference_profile("1").rows
        perf = run_performance(entry, "1", "1d")
        # no reference events in the bundle: the baseline is the one its approval signed
        assert perf.baseline is not None and 0.7 < perf.baseline.value < 1
        assert "signed approval of version 1" in perf.notes[0] and not perf.estimated
        health = run_health(portfolio)
        assert health["fraud-detector"][0].state in {"ok", "watch", "alert", "insufficient"}
        slices = run_slices(entry, "1")
        assert slices.slices.rows and any("reference window" in n for n in slices.notes)
        view = run_challenger(entry, "1", "2", n_boot=50)
        assert view.pairs > 1000 and view.gate.criteria
        records = evidence.records()
        assert records.approvals and records.card("1") is not None
        assert evidence.facts.model == "fraud-detector"
        assert "offline" in evidence.facts.sentence()
    finally:
        evidence.close()
    assert offline == []


def test_bundle_without_a_registry_snapshot_takes_roles_from_its_records(
    closed_registry_bundle: Path, offline: list[str]
) -> None:
    with BundleEvidence.open(closed_registry_bundle).bundle as raw:
        evidence = BundleEvidence(raw)
        portfolio = evidence.load_portfolio()
        assert portfolio.aliases_from == "governance records"
        assert "no registry snapshot" in portfolio.notes[0]
        (entry,) = portfolio.models
        assert entry.champion == "1" and entry.version("1").role == "champion"
        assert run_drift(entry, "1", None).features
    assert offline == []


def test_bundle_records_are_the_stores_records(workspace_copy: Path, bundle_path: Path) -> None:
    from watchkeeper.core.governance import GovernanceStore

    with GovernanceStore.open(f"sqlite:///{workspace_copy / 'governance.db'}") as store:
        approvals = store.approvals("fraud-detector")
        notes = store.incident_notes("fraud-detector")
    evidence = BundleEvidence.open(bundle_path)
    try:
        records = evidence.records()
        assert list(records.approvals) == list(approvals)
        assert list(records.notes) == list(notes)
    finally:
        evidence.close()


def _whole_join_disagreements(entry, view):  # type: ignore[no-untyped-def]
    """The disagreements as the whole join gives them: every pair with every feature, then
    filtered, sorted and cut as the view's table."""
    import numpy as np

    from watchkeeper.core.evaluation.compare import join_shadow
    from watchkeeper.core.evaluation.data import open_spec_source, read_events
    from watchkeeper.core.workbench.challenger import DISAGREEMENT_ROWS

    spec = entry.spec
    features = list(spec.telemetry.columns.features)
    start, end = view.gate.window
    with open_spec_source(spec) as src:
        table = read_events(
            src,
            model=spec.model.name,
            versions=[view.champion, view.challenger],
            start=start,
            end=end,
            columns=["request_id", "model_version", "score", "label", *features],
        )
    joined = join_shadow(table, view.champion, view.challenger, carry=features)
    a = joined.column("score_a").to_numpy(zero_copy_only=False).astype(float)
    b = joined.column("score_b").to_numpy(zero_copy_only=False).astype(float)
    t = spec.gate.threshold
    differ = np.isfinite(a) & np.isfinite(b) & ((a >= t) != (b >= t))
    frame = joined.filter(differ).to_pandas()
    frame = frame.rename(columns={"score_a": "champion score", "score_b": "challenger score"})
    frame.insert(4, "difference", frame["challenger score"] - frame["champion score"])
    frame.insert(
        5,
        "decides",
        np.where(frame["challenger score"] >= t, "challenger flags", "champion flags"),
    )
    frame = frame.reindex(frame["difference"].abs().sort_values(ascending=False).index)
    assert view.disagreeing == int(differ.sum()) > DISAGREEMENT_ROWS
    return frame.head(DISAGREEMENT_ROWS).reset_index(drop=True)


def test_challenger_disagreements_equal_those_of_a_join_carrying_every_feature(
    demo_workspace: Path,
) -> None:
    """The view takes the features for the disagreements it lists only: the same table as
    the whole join's (every pair with its features) filtered, sorted and cut."""
    import pandas as pd

    (entry,) = [m for m in load_portfolio(demo_workspace).models if m.name == "fraud-detector"]
    view = run_challenger(entry, "1", "2", n_boot=20)
    expected = _whole_join_disagreements(entry, view)
    features = list(entry.spec.telemetry.columns.features)
    assert features and list(view.disagreements.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(view.disagreements, expected)


def _odd_workspace(tmp_path: Path, *, same_scores: bool = False) -> Path:
    """A Parquet workspace of 4,000 requests both versions scored, its features odd: an
    integer and a boolean feature missing only in 50 disagreements that are never shown,
    names with a space, a quote and an SQL keyword, a category only in those 50 rows.
    ``same_scores``: the challenger scores as the champion (nothing to disagree on)."""
    import datetime as dt

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(11)
    n = 4_000
    ts = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp() * 1e6 + np.sort(
        rng.integers(0, 10 * 86_400_000_000, n)
    )
    a = rng.random(n)
    b = a.copy() if same_scores else np.clip(a + rng.normal(0, 0.25, n), 0, 1)
    differ = (a >= 0.5) != (b >= 0.5)
    quiet = np.flatnonzero(differ)[np.argsort(np.abs(b - a)[differ])[:50]]  # never shown
    if same_scores:
        quiet = np.arange(50)
    missing = np.zeros(n, bool)
    missing[quiet] = True
    common = {
        "request_id": pa.array([f"q{i:05d}" for i in range(n)]),
        "ts": pa.array(ts.astype("int64"), pa.timestamp("us", tz="UTC")),
        "n items": pa.array(rng.integers(0, 9, n), pa.int64(), mask=missing),
        "select": pa.array(rng.random(n) < 0.5, pa.bool_(), mask=missing),
        "it's": pa.array(rng.integers(0, 3, n), pa.int32()),
        "tier": pa.array(np.where(missing, "rare", rng.choice(["a", "b"], n))),
        "label": pa.array((rng.random(n) < a).astype(np.int64)),
    }
    one = pa.table({**common, "model_version": pa.array(["1"] * n), "score": pa.array(a)})
    two = pa.table({**common, "model_version": pa.array(["2"] * n), "score": pa.array(b)})
    ws = tmp_path / "ws"
    (ws / "specs").mkdir(parents=True)
    pq.write_table(pa.concat_tables([one, two]), ws / "telemetry.parquet", row_group_size=1_000)
    spec = ws / "specs" / "odd.toml"
    spec.write_text(
        "\n".join(
            [
                "[model]",
                'name = "odd"',
                'task = "binary"',
                "[telemetry]",
                'source = "../telemetry.parquet"',
                "[telemetry.columns]",
                """features = ["n items", "select", "it's", "tier"]""",
                'categorical = ["tier"]',
                "[reference]",
                'kind = "window"',
                'version = "1"',
                "start = 2026-03-01",
                "end = 2026-03-04",
                "[gate]",
                "min_labeled = 200",
                "",
            ]
        )
    )
    return spec


def test_challenger_disagreements_of_odd_features_equal_the_whole_joins(
    tmp_path: Path,
) -> None:
    """The features read back for the rows shown (the champion's rows of their ids) keep
    the types the whole join gives them: an integer and a boolean feature missing only in
    disagreements not shown are float and object, as among all the disagreements; one
    missing nowhere stays an integer; odd names (a space, an SQL keyword, a quote) and a
    category absent from the rows shown come through."""
    import pandas as pd

    from watchkeeper.core.workbench.portfolio import portfolio_of_spec

    spec = _odd_workspace(tmp_path)
    (entry,) = portfolio_of_spec(spec).models
    view = run_challenger(entry, "1", "2", n_boot=20)
    expected = _whole_join_disagreements(entry, view)
    got = view.disagreements
    pd.testing.assert_frame_equal(got, expected)
    # the point of the fixture: the missing values (and the rare category) lie outside
    # the rows shown
    assert got["n items"].dtype == "float64" and not got["n items"].isna().any()
    assert got["select"].dtype == object and not got["select"].isna().any()
    assert got["it's"].dtype.kind == "i" and "rare" not in set(got["tier"])


def test_a_challenger_that_agrees_everywhere_lists_no_disagreement(
    tmp_path: Path, source_reads: list[tuple[str, ...]]
) -> None:
    """Nothing to list: no row is read for the features (an empty list of ids would select
    every request), and the table still has its columns, the features among them."""
    from watchkeeper.core.workbench.portfolio import portfolio_of_spec

    reads = source_reads
    (entry,) = portfolio_of_spec(_odd_workspace(tmp_path, same_scores=True)).models
    view = run_challenger(entry, "1", "2", n_boot=20)
    assert reads and not [r for r in reads if "n items" in r]  # the pairs only
    assert view.pairs == 4_000 and view.disagreeing == 0
    assert len(view.disagreements) == 0
    assert {"request_id", "n items", "select", "it's", "tier"} <= set(view.disagreements.columns)
