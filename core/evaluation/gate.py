"""The promotion gate: does the challenger meet the monitor spec's ``[gate]`` policy?

Criteria (each listed in the result with its type, target, value, threshold and outcome;
``id`` is ``type:target``):

``min_labeled:shadow``
    labeled requests scored by both versions ≥ ``min_labeled``.
``improvement:<primary_metric>``
    the challenger's improvement of the primary metric (challenger − champion; champion −
    challenger for a loss) ≥ ``min_improvement``.
``significance:<primary_metric>``
    the lower end of the improvement's two-sided ``1 − alpha`` interval (DeLong for ROC AUC,
    paired bootstrap otherwise) > 0.
``critical_slice:<slice>``
    for every slice marked ``critical``: the change of the primary metric on the slice ≥
    ``−max_critical_slice_drop`` (point estimate; the interval is in ``detail``). A slice
    without enough labeled events to compute the metric fails: no regression can be ruled out.
``latency_p95:<column>``
    when ``max_latency_p95_ms`` is set: the challenger's 95th percentile ≤ the budget.
``expected_cost:cost_matrix``
    when both costs are set: the challenger's expected cost per labeled request ≤ the
    champion's.

:meth:`GateResult.to_evidence` gives the evidence document an approval record stores:
canonical JSON (:func:`watchkeeper.core.evidence.canonical_json`) and its digest. It holds
no wall-clock time, so the same data and policy give the same digest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from watchkeeper.core.evaluation.compare import (
    Comparison,
    compare,
    join_shadow,
    require_request_ids,
)
from watchkeeper.core.evaluation.intervals import BOOT_EVENTS, Estimate
from watchkeeper.core.evaluation.metrics import HIGHER_IS_BETTER, EvaluationError
from watchkeeper.core.evaluation.predicates import SlicePredicate, predicates_from_spec
from watchkeeper.core.evidence import canonical_json, digest

__all__ = [
    "EVIDENCE_KIND",
    "Criterion",
    "Evidence",
    "GateResult",
    "KnownGate",
    "ShadowPairs",
    "comparison_key",
    "evaluate_gate",
    "gate_from_spec",
    "gate_of_pairs",
    "pairing_margin",
    "pairs_fingerprint",
    "read_pair_rows",
    "read_shadow_pairs",
]

EVIDENCE_KIND = "watchkeeper-gate-evidence"
EVIDENCE_VERSION = 1


@dataclass(frozen=True)
class Criterion:
    """One criterion of the gate. ``comparison`` is how value meets threshold (``>=``...)."""

    type: str
    target: str
    value: float | None
    threshold: float | None
    comparison: str
    passed: bool
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.type}:{self.target}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "target": self.target,
            "value": self.value,
            "threshold": self.threshold,
            "comparison": self.comparison,
            "passed": self.passed,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class Evidence:
    """The evidence document, its canonical JSON text and its digest (``sha256:...``)."""

    document: Mapping[str, Any]
    text: str
    digest: str


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict with every criterion and what it was computed from."""

    model: str
    champion: str
    challenger: str
    window: tuple[dt.datetime | None, dt.datetime | None]
    policy: Mapping[str, Any]
    criteria: tuple[Criterion, ...]
    comparison: Comparison
    inputs: Mapping[str, Any]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria)

    @property
    def failed(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if not c.passed)

    def criterion(self, id_: str) -> Criterion:
        for c in self.criteria:
            if c.id == id_:
                return c
        raise KeyError(id_)

    def document(self) -> dict[str, Any]:
        return {
            "kind": EVIDENCE_KIND,
            "version": EVIDENCE_VERSION,
            "model": self.model,
            "champion": self.champion,
            "challenger": self.challenger,
            "window": {"start": self.window[0], "end": self.window[1]},
            "policy": dict(self.policy),
            "passed": self.passed,
            "criteria": [c.to_dict() for c in self.criteria],
            "statistics": self.comparison.to_dict(),
            "inputs": dict(self.inputs),
        }

    def to_evidence(self) -> Evidence:
        doc = self.document()
        return Evidence(MappingProxyType(doc), canonical_json(doc), digest(doc))


