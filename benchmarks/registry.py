"""Registry benchmark (not a timed test): listing a large MLflow registry over HTTP.

    .venv/bin/python benchmarks/registry.py                    # 200 models x 20 versions
    .venv/bin/python benchmarks/registry.py --models 50 --versions 10 --repeat 3
    .venv/bin/python benchmarks/registry.py --naive-sample 100  # also time the naive way

1. Fill a fresh ``mlflow server``'s SQLite backend (MLflow's own store classes, written
   directly before the server starts — filling 4,000 versions over HTTP would take minutes):
   M models x V versions, each version with its own run (8 params, 4 metrics, commit and user
   tags, one dataset input), aliases ``champion`` and ``challenger`` on every model.
2. Start the light server (ENVIRONMENT.md flags, one worker) on loopback.
3. Time ``MlflowRegistry.snapshot()`` — every model, version, alias and lineage — cold (new
   client) and warm (same client, repeated), and count the round trips two ways: the
   registry's own counter and every HTTP request seen by ``requests`` (``Session.send``).
4. With ``--naive-sample N``: the per-version way (``MlflowClient.search_registered_models``,
   then per model ``search_model_versions`` and per version ``get_run``) timed on N versions
   and extrapolated, to show what the batch calls save.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' mlflow server starter

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


class HttpCounter:
    """Counts every HTTP request made through ``requests`` while active."""

    def __init__(self) -> None:
        self.count = 0
        self._orig = None

    def __enter__(self) -> HttpCounter:
        import requests

        self._orig = requests.Session.send
        counter = self

        def send(session, request, **kwargs):  # type: ignore[no-untyped-def]
            counter.count += 1
            return counter._orig(session, request, **kwargs)

        requests.Session.send = send  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        import requests

        requests.Session.send = self._orig  # type: ignore[method-assign]


def fill(db: Path, models: int, versions: int) -> float:
    """Write the registry straight into the server's future backend store."""
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as Models
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as Tracking

    t0 = time.perf_counter()
    uri = f"sqlite:///{db}"
    tracking = Tracking(uri, "mlflow-artifacts:/")
    registry = Models(uri)
    base = 1_767_225_600_000  # 2026-01-01
    for m in range(models):
        name = f"bench-model-{m:03d}"
        exp_id = tracking.create_experiment(f"{name}-training", "mlflow-artifacts:/" + name)
        registry.create_registered_model(name, description=f"benchmark model {m}")
        for v in range(versions):
            started = base + (m * versions + v) * 60_000
            run = tracking.create_run(
                exp_id, user_id="bench", start_time=started, tags=[], run_name=f"{name}-v{v + 1}"
            )
            run_id = run.info.run_id
            tracking.log_batch(
                run_id,
                metrics=[Metric(k, 0.5 + 0.001 * v, started, 0)
                         for k in ("roc_auc", "precision", "recall", "log_loss")],
                params=[Param(f"p{i}", str(i * v)) for i in range(8)],
                tags=[RunTag("mlflow.source.git.commit", f"{m:04x}{v:04x}" + "0" * 32),
                      RunTag("mlflow.user", f"user{m % 7}")],
            )  # fmt: skip
            ds = Dataset(f"{name}-reference", f"{m:04x}{v:04x}", "local",
                         '{"uri": "s3://bench/reference.parquet"}')  # fmt: skip
            tracking.log_inputs(run_id, [DatasetInput(ds, [InputTag("mlflow.data.context",
                                                                     "training")])])  # fmt: skip
            registry.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run_id)
        registry.set_registered_model_alias(name, "champion", str(versions - 1))
        registry.set_registered_model_alias(name, "challenger", str(versions))
    tracking.engine.dispose()
    registry.engine.dispose()
    return time.perf_counter() - t0


