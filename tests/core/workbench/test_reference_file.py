"""A reference kept as a file (``[reference] kind = "file"``): the same answers as the
telemetry window it holds, and clear refusals of files that cannot serve."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from watchkeeper.core.demo import fraud
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.errors import SpecError
from watchkeeper.core.evaluation.data import read_events
from watchkeeper.core.spec import parse_spec
from watchkeeper.core.workbench import analyses, reference_file
from watchkeeper.core.workbench.analyses import run_drift, run_performance
from watchkeeper.core.workbench.health import judge_model
from watchkeeper.core.workbench.model_checks import run_importance
from watchkeeper.core.workbench.portfolio import ModelEntry, load_portfolio

FEATURES = list(fraud.FEATURES)  # the demo model's, in its order


def _window_entry(root: Path) -> ModelEntry:
    entry = load_portfolio(root).model("fraud-detector")
    assert entry is not None and entry.spec is not None
    return entry


def _with_reference(entry: ModelEntry, reference: str, folder: Path) -> ModelEntry:
    """``entry`` whose spec's [reference] is ``reference`` (TOML), the spec read as if it
    lay in ``folder`` (its telemetry and registry made absolute first)."""
    assert entry.spec_path is not None
    text = entry.spec_path.read_text()
    base = entry.spec_path.parent
    text = text.replace("duckdb:///../", f"duckdb:///{base.parent}/")
    text = text.replace("sqlite:///../", f"sqlite:///{base.parent}/")
    text = re.sub(r"\[reference\]\n(?:[^\[\n][^\n]*\n)*", reference + "\n\n", text)
    spec = parse_spec(text, base_dir=folder)
    return dataclasses.replace(entry, spec=spec)


def _window_rows(entry: ModelEntry, columns: list[str]) -> pa.Table:
    """The rows of the demo spec's reference window (version 1, January)."""
    spec = entry.spec
    start, end = spec.reference_range()
    with analyses.open_source_of(entry) as src:
        return read_events(
            src, model="fraud-detector", versions=["1"], start=start, end=end, columns=columns
        )


