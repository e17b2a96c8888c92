"""The multiclass world (``multiclass_world``) with a challenger in shadow.

Version ``1`` (the champion) scores every request; version ``2`` scores the same requests
(same ``request_id``) from ``SHADOW_DAY`` to ``SHADOW_END``, after the class-prior shift.
The challenger's probabilities are the posteriors under the *shifted* priors — the better
model once the priors moved — except, with ``worse_on``, on the requests of that channel,
where it is planted worse (half its probability is noise): better overall, worse on
that critical slice.

The spec marks ``channel = "branch"`` a critical slice and gates on macro-F1.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from multiclass_world import CLASSES, SHIFTED, START, events, posteriors

SHADOW_DAY = 44
SHADOW_END = 58

SPEC = """\
[model]
name = "triage"
task = "multiclass"

[telemetry]
source = "../telemetry.parquet"

[telemetry.columns]
model = ""
prediction = "predicted_tier"
label = "true_tier"
label_ts = "resolved_at"
features = ["x1", "x2", "channel"]
categorical = ["channel"]
class_probabilities = { low = "p_low", medium = "p_medium", high = "p_high" }

[reference]
kind = "window"
version = "1"
start = 2026-01-01
end = 2026-02-01

[drift]
window = "7d"

[gate]
primary_metric = "macro_f1"
min_labeled = 500
max_critical_slice_drop = 0.02

[health]
window = "7d"
metric = "macro_f1"
min_labeled = 200

[[slices]]
name = "branch"
where = { channel = "branch" }
critical = true

[[slices]]
name = "web"
where = { channel = "web" }
"""


def shadow_events(worse_on: str | None = None, seed: int = 7) -> pa.Table:
    champion = events()
    champion = champion.append_column("model_version", pa.array(["1"] * champion.num_rows))
    ts = champion.column("ts")
    lo = pa.scalar(START + dt.timedelta(days=SHADOW_DAY), pa.timestamp("us", tz="UTC"))
    hi = pa.scalar(START + dt.timedelta(days=SHADOW_END), pa.timestamp("us", tz="UTC"))
    shadow = champion.filter(pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi)))
    x = np.column_stack([shadow.column("x1").to_numpy(), shadow.column("x2").to_numpy()])
    p = posteriors(x, SHIFTED)
    if worse_on is not None:
        rng = np.random.default_rng(seed)
        bad = np.asarray(shadow.column("channel").to_pylist()) == worse_on
        noise = rng.dirichlet(np.ones(3), int(bad.sum()))
        p[bad] = 0.5 * p[bad] + 0.5 * noise
    names = np.array(CLASSES)
    for j, column in enumerate(("p_low", "p_medium", "p_high")):
        shadow = shadow.set_column(shadow.schema.get_field_index(column), column, pa.array(p[:, j]))
    i = shadow.schema.get_field_index("predicted_tier")
    shadow = shadow.set_column(i, "predicted_tier", pa.array(names[p.argmax(axis=1)].tolist()))
    shadow = shadow.set_column(
        shadow.schema.get_field_index("model_version"),
        "model_version",
        pa.array(["2"] * shadow.num_rows),
    )
    return pa.concat_tables([champion, shadow])


def write_shadow_workspace(root: Path, worse_on: str | None = None) -> Path:
    """``root/telemetry.parquet`` (both versions) and ``root/specs/triage.toml``."""
    (root / "specs").mkdir(parents=True, exist_ok=True)
    pq.write_table(shadow_events(worse_on), root / "telemetry.parquet")
    spec = root / "specs" / "triage.toml"
    spec.write_text(SPEC, encoding="utf-8")
    return spec
