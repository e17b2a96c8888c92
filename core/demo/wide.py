"""The wide demo: one model with hundreds of features and a year of daily history.

``watchkeeper demo --wide`` builds it; the benchmarks and the UI tests of the Drift view at
width use it. Real models have hundreds of features and a long history, and a view tuned
on the nine-feature demo can be illegible or slow at that width, so this workspace exists to
measure and look at exactly that. Layout, like the regular demo's but without a registry
(versions come from the manifest, which a workspace without a registry may also lack)::

    DIR/telemetry.duckdb      one table ``predictions``: the champion's rows and, over the
                              last sixth of the history, a challenger's shadow rows for the
                              same requests, sorted by ts
    DIR/specs/wide-model.toml the monitor spec, the reference is January
    DIR/manifest.json         parameters, the features and the planted drifts (the truth)

Five features drift from a known day: abrupt and gradual shifts of numerical features, a
change of spread, abrupt and gradual changes of a categorical mix. Their onsets are
fractions of the history, so a small fixture (the tests use 120 features × 120 days) plants
the same kinds of change as the full one (500 × 365, the first abrupt shift on Jul 20 and
the gradual one from Aug 12). Everything else is stationary. The data is generated in
blocks of days on per-block random streams, so memory stays bounded by a block whatever
the width and length.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.core.demo import recipe as r
from watchkeeper.core.demo.specs import spec_text
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.evidence import to_jsonable

__all__ = [
    "WIDE_KIND",
    "WIDE_MODEL",
    "WideDemo",
    "WideParams",
    "ensure_wide_workspace",
    "planted_drifts",
]

WIDE_KIND = "watchkeeper-wide-demo-workspace"
WIDE_MODEL = "wide-model"
WIDE_VERSION = "1"
CHALLENGER_VERSION = "2"
WIDE_RECIPE_VERSION = 2
TELEMETRY_FILE, TABLE, MANIFEST_FILE = "telemetry.duckdb", "predictions", "manifest.json"
REFERENCE_DAYS = 31  # January: every onset must come after it
BLOCK_ROWS = 40_000  # rows generated at once; bounds the build's memory at any width
THRESHOLD = 0.5


@dataclass(frozen=True)
class WideParams:
    """What a wide workspace is built from; a change means a rebuild."""

    features: int = 500
    days: int = 365
    events_per_day: int = 2_000
    seed: int = r.SEED

    def __post_init__(self) -> None:
        if not 10 <= self.features <= 5_000:
            raise WatchkeeperError(f"a wide demo has 10 to 5,000 features, got {self.features}")
        if not 90 <= self.days <= 1_000:
            raise WatchkeeperError(f"a wide demo spans 90 to 1,000 days, got {self.days}")
        if not 50 <= self.events_per_day <= 100_000:
            raise WatchkeeperError(
                f"a wide demo has 50 to 100,000 events a day, got {self.events_per_day:,}"
            )

    @property
    def numerical(self) -> int:
        return self.features * 4 // 5

    @property
    def categorical(self) -> int:
        return self.features - self.numerical

    @property
    def shadow_day(self) -> int:
        """The first day the challenger scores in shadow: the last sixth of the history."""
        return self.days - self.days // 6

    def as_dict(self) -> dict[str, Any]:
        return {"features": self.features, "days": self.days, "events_per_day": self.events_per_day}


@dataclass(frozen=True)
class WideDemo:
    root: Path
    manifest: dict[str, Any]
    built: bool
    seconds: float


def feature_names(params: WideParams) -> dict[str, str]:
    """Feature name -> kind, numerical first (``num_000``…), then categorical (``cat_000``…)."""
    names = {f"num_{i:03d}": "numerical" for i in range(params.numerical)}
    names.update({f"cat_{i:03d}": "categorical" for i in range(params.categorical)})
    return names


def planted_drifts(params: WideParams) -> list[dict[str, Any]]:
    """The five planted changes: feature, shape, the day it begins (from 0) and its date."""
    n_num, n_cat, days = params.numerical, params.categorical, params.days
    ramp = max(10, round(days * 30 / 365))
    plan = [
        (f"num_{7:03d}", "numerical", "abrupt", "mean", 200 / 365, 1.0),
        (f"num_{n_num // 3:03d}", "numerical", "gradual", "mean", 223 / 365, 1.5),
        (f"num_{2 * n_num // 3 + 1:03d}", "numerical", "abrupt", "spread", 150 / 365, 2.0),
        (f"cat_{3:03d}", "categorical", "abrupt", "mix", 250 / 365, 0.6),
        (f"cat_{n_cat // 2:03d}", "categorical", "gradual", "mix", 280 / 365, 0.6),
    ]
    out = []
    for name, kind, shape, what, fraction, size in plan:
        day = max(REFERENCE_DAYS + 7, round(days * fraction))
        out.append(
            {
                "id": f"wide-{name}",
                "model": WIDE_MODEL,
                "type": "drift",
                "features": [name],
                "kind": kind,
                "shape": shape,
                "change": what,
                "start_day": day,
                "onset": (r.START + dt.timedelta(days=day)).date().isoformat(),
                "ramp_days": ramp if shape == "gradual" else 0,
                # mean: shift in standard deviations at full size; spread: the sd factor;
                # mix: the probability mass moved to the rarest category
                "size": size,
            }
        )
    return out


def _strength(day: np.ndarray, event: dict[str, Any]) -> np.ndarray:
    """0 before the onset, 1 at full size (at once, or after a linear ramp)."""
    since = day - event["start_day"]
    strength: np.ndarray = (since >= 0).astype(float)
    if event["ramp_days"]:
        strength = strength * np.clip((since + 1) / event["ramp_days"], 0.0, 1.0)
    return strength


def _feature_shapes(params: WideParams) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Per numerical feature its location and scale; per categorical its probabilities."""
    rng = np.random.default_rng([params.seed, 1])
    loc = np.round(rng.normal(0.0, 50.0, params.numerical), 2)
    scale = np.round(rng.uniform(0.5, 20.0, params.numerical), 2)
    probs = [rng.dirichlet(np.full(int(k), 2.0)) for k in rng.integers(3, 9, params.categorical)]
    return loc, scale, probs


