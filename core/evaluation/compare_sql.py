"""Champion–challenger pairs joined where the data lives: one ``JOIN`` on the request id.

:func:`shadow_pairs_sql` is :func:`~.compare.join_shadow` run by the database: the champion's
and the challenger's rows of the selection joined on ``request_id``, one row per request,
with the same columns in the same order (sorted by request id) — only the pairs cross the
wire, never the two versions' rows. At most ``limit`` pairs come back: beyond, a seeded
systematic sample over the request-id order (position ``p`` of ``n`` kept when
``(p · M + offset) mod n < limit``, as the drift samples), the same pairs on every engine,
and :attr:`ShadowPairs.total` says how many there were.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from watchkeeper.core.evaluation.metrics import EvaluationError

__all__ = ["PAIR_ROWS", "ShadowPairs", "shadow_pairs_sql"]

#: At most this many request pairs are read for a comparison (the gate, the Champion view).
PAIR_ROWS = 2_000_000


@dataclass(frozen=True)
class ShadowPairs:
    """The joined pairs (``join_shadow``'s columns) and how many the join held."""

    table: pa.Table
    total: int

    @property
    def sampled(self) -> bool:
        return self.table.num_rows < self.total


def shadow_pairs_sql(
    source: Any,
    *,
    model: str | None,
    champion: str,
    challenger: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    carry: Sequence[str] = (),
    per_version: Sequence[str] = (),
    limit: int = PAIR_ROWS,
    seed: int = 0,
    margin: dt.timedelta = dt.timedelta(0),
) -> ShadowPairs:
    """The challenger's rows of ``[start, end)`` paired by request id with the champion's
    in the database (see the module docstring), the champion's rows taken from ``margin``
    before ``start`` to ``margin`` after ``end`` (:func:`~.gate.read_pair_rows`).
    ``carry`` columns come from the champion's row, ``per_version`` columns from both
    (``<col>_a`` / ``<col>_b``)."""
    import sqlalchemy as sa

    from watchkeeper.core.drift.sql_counts import SAMPLE_MULTIPLIER
    from watchkeeper.core.evaluation.slice_sql import slice_query, sql_parts
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.telemetry.sql_values import short_error
    from watchkeeper.core.telemetry.warehouse import fetched_columns

    engine, _ = sql_parts(source)
    names = [*per_version, *carry]
    with engine.connect() as conn:
        # one selection of both versions (the reader's filter binds its values by name: two
        # copies in one statement would share, and so confuse, them), split by version below
        wide = margin if start is not None and end is not None else dt.timedelta(0)
        table, clauses, col = slice_query(
            conn,
            source,
            None,
            model=model,
            versions=[champion, challenger],
            start=start - wide if start is not None else None,
            end=end + wide if end is not None else None,
        )
        if wide:
            # the champion's row anywhere in the margin; the challenger's within the window
            within = source.where(table, TelemetryQuery(start=start, end=end), binds="u")
            own = sa.cast(col("model_version"), sa.String) != sa.literal(str(challenger))
            clauses.append(sa.or_(own, sa.and_(*within)))
        picked = [col("request_id").label("rid"), col("score").label("s")]
        picked += [col("label").label("y"), sa.cast(col("model_version"), sa.String).label("v")]
        picked += [col(c).label(f"c{i}") for i, c in enumerate(names)]
        both = sa.select(*picked).where(*clauses).subquery("wk_both")

        def side(version: str, alias: str) -> Any:
            return sa.select(both).where(both.c.v == sa.literal(str(version))).subquery(alias)

        a = side(champion, "wk_a")
        b = side(challenger, "wk_b")
        k = len(per_version)
        label = sa.func.coalesce(a.c.y, b.c.y)
        columns = [a.c.rid.label("request_id"), label.label("label"), a.c.s.label("score_a")]
        columns.append(b.c.s.label("score_b"))
        for i in range(k):
            columns += [a.c[f"c{i}"].label(f"v{i}a"), b.c[f"c{i}"].label(f"v{i}b")]
        columns += [a.c[f"c{k + i}"].label(f"k{i}") for i in range(len(carry))]
        pos = sa.func.row_number().over(order_by=a.c.rid)
        total = sa.func.count().over()
        joined = (
            sa.select(*columns, pos.label("wk_pos"), total.label("wk_n"))
            .select_from(a.join(b, a.c.rid == b.c.rid))
            .subquery("wk_pairs")
        )
        offset = (int(seed) * 7_919 + 104_729) % SAMPLE_MULTIPLIER
        keep = (
            sa.cast(joined.c.wk_pos, sa.BigInteger) * sa.literal(SAMPLE_MULTIPLIER, sa.BigInteger)
            + sa.literal(offset, sa.BigInteger)
        ) % joined.c.wk_n < sa.literal(int(limit), sa.BigInteger)
        out = [c for c in joined.c if c.name not in ("wk_pos",)]
        statement = sa.select(*out).where(keep).order_by(joined.c.wk_pos)
        try:
            result = conn.execute(statement)
            # on Spark as the blocks' columns, not a Python row per pair
            fetched = fetched_columns(result)
            if fetched is None:
                rows = result.fetchall()
                fetched = [list(c) for c in zip(*rows, strict=True)] if rows else []
        except sa.exc.DBAPIError as exc:
            conn.rollback()
            raise EvaluationError(
                f"the database refused the pairing query: {short_error(exc)}"
            ) from None
    names = ["request_id", "label", "score_a", "score_b"]
    names += [f"{c}_{v}" for c in per_version for v in ("a", "b")] + list(carry)
    width = len(names)
    n = int(fetched[width][0]) if fetched and fetched[width] else 0
    cols = fetched[:width] if fetched and fetched[0] else [[]] * width
    arrays = []
    for name, values in zip(names, cols, strict=True):
        if name in ("request_id",):
            arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
        elif name in ("label", "score_a", "score_b"):
            arrays.append(pa.array(values, pa.float64(), from_pandas=True))
        else:
            arrays.append(pa.array(values))
    return ShadowPairs(pa.table(arrays, names=names), n)