@pytest.fixture(scope="module")
def training_file(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The window's rows as a training sample: features, score and label, no time, no
    model or version column."""
    folder = tmp_path_factory.mktemp("reference-file")
    table = _window_rows(_window_entry(demo_workspace), [*FEATURES, "score", "label"])
    pq.write_table(table, folder / "training.parquet")
    return folder


def test_drift_health_and_baseline_as_from_the_window(
    demo_workspace: Path, training_file: Path
) -> None:
    window = _window_entry(demo_workspace)
    from_file = _with_reference(
        window, '[reference]\nkind = "file"\npath = "training.parquet"', training_file
    )
    a = run_drift(window, "1", "7d")
    b = run_drift(from_file, "1", "7d")
    assert b.reference_rows == a.reference_rows > 10_000
    assert b.decisions() == a.decisions()
    for fa, fb in zip(a.features, b.features, strict=True):
        np.testing.assert_allclose(fb.psi_series, fa.psi_series, rtol=1e-12, equal_nan=True)
        ks_a, ks_b = fa.windows.column("ks"), fb.windows.column("ks")
        np.testing.assert_allclose(ks_b, ks_a, rtol=1e-12, equal_nan=True)
    assert b.multivariate is not None
    pa_, pb = run_performance(window, "1", "7d"), run_performance(from_file, "1", "7d")
    assert pa_.baseline is not None and pb.baseline is not None
    assert pb.baseline.value == pytest.approx(pa_.baseline.value, rel=1e-12)
    assert len(pb.estimated) == len(pa_.estimated)
    ha, _, _ = judge_model(window)
    hb, _, _ = judge_model(from_file)
    assert (hb.verdict, hb.reasons) == (ha.verdict, ha.reasons)
    assert hb.evidence == ha.evidence
    # the importance reads its reference frame from the file too
    assert run_importance(from_file, "1").features


def test_pushed_performance_takes_its_baseline_from_the_file(
    demo_workspace: Path, training_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    window = _window_entry(demo_workspace)
    from_file = _with_reference(
        window, '[reference]\nkind = "file"\npath = "training.parquet"', training_file
    )
    a, b = run_performance(window, "1", "7d"), run_performance(from_file, "1", "7d")
    assert "counted in the database" in " ".join(b.notes)
    assert a.baseline is not None and b.baseline is not None
    assert b.baseline.value == pytest.approx(a.baseline.value, rel=1e-12)
    assert np.array_equal(b.realized.series(b.metric), a.realized.series(a.metric), equal_nan=True)
    # the estimate of the windows short of labels, calibrated on the file's outcomes
    assert a.estimated and len(b.estimated) == len(a.estimated)
    np.testing.assert_allclose(b.estimated_series(), a.estimated_series(), rtol=1e-9)


def test_a_features_only_file_serves_drift_and_says_why_there_is_no_baseline(
    demo_workspace: Path, tmp_path: Path
) -> None:
    window = _window_entry(demo_workspace)
    rows = _window_rows(window, FEATURES)
    # CSV, roles absent, a column of its own that the spec does not name
    rows = rows.append_column("note", pa.array(["x"] * rows.num_rows))
    pacsv.write_csv(rows, tmp_path / "features.csv")
    entry = _with_reference(window, '[reference]\nkind = "file"\npath = "features.csv"', tmp_path)
    drift = run_drift(entry, "1", "7d")
    assert drift.reference_rows == rows.num_rows
    assert drift.prediction is None  # no score on the reference's side
    assert drift.decisions() == {
        k: v for k, v in run_drift(window, "1", "7d").decisions().items() if k != "score"
    }
    perf = run_performance(entry, "1", "7d")
    assert perf.baseline is None and perf.realized.windows
    assert "has no scores and labels: no baseline" in " ".join(perf.notes)
    health, _, _ = judge_model(entry)
    assert health.verdict in ("ok", "watch", "alert")  # drift alone judges


def test_roles_under_the_telemetry_names_and_the_model_rows_only(tmp_path: Path) -> None:
    """A file holding several models' samples, the score under the telemetry's name."""
    table = pa.table(
        {
            "model": ["a", "b", "a", "a"],
            "model_version": [1, 1, 2, 1],
            "p_fraud": [0.1, 0.9, 0.5, 0.3],
            "x": [1.0, np.nan, np.inf, 4.0],
        }
    )
    pq.write_table(table, tmp_path / "mixed.parquet")
    text = f"""
[model]
name = "a"
[telemetry]
source = "{tmp_path / "mixed.parquet"}"
[telemetry.columns]
score = "p_fraud"
features = ["x"]
[reference]
kind = "file"
path = "mixed.parquet"
version = "1"
"""
    spec = parse_spec(text, base_dir=tmp_path)
    got = reference_file.read_reference_file(spec, ["x", "score", "label"])
    assert got.column_names == ["x", "score"]
    assert got.column("score").to_pylist() == [0.1, 0.3]
    assert got.column("x").to_pylist() == [1.0, 4.0]
    other = parse_spec(text.replace('name = "a"', 'name = "c"'), base_dir=tmp_path)
    with pytest.raises(SpecError, match="has a model column and no row of c"):
        reference_file.read_reference_file(other, ["x"])
    gone = parse_spec(text.replace('version = "1"', 'version = "7"'), base_dir=tmp_path)
    with pytest.raises(SpecError, match="no row of version 7"):
        reference_file.read_reference_file(gone, ["x"])


def test_files_that_cannot_serve_are_refused_with_what_to_do(
    demo_workspace: Path, training_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = _window_entry(demo_workspace)
    missing = _with_reference(window, '[reference]\nkind = "file"\npath = "nope.parquet"', tmp_path)
    with pytest.raises(SpecError, match=r"reference file .*nope.parquet does not exist"):
        run_drift(missing, "1", "7d")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    bad = _with_reference(window, '[reference]\nkind = "file"\npath = "bad.parquet"', tmp_path)
    with pytest.raises(SpecError, match="could not be read"):
        run_drift(bad, "1", "7d")
    pq.write_table(pa.table({"amount": pa.array([], pa.float64())}), tmp_path / "empty.parquet")
    empty = _with_reference(window, '[reference]\nkind = "file"\npath = "empty.parquet"', tmp_path)
    with pytest.raises(SpecError, match="has no rows"):
        run_drift(empty, "1", "7d")
    pq.write_table(pa.table({"amount": [1.0, 2.0]}), tmp_path / "narrow.parquet")
    narrow = _with_reference(
        window, '[reference]\nkind = "file"\npath = "narrow.parquet"', tmp_path
    )
    with pytest.raises(DriftError, match=r"has no column 'account_age_days' \(and 7 more\)"):
        run_drift(narrow, "1", "7d")
    # over the budget: refused from the file's metadata, before its rows are read
    monkeypatch.setattr(reference_file, "REFERENCE_FILE_BYTES", 1000)
    big = _with_reference(
        window, '[reference]\nkind = "file"\npath = "training.parquet"', training_file
    )
    with pytest.raises(SpecError, match="Keep a sample of it"):
        run_drift(big, "1", "7d")
    pacsv.write_csv(pa.table({"amount": np.arange(2000.0)}), tmp_path / "big.csv")
    text = _with_reference(window, '[reference]\nkind = "file"\npath = "big.csv"', tmp_path)
    with pytest.raises(SpecError, match=r"MiB of text: the 1 column\(s\) read are over"):
        run_drift(text, "1", "7d")


def test_an_artifact_reference_says_what_is_read(demo_workspace: Path, tmp_path: Path) -> None:
    window = _window_entry(demo_workspace)
    entry = _with_reference(
        window, '[reference]\nkind = "artifact"\nartifact = "data/ref.parquet"', tmp_path
    )
    with pytest.raises(SpecError, match='kind = "file" with path'):
        run_drift(entry, "1", "7d")


def test_a_bundle_profiles_the_file_as_the_analyses_read_it(tmp_path: Path) -> None:
    """A blank CSV field is a missing value in the bundle's profile too, not a category."""
    from watchkeeper.core.bundle.export import _profiles

    (tmp_path / "ref.csv").write_text("channel;x\napp;1.5\n;2.5\nweb;\napp;4\n")
    text = f"""
[model]
name = "m"
[telemetry]
source = "{tmp_path / "ref.csv"}"
[telemetry.columns]
features = ["channel", "x"]
categorical = ["channel"]
[reference]
kind = "file"
path = "ref.csv"
"""
    spec = parse_spec(text, base_dir=tmp_path)
    [(version, how, profile)], notes = _profiles(spec, None, ["1"])
    assert notes == [] and how == "file ref.csv" and version is None
    channel, x = profile.feature("channel"), profile.feature("x")
    assert "" not in channel.labels and channel.missing == 1 and channel.rows == 4
    assert x.missing == 1


@pytest.mark.parametrize("pushed", [False, True])
def test_slices_with_a_file_reference_say_what_they_compare_with(
    demo_workspace: Path, training_file: Path, monkeypatch: pytest.MonkeyPatch, pushed: bool
) -> None:
    from watchkeeper.core.workbench.reference_file import FILE_REFERENCE_SLICES
    from watchkeeper.core.workbench.slices import run_slices

    if pushed:
        monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    window = _window_entry(demo_workspace)
    entry = _with_reference(
        window, '[reference]\nkind = "file"\npath = "training.parquet"', training_file
    )
    view = run_slices(entry, "1")
    assert FILE_REFERENCE_SLICES in view.notes
    assert view.worst is not None and view.slices.rows


def test_the_reference_described_for_a_heading(demo_workspace: Path, tmp_path: Path) -> None:
    from watchkeeper.core.workbench.reference_file import describe_reference

    window = _window_entry(demo_workspace)
    assert describe_reference(window.spec, "1") == "v1 2026-01-01 to 2026-02-01"
    entry = _with_reference(window, '[reference]\nkind = "file"\npath = "data/t.parquet"', tmp_path)
    assert describe_reference(entry.spec, "1") == "t.parquet"
    assert describe_reference(None, "1") == ""


def test_a_bundle_of_a_file_reference_spec_works_offline(
    demo_workspace: Path, tmp_path: Path
) -> None:
    """The bundle holds the file's profile: drift reads it; the performance view has no
    file to take a baseline from and says so, its realized metrics still drawn."""
    import shutil

    from watchkeeper.core.bundle.export import export_bundle
    from watchkeeper.core.governance.signing import Signer
    from watchkeeper.core.workbench.evidence import open_evidence

    ws = tmp_path / "ws"
    shutil.copytree(demo_workspace, ws)  # the shared one is read-only
    spec_path = ws / "specs" / "fraud-detector.toml"
    rows = _window_rows(_window_entry(ws), [*FEATURES, "score", "label"])
    pq.write_table(rows, ws / "specs" / "training.parquet")
    text = re.sub(
        r"\[reference\]\n(?:[^\[\n][^\n]*\n)*",
        '[reference]\nkind = "file"\nversion = "1"\npath = "training.parquet"\n\n',
        spec_path.read_text(),
    )
    spec_path.write_text(text)
    out = export_bundle(
        spec_path,
        tmp_path / "fraud.wkbundle",
        start="2026-03-30",
        end="2026-04-06",
        signer=Signer.from_seed("reference file tests"),
        exporter="exporter",
    ).path
    (ws / "specs" / "training.parquet").unlink()  # offline: only the bundle is there
    evidence = open_evidence(out)
    try:
        (entry,) = evidence.load_portfolio().models
        drift = run_drift(entry, "1", "1d")
        assert drift.reference_rows == rows.num_rows and len(drift.windows) == 7
        perf = run_performance(entry, "1", "1d")
        assert perf.baseline is None and perf.realized.windows
        assert any("which the bundle does not hold" in n for n in perf.notes)
    finally:
        evidence.close()


def test_the_streamed_path_reads_the_file_reference_as_the_whole_read_does(
    demo_workspace: Path, training_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = _window_entry(demo_workspace)
    entry = _with_reference(
        window, '[reference]\nkind = "file"\npath = "training.parquet"', training_file
    )
    whole = run_drift(entry, "1", "7d")
    monkeypatch.setattr(analyses, "STREAM_BYTES", 0)  # the current read a few columns at a time
    said: list[str] = []
    streamed = run_drift(entry, "1", "7d", lambda f, m: said.append(m))
    assert any("a batch of features at a time" in m for m in said)
    assert streamed.reference_rows == whole.reference_rows
    assert streamed.decisions() == whole.decisions()
    for fa, fb in zip(whole.features, streamed.features, strict=True):
        np.testing.assert_allclose(fb.psi_series, fa.psi_series, rtol=1e-12, equal_nan=True)
