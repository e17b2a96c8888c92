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

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from watchkeeper.core.evaluation.compare import (
    Comparison,
    compare,
    join_shadow,
    require_request_ids,
)
from watchkeeper.core.evaluation.intervals import Estimate
from watchkeeper.core.evaluation.metrics import HIGHER_IS_BETTER, EvaluationError
from watchkeeper.core.evaluation.predicates import SlicePredicate, predicates_from_spec
from watchkeeper.core.evidence import canonical_json, digest

__all__ = [
    "EVIDENCE_KIND",
    "Criterion",
    "Evidence",
    "GateResult",
    "evaluate_gate",
    "gate_from_spec",
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
            MappingProxyType({"pairs": comparison.pairs, "positives": comparison.positives}),
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


def data_summary(joined: Any) -> dict[str, Any]:
    """What the joined data was, in numbers a later reader can check, with its digest.

    Not a digest of every value (that would cost a full serialisation): counts, sums and
    the first and last request id of the joined, request-ordered pairs.
    """
    import numpy as np

    from watchkeeper.core.evaluation.metrics import float_array

    y = float_array(joined.column("label"), "label")
    a = float_array(joined.column("score_a"), "score")
    b = float_array(joined.column("score_b"), "score")
    ids = joined.column("request_id")
    summary = {
        "pairs": joined.num_rows,
        "labeled": int((~np.isnan(y)).sum()),
        "positives": int(np.nansum(y)),
        "score_sum_champion": float(np.nansum(a)),
        "score_sum_challenger": float(np.nansum(b)),
        "first_request_id": None if not joined.num_rows else str(ids[0].as_py()),
        "last_request_id": None if not joined.num_rows else str(ids[-1].as_py()),
    }
    return {**summary, "digest": digest(summary)}


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
) -> GateResult:
    """Read the shadow pairs of a spec's telemetry and run its gate (or ``policy``).

    ``in_database`` (default: on a warehouse engine, ``SqlSource.warehouse``) pairs the rows
    in the database (:func:`~.compare_sql.shadow_pairs_sql`: one JOIN, at most
    :data:`~.compare_sql.PAIR_ROWS` pairs back) instead of reading both versions' rows.

    The window defaults to the challenger's rows (the shadow period): from its first event
    to just after its last. ``source`` may be an open telemetry source (default: the spec's).
    """
    from watchkeeper.core.evaluation.data import open_spec_source, read_events, version_time_range

    policy = policy or spec.gate
    predicates: Sequence[SlicePredicate] = predicates_from_spec(spec)
    slice_columns = [c for p in predicates for c in p.columns]
    latency = policy.latency_column if policy.max_latency_p95_ms is not None else None
    own = source is None
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
        require_request_ids(model, src.schema().names, "the promotion gate")
        columns = ["request_id", "model_version", "score", "label", *slice_columns]
        if latency:
            columns.append(latency)
        pairs = None
        if pushed:
            from watchkeeper.core.evaluation.compare_sql import shadow_pairs_sql

            pairs = shadow_pairs_sql(
                src,
                model=model,
                champion=champion,
                challenger=challenger,
                start=start,
                end=end,
                carry=list(dict.fromkeys(slice_columns)),
                per_version=[latency] if latency else [],
            )
        else:
            table = read_events(
                src,
                model=model,
                versions=[champion, challenger],
                start=start,
                end=end,
                columns=columns,
            )
        description = src.description
    finally:
        if own:
            src.close()
    if pairs is not None:
        joined = pairs.table
    else:
        joined = join_shadow(
            table,
            champion,
            challenger,
            carry=list(dict.fromkeys(slice_columns)),
            per_version=[latency] if latency else [],
        )
    if joined.num_rows == 0:
        raise EvaluationError(
            f"{model}: no request was scored by both version {champion!r} and version "
            f"{challenger!r} between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
        )
    metric = policy.primary_metric
    comparison = compare(
        joined,
        threshold=policy.threshold,
        metrics=tuple(dict.fromkeys((metric, "roc_auc", "pr_auc", "precision", "recall"))),
        slices=predicates,
        slice_metric=metric,
        cost_false_positive=policy.cost_false_positive,
        cost_false_negative=policy.cost_false_negative,
        latency=latency,
        confidence=1.0 - policy.alpha,
        n_boot=n_boot,
        seed=seed,
    )
    inputs: dict[str, Any] = {
        "source": description,
        "data": data_summary(joined),
        "bootstrap": {"replicates": n_boot, "seed": seed},
    }
    if pairs is not None and pairs.sampled:
        inputs["sample"] = {"pairs_in_database": pairs.total, "pairs_read": joined.num_rows}
    return evaluate_gate(
        comparison,
        policy,
        model=model,
        champion=champion,
        challenger=challenger,
        window=(start, end),
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
