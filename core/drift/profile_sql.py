"""A reference profile built in the database: aggregates cross the wire, never rows.

:func:`build_profile_sql` gives the :class:`~watchkeeper.core.drift.profile.ReferenceProfile`
that :func:`~watchkeeper.core.drift.profile.build_profile` gives on the rows of the same
selection — the same bins, edges and counts — from a few statements, each scanning the
selection (step 5's ``UNION ALL``: once per categorical feature) and returning a bounded
result:

1. one row: the selection's size and, per numerical feature, its finite values' count,
   distinct count (``approx_count_distinct`` on Spark and DuckDB — HyperLogLog, exact at the
   small counts it decides on here, and checked by step 2 —, ``COUNT(DISTINCT)`` elsewhere),
   mean and population standard deviation;
2. for the features with few distinct values (at most ``FEW`` × ``bins`` estimated), their
   finite values with counts (``GROUP BY`` value, at most ``FEW`` × ``bins`` + 1 rows each):
   at most ``bins`` values give one bin per value and gap, more give quantile edges
   computed from these counts;
3. for the other numerical features, the **order statistics** around each quantile
   position: the quantile edges are numpy's ``linear`` quantiles ``i / bins`` of the finite
   values, interpolated here (with numpy's own formula) between the two values around each
   position, which the database gives exactly — ``quantile_disc`` (DuckDB),
   ``percentile_disc`` (PostgreSQL) at a fraction both discrete conventions put on that
   position (:func:`order_fraction`), in one row; on Spark, where an exact summary of every
   value per feature runs the driver out of heap, ``percentile_approx`` (``ACCURACY``)
   brackets each position between data values, the values below each bracket are counted
   and those inside come back grouped (:func:`_bracketed`: three statements, about
   ``4 n / ACCURACY`` distinct values per position). Asking the engine for the
   interpolated quantile itself would not do: Spark's ``percentile`` interpolates as
   ``(hi - pos) * a + (pos - lo) * b``, numpy as ``a + (b - a) * t``, so edges would differ
   in their last bits (``tests/core/drift/test_profile_sql.py`` pins it);
4. one row: per numerical feature the count below each edge and its non-NaN count, so the
   bins' counts are exactly ``e_i <= x < e_(i+1)`` as in memory (NULL and NaN missing);
5. one statement for every categorical feature: its ``vocabulary_limit`` + 1 most frequent
   values with counts, the number of distinct values and of present ones. Per-feature
   ``GROUP BY`` sub-queries under ``UNION ALL`` on DuckDB and PostgreSQL (a scan per
   feature, in one statement); on Spark (``STACK_DIALECTS``) one scan, every row
   ``stack``-ed into a (feature, value) row per feature, then one ``GROUP BY`` — there the
   ``UNION ALL`` ran a scan and a shuffle per feature and took twice as long. Each value
   travels in the column of its type (text, integer, float, boolean: :func:`_slot_type`;
   NULL of their type in the others), so it comes back as the driver reads that column —
   no round trip through text; a feature of another type (a date, a decimal) keeps a
   statement of its own. Ranked per feature by ``ROW_NUMBER() OVER (PARTITION BY feature
   ORDER BY n DESC, value)``, cut at ``vocabulary_limit`` + 1, the distinct and present
   counts as ``COUNT(*)`` and ``SUM(n)`` over the feature's partition; ties re-sorted here
   as in memory (by type, then ``repr``). The top ``max_categories`` equal the in-memory
   ones unless a tie at the top's boundary runs past ``vocabulary_limit`` values; the
   rarest values of the stored vocabulary may differ from the in-memory choice when tied
   at the vocabulary's limit. ``benchmarks/profile_categorical.py`` (200,000 rows x 100
   categorical features, medians, a loaded 2-core machine), against the former statement
   per feature: DuckDB 101 statements 0.57 s, 2 statements 0.40 s (7 rounds, load 4.2;
   1,000,000 rows 0.86 s against 0.65 s); Spark 101 statements and Spark jobs 28.1 s, 2
   statements and 2 jobs 10.7 s, the ``UNION ALL`` 22.8 s (5 rounds, load 3.4 to 7.0).

The mean and standard deviation are the database's (``AVG``, ``STDDEV_POP``): equal to
numpy's to about 1e-15 relative, not bitwise, so the profile's digest can differ from the
in-memory one on the same rows while every count and edge is equal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from watchkeeper.core.drift.data import CATEGORICAL, NUMERICAL, resolve_features
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.profile import (
    DEFAULT_VOCABULARY_LIMIT,
    FeatureProfile,
    ReferenceProfile,
    _sort_key,
)
from watchkeeper.core.telemetry.sql_values import double

__all__ = [
    "FEW",
    "build_profile_sql",
    "exact_quantiles",
    "numpy_quantiles",
    "order_fraction",
    "spark_linear_quantiles",
]

#: Features whose distinct count is estimated at most ``FEW × bins`` have their values
#: counted (step 2 of the module's description); the others get order statistics.
FEW = 4
#: Spark's ``percentile_approx`` accuracy: a rank within ``n / ACCURACY`` of the one asked.
#: Exact ranks (an accuracy above n) keep every value in one summary per feature, which a
#: 2 GB driver could not hold for 500,000 rows x 16 features (OutOfMemoryError).
ACCURACY = 50_000
#: Dialects whose categorical step (5 in the module's description) stacks every row into
#: one scan rather than a UNION ALL of per-feature GROUP BYs.
STACK_DIALECTS = {"hive"}
#: Dialects with an exact interpolating quantile aggregate.
_QUANTILE_DIALECTS = ("duckdb", "hive", "postgresql")


def exact_quantiles(dialect: str) -> bool:
    """Whether :func:`build_profile_sql` profiles in ``dialect`` (an SQLAlchemy dialect name);
    it refuses the others."""
    return dialect in _QUANTILE_DIALECTS


def _neighbours(n: int, qs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy's ``linear`` quantile positions of ``n`` sorted values: the lower and upper
    neighbours' indexes and the weight between them (``np.quantile``'s own formulas)."""
    virtual = (n - 1) * np.asarray(qs, dtype=np.float64)
    previous = np.floor(virtual)
    nxt = previous + 1
    above = virtual >= n - 1
    previous[above] = n - 1
    nxt[above] = n - 1
    below = virtual < 0
    previous[below] = 0
    nxt[below] = 0
    return previous.astype(np.int64), nxt.astype(np.int64), virtual - np.floor(virtual)


