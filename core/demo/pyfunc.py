"""The demo's registered models as real, loadable MLflow pyfunc models.

Each demo version is a small logistic model in numpy: fitted (least squares on the logit of
the logged score, a touch of ridge) to reproduce the version's score from its features on
the reference rows. Numeric features enter as the value, ``sign(x)·log1p|x|`` and a missing
flag; categoricals as one-hot columns of their most frequent values. It is a faithful
stand-in for the demo's generated scores, tiny (kilobytes), and fitted in milliseconds, so
logging it keeps the demo build fast; loading needs only numpy, pandas and this module.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["fit_class_models", "fit_logit_model", "logit_predict", "save_pyfunc"]

TOP_VALUES = 30
RIDGE = 1e-3
FIT_MAX_ROWS = 10_000
PARAMS_FILE = "logit_model.json"


def _design(frame: pd.DataFrame, params: Mapping[str, Any]) -> np.ndarray:
    cols: list[np.ndarray] = [np.ones(len(frame))]
    for f in params["features"]:
        name, kind = f["name"], f["kind"]
        if kind == "numerical":
            x = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
            miss = ~np.isfinite(x)
            x = np.where(miss, f["fill"], x)
            s = np.sign(x) * np.log1p(np.abs(x))
            cols += [(x - f["mean"]) / f["std"], (s - f["log_mean"]) / f["log_std"]]
            cols.append(miss.astype(np.float64))
        else:
            text = frame[name].astype("string").to_numpy(dtype=object, na_value=None)
            codes = pd.Index(f["values"], dtype=object).get_indexer(text)
            # One column per kept value; other values and missing (code -1) are all zeros.
            cols.extend(np.eye(len(f["values"]) + 1)[codes][:, :-1].T)
    return np.column_stack(cols)


def fit_logit_model(
    reference: pd.DataFrame, features: Mapping[str, str], score: str = "score"
) -> dict[str, Any]:
    """Parameters (JSON-able) of a logistic model reproducing ``score`` from ``features``."""
    rows = reference[reference[score].notna()]
    if len(rows) > FIT_MAX_ROWS:  # evenly spaced rows: enough for a few dozen coefficients
        rows = rows.iloc[np.linspace(0, len(rows) - 1, FIT_MAX_ROWS).astype(np.int64)]
    spec: list[dict[str, Any]] = []
    for name, kind in features.items():
        if kind == "numerical":
            x = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=np.float64)
            finite = x[np.isfinite(x)]
            fill = float(np.median(finite)) if len(finite) else 0.0
            x = np.where(np.isfinite(x), x, fill)
            s = np.sign(x) * np.log1p(np.abs(x))
            spec.append({
                "name": name, "kind": kind, "fill": fill,
                "mean": float(x.mean()), "std": float(x.std()) or 1.0,
                "log_mean": float(s.mean()), "log_std": float(s.std()) or 1.0,
            })  # fmt: skip
        else:
            counts = rows[name].astype("string").value_counts()
            spec.append({"name": name, "kind": kind, "values": list(counts.index[:TOP_VALUES])})
    params: dict[str, Any] = {"features": spec}
    design = _design(rows, params)
    p = np.clip(rows[score].to_numpy(dtype=np.float64), 1e-6, 1 - 1e-6)
    target = np.log(p / (1 - p))
    gram = design.T @ design + RIDGE * len(design) * np.eye(design.shape[1])
    params["coef"] = np.linalg.solve(gram, design.T @ target).tolist()
    return params


def fit_class_models(
    reference: pd.DataFrame, features: Mapping[str, str], class_probabilities: Mapping[str, str]
) -> dict[str, Any]:
    """A multiclass model: one logistic model per class probability column, renormalised.

    One-vs-rest logits are cruder than a softmax but reuse the binary fit, and the demo's
    pyfunc only has to stand in for the logged probabilities, not to be the best model.
    """
    return {
        "classes": {
            cls: fit_logit_model(reference, features, column)
            for cls, column in class_probabilities.items()
        }
    }


def logit_predict(params: Mapping[str, Any], frame: pd.DataFrame) -> Any:
    """The score of a binary model (an array) or a multiclass one's class probabilities
    (a DataFrame, one column per class, rows summing to 1)."""
    if "classes" in params:
        columns = {cls: logit_predict(p, frame) for cls, p in params["classes"].items()}
        probabilities = pd.DataFrame(columns, index=frame.index)
        return probabilities.div(probabilities.sum(axis=1), axis=0)
    z = _design(frame, params) @ np.asarray(params["coef"])
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
    return out


def save_pyfunc(params: Mapping[str, Any], path: Path) -> None:
    """Write an MLflow pyfunc model directory at ``path`` (not yet existing)."""
    import mlflow.pyfunc

    params_file = Path(path).parent / f"{Path(path).name}-{PARAMS_FILE}"
    params_file.write_text(json.dumps(params), "utf-8")
    # pip_requirements given, so MLflow does not import-trace the model (seconds per model).
    # No signature: MLflow would enforce it, and the demo's columns mix types per feature.
    # MLflow warns that a python_model object is pickled, and that our type hints give no
    # signature; both are known and wanted here.
    quiet = logging.getLogger("mlflow.pyfunc")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlflow.pyfunc.save_model(
                path=str(path),
                python_model=_model_class()(),
                artifacts={"params": str(params_file)},
                pip_requirements=["numpy", "pandas", "watchkeeper"],
            )
    finally:
        quiet.setLevel(level)
    params_file.unlink()


def _model_class() -> type:
    """The PythonModel subclass, built on demand: importing mlflow costs seconds."""
    global _LogitPyfunc
    if _LogitPyfunc is None:
        import mlflow.pyfunc

        class LogitPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
            def load_context(self, context: Any) -> None:
                text = Path(context.artifacts["params"]).read_text("utf-8")
                self.params = json.loads(text)

            # A DataFrame hint: MLflow infers no schema from it and validates nothing (the
            # demo's columns mix types per feature), and it does not warn, as it does for a
            # predict without hints on every load (`check --why` printed that warning).
            def predict(
                self, context: Any, model_input: pd.DataFrame, params: Any = None
            ) -> np.ndarray:
                return logit_predict(self.params, pd.DataFrame(model_input))

        LogitPyfunc.__module__ = __name__
        LogitPyfunc.__qualname__ = "LogitPyfunc"
        _LogitPyfunc = LogitPyfunc
    return _LogitPyfunc


_LogitPyfunc: type | None = None


def __getattr__(name: str) -> Any:
    # Unpickling a logged model looks the class up here by name (pickled by reference).
    if name == "LogitPyfunc":
        return _model_class()
    raise AttributeError(name)
