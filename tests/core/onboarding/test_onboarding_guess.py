"""``init``'s guesses on tables nobody on the team wrote: odd names, missing parts, tasks."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.onboarding import (
    SAMPLE_ROWS,
    Overrides,
    guess_columns,
    inspect_source,
    mapping_of,
    plan_monitor,
    read_sample,
    write_monitor,
)
from watchkeeper.core.spec import load_spec
from watchkeeper.core.telemetry.contract import ColumnKind

N = 3_000
T0 = dt.datetime(2025, 1, 1)


def _times(rng: np.random.Generator, n: int = N, days: int = 40) -> list[dt.datetime]:
    return [T0 + dt.timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, days * 86400, n))]


def credit_table(n: int = N, seed: int = 0) -> pa.Table:
    """Odd names everywhere: CamelCase id, 'scored_at', 'pred_proba', 'Target'."""
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    ts = _times(rng, n)
    return pa.table(
        {
            "TxnID": [f"t-{i:06d}" for i in range(n)],
            "scored_at": pa.array(ts, pa.timestamp("us")),
            "model_name": ["credit"] * n,
            "ModelVersion": rng.choice([7, 8], n),
            "Age": rng.integers(18, 90, n),
            "Amount": rng.lognormal(5, 1, n),
            "Region": rng.choice(["north", "south", "east"], n),
            "pred_proba": score,
            "Decision": (score > 0.5).astype(np.int64),
            "Target": (rng.random(n) < score).astype(np.int64),
            "label_arrived": pa.array(
                [t + dt.timedelta(days=3) if i % 4 else None for i, t in enumerate(ts)],
                pa.timestamp("us"),
            ),
            "duration_ms": rng.gamma(2, 10, n),
        }
    )


def _sample(table: pa.Table, name: str = "t") -> object:
    from watchkeeper.core.onboarding import sample_of

    return sample_of(name, table)


def roles_of(guesses: object) -> dict[str, str]:
    return {c.name: c.role for c in guesses.columns}  # type: ignore[attr-defined]


def roles_reason(guesses: object, column: str) -> str:
    return next(c.reason for c in guesses.columns if c.name == column)  # type: ignore[attr-defined]


def test_odd_names_are_read_for_what_they_are() -> None:
    g = guess_columns(_sample(credit_table()))
    assert roles_of(g) == {
        "TxnID": "request_id",
        "scored_at": "ts",
        "model_name": "model",
        "ModelVersion": "model_version",
        "Age": "feature",
        "Amount": "feature",
        "Region": "feature",
        "pred_proba": "score",
        "Decision": "prediction",
        "Target": "label",
        "label_arrived": "label_ts",
        "duration_ms": "extra",
    }
    kinds = {c.name: c.kind for c in g.features}
    assert kinds == {
        "Age": ColumnKind.NUMERICAL,
        "Amount": ColumnKind.NUMERICAL,
        "Region": ColumnKind.CATEGORICAL,
    }
    assert g.task == "binary" and "Target" in g.task_reason
    assert all(c.reason for c in g.columns)  # every guess says why
    assert g.warnings == ()  # nothing missing, nothing ambiguous


def test_missing_optional_parts_are_said_not_silent() -> None:
    t = credit_table().drop_columns(
        ["Target", "label_arrived", "Decision", "TxnID", "model_name", "ModelVersion"]
    )
    g = guess_columns(_sample(t))
    roles = roles_of(g)
    assert "label" not in roles.values() and "request_id" not in roles.values()
    text = " ".join(g.warnings)
    assert "no label column" in text
    assert "no request id" in text
    assert "no model version" in text
    assert g.task == "binary" and "probability" in g.task_reason  # told from the score


def test_two_time_columns_and_a_score_outside_0_1_are_explained() -> None:
    rng = np.random.default_rng(1)
    ts = _times(rng)
    t = pa.table(
        {
            "id": [str(i) for i in range(N)],
            "created": pa.array(ts, pa.timestamp("us")),
            "updated": pa.array([x + dt.timedelta(hours=1) for x in ts], pa.timestamp("us")),
            "version": ["a"] * N,
            "x": rng.normal(size=N),
            "risk_score": rng.normal(0, 3, N),
            "label": rng.integers(0, 2, N),
        }
    )
    g = guess_columns(_sample(t))
    assert g.column_of("ts") == "created"  # the earlier, complete one
    text = " ".join(g.warnings)
    assert "several time columns" in text and "'updated'" in text and "--ts" in text
    assert "outside [0, 1]" in text and "risk_score" in text


def test_regression_target_maps_the_predicted_value_to_score() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(100, 20, N)
    t = pa.table(
        {
            "request_id": [f"r{i}" for i in range(N)],
            "ts": pa.array(_times(rng), pa.timestamp("us")),
            "model_version": ["1"] * N,
            "sqft": rng.normal(1500, 300, N),
            "prediction": y + rng.normal(0, 5, N),
            "actual_price": y,
        }
    )
    g = guess_columns(_sample(t))
    assert g.task == "regression" and "distinct numbers" in g.task_reason
    assert g.column_of("score") == "prediction"
    assert g.column_of("label") == "actual_price"


def test_multiclass_is_recognised_and_mapped(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet([1, 1, 1], N)
    t = pa.table(
        {
            "request_id": [f"r{i}" for i in range(N)],
            "ts": pa.array(_times(rng), pa.timestamp("us")),
            "model_version": ["1"] * N,
            "petal": rng.normal(size=N),
            "proba_setosa": p[:, 0],
            "proba_versicolor": p[:, 1],
            "proba_virginica": p[:, 2],
            "label": rng.choice(["setosa", "versicolor", "virginica"], N),
        }
    )
    g = guess_columns(_sample(t))
    assert g.task == "multiclass" and "class-probability" in g.task_reason
    assert g.class_probabilities == (
        ("setosa", "proba_setosa"),
        ("versicolor", "proba_versicolor"),
        ("virginica", "proba_virginica"),
    )
    assert g.column_of("label") == "label" and g.column_of("score") is None
    path = tmp_path / "iris.parquet"
    pq.write_table(t, path)
    plan = plan_monitor(str(path), inspect_source(str(path)))
    written = write_monitor(plan, tmp_path / "ws")
    spec = load_spec(written.spec)
    assert spec.model.task == "multiclass"
    assert spec.telemetry.columns.class_probabilities == dict(g.class_probabilities)
    assert spec.telemetry.columns.label == "label"
    assert spec.telemetry.columns.features == ("petal",)


def test_multiclass_mapping_from_odd_names_and_values() -> None:
    """Suffix names, a predicted class found as the arg-max, a label found by its values."""
    rng = np.random.default_rng(8)
    p = rng.dirichlet([2, 1, 1, 1], N)
    classes = np.array(["Bronze", "Silver", "Gold", "Platinum"])
    top = classes[p.argmax(axis=1)]
    truth = np.where(rng.random(N) < 0.7, top, rng.choice(classes, N))
    t = pa.table(
        {
            "ts": pa.array(_times(rng), pa.timestamp("us")),
            "age_years": rng.integers(18, 90, N),
            "Bronze_prob": p[:, 0],
            "Silver_prob": p[:, 1],
            "Gold_prob": p[:, 2],
            "Platinum_prob": p[:, 3],
            "tier_chosen": top.tolist(),
            "resolved_tier": truth.tolist(),
        }
    )
    g = guess_columns(_sample(t))
    assert g.task == "multiclass"
    assert dict(g.class_probabilities) == {
        "Bronze": "Bronze_prob",
        "Silver": "Silver_prob",
        "Gold": "Gold_prob",
        "Platinum": "Platinum_prob",
    }
    assert g.column_of("prediction") == "tier_chosen"
    assert "most probable class" in roles_reason(g, "tier_chosen")
    assert g.column_of("label") == "resolved_tier"
    assert any("recognised by its values" in w for w in g.warnings)
    assert [c.name for c in g.features] == ["age_years"]
    assert mapping_of(g).class_probabilities == dict(g.class_probabilities)


def test_probability_columns_not_summing_to_one_are_not_multiclass() -> None:
    rng = np.random.default_rng(9)
    p = rng.dirichlet([1, 1, 1], N) * rng.uniform(0.5, 1.0, (N, 1))  # rows sum to 0.5-1
    t = pa.table(
        {
            "ts": pa.array(_times(rng), pa.timestamp("us")),
            "x": rng.normal(size=N),
            "p_low": p[:, 0],
            "p_mid": p[:, 1],
            "p_high": p[:, 2],
        }
    )
    g = guess_columns(_sample(t))
    assert g.task != "multiclass" and g.class_probabilities == ()
    assert all(c.role != "class_probability" for c in g.columns)


def test_labels_as_text_for_a_multiclass_label_column() -> None:
    rng = np.random.default_rng(4)
    t = pa.table(
        {
            "request_id": [f"r{i}" for i in range(N)],
            "ts": pa.array(_times(rng), pa.timestamp("us")),
            "model_version": ["1"] * N,
            "x": rng.normal(size=N),
            "target": rng.integers(0, 5, N),
        }
    )
    g = guess_columns(_sample(t))
    assert g.task == "multiclass" and "5 classes" in g.task_reason
    assert g.classes == ("0", "1", "2", "3", "4")


def test_overrides_replace_guesses_and_unknown_columns_are_refused() -> None:
    t = credit_table()
    g = guess_columns(
        _sample(t),
        Overrides(
            roles={"label": "", "prediction": "Target"},
            ignore=("Amount",),
            categorical=("Age",),
            task="binary",
        ),
    )
    assert g.column_of("label") is None and g.column_of("prediction") == "Target"
    assert roles_of(g)["Amount"] == "ignored"
    assert {c.name: c.kind for c in g.features}["Age"] == ColumnKind.CATEGORICAL
    with pytest.raises(WatchkeeperError, match="no column 'nope'"):
        guess_columns(_sample(t), Overrides(roles={"ts": "nope"}))


# -- every kind of source, and bad ones -------------------------------------------------


def _write_all(tmp_path: Path, table: pa.Table) -> dict[str, str]:
    import duckdb

    pq.write_table(table, tmp_path / "log.parquet")
    csv_table = table.set_column(
        1, "scored_at", pa.array([t.isoformat() for t in table.column(1).to_pylist()])
    )
    pcsv.write_csv(csv_table, tmp_path / "log.csv")
    with duckdb.connect(str(tmp_path / "log.duckdb")) as conn:
        conn.register("t", table)
        conn.execute("CREATE TABLE preds AS SELECT * FROM t")
    df = table.to_pandas()
    with sqlite3.connect(tmp_path / "log.sqlite") as conn:
        df["scored_at"] = df["scored_at"].astype(str)
        df["label_arrived"] = df["label_arrived"].astype(str).replace("NaT", None)
        df.to_sql("preds", conn, index=False)
    return {
        "parquet": str(tmp_path / "log.parquet"),
        "csv": str(tmp_path / "log.csv"),
        "duckdb": f"duckdb:///{tmp_path / 'log.duckdb'}#preds",
        "sqlite": f"sqlite:///{tmp_path / 'log.sqlite'}#preds",
    }


def test_every_source_kind_gives_the_same_guesses(tmp_path: Path) -> None:
    table = credit_table()
    expected = roles_of(guess_columns(_sample(table)))
    for kind, location in _write_all(tmp_path, table).items():
        g = inspect_source(location)
        assert roles_of(g) == expected, kind
        assert g.sample_rows == N


def test_the_sample_is_bounded(tmp_path: Path) -> None:
    table = credit_table(n=SAMPLE_ROWS + 7_000)
    pq.write_table(table, tmp_path / "big.parquet")
    assert read_sample(str(tmp_path / "big.parquet")).rows == SAMPLE_ROWS
    plan = plan_monitor(
        str(tmp_path / "big.parquet"), inspect_source(str(tmp_path / "big.parquet"))
    )
    assert plan.proposal.extent.rows == SAMPLE_ROWS + 7_000  # the extent reads everything


def test_bad_sources_give_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("id,ts,x\n")
    cases = {
        str(tmp_path / "missing.parquet"): "no such file",
        str(tmp_path / "empty.csv"): "empty",
        str(tmp_path / "header.csv"): "no rows",
        "postgresql+psycopg://u@127.0.0.1:1/db#t": "127.0.0.1",
    }
    for location, words in cases.items():
        with pytest.raises(WatchkeeperError) as err:
            inspect_source(location)
        message = str(err.value)
        assert "\n" not in message and words in message.lower(), (location, message)


def test_a_file_without_id_and_version_is_read_as_it_is(tmp_path: Path) -> None:
    """No view, no copy: the spec names the file, as one version without request ids."""
    t = credit_table().drop_columns(["TxnID", "ModelVersion", "model_name"])
    pq.write_table(t, tmp_path / "plain.parquet")
    plan = plan_monitor(
        str(tmp_path / "plain.parquet"), inspect_source(str(tmp_path / "plain.parquet"))
    )
    assert plan.proposal.extent.rows == N and plan.proposal.extent.versions == (("1", N),)
    written = write_monitor(plan, tmp_path / "ws")
    assert sorted(p.name for p in (tmp_path / "ws").iterdir()) == ["governance.db", "specs"]
    spec = load_spec(written.spec)
    assert spec.telemetry.source == str(tmp_path / "plain.parquet")
    assert spec.telemetry.version == "1"
    assert spec.reference is not None and spec.reference.version == "1"
    mapping = spec.telemetry.mapping()
    assert mapping.request_id is None and mapping.model_version is None


def test_a_database_table_without_id_and_version_is_watched_as_it_is(tmp_path: Path) -> None:
    import duckdb

    from watchkeeper.core.evaluation.data import open_spec_source
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    t = credit_table().drop_columns(["TxnID", "ModelVersion"])
    with duckdb.connect(str(tmp_path / "x.duckdb")) as conn:
        conn.register("t", t)
        conn.execute("CREATE TABLE preds AS SELECT * FROM t")
    location = f"duckdb:///{tmp_path / 'x.duckdb'}#preds"
    plan = plan_monitor(location, inspect_source(location))
    written = write_monitor(plan, tmp_path / "ws")
    spec = load_spec(written.spec)
    assert spec.telemetry.source == location and spec.telemetry.version == "1"
    with open_spec_source(spec) as src:
        assert src.count(TelemetryQuery(model=spec.model.name, versions=("1",))) == N


def test_the_written_spec_loads_and_refuses_to_be_overwritten(tmp_path: Path) -> None:
    pq.write_table(credit_table(), tmp_path / "log.parquet")
    location = str(tmp_path / "log.parquet")
    plan = plan_monitor(location, inspect_source(location))
    p = plan.proposal
    assert p.model == "credit" and p.reference_version in ("7", "8")
    # 40 days: the first quarter, whole days, from midnight of the first event's day
    assert p.reference_start == dt.date(2025, 1, 1)
    assert p.reference_end == dt.date(2025, 1, 11)
    # 3,000 events over 40 days: even 30-day windows would be one window after the reference
    assert p.window is None and "too few" in p.window_reason
    written = write_monitor(plan, tmp_path / "ws")
    spec = load_spec(written.spec)
    assert spec.telemetry.columns.label == "Target"
    assert spec.telemetry.columns.label_ts == "label_arrived"
    assert spec.slices and all(s.name for s in spec.slices)
    assert (tmp_path / "ws" / "governance.db").exists()
    with pytest.raises(WatchkeeperError, match="--force"):
        write_monitor(plan_monitor(location, inspect_source(location)), tmp_path / "ws")
    write_monitor(plan_monitor(location, inspect_source(location)), tmp_path / "ws", force=True)


def test_a_label_without_a_telling_name_is_found_by_its_values() -> None:
    """The Wisconsin table's 'diagnosis': 0/1, ranked by the score, named like neither."""
    t = credit_table().rename_columns({"Target": "diagnosis", "Decision": "flag"})
    g = guess_columns(_sample(t))
    assert g.column_of("label") == "diagnosis"
    assert any("recognised by its values" in w for w in g.warnings)


