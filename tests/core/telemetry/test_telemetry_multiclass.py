"""A multiclass score: one probability column per class, read and checked by every reader."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from telemetry_events import StoreFactory

from watchkeeper.core.errors import SpecError, TelemetryError
from watchkeeper.core.spec import parse_spec
from watchkeeper.core.telemetry.contract import ColumnMapping
from watchkeeper.core.telemetry.source import open_source

KINDS = ["parquet", "csv", "duckdb", "sqlite"]
CLASSES = {"low": "p_low", "medium": "p_medium", "high": "p_high"}
MAPPING = ColumnMapping(model=None, model_version=None, class_probabilities=CLASSES)


def _table(rows: int = 60, labels: list[object] | None = None) -> pa.Table:
    rng = np.random.default_rng(3)
    p = rng.dirichlet([2.0, 2.0, 2.0], rows)
    names = np.array(list(CLASSES))
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return pa.table(
        {
            "request_id": [f"r{i}" for i in range(rows)],
            "ts": pa.array([start + dt.timedelta(minutes=i) for i in range(rows)]),
            "income": rng.normal(size=rows),
            "p_low": p[:, 0],
            "p_medium": p[:, 1],
            "p_high": p[:, 2],
            "prediction": names[p.argmax(axis=1)].tolist(),
            "label": labels if labels is not None else names[rng.integers(0, 3, rows)].tolist(),
        }
    )


def _with(table: pa.Table, name: str, row: int, value: object) -> pa.Table:
    values = table.column(name).to_pylist()
    values[row] = value
    at = table.schema.get_field_index(name)
    return table.set_column(at, name, pa.array(values, table.schema.field(name).type))


@pytest.mark.parametrize("kind", KINDS)
def test_class_probabilities_are_read_under_their_names_and_not_as_features(
    kind: str, make_store: StoreFactory
) -> None:
    table = _table()
    with open_source(make_store(kind, table), MAPPING) as source:
        source.validate()
        schema = source.schema()
        read = source.read()
    assert [c.name for c in schema.features] == ["income"]
    assert [c.role for c in schema.columns if c.name in CLASSES.values()] == [
        "class_probability"
    ] * 3
    for column in CLASSES.values():
        np.testing.assert_allclose(read.column(column).to_numpy(), table.column(column).to_numpy())
    assert read.column("label").to_pylist() == table.column("label").to_pylist()


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("p_medium", None, "the probability of class 'medium' is missing"),
        ("p_medium", float("nan"), "the probability of class 'medium' is missing"),
        ("p_high", float("inf"), "the probability of class 'high' is infinite"),
        ("p_low", -0.2, "the probability of class 'low' is negative (-0.2)"),
        ("p_low", 0.9, "the class probabilities sum to"),
        ("label", "urgent", "the label 'urgent' is not one of the classes"),
        ("prediction", "none", "the prediction 'none' is not one of the classes"),
    ],
)
@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_bad_row_is_named_with_its_column(
    kind: str, column: str, value: object, words: str, make_store: StoreFactory
) -> None:
    source = open_source(make_store(kind, _with(_table(), column, 37, value)), MAPPING)
    with source, pytest.raises(TelemetryError) as excinfo:
        source.validate()
    error = excinfo.value
    assert words in str(error)
    assert error.column == (column if column in ("label", "prediction") else error.column)
    assert error.column in (column, "p_low")  # a wrong sum names the first probability
    assert error.row == 38  # rows are counted from 1, as a user counts them


def test_integer_labels_match_classes_named_by_number(make_store: StoreFactory) -> None:
    classes = {"0": "p_low", "1": "p_medium", "2": "p_high"}
    table = _table()
    labels = [i % 3 for i in range(table.num_rows)]
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    table = table.drop_columns(["prediction"])
    mapping = ColumnMapping(model=None, model_version=None, class_probabilities=classes)
    with open_source(make_store("csv", table), mapping) as source:
        source.validate()
    bad = _with(table, "label", 5, 3)
    source = open_source(make_store("parquet", bad), mapping)
    with source, pytest.raises(TelemetryError, match="the label '3' is not one of the classes"):
        source.validate()


def test_a_missing_probability_column_is_named(make_store: StoreFactory) -> None:
    table = _table().drop_columns(["p_high"])
    source = open_source(make_store("parquet", table), MAPPING)
    with source, pytest.raises(TelemetryError) as excinfo:
        source.schema()
    assert excinfo.value.column == "p_high"
    assert "the probability of class 'high'" in str(excinfo.value)


SPEC = """
[model]
name = "triage"
task = "multiclass"
[telemetry]
source = "t.parquet"
[telemetry.columns]
class_probabilities = { low = "p_low", medium = "p_medium", high = "p_high" }
"""


def test_the_spec_maps_class_probabilities() -> None:
    spec = parse_spec(SPEC)
    assert spec.model.task == "multiclass"
    assert dict(spec.telemetry.mapping().class_probabilities) == CLASSES


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('task = "multiclass"', 'task = "binary"', 'set task = "multiclass"'),
        (
            'class_probabilities = { low = "p_low", medium = "p_medium", high = "p_high" }',
            "",
            "needs [telemetry.columns] class_probabilities",
        ),
        (
            'medium = "p_medium", high = "p_high"',
            'medium = "p_low", high = "p_high"',
            "holds the probability of two classes",
        ),
        (
            'medium = "p_medium", high = "p_high"',
            'medium = "label", high = "p_high"',
            "cannot also be the probability of class 'medium'",
        ),
        (
            '{ low = "p_low", medium = "p_medium", high = "p_high" }',
            '{ low = "p_low" }',
            "two or more",
        ),
    ],
)
def test_spec_refuses_an_inconsistent_multiclass_mapping(old: str, new: str, words: str) -> None:
    with pytest.raises(SpecError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_spec(SPEC.replace(old, new))