def naive(url: str, sample: int) -> tuple[float, int, int]:
    """The per-version way on ``sample`` versions: (seconds, requests, versions done)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    done = 0
    with HttpCounter() as http:
        t0 = time.perf_counter()
        for rm in client.search_registered_models(max_results=1000):
            client.get_registered_model(rm.name)  # aliases
            for mv in client.search_model_versions(f"name='{rm.name}'"):
                client.get_run(mv.run_id)
                done += 1
                if done >= sample:
                    return time.perf_counter() - t0, http.count, done
        return time.perf_counter() - t0, http.count, done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=200)
    ap.add_argument("--versions", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--naive-sample", type=int, default=0, metavar="N")
    args = ap.parse_args()

    from mlflow_server import MlflowServer

    from watchkeeper.core.registry.client import MlflowRegistry

    shm = Path("/dev/shm")
    tmp_root = str(shm) if shm.is_dir() else None
    total = args.models * args.versions
    server = MlflowServer(parent=tmp_root)
    try:
        fill_s = fill(server.root / "mlflow.db", args.models, args.versions)
        print(f"filled {args.models} models x {args.versions} versions "
              f"({total} versions, {total} runs) in {fill_s:.1f} s")  # fmt: skip
        t0 = time.perf_counter()
        server.start().wait_ready()
        print(f"server ready in {time.perf_counter() - t0:.1f} s at {server.url} (1 worker)")

        cold, warm = [], []
        for i in range(args.repeat):
            with HttpCounter() as http:
                t0 = time.perf_counter()
                reg = MlflowRegistry(server.url)
                snap = reg.snapshot()
                cold.append(time.perf_counter() - t0)
            if i == 0:
                versions = sum(len(m.versions) for m in snap.models)
                lineage = sum(1 for m in snap.models for v in m.versions if v.lineage)
                aliases = sum(len(m.aliases) for m in snap.models)
                assert len(snap.models) == args.models and versions == total == lineage
                print(f"snapshot: {len(snap.models)} models, {versions} versions, "
                      f"{aliases} aliases, {lineage} lineages")  # fmt: skip
                print(f"calls per refresh: {snap.calls} (registry counter), "
                      f"{http.count} HTTP requests (requests.Session.send)")  # fmt: skip
            t0 = time.perf_counter()
            reg.snapshot()
            warm.append(time.perf_counter() - t0)
            reg.close()
        print(f"list everything, cold client: median {statistics.median(cold):.2f} s "
              f"(min {min(cold):.2f}, max {max(cold):.2f}, n={len(cold)})")  # fmt: skip
        print(f"list everything, warm client: median {statistics.median(warm):.2f} s "
              f"(min {min(warm):.2f}, max {max(warm):.2f}, n={len(warm)})")  # fmt: skip

        bare = []
        with MlflowRegistry(server.url) as reg:
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                quick = reg.snapshot(lineage=False)
                bare.append(time.perf_counter() - t0)
        print(f"list models, versions, aliases without lineage: median "
              f"{statistics.median(bare):.2f} s, {quick.calls} calls")  # fmt: skip

        with HttpCounter() as http, MlflowRegistry(server.url) as reg:
            t0 = time.perf_counter()
            one = reg.snapshot(f"bench-model-{min(7, args.models - 1):03d}")
            took = time.perf_counter() - t0
        print(f"one model with lineage: {took * 1000:.0f} ms, {one.calls} calls")

        with HttpCounter() as http, MlflowRegistry(server.url) as reg:
            t0 = time.perf_counter()
            one = reg.snapshot(f"bench-model-{min(7, args.models - 1):03d}", artifacts=True)
            took = time.perf_counter() - t0
        print(f"one model with artifact listing: {took * 1000:.0f} ms, {one.calls} calls "
              f"({http.count} HTTP; artifacts have no batch call: 1 per run)")  # fmt: skip

        if args.naive_sample:
            secs, requests_n, done = naive(server.url, args.naive_sample)
            per = secs / max(done, 1)
            calls_full = 1 + 2 * args.models + total
            print(f"naive per-version reads: {done} versions in {secs:.2f} s, {requests_n} "
                  f"requests; extrapolated to {total}: ~{per * total:.0f} s, "
                  f"{calls_full} requests")  # fmt: skip
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