def _block(
    params: WideParams,
    first_day: int,
    n_days: int,
    shapes: tuple[np.ndarray, np.ndarray, list[np.ndarray]],
    drifts: list[dict[str, Any]],
    first_id: int,
) -> pa.Table:
    """The rows of days ``first_day .. first_day + n_days``, sorted by ts."""
    rng = np.random.default_rng([params.seed, 2, first_day])
    loc, scale, probs = shapes
    n = n_days * params.events_per_day
    day_offset = np.repeat(np.arange(n_days), params.events_per_day)
    ts = np.sort(
        r.START_US
        + (first_day + day_offset) * r.US_PER_DAY
        + rng.integers(0, r.US_PER_DAY, n, dtype=np.int64)
    )
    day = (ts - r.START_US) // r.US_PER_DAY
    by_name = {e["features"][0]: e for e in drifts}
    columns: dict[str, pa.Array] = {}
    num = rng.standard_normal((params.numerical, n))
    for i in range(params.numerical):
        name = f"num_{i:03d}"
        z = num[i]
        if (e := by_name.get(name)) is not None:
            s = _strength(day, e)
            z = z * (1.0 + (e["size"] - 1.0) * s) if e["change"] == "spread" else z + e["size"] * s
        if i % 3 == 2:  # a skewed one in every three, as real amounts are
            values = np.round(np.exp(z * 0.5) * scale[i], 2)
        else:
            values = np.round(loc[i] + scale[i] * z, 3)
        columns[name] = pa.array(values)
    u = rng.random((params.categorical, n))
    for j, p in enumerate(probs):
        name = f"cat_{j:03d}"
        cdf = np.cumsum(p)
        codes = np.minimum(np.searchsorted(cdf, u[j], side="right"), len(p) - 1)
        if (e := by_name.get(name)) is not None:
            # move mass to the rarest category: a change of mix
            moved = rng.random(n) < e["size"] * _strength(day, e)
            codes = np.where(moved, int(np.argmin(p)), codes)
        labels = pa.array([f"c{k}" for k in range(len(p))])
        columns[name] = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), labels)
    # the score reads a few features, so Performance has something true to measure
    m = 0.8 * num[0] - 0.6 * num[1] + 0.4 * (columns["cat_000"].indices.to_numpy() == 0)
    score = r.sigmoid(m - 0.2)
    noise = rng.standard_normal(n)
    label = rng.random(n) < r.sigmoid(m + 0.8 * noise - 0.2)
    table = pa.table(
        {
            "request_id": r.hex_ids("wm-", np.arange(first_id, first_id + n)),
            "ts": r.timestamps(ts),
            "model": r.constant(WIDE_MODEL, n),
            "model_version": r.constant(WIDE_VERSION, n),
            **{k: v.cast(pa.string()) if k.startswith("cat_") else v for k, v in columns.items()},
            "score": pa.array(np.round(score, 6)),
            "prediction": pa.array((score >= THRESHOLD).astype(np.int32)),
            "label": pa.array(label.astype(np.int32)),
            "label_ts": r.timestamps(ts + r.US_PER_DAY),
            "latency_ms": pa.array(np.round(2.0 + rng.gamma(2.0, 4.0, n), 2)),
        }
    )
    shadow = np.flatnonzero(day >= params.shadow_day)
    if shadow.size == 0:
        return table
    # the challenger sees part of what the champion misses, so it is the better model
    # (its own stream: the champion's rows are the same with or without it)
    extra = np.random.default_rng([params.seed, 3, first_day])
    better = r.sigmoid(m[shadow] + 0.4 * noise[shadow] - 0.2)
    # logged at the request's time, as the champion's row: a pair is in a window or not
    challenger = table.take(pa.array(shadow)).drop_columns(
        ["model_version", "score", "prediction", "latency_ms"]
    )
    challenger = challenger.append_column(
        "model_version", r.constant(CHALLENGER_VERSION, shadow.size)
    )
    challenger = challenger.append_column("score", pa.array(np.round(better, 6)))
    challenger = challenger.append_column(
        "prediction", pa.array((better >= THRESHOLD).astype(np.int32))
    )
    challenger = challenger.append_column(
        "latency_ms", pa.array(np.round(2.5 + extra.gamma(2.0, 5.0, shadow.size), 2))
    )
    both = pa.concat_tables([table, challenger.select(table.column_names)])
    return both.take(pc.sort_indices(both, [("ts", "ascending")]))


