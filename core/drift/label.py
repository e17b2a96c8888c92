"""Label drift: has the distribution of the true class moved?

A class-prior shift shows in the labels before anything else can confirm it, and a concept
change often moves them too. The labels are drift-tested like a categorical feature — the
same counts, PSI, chi-square and decision — but only on the rows whose label is known: a
window's row count is its number of labels, so a window whose labels have not arrived yet
reads ``insufficient`` instead of drifting on the few early ones. Labels that arrived after
``as_of`` are not known then and are left out.

The result is a :class:`~watchkeeper.core.drift.result.FeatureDrift` of kind ``"label"``,
aligned with the windows of the feature drift it joins.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.core.drift.result import DriftResult, FeatureWindow, WindowTable
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import WindowSpec

__all__ = ["LABEL_KIND", "known_labels", "label_drift", "with_label_drift"]

#: The ``kind`` of the label's entry among a drift result's features.
LABEL_KIND = "label"
#: Its name there (the telemetry role it comes from).
LABEL_NAME = "label"


def known_labels(table: pa.Table, as_of: dt.datetime | None = None) -> pa.Table:
    """``ts`` and ``label`` (as text) of the rows whose label was known at ``as_of``.

    A row without ``label_ts`` counts its label as known when the event happened.
    """
    keep = pc.is_valid(table.column("label"))
    if as_of is not None and "label_ts" in table.column_names:
        arrived = pc.less(table.column("label_ts"), pa.scalar(as_of, pa.timestamp("us", "UTC")))
        keep = pc.and_(keep, pc.fill_null(arrived, True))
    rows = table.filter(keep)
    return pa.table(
        {"ts": rows.column("ts"), LABEL_NAME: pc.cast(rows.column("label"), pa.string())}
    )


def label_drift(
    reference: pa.Table,
    current: pa.Table,
    *,
    window: WindowSpec,
    settings: DriftSection | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> DriftResult:
    """The drift of the labels alone, on labelled rows only (tables from :func:`known_labels`)."""
    from watchkeeper.core.drift.engine import analyze_drift

    return analyze_drift(
        reference,
        current,
        window=window,
        features=[LABEL_NAME],
        categorical=[LABEL_NAME],
        start=start,
        end=end,
        settings=settings,
        prediction=None,
        order_by=None,
        multivariate=False,
    )


def _blank(template: FeatureWindow, index: int) -> FeatureWindow:
    """A window with no label known: nothing to test."""
    cleared = {
        f.name: None
        for f in dataclasses.fields(FeatureWindow)
        if f.name not in ("index", "decision", "rows")
    }
    return dataclasses.replace(template, **cleared, index=index, decision="insufficient", rows=0)


def with_label_drift(result: DriftResult, labels: DriftResult) -> DriftResult:
    """``result`` with the label's drift appended as a feature of kind ``"label"``.

    The label's windows are matched to ``result``'s by their start; a window of ``result``
    with no labelled row at all gets an ``insufficient`` cell.
    """
    if not labels.features:
        return result
    label = labels.features[0]
    by_start: dict[Any, int] = {w.start: i for i, w in enumerate(labels.windows)}
    shifts: set[int] = set()
    windows: list[FeatureWindow] = []
    counts = np.zeros((len(result.windows), label.counts.shape[1]), dtype=label.counts.dtype)
    for i, w in enumerate(result.windows):
        j = by_start.get(w.start)
        if j is None or j >= len(label.windows):
            windows.append(_blank(label.windows[0], i) if label.windows else _none(i))
            continue
        windows.append(dataclasses.replace(label.windows[j], index=i))
        counts[i] = label.counts[j]
        shifts.add(i - j)
    onset = label.onset
    if onset is not None:  # by window index: move it onto result's windows, if unambiguous
        (shift,) = shifts if len(shifts) == 1 else (None,)
        onset = (
            None
            if shift is None
            else dataclasses.replace(
                onset,
                start=onset.start + shift,
                peak=onset.peak + shift,
                end=None if onset.end is None else onset.end + shift,
            )
        )
    # the series were cut on the label's own windows (fewer where labels lag): derive them
    # again from the aligned windows, or views stack rows of different lengths
    entry = dataclasses.replace(
        label,
        kind=LABEL_KIND,
        windows=WindowTable.of(windows),
        counts=counts,
        onset=onset,
        psi_series=None,
        decision_series=None,
    )
    return dataclasses.replace(result, features=(*result.features, entry))


def _none(index: int) -> FeatureWindow:
    values: dict[str, Any] = {f.name: None for f in dataclasses.fields(FeatureWindow)}
    values.update(index=index, decision="insufficient", rows=0)
    return FeatureWindow(**values)
