"""The demo workspace's MLflow registry: ``DIR/registry/mlflow.db`` and ``DIR/registry/artifacts``.

:func:`build_demo_registry` is one build step of the demo workspace, run after the telemetry
(``DIR/telemetry.duckdb``) exists: it registers the demo portfolio (:data:`PORTFOLIO`) — per
model several versions, ``champion``/``challenger`` aliases, and per version a run with
params, metrics, a code-commit tag, a user, and the model's reference data as a Parquet
artifact logged as the run's training dataset input. The reference rows are the model's
reference version's telemetry over the training period (2026-01-01 to 2026-01-31, UTC),
deduplicated by ``request_id`` and thinned evenly to at most :data:`REFERENCE_MAX_ROWS`
rows; or, if given, the ``references`` tables.

:func:`write_portfolio` does the same against any tracking URI through ``MlflowClient`` (tests
fill a live ``mlflow server`` with it). Runs' times are fixed; MLflow sets the model versions'
creation times and run ids itself, so those differ between builds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.registry.model import GIT_COMMIT_TAG, REFERENCE_TAG, USER_TAG

__all__ = [
    "PORTFOLIO",
    "RECIPE_VERSION",
    "REFERENCE_MAX_ROWS",
    "TRAINING_PERIOD",
    "build_demo_registry",
    "reference_from_telemetry",
    "write_portfolio",
]

RECIPE_VERSION = 1
REFERENCE_MAX_ROWS = 50_000
TRAINING_PERIOD = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
REFERENCE_PATH = "reference/reference.parquet"
TRAINING_PATH = "training/training.parquet"
SHA_TAG = "watchkeeper.reference.sha256"
CONTEXT_TAG = "mlflow.data.context"


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


#: What the demo registry holds. ``reference_version`` is the version whose training-period
#: telemetry is the reference; every version of a model logs that same reference.
PORTFOLIO: dict[str, dict[str, Any]] = {
    "fraud-detector": {
        "description": "Card-payment fraud scores; version 2 is shadow-scored as challenger.",
        "tags": {"team": "payments-risk", "task": "binary"},
        "aliases": {"champion": "1", "challenger": "2"},
        "reference_version": "1",
        "experiment": "fraud-detector-training",
        "versions": {
            "1": {
                "trained": "2026-02-02T09:15:00",
                "user": "amira.haddad",
                "commit": "3f9c2b7e1d4a5c6b8e0f1a2b3c4d5e6f7a8b9c0d",
                "description": "Gradient-boosted trees on January 2026 traffic.",
                "params": {"algorithm": "lightgbm", "n_estimators": "400", "max_depth": "6",
                           "learning_rate": "0.05", "threshold": "0.2"},
                "metrics": {"roc_auc": 0.912, "precision": 0.41, "recall": 0.67,
                            "log_loss": 0.061},
            },
            "2": {
                "trained": "2026-03-20T14:40:00",
                "user": "jonas.berg",
                "commit": "9a1e4c7d2b8f0e3a6c5d4b2a1f0e9d8c7b6a5f4e",
                "description": "Adds device and merchant-risk interactions.",
                "params": {"algorithm": "lightgbm", "n_estimators": "600", "max_depth": "7",
                           "learning_rate": "0.04", "threshold": "0.2"},
                "metrics": {"roc_auc": 0.921, "precision": 0.43, "recall": 0.69,
                            "log_loss": 0.058},
            },
        },
    },
    "churn-model": {
        "description": "Monthly churn risk per subscriber.",
        "tags": {"team": "growth-analytics", "task": "binary"},
        "aliases": {"champion": "3"},
        "reference_version": "3",
        "experiment": "churn-model-training",
        "versions": {
            "1": {
                "trained": "2025-06-03T08:00:00",
                "user": "li.wei",
                "commit": "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c",
                "description": "Logistic regression baseline (archived).",
                "tags": {"lifecycle": "archived"},
                "params": {"algorithm": "logistic_regression", "C": "1.0"},
                "metrics": {"roc_auc": 0.78, "log_loss": 0.41},
            },
            "2": {
                "trained": "2025-10-14T11:30:00",
                "user": "li.wei",
                "commit": "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f",
                "description": "Random forest (retired).",
                "tags": {"lifecycle": "retired"},
                "params": {"algorithm": "random_forest", "n_estimators": "300",
                           "max_depth": "12"},
                "metrics": {"roc_auc": 0.82, "log_loss": 0.37},
            },
            "3": {
                "trained": "2026-02-03T10:05:00",
                "user": "li.wei",
                "commit": "c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3",
                "description": "Gradient-boosted trees on January 2026 subscribers.",
                "params": {"algorithm": "xgboost", "n_estimators": "250", "max_depth": "5",
                           "learning_rate": "0.08"},
                "metrics": {"roc_auc": 0.864, "log_loss": 0.33},
            },
        },
    },
    "risk-tier": {
        "description": "Credit risk tier (low / medium / high) per application.",
        "tags": {"team": "credit-risk", "task": "multiclass"},
        "aliases": {"champion": "1"},
        "reference_version": "1",
        "experiment": "risk-tier-training",
        "versions": {
            "1": {
                "trained": "2026-02-04T13:20:00",
                "user": "sofia.moreau",
                "commit": "7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e",
                "description": "Multinomial logistic regression on January 2026 applications.",
                "params": {"algorithm": "multinomial_logit", "C": "0.5"},
                "metrics": {"macro_f1": 0.67, "accuracy": 0.74, "log_loss": 0.62},
            },
        },
    },
}  # fmt: skip


#: The planted training–serving skew: fraud-detector v2 was trained on amounts in cents
#: (its training dataset and its pyfunc model), but is served amounts in dollars.
SKEWS: tuple[dict[str, Any], ...] = (
    {
        "id": "fraud-amount-unit-skew",
        "kind": "training_serving_skew",
        "model": "fraud-detector",
        "version": "2",
        "feature": "amount",
        "factor": 100.0,
        "description": "Version 2's training data has amount in cents; it is served dollars.",
    },
)


def _period(manifest: Mapping[str, Any] | None) -> tuple[dt.datetime, dt.datetime]:
    tp = (manifest or {}).get("training_period")
    if isinstance(tp, Mapping) and tp.get("start") and tp.get("end"):
        start = dt.datetime.fromisoformat(str(tp["start"]).replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(str(tp["end"]).replace("Z", "+00:00"))
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
        if end.tzinfo is None:
            end = end.replace(tzinfo=dt.UTC)
        return start, end
    return TRAINING_PERIOD


def reference_from_telemetry(
    telemetry: Path,
    model: str,
    version: str,
    period: tuple[dt.datetime, dt.datetime] = TRAINING_PERIOD,
    max_rows: int = REFERENCE_MAX_ROWS,
) -> Any:
    """The reference rows (a pyarrow Table) of ``model``/``version`` over ``period``.

    One row per ``request_id`` (champion and shadow rows share it), ordered by ``ts`` and
    thinned evenly to ``max_rows``; the ``model`` and ``model_version`` columns are kept.
    """
    import duckdb
    import numpy as np

    if not Path(telemetry).is_file():
        raise WatchkeeperError(f"{telemetry}: no demo telemetry to take the reference from")
    con = duckdb.connect(str(telemetry), read_only=True)
    try:
        cols = {r[0] for r in con.execute("DESCRIBE predictions").fetchall()}
        dedupe = (
            "QUALIFY row_number() OVER (PARTITION BY request_id ORDER BY ts) = 1"
            if "request_id" in cols
            else ""
        )
        order = "ts, request_id" if "request_id" in cols else "ts"
        sql = (
            "SELECT * FROM predictions WHERE model = ? AND model_version = ? "
            f"AND ts >= ? AND ts < ? {dedupe} ORDER BY {order}"
        )
        table = con.sql(sql, params=[model, str(version), period[0], period[1]]).to_arrow_table()
    finally:
        con.close()
    if table.num_rows > max_rows:
        idx = np.linspace(0, table.num_rows - 1, max_rows).round().astype(np.int64)
        table = table.take(idx)
    return table


def _write_parquet(table: Any, path: Path) -> str:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _skewed(table: Any, factors: Mapping[str, float]) -> Any:
    """``table`` with each named column multiplied by its factor (a unit change)."""
    import pyarrow.compute as pc

    for column, factor in factors.items():
        i = table.column_names.index(column)
        table = table.set_column(i, column, pc.multiply(table[column], float(factor)))
    return table


def write_portfolio(
    tracking_uri: str,
    references: Mapping[str, Any] | None = None,
    *,
    portfolio: Mapping[str, Mapping[str, Any]] | None = None,
    artifact_root: str | None = None,
    period: tuple[dt.datetime, dt.datetime] = TRAINING_PERIOD,
    features: Mapping[str, Mapping[str, str]] | None = None,
    skews: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
    class_probabilities: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Register ``portfolio`` (default :data:`PORTFOLIO`) at ``tracking_uri`` with MLflow.

    ``features`` maps a model name to its features (name → ``numerical``/``categorical``):
    such a model's versions are logged as loadable pyfunc models fitted to its reference
    (:mod:`~watchkeeper.core.demo.pyfunc`); others get a ``model.json`` placeholder.
    ``skews`` plants a training–serving skew: ``{model: {version: {feature: factor}}}``
    logs that version's own training dataset (``training/training.parquet``, the reference
    with the feature multiplied by the factor, e.g. 100 for cents) and fits its model on it.

    ``class_probabilities`` maps a multiclass model's name to its probability columns (class
    → column): its pyfunc answers one probability per class (:func:`fit_class_models`).

    ``references`` maps a model name to its reference rows (a pyarrow Table); a model
    without one gets runs without a reference dataset. ``artifact_root`` (a URI) is where
    new experiments keep artifacts; ``None`` lets the tracking server decide. Credentials
    for a server come from MLflow's ``MLFLOW_TRACKING_*`` variables. Returns what was
    written: per model the aliases and per version the run id and reference digest.
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param
    from mlflow.tracking import MlflowClient

    from watchkeeper.core.demo.pyfunc import fit_class_models, fit_logit_model, save_pyfunc
    from watchkeeper.core.registry.client import pinned_tracking_uri

    portfolio = PORTFOLIO if portfolio is None else portfolio
    references = references or {}
    features = features or {}
    skews = skews or {}
    class_probabilities = class_probabilities or {}
    fitted: dict[tuple[str, str], Any] = {}
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    out: dict[str, Any] = {}
    # Some MLflow code paths (the file registry store) use the global tracking URI.
    with (
        pinned_tracking_uri(tracking_uri),
        tempfile.TemporaryDirectory(prefix="wk-demo-registry-") as tmp,
    ):
        for name, spec in portfolio.items():
            ref_info = None
            ref_file = Path(tmp) / name / REFERENCE_PATH
            table = references.get(name)
            if table is not None:
                sha = _write_parquet(table, ref_file)
                ref_info = {"path": REFERENCE_PATH, "rows": table.num_rows, "sha256": sha}
            exp_name = spec.get("experiment", f"{name}-training")
            exp = client.get_experiment_by_name(exp_name)
            if exp is None:
                location = f"{artifact_root.rstrip('/')}/{exp_name}" if artifact_root else None
                exp_id = client.create_experiment(exp_name, artifact_location=location)
            else:
                exp_id = exp.experiment_id
            client.create_registered_model(
                name, tags=dict(spec.get("tags") or {}), description=spec.get("description")
            )
            versions_out: dict[str, Any] = {}
            for version, v in spec["versions"].items():
                started = _ms(v["trained"])
                tags = {
                    GIT_COMMIT_TAG: v["commit"],
                    USER_TAG: v["user"],
                    "mlflow.source.name": f"train_{name.replace('-', '_')}.py",
                    "mlflow.source.type": "LOCAL",
                    "mlflow.note.content": v.get("description", ""),
                }
                if ref_info:
                    tags[REFERENCE_TAG] = REFERENCE_PATH
                    tags[SHA_TAG] = ref_info["sha256"]
                run = client.create_run(
                    exp_id, start_time=started, tags=tags, run_name=f"{name}-v{version}"
                )
                run_id = run.info.run_id
                params = dict(v.get("params") or {})
                params["training_start"] = period[0].date().isoformat()
                params["training_end"] = (period[1] - dt.timedelta(days=1)).date().isoformat()
                client.log_batch(
                    run_id,
                    metrics=[Metric(k, float(x), started + 60_000, 0)
                             for k, x in sorted(v["metrics"].items())],
                    params=[Param(k, str(x)) for k, x in sorted(params.items())],
                    tags=[],
                )  # fmt: skip
                model_dir = Path(tmp) / name / version / "model"
                skew = dict(skews.get(name, {}).get(version, {}))
                columns = set(table.column_names) if table is not None else set()
                if not set(skew) <= columns:
                    skew = {}  # reference rows without the feature: nothing to skew
                train = _skewed(table, skew) if table is not None and skew else table
                # a model is fitted to the logged score: rows without one get a placeholder
                scores = dict(class_probabilities.get(name, {})) or {"score": "score"}
                fits = {*scores.values(), *features.get(name, {"": ""})} <= columns
                if train is not None and name in features and fits:
                    key = (name, json.dumps(skew, sort_keys=True))
                    if key not in fitted and name in class_probabilities:
                        fitted[key] = fit_class_models(train.to_pandas(), features[name], scores)
                    elif key not in fitted:
                        fitted[key] = fit_logit_model(train.to_pandas(), features[name])
                    model_dir.parent.mkdir(parents=True, exist_ok=True)
                    save_pyfunc(fitted[key], model_dir)
                else:
                    model_dir.mkdir(parents=True)
                    (model_dir / "model.json").write_text(
                        json.dumps({"model": name, "version": version, "params": params},
                                   sort_keys=True, indent=1)
                    )  # fmt: skip
                client.log_artifact(run_id, str(model_dir))
                if train is not None and skew:
                    train_file = Path(tmp) / name / version / TRAINING_PATH
                    train_sha = _write_parquet(train, train_file)
                    client.log_artifact(run_id, str(train_file), "training")
                    train_uri = f"{run.info.artifact_uri.rstrip('/')}/{TRAINING_PATH}"
                    client.log_inputs(run_id, [DatasetInput(
                        Dataset(
                            name=f"{name}-v{version}-training",
                            digest=train_sha.removeprefix("sha256:")[:16],
                            source_type="local",
                            source=json.dumps({"uri": train_uri}),
                            profile=json.dumps({"num_rows": train.num_rows}),
                        ),
                        [InputTag(CONTEXT_TAG, "training")],
                    )])  # fmt: skip
                if ref_info:
                    client.log_artifact(run_id, str(ref_file), "reference")
                    source_uri = f"{run.info.artifact_uri.rstrip('/')}/{REFERENCE_PATH}"
                    dataset = Dataset(
                        name=f"{name}-reference",
                        digest=ref_info["sha256"].removeprefix("sha256:")[:16],
                        source_type="local",
                        source=json.dumps({"uri": source_uri}),
                        profile=json.dumps({"num_rows": ref_info["rows"]}),
                    )
                    client.log_inputs(
                        run_id, [DatasetInput(dataset, [InputTag(CONTEXT_TAG, "training")])]
                    )
                client.set_terminated(run_id, "FINISHED", end_time=started + 45 * 60_000)
                mv = client.create_model_version(
                    name,
                    source=f"{run.info.artifact_uri.rstrip('/')}/model",
                    run_id=run_id,
                    tags=dict(v.get("tags") or {}),
                    description=v.get("description"),
                    await_creation_for=0,
                )
                if str(mv.version) != str(version):
                    raise WatchkeeperError(
                        f"{tracking_uri}: {name!r} got version {mv.version}, expected {version}"
                        " (the registry already held versions of it)"
                    )
                versions_out[version] = {"run_id": run_id, "reference": ref_info}
                if train is not None and skew:
                    versions_out[version]["training"] = {
                        "path": TRAINING_PATH, "rows": train.num_rows, "sha256": train_sha,
                        "skew": skew,
                    }  # fmt: skip
            for alias, version in spec.get("aliases", {}).items():
                client.set_registered_model_alias(name, alias, str(version))
            out[name] = {"aliases": dict(spec.get("aliases", {})), "versions": versions_out}
    return out


def build_demo_registry(
    root: Path,
    manifest: Mapping[str, Any] | None = None,
    references: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``root/registry/mlflow.db`` and ``root/registry/artifacts`` from scratch.

    ``references`` maps model names to reference rows (pyarrow Tables); models missing
    there take theirs from ``root/telemetry.duckdb`` (see :func:`reference_from_telemetry`),
    if that file has rows for them. ``manifest`` may give ``training_period`` (``start``,
    ``end`` ISO dates). Returns the ``registry`` section for the workspace's manifest.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    root = Path(root).resolve()
    reg = root / "registry"
    if reg.exists():
        shutil.rmtree(reg)
    (reg / "artifacts").mkdir(parents=True)
    period = _period(manifest)
    tables: dict[str, Any] = dict(references or {})
    telemetry = root / "telemetry.duckdb"
    for name, spec in PORTFOLIO.items():
        if name not in tables and telemetry.is_file():
            table = reference_from_telemetry(telemetry, name, spec["reference_version"], period)
            if table.num_rows:
                tables[name] = table
    # MLflow caches its stores per URI for the life of the process, so a rebuild must not
    # reuse the previous database's URI: build under a fresh name, then rename it into place
    # (artifacts are written to their final folder directly).
    from watchkeeper.core.demo.workspace import MODELS

    building = reg / f".building-{uuid.uuid4().hex}.db"
    written = write_portfolio(
        f"sqlite:///{building}",
        tables,
        artifact_root=(reg / "artifacts").as_uri(),
        period=period,
        features={m.name: dict(m.features) for m in MODELS},
        skews={s["model"]: {s["version"]: {s["feature"]: s["factor"]}} for s in SKEWS},
        class_probabilities={
            m.name: dict(m.class_probabilities) for m in MODELS if m.class_probabilities
        },
    )
    os.replace(building, reg / "mlflow.db")
    return {
        "recipe_version": RECIPE_VERSION,
        "uri": "sqlite:///registry/mlflow.db",  # relative to the workspace
        "training_period": {
            "start": period[0].date().isoformat(),
            "end": (period[1] - dt.timedelta(days=1)).date().isoformat(),
        },
        "models": written,
        "skews": [dict(s) for s in SKEWS],
    }


def relocate_demo_registry(root: Path, old_root: Path) -> int:
    """Point the demo registry's artifact locations from ``old_root`` to ``root``.

    MLflow stores artifact locations as absolute ``file:`` URIs. The demo workspace is
    built in a staging folder and renamed into place, so after the rename every stored
    location still names the staging folder: rewrite them (plain and percent-encoded
    forms) in every text column of ``root/registry/mlflow.db``. Returns the rows changed.
    """
    import sqlite3
    from urllib.parse import quote

    old, new = str(Path(old_root).absolute()), str(Path(root).absolute())
    pairs = [(old, new)]
    if quote(old) != old:
        pairs.append((quote(old), quote(new)))
    changed = 0
    with sqlite3.connect(Path(root) / "registry" / "mlflow.db") as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [
                r[1]
                for r in con.execute(f'PRAGMA table_info("{table}")')
                if "CHAR" in r[2].upper() or "TEXT" in r[2].upper() or r[2] == ""
            ]
            for column in columns:
                for before, after in pairs:
                    cur = con.execute(
                        f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                        f'WHERE instr("{column}", ?) > 0',
                        (before, after, before),
                    )
                    changed += cur.rowcount
    return changed