@pytest.mark.parametrize(
    ("rows", "days", "after_days", "window"),
    [
        (6_000_000, 60, 45, "1d"),  # busy for months: days, not 1,440 hourly windows
        (20_000, 60, 45, "7d"),  # 333 a day: a week's window holds 2,333
        (200_000, 3, 2.25, "1h"),  # a busy log of three days: hours
        (30_000, 3, 2.25, "6h"),  # 417 an hour: six hours hold 2,500
    ],
)
def test_the_proposed_window_is_a_day_or_longer_unless_the_log_is_days_long(
    rows: int, days: float, after_days: float, window: str
) -> None:
    from watchkeeper.core.onboarding.propose import Extent, _window

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=days)
    extent = Extent(rows, start, end)
    got, why = _window(extent, end - dt.timedelta(days=after_days), None)
    assert got == window, why
    assert f"per {window} window" in why


def test_a_later_version_gets_its_reference_in_its_own_time(tmp_path: Path) -> None:
    """Versions that follow one another (v1 for 90 days, then v2 with more traffic for 90):
    the version with the most rows is v2, and the data's first quarter holds none of it —
    before, the spec's reference window was empty and ``check`` judged the model unknown.
    The reference is the first quarter of v2's own time, and it holds v2's events; the
    earlier version, chosen by name, keeps the data's first quarter."""
    from watchkeeper.core.evaluation.data import open_spec_source
    from watchkeeper.core.onboarding.propose import propose
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    rng = np.random.default_rng(4)
    n1, n2 = 9_000, 12_000
    secs = np.r_[np.sort(rng.uniform(0, 90, n1)), np.sort(rng.uniform(90, 180, n2))] * 86400
    t = pa.table(
        {
            "id": [f"r{i}" for i in range(n1 + n2)],
            "ts": pa.array([T0 + dt.timedelta(seconds=float(s)) for s in secs], pa.timestamp("us")),
            "model_version": np.r_[np.full(n1, 1), np.full(n2, 2)],
            "x": rng.normal(size=n1 + n2),
            "score": rng.random(n1 + n2),
        }
    )
    location = str(tmp_path / "log.parquet")
    pq.write_table(t, location)
    plan = plan_monitor(location, inspect_source(location))
    p = plan.proposal
    assert p.reference_version == "2"
    assert "version 2's time range" in p.reference_reason
    v2_start = T0 + dt.timedelta(seconds=float(secs[n1]))
    assert dt.datetime.combine(p.reference_start, dt.time()) <= v2_start
    assert p.reference_start >= (T0 + dt.timedelta(days=89)).date()
    assert p.reference_end <= (T0 + dt.timedelta(days=90 + 24)).date()
    spec = load_spec(write_monitor(plan, tmp_path / "ws").spec)
    assert spec.reference is not None
    start, end = spec.reference_range()
    with open_spec_source(spec) as src:
        held = src.count(TelemetryQuery(versions=("2",), start=start, end=end))
    assert held > 2_000  # about a quarter of v2's 12,000
    # v1 covers the data's first quarter: that stays the period
    one = propose(p.guesses, p.extent, model=p.model, champion="1")
    assert one.reference_start == T0.date() and "the data's time range" in one.reference_reason
    assert (T0 + dt.timedelta(days=45)).date() <= one.reference_end
    assert one.reference_end <= (T0 + dt.timedelta(days=46)).date()