def _not_generated(rows_per_day: int, seed: int) -> r.Generated:
    # the wide demo is written block by block (see _write), never as one table
    raise NotImplementedError("the wide demo is generated by ensure_wide_workspace")


def _model(params: WideParams) -> r.DemoModel:
    features = feature_names(params)
    return r.DemoModel(
        name=WIDE_MODEL,
        task="binary",
        versions={WIDE_VERSION: "champion", CHALLENGER_VERSION: "challenger"},
        features=features,
        feature_types={
            f: (pa.float64() if k == "numerical" else pa.string()) for f, k in features.items()
        },
        threshold=THRESHOLD,
        reference_version=WIDE_VERSION,
        volume_ratio=1.0,
        slices=({"name": "cat_000-c0", "where": {"cat_000": "c0"}},),
        gate={"primary_metric": "roc_auc", "threshold": THRESHOLD, "min_labeled": 500},
        description=(
            f"A wide model: {params.numerical} numerical and {params.categorical} categorical "
            f"features, {params.days} days; five features drift from known days."
        ),
        generate=_not_generated,
    )


def _spec(params: WideParams) -> str:
    text = spec_text(_model(params), WIDE_RECIPE_VERSION, f"duckdb:///../{TELEMETRY_FILE}#{TABLE}")
    # no registry and no governance database in this workspace
    lines = text.splitlines()
    cut = lines.index("[governance]")
    kept = [ln for ln in lines[:cut] if not ln.startswith("registry_uri")]
    if params.events_per_day < 1_000:
        # a small fixture's days would all be "too few rows" under the default min_rows
        at = kept.index('window = "1d"') + 1
        kept.insert(at, f"min_rows = {max(50, params.events_per_day // 2)}")
    return "\n".join(kept).rstrip() + "\n"


