"""Model health, the one definition behind the lights and ``watchkeeper check``, on the demo."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from watchkeeper.core.progress import Cancelled
from watchkeeper.core.spec import parse_spec
from watchkeeper.core.workbench.health import judge_model, run_health
from watchkeeper.core.workbench.portfolio import ModelEntry, load_portfolio

DAY80 = dt.datetime(2026, 3, 22, tzinfo=dt.UTC)  # the demo's concept change on web


def _entry(root: Path, model: str, health: str) -> ModelEntry:
    entry = load_portfolio(root).model(model)
    assert entry is not None and entry.spec_path is not None
    text = entry.spec_path.read_text() + "\n[health]\n" + health
    return dataclasses.replace(entry, spec=parse_spec(text, base_dir=entry.spec_path.parent))


def test_fraud_alerts_after_the_planted_events_and_churn_does_not(demo_workspace: Path) -> None:
    entry = _entry(
        demo_workspace,
        "fraud-detector",
        'metric = "precision"\nwindow = "7d"\ntolerance = 0.05\npersistence = 2\n',
    )
    fraud, _, _ = judge_model(entry)
    assert fraud.metric == "precision" and fraud.window is not None
    assert fraud.window.text == "7d" and fraud.version == "1"
    alerts = [w for w in fraud.windows if w.state == "alert"]
    assert alerts, [(w.start, w.drift, w.moved) for w in fraud.windows]
    assert all(w.start >= DAY80 for w in alerts)  # only after the concept change
    assert all(w.state in ("ok", "watch") for w in fraud.windows if w.end <= DAY80)
    for w in alerts:  # an alert has both: drift and a performance drop
        assert w.drift == "drift" and w.moved and w.drift_features
        assert w.value is not None and fraud.baseline is not None
        assert w.value < fraud.baseline - 0.05 or w.carried
    sources = {w.source for w in fraud.windows}
    assert "realized" in sources and "estimated" in sources  # the last week's labels are late
    assert fraud.verdict != "ok" and fraud.reasons
    doc = fraud.to_dict()
    assert doc["windows"][0]["state"] in ("ok", "watch", "insufficient")
    assert fraud.evidence.startswith("sha256:") and fraud.evidence == fraud.evidence
    churn, _, _ = judge_model(_entry(demo_workspace, "churn-model", 'window = "7d"\n'))
    assert churn.metric == "roc_auc"  # [gate] primary_metric
    assert set(churn.states) <= {"ok", "watch", "insufficient"}
    assert churn.states.count("ok") > len(churn.states) / 2
    assert churn.verdict == "ok"


def test_health_honours_the_spec_not_defaults_of_its_own(demo_workspace: Path) -> None:
    """The same data judged with a stricter [health] gives a stricter answer."""
    loose, _, _ = judge_model(_entry(demo_workspace, "fraud-detector", "tolerance = 0.5\n"))
    strict, _, perf = judge_model(_entry(demo_workspace, "fraud-detector", "tolerance = 0.0\n"))
    assert loose.tolerance == 0.5 and strict.tolerance == 0.0 and perf.tolerance == 0.0
    assert not any(w.moved for w in loose.windows)
    assert sum(bool(w.moved) for w in strict.windows) > sum(bool(w.moved) for w in loose.windows)
    assert loose.window is not None and loose.window.text == "7d"  # [health] default, not 1d


def test_as_of_judges_what_was_known_then(demo_workspace: Path) -> None:
    entry = load_portfolio(demo_workspace).model("fraud-detector")
    assert entry is not None
    before, _, _ = judge_model(entry, as_of=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    assert before.as_of is not None
    assert all(w.start is None or w.start < before.as_of for w in before.windows)
    assert before.verdict in ("ok", "watch")  # before any planted event but the label delay
    during, _, _ = judge_model(entry, as_of=dt.datetime(2026, 4, 12, tzinfo=dt.UTC))
    assert during.verdict != "ok"  # the logging incident started on 2026-04-06
    assert any("device_type" in r for r in during.reasons), during.reasons


def test_a_bad_spec_is_an_error_and_a_cancel_stops_the_sweep(
    demo_workspace: Path, tmp_path: Path
) -> None:
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(demo_workspace, ws)
    spec = ws / "specs" / "churn-model.toml"
    spec.write_text(spec.read_text().replace('window = "1d"', 'window = "banana"'))
    portfolio = load_portfolio(ws)
    results = run_health(portfolio, models=["churn-model"])
    health, drift, perf = results["churn-model"]
    assert health.verdict == "unknown" and drift is None and perf is None
    assert health.error is not None and "drift.window" in health.error
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):  # not swallowed as a model that failed
        run_health(portfolio, cancelled=cancelled)


def _own_table(root: Path, *, labels: bool) -> Path:
    """A table nobody on the team generated: odd names, no model column, no label times,
    no registry; income drifts from day 60 on."""
    import duckdb
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 24_000
    day = np.sort(rng.integers(0, 120, n))
    ts = pd.Timestamp("2025-01-01") + pd.to_timedelta(
        day * 86_400 + rng.integers(0, 86_400, n), "s"
    )
    income = rng.lognormal(10, 0.5, n) * np.where(day >= 60, 1.5, 1.0)
    debt = rng.gamma(2, 0.2, n)
    p = 1 / (1 + np.exp(-(-2 + 2.0 * debt)))
    frame = pd.DataFrame(
        {
            "loan id": np.arange(n).astype(str),
            "applied at": ts,
            "Income": income,
            "debt_ratio": debt,
            "grade": rng.choice(list("ABCD"), n),
            "prob": np.clip(p + rng.normal(0, 0.05, n), 0, 1),
            "ver": "v7",
        }
    )
    if labels:
        frame["defaulted"] = (rng.random(n) < p).astype(int)
    (root / "specs").mkdir(parents=True)
    with duckdb.connect(str(root / "loans.duckdb")) as con:
        con.register("frame", frame)
        con.execute("create table loans as select * from frame")
    label = 'label = "defaulted"' if labels else 'label = ""'
    (root / "specs" / "credit.toml").write_text(
        f"""
