"""Small non-demo workspaces, each missing one optional part, for the partial-data matrix.

A credit-scoring style table as a user brings it: their own column names, no ``model``
column, a hand-written spec. ``complete`` has everything (MLflow registry with champion and
shadow-scored challenger, labels with arrival times, predictions, ``[[slices]]``, a
governance database); every other variant leaves exactly one part out, and ``regression``
is a regression model. Layout as the demo's (CONTRACT.md): ``specs/<model>.toml``,
``telemetry.duckdb`` (or ``telemetry.parquet``), ``registry/mlflow.db``, ``governance.db``.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

MODEL = "credit-scorer"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAYS = 56
PER_DAY = 80  # 4,480 champion events
SHADOW_FROM_DAY = 35  # the challenger scores the same requests from here on
DRIFT_FROM_DAY = 42  # income shifts up from here on

#: Every variant of the matrix and the one part it lacks.
VARIANTS = {
    "complete": "nothing",
    "no-registry": "an MLflow registry (versions and roles come from the telemetry)",
    "no-challenger": "a challenger",
    "no-label-ts": "label arrival times",
    "no-labels": "labels",
    "no-prediction": "a prediction column",
    "no-slices": "[[slices]] in the spec",
    "no-governance": "a governance database (not created yet)",
    "regression": "a binary task (a regression model)",
}


def events(variant: str, seed: int = 7) -> pa.Table:
    """The telemetry of one variant: champion rows, and shadow rows unless no challenger."""
    rng = np.random.default_rng(seed)
    n = DAYS * PER_DAY
    day = np.repeat(np.arange(DAYS), PER_DAY)
    ts = np.array(
        [START + dt.timedelta(days=int(d), seconds=int(s)) for d, s in
         zip(day, rng.integers(0, 86_400, n), strict=True)]
    )  # fmt: skip
    income = rng.lognormal(8.0, 0.5, n) * np.where(day >= DRIFT_FROM_DAY, 1.6, 1.0)
    age = rng.integers(18, 80, n)
    duration = rng.choice([6, 12, 24, 36, 48], n)
    purpose = rng.choice(["car", "furniture", "education", "business", "repairs"], n)
    housing = rng.choice(["own", "rent", "free"], n, p=[0.6, 0.3, 0.1])
    z = -1.2 + 0.03 * (duration - 24) - 0.4 * (np.log(income) - 8.0) - 0.01 * (age - 45)
    z = z + np.where(purpose == "business", 0.5, 0.0)
    p = 1 / (1 + np.exp(-z))
    default = rng.random(n) < p
    cols: dict[str, Any] = {
        "application_id": [f"a{i:06d}" for i in range(n)],
        "decided_at": ts,
        "version": np.full(n, "1"),
        "income": income,
        "age": age,
        "duration_months": duration,
        "purpose": purpose,
        "housing": housing,
    }
    if variant == "regression":
        target = 200 + 0.05 * income + 3 * duration + rng.normal(0, 30, n)
        cols["predicted_loss"] = target + rng.normal(0, 25, n)
        cols["loss"] = target
        cols["loss_known_at"] = ts + np.array([dt.timedelta(days=3)] * n)
    else:
        cols["pd_score"] = np.clip(p + rng.normal(0, 0.05, n), 0.001, 0.999)
        if variant != "no-prediction":
            cols["approved"] = (cols["pd_score"] < 0.5).astype(np.int64)
        if variant != "no-labels":
            cols["defaulted"] = default.astype(np.int64)
            if variant != "no-label-ts":
                lag = rng.integers(1, 20, n)
                cols["default_known_at"] = ts + np.array([dt.timedelta(days=int(x)) for x in lag])
    table = pa.table(cols)
    if variant == "no-challenger":
        return table
    shadow = (day >= SHADOW_FROM_DAY).nonzero()[0]
    two = table.take(pa.array(shadow))
    two = two.set_column(two.schema.get_field_index("version"), "version",
                         pa.array(np.full(len(shadow), "2")))  # fmt: skip
    score = "predicted_loss" if variant == "regression" else "pd_score"
    better = np.asarray(two.column(score)) * rng.normal(1.0, 0.02, len(shadow))
    if variant != "regression":
        better = np.clip(better, 0.001, 0.999)
    two = two.set_column(two.schema.get_field_index(score), score, pa.array(better))
    return pa.concat_tables([table, two])


def spec_text(variant: str, source: str) -> str:
    """A spec as a person writes it by hand: their names, absent roles left out."""
    regression = variant == "regression"
    lines = [
        f"# {MODEL}: {VARIANTS[variant]} missing",
        "[model]",
        f'name = "{MODEL}"',
        f'task = "{"regression" if regression else "binary"}"',
    ]
    if variant != "no-registry":
        lines.append('registry_uri = "sqlite:///../registry/mlflow.db"')
    lines += [
        "",
        "[telemetry]",
        f'source = "{source}"',
        "",
        "[telemetry.columns]",
        'request_id = "application_id"',
        'ts = "decided_at"',
        'model_version = "version"',
    ]
    if regression:
        lines += ['score = "predicted_loss"', 'label = "loss"', 'label_ts = "loss_known_at"']
    else:
        lines.append('score = "pd_score"')
        if variant != "no-prediction":
            lines.append('prediction = "approved"')
        if variant != "no-labels":
            lines.append('label = "defaulted"')
            if variant != "no-label-ts":
                lines.append('label_ts = "default_known_at"')
    lines += [
        'features = ["income", "age", "duration_months", "purpose", "housing"]',
        'categorical = ["purpose", "housing"]',
        "",
        "[reference]",
        'kind = "window"',
        'version = "1"',
        "start = 2026-01-01",
        "end = 2026-02-01",
        "",
        "[drift]",
        'window = "7d"',
        "min_rows = 200",
    ]
    if variant != "no-slices":
        lines += [
            "",
            "[[slices]]",
            'name = "business loans"',
            'where = { purpose = "business" }',
            "critical = true",
            "",
            "[[slices]]",
            'name = "renters"',
            'where = { housing = ["rent"] }',
        ]
    lines += ["", "[gate]", "min_labeled = 200"]
    if regression:
        lines.append('primary_metric = "mae"')
    lines += ["", "[governance]", 'database = "sqlite:///../governance.db"', ""]
    return "\n".join(lines)


def _registry(path: Path, aliases: dict[str, str]) -> None:
    from watchkeeper.core.demo.registry import write_portfolio

    version = {
        "trained": "2026-02-02T09:15:00",
        "user": "a.user",
        "commit": "0" * 40,
        "description": "credit scoring",
        "params": {"algorithm": "logistic_regression"},
        "metrics": {"roc_auc": 0.7},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    portfolio = {
        MODEL: {
            "description": "credit scoring",
            "tags": {"task": "binary"},
            "aliases": aliases,
            "experiment": f"{MODEL}-training",
            "versions": {v: version for v in sorted(set(aliases.values()))},
        }
    }
    write_portfolio(
        f"sqlite:///{path}", portfolio=portfolio, artifact_root=(path.parent / "artifacts").as_uri()
    )


def build_workspaces(root: Path) -> dict[str, Path]:
    """Every variant under ``root``; registries and the governance database are made once
    and copied (MLflow's and Alembic's migrations are the slow part)."""
    from watchkeeper.core.governance.store import GovernanceStore

    shared = root / "_shared"
    _registry(shared / "both" / "mlflow.db", {"champion": "1", "challenger": "2"})
    _registry(shared / "one" / "mlflow.db", {"champion": "1"})
    gov = shared / "governance.db"
    GovernanceStore.open(f"sqlite:///{gov}", create=True).close()
    out: dict[str, Path] = {}
    for variant in VARIANTS:
        ws = root / variant
        (ws / "specs").mkdir(parents=True)
        table = events(variant)
        # Parquet for two variants, so the file reader meets every view too
        if variant in ("no-registry", "no-slices"):
            import pyarrow.parquet as pq

            pq.write_table(table, ws / "telemetry.parquet")
            source = "../telemetry.parquet"
        else:
            import duckdb

            con = duckdb.connect(str(ws / "telemetry.duckdb"))
            con.register("events", table)
            con.execute("CREATE TABLE decisions AS SELECT * FROM events")
            con.close()
            source = "duckdb:///../telemetry.duckdb#decisions"
        (ws / "specs" / f"{MODEL}.toml").write_text(spec_text(variant, source))
        if variant != "no-registry":
            which = "one" if variant == "no-challenger" else "both"
            shutil.copytree(shared / which, ws / "registry")
        if variant != "no-governance":
            shutil.copy(gov, ws / "governance.db")
        out[variant] = ws
    return out