def _oriented(metric: str, est: Estimate) -> tuple[float | None, float | None, float | None]:
    """(improvement, lower, upper) with "bigger is better" whatever the metric."""
    if est.value is None:
        return None, None, None
    if HIGHER_IS_BETTER[metric]:
        return est.value, est.lower, est.upper
    flip = lambda x: None if x is None else -x  # noqa: E731
    return -est.value, flip(est.upper), flip(est.lower)


def evaluate_gate(
    comparison: Comparison,
    policy: Any,
    *,
    model: str,
    champion: str,
    challenger: str,
    window: tuple[dt.datetime | None, dt.datetime | None] = (None, None),
    inputs: Mapping[str, Any] | None = None,
) -> GateResult:
    """The criteria of ``policy`` (a :class:`~watchkeeper.core.spec.GateSection`) on a comparison.

    The comparison must have been made at ``1 − policy.alpha`` confidence, with the primary
    metric among its metrics and as its slice metric (``gate_from_spec`` does this).
    """
    metric = policy.primary_metric
    if metric not in comparison.differences:
        raise EvaluationError(f"the comparison has no {metric!r} difference to gate on")
    criteria: list[Criterion] = []
    criteria.append(
        Criterion(
            "min_labeled",
            "shadow",
            float(comparison.labeled),
            float(policy.min_labeled),
            ">=",
            comparison.labeled >= policy.min_labeled,
            MappingProxyType(
                {"pairs": comparison.pairs}
                if comparison.classes  # a multiclass model has no positive class
                else {"pairs": comparison.pairs, "positives": comparison.positives}
            ),
        )
    )
    diff = comparison.differences[metric]
    value, lower, upper = _oriented(metric, diff)
    detail = MappingProxyType(
        {
            "champion": comparison.champion[metric].value,
            "challenger": comparison.challenger[metric].value,
            "lower": lower,
            "upper": upper,
            "confidence": comparison.confidence,
            "method": diff.method,
            "p_value": comparison.delong_p if metric == "roc_auc" else None,
        }
    )
    criteria.append(
        Criterion(
            "improvement",
            metric,
            value,
            float(policy.min_improvement),
            ">=",
            value is not None and value >= policy.min_improvement,
            detail,
        )
    )
    criteria.append(
        Criterion(
            "significance",
            metric,
            lower,
            0.0,
            ">",
            lower is not None and lower > 0.0,
            detail,
        )
    )
    for sd in comparison.slices:
        if not sd.predicate.critical:
            continue
        v, lo, hi = _oriented(metric, sd.difference)
        limit = -float(policy.max_critical_slice_drop)
        criteria.append(
            Criterion(
                "critical_slice",
                sd.predicate.label,
                v,
                limit,
                ">=",
                v is not None and v >= limit,
                MappingProxyType(
                    {
                        "slice": sd.predicate.name,
                        "metric": metric,
                        "champion": sd.champion,
                        "challenger": sd.challenger,
                        "lower": lo,
                        "upper": hi,
                        "labeled": sd.labeled,
                        "positives": sd.positives,
                        "p_value": sd.p_value,
                        "note": None if v is not None else "too few labeled events",
                    }
                ),
            )
        )
    budget = getattr(policy, "max_latency_p95_ms", None)
    if budget is not None:
        lat = comparison.latency_p95 or {}
        v = lat.get("challenger")
        criteria.append(
            Criterion(
                "latency_p95",
                str(lat.get("column", getattr(policy, "latency_column", "latency_ms"))),
                v,
                float(budget),
                "<=",
                v is not None and v <= budget,
                MappingProxyType({"champion": lat.get("champion")}),
            )
        )
    if comparison.expected_cost is not None:
        cost = comparison.expected_cost
        d = cost["difference"]
        criteria.append(
            Criterion(
                "expected_cost",
                "cost_matrix",
                d["value"],
                0.0,
                "<=",
                d["value"] is not None and d["value"] <= 0.0,
                MappingProxyType({k: cost[k] for k in cost if k != "difference"} | {"ci": d}),
            )
        )
    return GateResult(
        model=model,
        champion=str(champion),
        challenger=str(challenger),
        window=window,
        policy=MappingProxyType(policy.model_dump(mode="json")),
        criteria=tuple(criteria),
        comparison=comparison,
        inputs=MappingProxyType(dict(inputs or {})),
    )