[model]
name = "credit-risk"

[telemetry]
source = "duckdb:///../loans.duckdb#loans"

[telemetry.columns]
request_id = "loan id"
ts = "applied at"
model_version = "ver"
score = "prob"
prediction = ""
{label}
features = ["Income", "debt_ratio", "grade"]
categorical = ["grade"]

[reference]
kind = "window"
version = "v7"
start = 2025-01-01
end = 2025-02-01
"""
    )
    return root


@pytest.mark.parametrize("labels", [True, False])
def test_a_table_of_our_own_without_label_times_or_registry(tmp_path: Path, labels: bool) -> None:
    root = _own_table(tmp_path / "ws", labels=labels)
    (health, drift, perf) = run_health(load_portfolio(root))["credit-risk"]
    assert health.error is None and health.version == "v7" and drift is not None
    assert health.verdict in ("watch", "alert")
    assert any(r.startswith("drift in Income since 2025-03-0") for r in health.reasons), (
        health.reasons
    )
    if labels:
        assert perf is not None and "no label arrival times" in " ".join(perf.notes)
        assert health.metric == "roc_auc" and health.baseline is not None
    else:
        assert perf is None and health.metric is None
        assert any("performance not judged" in r for r in health.reasons)


#: The health sweep holds one model's events at a time: measured 260 MB above the imports
#: for the demo's 360,000-event champion with 9 features (about 0.7 KB an event); the cap
#: leaves room for noise, not for a second model's data.
HEALTH_CAP_MB = 400

_CHILD = """
import json, sys
from pathlib import Path
from watchkeeper.core.workbench.health import run_health
from watchkeeper.core.workbench.portfolio import load_portfolio
import watchkeeper.core.drift.engine, watchkeeper.core.evaluation.estimation  # code, not data
import watchkeeper.core.telemetry.sql, duckdb, pyarrow.dataset, scipy.stats  # noqa: E401

def status_mb(key):
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(key + ":"))
    return int(line.split()[1]) / 1024

