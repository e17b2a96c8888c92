"""Slice predicates: numpy masks and SQL WHERE clauses select the same rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa

from watchkeeper.core.evaluation.metrics import EvaluationError
from watchkeeper.core.evaluation.predicates import (
    Condition,
    SlicePredicate,
    predicate_from_spec,
)
from watchkeeper.core.spec import parse_spec

TABLE = pa.table(
    {
        "channel": ["web", "pos", None, "app", "web", "pos"],
        "amount": [100.0, 500.0, 999.99, None, 1000.0, float("nan")],
        "hour": [0, 5, 6, 23, 3, 4],
    }
)

SPEC = """
[model]
name = "m"
[telemetry]
source = "x.parquet"
[[slices]]
name = "web-night"
where = { channel = "web", hour = [0, 1, 2, 3] }
[[slices]]
name = "mid"
where = { amount = { min = 500, max = 1000 } }
critical = true
[[slices]]
name = "many"
where = { channel = ["pos", "app"] }
"""


def _sql_rows(predicate: SlicePredicate, url: str) -> list[int]:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    t = sa.Table(
        "t",
        meta,
        sa.Column("i", sa.Integer),
        sa.Column("channel", sa.String),
        sa.Column("amount", sa.Double),
        sa.Column("hour", sa.Integer),
    )
    meta.create_all(engine)
    rows = [
        {"i": i, "channel": c, "amount": None if a is None or a != a else a, "hour": h}
        for i, (c, a, h) in enumerate(
            zip(*(TABLE.column(n).to_pylist() for n in ("channel", "amount", "hour")), strict=True)
        )
    ]
    with engine.begin() as conn:
        conn.execute(t.insert(), rows)
        got = conn.execute(sa.select(t.c.i).where(predicate.where(t.c)).order_by(t.c.i))
        out = [r[0] for r in got]
    engine.dispose()
    return out


@pytest.mark.parametrize("url", ["sqlite://", "duckdb:///:memory:"])
def test_spec_slices_select_the_same_rows_in_numpy_and_sql(url: str) -> None:
    spec = parse_spec(SPEC)
    expected = {"web-night": [0, 4], "mid": [1, 2], "many": [1, 3, 5]}
    for s in spec.slices:
        p = predicate_from_spec(s)
        assert list(np.flatnonzero(p.mask(TABLE))) == expected[s.name], s.name
        assert _sql_rows(p, url) == expected[s.name], (s.name, url)
    mid = predicate_from_spec(spec.slices[1])
    assert mid.label == "500<=amount<1000" and mid.critical
    assert predicate_from_spec(spec.slices[0]).label == "channel=web & hour in {0,1,2,3}"
    missing = SlicePredicate("m", (Condition("amount", "null"),))
    assert list(np.flatnonzero(missing.mask(TABLE))) == [3, 5]  # NaN counts as missing
    with pytest.raises(EvaluationError, match="no column 'country'"):
        SlicePredicate("c", (Condition("country", "eq", "DE"),)).mask(TABLE)


def test_an_unknown_condition_is_refused_not_read_as_equality() -> None:
    """``ge`` is no condition (``range`` with an open end is): before, it fell through to the
    equality test and selected no rows, with no error."""
    with pytest.raises(EvaluationError, match="unknown condition 'ge'"):
        Condition("amount", "ge", 10.0)  # type: ignore[arg-type]
    assert Condition("amount", "range", (10.0, None)).label == "amount>=10"