def data_summary(joined: Any, outcomes: Any = None) -> dict[str, Any]:
    """What the joined data was, in numbers a later reader can check, with its digest.

    Not a digest of every value (that would cost a full serialisation): counts, sums and
    the first and last request id of the joined, request-ordered pairs. ``outcomes``: a
    multiclass model's :class:`~.multiclass_slices.ClassColumns` (then the counts are per
    class and the sums per class probability).
    """
    import numpy as np

    from watchkeeper.core.evaluation.metrics import float_array

    ids = joined.column("request_id")
    if outcomes is None:
        y = float_array(joined.column("label"), "label")
        a = float_array(joined.column("score_a"), "score")
        b = float_array(joined.column("score_b"), "score")
        # sums of the finite scores: an inf and a -inf made the sum NaN, which the evidence
        # digest refuses (the gate failed on any engine); NaN was left out already
        counts: dict[str, Any] = {
            "labeled": int((~np.isnan(y)).sum()),
            "positives": int(np.nansum(y)),
            "score_sum_champion": float(a[np.isfinite(a)].sum()),
            "score_sum_challenger": float(b[np.isfinite(b)].sum()),
        }
    else:
        from watchkeeper.core.evaluation.multiclass_compare import paired_outcomes

        codes, pa_, pb_, _, _ = paired_outcomes(joined, outcomes)
        counts = {
            "labeled": int(np.isfinite(codes).sum()),
            "label_counts": [int((codes == j).sum()) for j in range(len(outcomes.classes))],
            "probability_sums_champion": [float(v) for v in _finite_sums(pa_)],
            "probability_sums_challenger": [float(v) for v in _finite_sums(pb_)],
        }
    summary = {
        "pairs": joined.num_rows,
        **counts,
        "first_request_id": None if not joined.num_rows else str(ids[0].as_py()),
        "last_request_id": None if not joined.num_rows else str(ids[-1].as_py()),
    }
    return {**summary, "digest": digest(summary)}


def _finite_sums(p: Any) -> Any:
    """Column sums of the finite values (NaN and ±inf left out: a digest has no NaN)."""
    import numpy as np

    return np.where(np.isfinite(p), p, 0.0).sum(axis=0)


def pairs_fingerprint(joined: pa.Table) -> str:
    """A digest of every value of the joined pairs (unlike :func:`data_summary`'s counts):
    equal for equal tables however they are chunked. Each column is hashed as its validity
    and its values with the missing ones filled, in Arrow's IPC layout (offsets from zero,
    no bytes beyond a slice), so what lies under a missing value does not count."""
    import hashlib

    import pyarrow.compute as pc

    h = hashlib.blake2b(digest_size=20)
    h.update(canonical_json([[f.name, str(f.type)] for f in joined.schema]).encode())
    h.update(str(joined.num_rows).encode())
    for column in joined.columns:
        arrays = []
        if column.null_count:
            arrays.append(column.is_valid())
            column = pc.fill_null(column, pa.scalar(_filler(column.type), column.type))
        arrays.append(column)
        batch = pa.table(
            [a.combine_chunks() for a in arrays], names=[str(i) for i in range(len(arrays))]
        ).combine_chunks()
        for rb in batch.to_batches():
            h.update(memoryview(rb.serialize()))
    return "blake2b:" + h.hexdigest()


def _filler(type_: pa.DataType) -> Any:
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return ""
    if pa.types.is_binary(type_) or pa.types.is_large_binary(type_):
        return b""
    if pa.types.is_boolean(type_):
        return False
    return 0  # numbers, and times as their integer


def comparison_key(
    spec: Any, pairs: ShadowPairs, *, policy: Any = None, n_boot: int = 500, seed: int = 0
) -> str | None:
    """What :func:`gate_of_pairs`'s comparison of these pairs rests on — every value of the
    pairs, the policy, the slices, the bootstrap's replicates and seed — as one digest; None
    for a multiclass model's pairs (never taken from another computation) and for pairs
    sampled in the database. Two gates with the same key have the same comparison."""
    if pairs.outcomes is not None or pairs.pairs_in_database is not None:
        return None
    policy = policy or spec.gate
    return digest(
        {
            "pairs": pairs_fingerprint(pairs.joined),
            "policy": policy.model_dump(mode="json"),
            "slices": [p.to_dict() for p in predicates_from_spec(spec)],
            "bootstrap": {"replicates": n_boot, "seed": seed},
        }
    )