def numpy_quantiles(n: int, qs: np.ndarray, value_at: Any) -> np.ndarray:
    """``np.quantile(v, qs)`` (method ``linear``) of ``n`` sorted values ``v``, reading only
    ``value_at(positions)`` — numpy's own index, weight and interpolation formulas."""
    lo, hi, gamma = _neighbours(n, qs)
    a = np.asarray(value_at(lo), dtype=np.float64)
    b = np.asarray(value_at(hi), dtype=np.float64)
    diff = b - a
    out = a + diff * gamma
    late = gamma >= 0.5
    out[late] = (b - diff * (1 - gamma))[late]
    return out


def order_fraction(n: int, k: int) -> float:
    """A fraction ``p`` at which both discrete quantile conventions give the ``k``-th
    smallest of ``n`` values (0-based): ``floor((n - 1) * p) == k`` and
    ``ceil(n * p) - 1 == k`` — the middle of the interval where both hold (it is at least
    ``1 / n²`` wide, far above the rounding of either product)."""
    if n <= 1 or k <= 0:
        return 0.0
    if k >= n - 1:
        return 1.0
    p = (k / (n - 1) + (k + 1) / n) / 2
    if math.floor((n - 1) * p) != k or math.ceil(n * p) - 1 != k:
        raise DriftError(f"no fraction reaches position {k} of {n} values exactly")
    return p