def _write(
    folder: Path, params: WideParams, progress: Callable[[float, str], None]
) -> dict[str, int]:
    """Writes the telemetry block by block; the rows of each version."""
    import duckdb

    shapes, drifts = _feature_shapes(params), planted_drifts(params)
    days_per_block = max(1, BLOCK_ROWS // params.events_per_day)
    con = duckdb.connect(str(folder / TELEMETRY_FILE))
    rows = {WIDE_VERSION: 0, CHALLENGER_VERSION: 0}
    try:
        con.execute("SET memory_limit = '2GB'")
        con.execute("SET preserve_insertion_order = true")
        con.execute("SET enable_progress_bar = false")
        for first in range(0, params.days, days_per_block):
            progress(first / params.days, f"Generating day {first + 1} of {params.days}")
            n_days = min(days_per_block, params.days - first)
            block = _block(params, first, n_days, shapes, drifts, rows[WIDE_VERSION])
            con.register("wide_block", block)
            if first == 0:
                con.execute(f"CREATE TABLE {TABLE} AS SELECT * FROM wide_block")
            else:
                con.execute(f"INSERT INTO {TABLE} SELECT * FROM wide_block")
            con.unregister("wide_block")
            shadow = pc.sum(pc.equal(block.column("model_version"), CHALLENGER_VERSION))
            rows[CHALLENGER_VERSION] += shadow.as_py() or 0
            rows[WIDE_VERSION] += block.num_rows - (shadow.as_py() or 0)
    finally:
        con.close()
    return rows


def _manifest(params: WideParams, rows: dict[str, int]) -> dict[str, Any]:
    return {
        "kind": WIDE_KIND,
        "recipe_version": WIDE_RECIPE_VERSION,
        "seed": params.seed,
        "parameters": params.as_dict(),
        "start": r.START,
        "days": params.days,
        "day_numbering": "day 0 is 2026-01-01; day d starts at start + d days (UTC)",
        "telemetry": {"path": TELEMETRY_FILE, "table": TABLE, "rows": sum(rows.values())},
        "models": {
            WIDE_MODEL: {
                "task": "binary",
                "description": _model(params).description,
                "spec": f"specs/{WIDE_MODEL}.toml",
                "features": [{"name": f, "kind": k} for f, k in feature_names(params).items()],
                "versions": {
                    WIDE_VERSION: {"role": "champion", "rows": rows[WIDE_VERSION], "first_day": 0},
                    CHALLENGER_VERSION: {
                        "role": "challenger",
                        "mode": "shadow",
                        "rows": rows[CHALLENGER_VERSION],
                        "first_day": params.shadow_day,
                    },
                },
            }
        },
        "events": planted_drifts(params),
    }


def read_wide_manifest(root: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((Path(root) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("kind") == WIDE_KIND else None


def ensure_wide_workspace(
    root: Path,
    params: WideParams | None = None,
    *,
    rebuild: bool = False,
    progress: Callable[[float, str], None] | None = None,
) -> WideDemo:
    """The wide demo workspace at ``root``, built unless an up-to-date one is there.

    Built in a hidden sibling folder renamed into place when complete, so an interrupted
    build never looks finished; a non-empty folder that is not a wide demo is never replaced.
    """
    from watchkeeper.core.spec import load_spec

    started = time.perf_counter()
    params = params or WideParams()
    root = Path(root).expanduser().absolute()
    report = progress or (lambda f, m: None)
    existing = read_wide_manifest(root)
    if (
        not rebuild
        and existing is not None
        and existing.get("recipe_version") == WIDE_RECIPE_VERSION
        and existing.get("seed") == params.seed
        and existing.get("parameters") == params.as_dict()
        and (root / TELEMETRY_FILE).exists()
    ):
        return WideDemo(root, existing, False, time.perf_counter() - started)
    if root.exists() and existing is None and (root.is_file() or any(root.iterdir())):
        raise WatchkeeperError(
            f"{root}: not empty and not a wide demo workspace; choose a new or empty folder"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.building-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        rows = _write(staging, params, lambda f, m: report(0.95 * f, m))
        (staging / "specs").mkdir()
        spec_path = staging / "specs" / f"{WIDE_MODEL}.toml"
        spec_path.write_text(_spec(params), encoding="utf-8")
        load_spec(spec_path)  # a recipe bug surfaces here, not in the user's window
        manifest = _manifest(params, rows)
        text = json.dumps(to_jsonable(manifest), indent=2, sort_keys=True)
        (staging / MANIFEST_FILE).write_text(text + "\n", encoding="utf-8")
        if root.exists():
            shutil.rmtree(root)
        os.replace(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report(1.0, "The wide demo workspace is ready")
    return WideDemo(root, json.loads(text), True, time.perf_counter() - started)