@dataclass(frozen=True)
class KnownGate:
    """A gate computed already (the Champion vs challenger view's) with its
    :func:`comparison_key`: a gate of pairs with the same key takes its comparison."""

    key: str
    gate: GateResult


def gate_from_spec(
    spec: Any,
    *,
    champion: str,
    challenger: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    policy: Any = None,
    source: Any = None,
    n_boot: int = 500,
    seed: int = 0,
    in_database: bool | None = None,
    known: KnownGate | None = None,
) -> GateResult:
    """Read the shadow pairs of a spec's telemetry and run its gate (or ``policy``).

    ``in_database`` (default: on a warehouse engine, ``SqlSource.warehouse``) pairs the rows
    in the database (:func:`~.compare_sql.shadow_pairs_sql`: one JOIN, at most
    :data:`~.compare_sql.PAIR_ROWS` pairs back) instead of reading both versions' rows.

    The window defaults to the challenger's rows (the shadow period): from its first event
    to just after its last. ``source`` may be an open telemetry source (default: the spec's).
    ``known``: a gate computed already; when these pairs, policy and bootstrap are the ones
    it rests on (the same :func:`comparison_key`), its comparison is taken, not computed
    again — the same numbers (the window and data summary are these pairs' own).
    """
    pairs = read_shadow_pairs(
        spec,
        champion=champion,
        challenger=challenger,
        start=start,
        end=end,
        policy=policy,
        source=source,
        in_database=in_database,
    )
    earlier = None
    if known is not None and known.key == comparison_key(
        spec, pairs, policy=policy, n_boot=n_boot, seed=seed
    ):
        earlier = known.gate
    return gate_of_pairs(spec, pairs, policy=policy, n_boot=n_boot, seed=seed, earlier=earlier)


@dataclass(frozen=True)
class ShadowPairs:
    """The joined shadow pairs a gate is decided on (:func:`read_shadow_pairs`)."""

    joined: pa.Table
    champion: str
    challenger: str
    start: dt.datetime
    end: dt.datetime
    description: str
    # a multiclass model's ClassColumns (its probabilities and class per version), else None
    outcomes: Any = None
    # paired in the database and sampled there: how many pairs it held (else None)
    pairs_in_database: int | None = None