base = status_mb("VmRSS")
out = run_health(load_portfolio(Path(sys.argv[1])))
print(json.dumps({"verdicts": {k: v[0].verdict for k, v in out.items()},
                  "growth_mb": status_mb("VmHWM") - base}))
"""


@pytest.mark.slow
def test_the_health_sweep_stays_within_its_memory_budget(demo_workspace: Path) -> None:
    import json
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", _CHILD, str(demo_workspace)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    verdicts = report["verdicts"]
    assert verdicts["churn-model"] == "ok" and verdicts["fraud-detector"] in ("watch", "alert")
    assert report["growth_mb"] < HEALTH_CAP_MB, report


def test_the_evidence_digest_does_not_depend_on_the_last_bits_of_a_metric() -> None:
    """A metric aggregated by a warehouse and the same metric on the rows differ by an ulp
    (another summation order): one verdict, one digest. A real difference still shows."""
    from watchkeeper.core.workbench.health import HealthWindow, ModelHealth

    def health(value: float) -> ModelHealth:
        w = HealthWindow(
            0,
            None,
            None,
            10,
            "ok",
            (),
            value,
            value - 0.01,
            value + 0.01,
            "realized",
            False,
            False,
            "ok",
        )
        return ModelHealth("m", "1", "ok", (), windows=(w,), baseline=0.8342404508567095)

    rows, counted = 0.8342404508567095, 0.8342404508567094  # seen on DuckDB and Spark
    assert health(rows).evidence == health(counted).evidence
    assert health(rows).evidence != health(rows + 1e-6).evidence


@pytest.mark.parametrize("path", ["in memory", "streamed", "pushed"])
def test_the_verdict_rests_on_the_decisions_alone(
    demo_workspace: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The sweep leaves out what no decision reads (the exact statistics under the chi-square
    test, the multivariate check): the same verdict, evidence and decisions as from the
    whole drift result, on each of the engine's paths."""
    import numpy as np

    from watchkeeper.core.workbench import analyses
    from watchkeeper.core.workbench.health import assess, health_window

    if path == "streamed":
        monkeypatch.setattr(analyses, "STREAM_BYTES", 0)
    if path == "pushed":
        monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    entry = _entry(demo_workspace, "fraud-detector", 'window = "7d"\n')
    judged, drift, perf = judge_model(entry)
    whole = analyses.run_drift(entry, judged.version, health_window(entry.spec))
    assert drift.decisions_only and not whole.decisions_only
    assert drift.multivariate is None and whole.multivariate is not None
    assert not np.isfinite(np.concatenate([f.windows.column("ks") for f in drift.features])).any()
    assert np.isfinite(np.concatenate([f.windows.column("ks") for f in whole.features])).any()
    assert drift.decisions() == whole.decisions()
    # every column the slice workbook's Drift sheet shows (it asks for the decisions only)
    shown = ("decision", "psi", "js", "p_value", "p_adjusted", "missing_rate", "unseen_rate")
    for fa, fb in zip(drift.to_dict()["features"], whole.to_dict()["features"], strict=True):
        assert [{k: w[k] for k in shown} for w in fa["windows"]] == [
            {k: w[k] for k in shown} for w in fb["windows"]
        ]
    again = assess(whole, perf, entry.spec, judged.window, judged.version)
    assert (judged.verdict, judged.reasons) == (again.verdict, again.reasons)
    assert judged.evidence == again.evidence
    assert judged.verdict in ("watch", "alert")  # the demo's planted drift: a verdict to keep

    # a spec whose test decides on the exact statistics keeps them
    entry = _entry(demo_workspace, "fraud-detector", 'window = "7d"\n')
    ks = entry.spec.model_copy(update={"drift": entry.spec.drift.model_copy(update={"test": "ks"})})
    entry = dataclasses.replace(entry, spec=ks)
    judged, drift, _ = judge_model(entry)
    whole = analyses.run_drift(entry, judged.version, health_window(entry.spec))
    assert np.isfinite(
        np.concatenate([f.windows.column("ks_p_value") for f in drift.features])
    ).any()
    assert drift.decisions() == whole.decisions()
    assert drift.multivariate is None