def test_an_empty_and_a_one_valued_column_are_said_as_they_are() -> None:
    """Seen on a log of another team's: "numbers, 0 distinct in the sample" for a column with
    every value missing, and "whole numbers with only 1 values" for a constant one."""
    n = 500
    t = credit_table(n).append_column("empty", pa.nulls(n, pa.float64()))
    t = t.append_column("flag", pa.array(np.ones(n, dtype=np.int64)))
    g = guess_columns(_sample(t))
    assert roles_reason(g, "empty").endswith("every value missing in the sample")
    assert roles_reason(g, "flag").endswith("whole numbers with one value: codes")


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_a_relative_database_url_is_written_as_an_absolute_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """``init --source sqlite:///own.sqlite#scores`` run in the data's folder wrote that URL
    as it was, and the spec reads a relative path from its own folder: "no such database
    file: …/specs/own.sqlite". The written URL names the file absolutely."""
    import duckdb

    from watchkeeper.core.evaluation.data import open_spec_source
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    t = credit_table().drop_columns(["label_arrived"])
    monkeypatch.chdir(tmp_path)
    if engine == "sqlite":
        frame = t.to_pandas()
        frame["scored_at"] = frame["scored_at"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with sqlite3.connect("own.db") as conn:
            frame.to_sql("scores", conn, index=False)
    else:
        with duckdb.connect("own.db") as conn:
            conn.register("t", t)
            conn.execute("CREATE TABLE scores AS SELECT * FROM t")
    location = f"{engine}:///own.db#scores"
    plan = plan_monitor(location, inspect_source(location))
    assert plan.source == f"{engine}:///{tmp_path / 'own.db'}#scores"
    spec = load_spec(write_monitor(plan, tmp_path / "ws").spec)
    with open_spec_source(spec) as src:
        assert src.count(TelemetryQuery()) == N
    # an absolute one, and one that is not a file, stay as they are
    absolute = f"{engine}:///{tmp_path / 'own.db'}#scores"
    assert plan_monitor(absolute, inspect_source(absolute)).source == absolute
    from watchkeeper.core.onboarding import _absolute_database

    server = "postgresql+psycopg://me@db.example:5432/telemetry#scores"
    assert _absolute_database(server, None) == server
    assert _absolute_database(f"{engine}:///:memory:#t", None) == f"{engine}:///:memory:#t"