def read_shadow_pairs(
    spec: Any,
    *,
    champion: str,
    challenger: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    policy: Any = None,
    source: Any = None,
    carry: Sequence[str] = (),
    in_database: bool | None = None,
    read_lock: AbstractContextManager[Any] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ShadowPairs:
    """Read and join the two versions' rows once: what the gate needs, plus ``carry``
    (champion-row columns the caller also wants, e.g. a report's slice columns).
    ``in_database``: see :func:`gate_from_spec` (a binary model's pairs only).
    ``read_lock``: held around the source's reads only, not the join of what was read, so
    another reader waits for the read alone; ``cancelled`` is checked between the steps, so
    a run cancelled while reading gives way before it joins."""
    from watchkeeper.core.evaluation.data import open_spec_source, version_time_range
    from watchkeeper.core.evaluation.multiclass_slices import ClassColumns
    from watchkeeper.core.progress import check_cancelled

    policy = policy or spec.gate
    predicates: Sequence[SlicePredicate] = predicates_from_spec(spec)
    slice_columns = [c for p in predicates for c in p.columns]
    latency = policy.latency_column if policy.max_latency_p95_ms is not None else None
    margin = pairing_margin(policy)
    own = source is None
    check_cancelled(cancelled)
    with read_lock if read_lock is not None else contextlib.nullcontext():
        check_cancelled(cancelled)  # cancelled while waiting for the lock
        src = open_spec_source(spec) if own else source
        try:
            model = spec.model.name
            pushed = bool(getattr(src, "warehouse", False)) if in_database is None else in_database
            if start is None or end is None:
                span = (
                    _version_span_sql(src, model, challenger)
                    if pushed
                    else version_time_range(src, model, challenger)
                )
                if span is None:
                    raise EvaluationError(
                        f"{model}: version {challenger!r} has no rows in {src.description}; "
                        "is it the challenger's version?"
                    )
                start = start or span[0]
                end = end or span[1]
            check_cancelled(cancelled)
            have = src.schema().names
            require_request_ids(model, have, "the promotion gate")
            outcomes = ClassColumns.of_spec(spec, have)
            # what each version said: a score, or a multiclass model's probabilities and class
            outputs = ["score"] if outcomes is None else outcomes.columns()[1:]
            columns = ["request_id", "model_version", *outputs, "label", *slice_columns]
            if latency:
                columns.append(latency)
            columns += carry
            sql_pairs = None
            if pushed and outcomes is None:
                from watchkeeper.core.evaluation.compare_sql import shadow_pairs_sql

                sql_pairs = shadow_pairs_sql(
                    src,
                    model=model,
                    champion=champion,
                    challenger=challenger,
                    start=start,
                    end=end,
                    carry=list(dict.fromkeys([*slice_columns, *carry])),
                    per_version=[latency] if latency else [],
                    margin=margin,
                )
            else:
                table = read_pair_rows(
                    src,
                    model=model,
                    champion=champion,
                    challenger=challenger,
                    start=start,
                    end=end,
                    columns=list(dict.fromkeys(columns)),
                    margin=margin,
                )
            description = src.description
        finally:
            if own:
                src.close()
    check_cancelled(cancelled)  # read; the join below needs no lock
    if sql_pairs is not None:
        joined = sql_pairs.table
    else:
        joined = join_shadow(
            table,
            champion,
            challenger,
            carry=list(dict.fromkeys([*slice_columns, *carry])),
            per_version=[latency] if latency else [],
            outputs=outputs,
        )
    check_cancelled(cancelled)
    if joined.num_rows == 0:
        raise EvaluationError(
            f"{model}: no request was scored by both version {champion!r} and version "
            f"{challenger!r} between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
        )
    if outcomes is None:
        from watchkeeper.core.evaluation.metrics import refuse_odd_labels

        # a 2 would be scored as a wrong answer of both versions and the gate decided on it;
        # refused as performance and slices refuse it, on either engine in the same words
        refuse_odd_labels(joined.column("label"), spec.telemetry.columns.label)
    sampled = sql_pairs is not None and sql_pairs.sampled
    return ShadowPairs(
        joined,
        str(champion),
        str(challenger),
        start,
        end,
        description,
        outcomes,
        sql_pairs.total if sampled and sql_pairs is not None else None,
    )


def pairing_margin(policy: Any) -> dt.timedelta:
    """How far beyond a shadow window the champion's rows are read (``[gate]
    pairing_margin``)."""
    return dt.timedelta(microseconds=policy.pairing_margin.step_us)


def read_pair_rows(
    source: Any,
    *,
    model: str | None,
    champion: str,
    challenger: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    columns: Sequence[str],
    margin: dt.timedelta,
    cancelled: Callable[[], bool] | None = None,
) -> pa.Table:
    """Both versions' rows a pairing joins (``columns`` of each): the challenger's of
    ``[start, end)`` — the shadow window says which requests are compared — and the
    champion's from ``margin`` before ``start`` to ``margin`` after ``end``. A shadow
    deployment that scores asynchronously logs its row seconds to hours after the
    champion's; read within the window alone, the first requests' champion rows fall
    before it and those requests lose their pairs (as :func:`.compare_sql.shadow_pairs_sql`
    selects in the database)."""
    import pyarrow.compute as pc

    from watchkeeper.core.evaluation.data import read_events

    names = list(dict.fromkeys(columns))
    if not margin or (start is None and end is None) or "ts" not in source.schema().names:
        return read_events(
            source,
            model=model,
            versions=[champion, challenger],
            start=start,
            end=end,
            columns=names,
            cancelled=cancelled,
        )
    table = read_events(
        source,
        model=model,
        versions=[champion, challenger],
        start=None if start is None else start - margin,
        end=None if end is None else end + margin,
        columns=list(dict.fromkeys([*names, "model_version", "ts"])),
        cancelled=cancelled,
    )
    version = table.column("model_version")
    if not pa.types.is_string(version.type):
        version = pc.cast(version, pa.string())
    ts = table.column("ts")
    bounds = []
    if start is not None:
        bounds.append(pc.greater_equal(ts, pa.scalar(start, ts.type)))
    if end is not None:
        bounds.append(pc.less(ts, pa.scalar(end, ts.type)))
    inside = bounds[0] if len(bounds) == 1 else pc.and_(*bounds)
    # the champion's row anywhere in the margin; the challenger's within the window only
    keep = pc.or_kleene(pc.not_equal(version, str(challenger)), inside)
    return table.filter(pc.fill_null(keep, False)).select(names)


def gate_of_pairs(
    spec: Any,
    pairs: ShadowPairs,
    *,
    policy: Any = None,
    n_boot: int = 500,
    seed: int = 0,
    primary_only: bool = False,
    earlier: GateResult | None = None,
) -> GateResult:
    """The gate on pairs already read. ``primary_only``: compare the primary metric alone —
    the same criteria (they rest on it, its slices, cost and latency) without the other
    metrics' bootstrap intervals, for a first answer while those are computed. ``earlier``:
    that first answer's gate of these pairs, whose numbers the complete one takes (a
    binary model's; see :func:`~.compare.compare`). A first answer keeps its labeled pairs,
    sorted (``Comparison.prepared``), for the complete gate to take with its data summary."""
    policy = policy or spec.gate
    metric = policy.primary_metric
    outcomes = pairs.outcomes
    latency = policy.latency_column if policy.max_latency_p95_ms is not None else None
    predicates = predicates_from_spec(spec)
    if outcomes is not None:
        from watchkeeper.core.evaluation.multiclass import MULTICLASS_METRICS
        from watchkeeper.core.evaluation.multiclass_compare import compare_multiclass_pairs

        comparison = compare_multiclass_pairs(
            pairs.joined,
            outcomes,
            metrics=(metric,)
            if primary_only
            else tuple(dict.fromkeys((metric, *MULTICLASS_METRICS))),
            slices=predicates,
            slice_metric=metric,
            latency=latency,
            confidence=1.0 - policy.alpha,
            n_boot=n_boot,
            seed=seed,
        )
    else:
        metrics = (metric, "roc_auc", "pr_auc", "precision", "recall")
        comparison = compare(
            pairs.joined,
            threshold=policy.threshold,
            metrics=(metric,) if primary_only else tuple(dict.fromkeys(metrics)),
            slices=predicates,
            slice_metric=metric,
            cost_false_positive=policy.cost_false_positive,
            cost_false_negative=policy.cost_false_negative,
            latency=latency,
            confidence=1.0 - policy.alpha,
            n_boot=n_boot,
            seed=seed,
            earlier=earlier.comparison if earlier is not None else None,
            keep_prepared=primary_only,
        )
    first = earlier is not None and earlier.comparison.prepared is not None
    inputs: dict[str, Any] = {
        "source": pairs.description,
        # a first answer's (of these pairs, read once) is not summed again
        "data": dict(earlier.inputs["data"])
        if first and earlier is not None
        else data_summary(pairs.joined, outcomes),
        "bootstrap": {"replicates": n_boot, "seed": seed},
    }
    if outcomes is None and comparison.labeled > BOOT_EVENTS:
        # the evidence says when its intervals came from the bounded bootstrap
        inputs["bootstrap"]["events"] = BOOT_EVENTS
    if pairs.pairs_in_database is not None:
        inputs["sample"] = {
            "pairs_in_database": pairs.pairs_in_database,
            "pairs_read": pairs.joined.num_rows,
        }
    return evaluate_gate(
        comparison,
        policy,
        model=spec.model.name,
        champion=pairs.champion,
        challenger=pairs.challenger,
        window=(pairs.start, pairs.end),
        inputs=inputs,
    )


def _version_span_sql(src: Any, model: str, version: str) -> tuple[dt.datetime, dt.datetime] | None:
    """:func:`~.data.version_time_range` as one ``min/max`` in the database."""
    from watchkeeper.core.drift.sql_counts import time_range_sql
    from watchkeeper.core.evaluation.slice_sql import slice_query, sql_parts
    from watchkeeper.core.times import us_to_datetime

    engine, _ = sql_parts(src)
    with engine.connect() as conn:
        table, clauses, col = slice_query(conn, src, None, model=model, versions=[version])
        import sqlalchemy as sa

        lo, hi, _n = time_range_sql(conn, table, col("ts").name, sa.and_(*clauses))
    if lo is None or hi is None:
        return None
    return us_to_datetime(lo), us_to_datetime(hi + 1)