def _distinct(dialect: str, x: sa.ColumnElement) -> sa.ColumnElement:
    if dialect in ("hive", "duckdb"):
        return sa.func.approx_count_distinct(x)
    return sa.func.count(sa.distinct(x))


def _order_statistics(
    dialect: str, x: sa.ColumnElement, fractions: Sequence[float], n: int
) -> list[sa.ColumnElement]:
    """The engine's discrete quantiles of ``x``'s ``n`` values at ``fractions`` (NULLs left
    out): actual values, never interpolated."""
    if dialect == "duckdb":
        listed: Any = sa.literal_column(
            "[" + ", ".join(f"CAST('{float(p)!r}' AS DOUBLE)" for p in fractions) + "]"
        )
        agg = sa.func.quantile_disc(x, listed)
        return [sa.func.list_extract(agg, i + 1) for i in range(len(fractions))]
    if dialect == "hive":  # near the positions only: see _bracketed
        agg = sa.func.percentile_approx(
            x, sa.func.array(*[double(p) for p in fractions]), sa.literal(ACCURACY, sa.Integer)
        )
        return [sa.func.element_at(agg, i + 1) for i in range(len(fractions))]
    if dialect == "postgresql":
        return [sa.func.percentile_disc(double(p)).within_group(x) for p in fractions]
    raise DriftError(f"no exact quantiles in {dialect}: the reference is profiled in memory")


def _bracketed(
    source: Any,
    table: sa.FromClause,
    where: list[Any],
    fins: dict[str, sa.ColumnElement],
    wanted: dict[str, list[int]],
    stats: dict[str, tuple[int, int, Any, Any]],
) -> dict[str, dict[int, float]]:
    """The exact ``k``-th smallest finite values on Spark in three one-scan statements with
    bounded results: ``percentile_approx`` (``ACCURACY``) brackets each position ``k``
    between data values ranked about ``k - d`` and ``k + d`` (``d`` over twice its rank
    error); the values below each bracket are counted; the values inside the brackets come
    back grouped (at most ``2 d + 1`` distinct values per position). A bracket that turns
    out not to hold its position (the estimate's error larger than promised) is widened, at
    most three times."""
    out: dict[str, dict[int, float]] = {n: {} for n in fins}
    todo = {n: list(ks) for n, ks in wanted.items()}
    for attempt in range(4):
        if not any(todo.values()):
            return out
        names = [n for n in fins if todo[n]]
        # 1. the brackets' ends: data values ranked about d below and above each position
        ends: dict[str, list[tuple[int, int]]] = {}
        parts: list[sa.ColumnElement] = []
        for n in names:
            count = stats[n][0]
            d = (2 * -(-count // ACCURACY) + 1) * 4**attempt
            ends[n] = [(max(k - d, 0), min(k + d, count - 1)) for k in todo[n]]
            ranks = sorted({r for pair in ends[n] for r in pair})
            fractions = [order_fraction(count, r) for r in ranks]
            parts += _order_statistics("hive", fins[n], fractions, count)
            ends[n] = [(ranks.index(a), ranks.index(b)) for a, b in ends[n]]
        row = list(source.aggregate(sa.select(*parts).select_from(table).where(*where))[0])
        brackets: dict[str, list[tuple[float, float]]] = {}
        at = 0
        for n in names:
            width = len({i for pair in ends[n] for i in pair})
            got = [float(v) for v in row[at : at + width]]
            at += width
            brackets[n] = [(got[a], got[b]) for a, b in ends[n]]
        # 2. the values below each bracket, counted
        parts = [
            sa.func.count(sa.case((fins[n] < double(lo), 1)))
            for n in names
            for lo, _ in brackets[n]
        ]
        below = list(source.aggregate(sa.select(*parts).select_from(table).where(*where))[0])
        # 3. the values inside the brackets with their counts (one scan, a column per
        # feature; grouped, so a value repeated many times comes back once)
        inside = {
            n: sa.or_(
                *[sa.and_(fins[n] >= double(a), fins[n] <= double(b)) for a, b in brackets[n]]
            )
            for n in names
        }
        cut = (
            sa.select(*[sa.case((inside[n], fins[n])).label(f"v{i}") for i, n in enumerate(names)])
            .select_from(table)
            .where(*where, sa.or_(*inside.values()))
            .subquery("wk_brackets")
        )
        columns = [cut.c[f"v{i}"] for i in range(len(names))]
        found = source.aggregate(sa.select(*columns, sa.func.count()).group_by(*columns))
        at = 0
        for i, n in enumerate(names):
            tally: dict[float, int] = {}
            for r in found:
                if r[i] is not None:
                    tally[float(r[i])] = tally.get(float(r[i]), 0) + int(r[-1])
            values = np.array(sorted(tally), dtype=np.float64)
            counts = np.array([tally[v] for v in values.tolist()], dtype=np.int64)
            left = []
            for k, (lo, hi), c in zip(todo[n], brackets[n], below[at:], strict=False):
                first = int(c)  # the rank of the first value >= lo
                mine = (values >= lo) & (values <= hi)
                ends_ = np.cumsum(counts[mine])
                if ends_.size and first <= k < first + int(ends_[-1]):
                    out[n][k] = float(values[mine][np.searchsorted(ends_, k - first, side="right")])
                else:
                    left.append(k)
            at += len(brackets[n])
            todo[n] = left
    if any(todo.values()):
        raise DriftError("the quantile estimates did not bracket their positions")
    return out


def spark_linear_quantiles(
    source: Any,
    table: sa.FromClause,
    where: list[Any],
    values: dict[str, sa.ColumnElement],
    counts: dict[str, int],
    qs: Sequence[float],
) -> dict[str, np.ndarray]:
    """numpy's ``linear`` quantiles ``qs`` of each expression's ``counts[name]`` non-NULL
    values on Spark, from their exact order statistics (:func:`_bracketed`: three scans,
    bounded results) interpolated here. Spark's exact ``percentile`` keeps every distinct
    value of a group in the driver's heap: the worst-slice search's reference quantiles of
    8 features over 5,000,000 events ran a 1 GB driver out of it."""
    q = np.asarray(qs, dtype=np.float64)
    names = [n for n in values if counts[n] > 0]
    wanted: dict[str, list[int]] = {}
    for n in names:
        lo, hi, _ = _neighbours(counts[n], q)
        wanted[n] = sorted({*lo.tolist(), *hi.tolist()})
    stats = {n: (counts[n], 0, None, None) for n in names}
    at_rank = _bracketed(source, table, where, {n: values[n] for n in names}, wanted, stats)
    return {
        n: numpy_quantiles(counts[n], q, lambda k, v=at_rank[n]: [v[int(j)] for j in k])
        for n in names
    }


def _numeric_edges(values: np.ndarray, counts: np.ndarray, bins: int) -> tuple[float, ...]:
    """The in-memory profile's edges of finite values given as sorted distinct values with
    counts."""
    if values.size == 0:
        return ()
    if values.size <= bins:
        above = np.nextafter(values, np.inf)
        return tuple(float(e) for e in np.unique(np.concatenate([values, above])))
    ends = np.cumsum(counts)  # the k-th smallest is values[first end above k]
    n = int(ends[-1])
    qs = np.arange(1, bins) / bins
    edges = numpy_quantiles(n, qs, lambda k: values[np.searchsorted(ends, k, side="right")])
    return tuple(float(e) for e in np.unique(edges))


def build_profile_sql(
    source: Any,
    query: Any,
    features: Sequence[str] | None = None,
    *,
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
    exclude: Iterable[str] = (),
    bins: int = 10,
    max_categories: int = 50,
    high_cardinality: int = 100,
    vocabulary_limit: int = DEFAULT_VOCABULARY_LIMIT,
) -> ReferenceProfile | None:
    """The profile of ``query``'s events in ``source`` (a
    :class:`~watchkeeper.core.telemetry.sql.SqlSource`), built in its database (see the
    module's description); ``None`` when the selection holds no event. Arguments as for
    :func:`~watchkeeper.core.drift.profile.build_profile` on the rows ``source.read(query)``
    returns."""
    if bins < 2:
        raise DriftError(f"bins must be at least 2, got {bins}")
    if max_categories < 1:
        raise DriftError(f"max_categories must be at least 1, got {max_categories}")
    vocabulary_limit = max(vocabulary_limit, max_categories)
    dialect = source.engine.dialect.name
    if dialect not in _QUANTILE_DIALECTS:
        raise DriftError(f"no exact quantiles in {dialect}: the reference is profiled in memory")
    schema = source.schema()
    raw = source.source_schema()
    info = [c for c in schema.columns if c.constant is None]
    empty = pa.schema([(c.name, raw.field(c.source_name).type) for c in info])
    kinds = resolve_features(
        empty.empty_table(),
        features,
        categorical=categorical,
        numerical=numerical,
        exclude=exclude,
        what="reference",
    )
    table, where = source.selection(query)
    column_of = {c.name: table.c[c.source_name] for c in info}
    numeric = [n for n, k in kinds.items() if k == NUMERICAL]
    xs = {n: sa.cast(column_of[n], sa.Double) for n in numeric}
    inf = double(math.inf)
    fins = {n: sa.case((sa.and_(x > double(-math.inf), x < inf), x)) for n, x in xs.items()}

    def one_row(parts: list[sa.ColumnElement]) -> list[Any]:
        return list(source.aggregate(sa.select(*parts).select_from(table).where(*where))[0])

    # 1. size; per numerical feature: finite count, distinct count, mean, spread
    parts: list[sa.ColumnElement] = [sa.func.count()]
    for n in numeric:
        f = fins[n]
        parts += [sa.func.count(f), _distinct(dialect, f), sa.func.avg(f), sa.func.stddev_pop(f)]
    first = one_row(parts)
    rows = int(first[0])
    if rows == 0:
        return None
    stats = {
        n: (int(first[1 + 4 * i]), int(first[2 + 4 * i] or 0), first[3 + 4 * i], first[4 + 4 * i])
        for i, n in enumerate(numeric)
    }
    edges: dict[str, tuple[float, ...]] = {n: () for n in numeric}
    # 2. few distinct values: their counts
    few = [n for n in numeric if stats[n][0] and stats[n][1] <= FEW * bins]
    cap = FEW * bins + 1
    ordered = [n for n in numeric if stats[n][0] and n not in few]
    if few:
        branches = []
        for i, n in enumerate(few):
            # grouped by a sub-select's column: a CASE with bound edges twice in one
            # statement is two expressions to the engine
            picked = (
                sa.select(fins[n].label("v")).select_from(table).where(*where).subquery(f"wk_x{i}")
            )
            inner = (
                sa.select(picked.c.v, sa.func.count().label("n"))
                .where(picked.c.v.is_not(None))
                .group_by(picked.c.v)
                .limit(cap)
                .subquery(f"wk_v{i}")
            )
            branches.append(sa.select(sa.literal(i, sa.Integer).label("f"), inner.c.v, inner.c.n))
        found: dict[int, list[tuple[float, int]]] = {i: [] for i in range(len(few))}
        statement = branches[0] if len(branches) == 1 else sa.union_all(*branches)
        for f_, v, c in source.aggregate(statement):
            found[int(f_)].append((float(v), int(c)))
        for i, n in enumerate(few):
            pairs = sorted(found[i])
            if len(pairs) >= cap:  # the estimate was low: order statistics after all
                ordered.append(n)
                continue
            distinct = np.array([v for v, _ in pairs], dtype=np.float64)
            counts = np.array([c for _, c in pairs], dtype=np.int64)
            edges[n] = _numeric_edges(distinct, counts, bins)
    # 3. order statistics around every quantile position
    if ordered:
        qs = np.arange(1, bins) / bins
        wanted: dict[str, list[int]] = {}
        parts = []
        for n in ordered:
            count = stats[n][0]
            lo, hi, _ = _neighbours(count, qs)
            wanted[n] = sorted({*lo.tolist(), *hi.tolist()})
            if dialect != "hive":
                fractions = [order_fraction(count, k) for k in wanted[n]]
                parts += _order_statistics(dialect, fins[n], fractions, count)
        if dialect == "hive":
            at_rank = _bracketed(source, table, where, {n: fins[n] for n in ordered}, wanted, stats)
        else:
            got = one_row(parts)
            at_rank, at = {}, 0
            for n in ordered:
                ks = wanted[n]
                at_rank[n] = dict(zip(ks, (float(v) for v in got[at : at + len(ks)]), strict=True))
                at += len(ks)
        for n in ordered:
            value = at_rank[n]
            e = numpy_quantiles(stats[n][0], qs, lambda k, value=value: [value[int(j)] for j in k])
            edges[n] = tuple(float(x) for x in np.unique(e))
    # 4. counts below each edge, and the non-NaN count (NULL and NaN are missing)
    feature_counts: dict[str, tuple[int, ...]] = {}
    if numeric:
        parts = []
        for n in numeric:
            x = xs[n]
            parts += [sa.func.count(sa.case((x < double(e), 1))) for e in edges[n]]
            parts.append(sa.func.count(sa.case((x <= inf, 1))))
        got = one_row(parts)
        at = 0
        for n in numeric:
            k = len(edges[n])
            below = [int(c) for c in got[at : at + k + 1]]
            at += k + 1
            feature_counts[n] = tuple(int(c) for c in np.diff([0, *below, rows]))
    # 5. the categorical features' most frequent values, all in one statement
    named = [n for n, k in kinds.items() if k == CATEGORICAL]
    levels = _categorical_sql(
        source,
        table,
        where,
        [(n, column_of[n], empty.field(n).type) for n in named],
        rows=rows,
        max_categories=max_categories,
        high_cardinality=high_cardinality,
        vocabulary_limit=vocabulary_limit,
    )
    out: list[FeatureProfile] = []
    for name, kind in kinds.items():
        if kind == NUMERICAL:
            count, _, mean, std = stats[name]
            out.append(
                FeatureProfile(
                    name,
                    NUMERICAL,
                    feature_counts[name],
                    edges=edges[name],
                    mean=float(mean) if count else None,
                    std=float(std) if count else None,
                )
            )
        else:
            out.append(levels[name])
    return ReferenceProfile(
        rows=rows,
        features=tuple(out),
        bins=bins,
        max_categories=max_categories,
        high_cardinality=high_cardinality,
        vocabulary_limit=vocabulary_limit,
    )


def _slot_type(arrow: pa.DataType) -> sa.types.TypeEngine[Any] | None:
    """The SQL type a categorical feature's values travel in through step 5's ``UNION ALL``
    (one column per such type, so each value comes back as the driver reads its own column);
    ``None`` for a type without one here (its feature gets a statement of its own)."""
    if pa.types.is_dictionary(arrow):
        arrow = arrow.value_type
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        return sa.String()
    if pa.types.is_string_view(arrow):
        return sa.String()
    if pa.types.is_integer(arrow) and arrow != pa.uint64():  # uint64 does not fit a BIGINT
        return sa.BigInteger()
    if pa.types.is_floating(arrow):
        return sa.Double()
    if pa.types.is_boolean(arrow):
        return sa.Boolean()
    return None


def _categorical_sql(
    source: Any,
    table: sa.FromClause,
    where: list[Any],
    features: Sequence[tuple[str, sa.ColumnElement, pa.DataType]],
    *,
    rows: int,
    max_categories: int,
    high_cardinality: int,
    vocabulary_limit: int,
) -> dict[str, FeatureProfile]:
    """5. each categorical feature's (name, column, Arrow type) most frequent values, its
    distinct and present counts: one statement for all the features whose type has a
    :func:`_slot_type`, one each for the others."""
    batch = [f for f in features if _slot_type(f[2]) is not None]
    batches = [batch] if batch else []
    batches += [[f] for f in features if _slot_type(f[2]) is None]
    out: dict[str, FeatureProfile] = {}
    for group in batches:
        found = _levels(source, table, where, group, vocabulary_limit + 1)
        for i, (name, _, _) in enumerate(group):
            out[name] = _from_levels(
                name,
                found.get(i, []),
                rows=rows,
                max_categories=max_categories,
                high_cardinality=high_cardinality,
                vocabulary_limit=vocabulary_limit,
            )
    return out


def _levels(
    source: Any,
    table: sa.FromClause,
    where: list[Any],
    features: Sequence[tuple[str, sa.ColumnElement, pa.DataType]],
    limit: int,
) -> dict[int, list[tuple[Any, int, int, int]]]:
    """Per feature (by its index in ``features``): its ``limit`` most frequent values as
    (value, count, distinct values, present values), in one statement — a ``UNION ALL`` of
    per-feature ``GROUP BY``s, each value in its type's column (:func:`_slot_type`; the
    others NULL of their type, which PostgreSQL needs to match the branches), or on
    ``STACK_DIALECTS`` :func:`_stacked`'s one scan — ranked per feature by ``ROW_NUMBER``,
    the counts as window aggregates over the feature."""
    # a feature alone has its own column: no other branch to match
    types = [_slot_type(a) for _, _, a in features] if len(features) > 1 else [None]
    keys = [type(t).__name__ for t in types]
    slots = list(dict.fromkeys(keys))
    kinds = {
        k: t if t is not None else sa.types.NullType() for k, t in zip(keys, types, strict=True)
    }
    slot_of = [slots.index(k) for k in keys]
    values, presents = [], []
    for i, (_, column, arrow) in enumerate(features):
        values.append(
            [
                column if j == slot_of[i] else sa.cast(sa.null(), kinds[key])
                for j, key in enumerate(slots)
            ]
        )
        present: list[Any] = [column.is_not(None)]
        if pa.types.is_floating(arrow):  # NaN is missing, as in memory (NaN compares above +inf)
            present.append(column <= double(math.inf))
        presents.append(present)
    dialect = source.engine.dialect
    if dialect.name in STACK_DIALECTS and len(features) > 1:
        # stack wants one type per column, not merely compatible ones (an INT among BIGINTs
        # fails): each value cast to its column's type, which holds it exactly
        typed = [
            [sa.cast(v, kinds[slots[j]]) if j == slot_of[i] else v for j, v in enumerate(row)]
            for i, row in enumerate(values)
        ]
        union = _stacked(table, where, typed, slots, kinds, dialect)
    else:
        branches = []
        for i, (_, column, _) in enumerate(features):
            grouped = (
                sa.select(column.label("v"), sa.func.count().label("n"))
                .select_from(table)
                .where(*where, *presents[i])
                .group_by(column)
                .subquery(f"wk_levels{i}")
            )
            picked = [
                (grouped.c.v if j == slot_of[i] else v).label(f"v{j}")
                for j, v in enumerate(values[i])
            ]
            branches.append(sa.select(sa.literal(i, sa.Integer).label("f"), *picked, grouped.c.n))
        one = branches[0] if len(branches) == 1 else sa.union_all(*branches)
        union = one.subquery("wk_all")
    vs = [union.c[f"v{j}"] for j in range(len(slots))]
    f = union.c.f
    ranked = sa.select(
        f,
        *vs,
        union.c.n,
        sa.func.row_number().over(partition_by=f, order_by=[union.c.n.desc(), *vs]).label("r"),
        sa.func.count().over(partition_by=f).label("card"),
        sa.func.sum(union.c.n).over(partition_by=f).label("present"),
    ).subquery("wk_ranked")
    statement = sa.select(
        ranked.c.f,
        *[ranked.c[f"v{j}"] for j in range(len(slots))],
        ranked.c.n,
        ranked.c.card,
        ranked.c.present,
    ).where(ranked.c.r <= limit)
    found: dict[int, list[tuple[Any, int, int, int]]] = {}
    for row in source.aggregate(statement):
        i = int(row[0])
        n, card, total = row[-3:]
        found.setdefault(i, []).append((row[1 + slot_of[i]], int(n), int(card), int(total)))
    return found


def _stacked(
    table: sa.FromClause,
    where: list[Any],
    values: list[list[sa.ColumnElement]],
    slots: list[str],
    kinds: dict[str, sa.types.TypeEngine[Any]],
    dialect: Any,
) -> sa.Subquery:
    """Spark's form of :func:`_levels`'s counts, one scan: every row ``stack``-ed into a
    (feature, value) row per feature, then one ``GROUP BY``: 10.7 s against the ``UNION
    ALL``'s 22.8 s (one scan and one shuffle per feature) at 200,000 rows x 100 features on
    the local server (the module's description)."""
    names = ["f", *[f"v{j}" for j in range(len(slots))]]
    args: list[Any] = []
    for i, row in enumerate(values):
        args += [sa.literal(i, sa.Integer), *row]
    # SQLAlchemy would label the call with one name, Spark needs a name per output column:
    # a text clause (not a literal column, whose dots PyHive's compiler cuts), its colons
    # escaped from being read as parameters
    compiled = sa.func.stack(len(values), *args).compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}
    )
    call = str(compiled).replace(":", "\\:")
    generated = (
        sa.select(sa.text(f"{call} AS ({', '.join(names)})"))
        .select_from(table)
        .where(*where)
        .subquery("wk_stacked")
    )
    f: sa.ColumnClause[Any] = sa.column("f")
    vs: list[sa.ColumnClause[Any]] = [sa.column(n) for n in names[1:]]
    # a row's value is in its type's column, the others NULL; NaN is missing (above +inf)
    present = sa.or_(
        *[
            sa.and_(v.is_not(None), v <= double(math.inf))
            if isinstance(kinds[k], sa.Float)
            else v.is_not(None)
            for v, k in zip(vs, slots, strict=True)
        ]
    )
    return (
        sa.select(f, *vs, sa.func.count().label("n"))
        .select_from(generated)
        .where(present)
        .group_by(f, *vs)
        .subquery("wk_all")
    )


def _from_levels(
    name: str,
    found: Sequence[tuple[Any, int, int, int]],
    *,
    rows: int,
    max_categories: int,
    high_cardinality: int,
    vocabulary_limit: int,
) -> FeatureProfile:
    """A categorical feature's profile from its most frequent (value, count, distinct,
    present) rows; ties re-sorted as in memory (by type, then ``repr``)."""
    cardinality = found[0][2] if found else 0
    total = found[0][3] if found else 0
    pairs = sorted(((v, c) for v, c, _, _ in found), key=lambda p: (-p[1], _sort_key(p[0])))
    k = min(max_categories, len(pairs))
    top = pairs[:k]
    shown = sum(c for _, c in top)
    other = [v for v, _ in pairs[k:vocabulary_limit]]
    return FeatureProfile(
        name,
        CATEGORICAL,
        (*(c for _, c in top), total - shown, 0, rows - total),
        categories=tuple(v for v, _ in top),
        other=tuple(other),
        vocabulary_complete=cardinality <= vocabulary_limit,
        cardinality=cardinality,
        high_cardinality=cardinality > high_cardinality,
    )
