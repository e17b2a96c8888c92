"""Reading (and deliberately writing) a model registry: the :class:`Registry` protocol and MLflow.

:class:`MlflowRegistry` opens any MLflow tracking URI — ``sqlite:///path/mlflow.db``, another
SQLAlchemy database URL, a file store (``file:///path/mlruns`` or a folder), or a tracking
server over ``http(s)://`` with basic-auth or bearer-token :class:`Credentials` — and talks to
MLflow's own store classes, so credentials stay in this object (no ``MLFLOW_TRACKING_*``
variables are set) and every round trip is counted in :attr:`MlflowRegistry.calls`.

MLflow is imported inside the methods that need it (``import mlflow`` costs ~2 s). MLflow 3
refuses its (maintenance-mode) file store unless ``MLFLOW_ALLOW_FILE_STORE=true``; opening a
file store sets it in the process, as Watchkeeper only reads such stores.

One :meth:`~MlflowRegistry.snapshot` costs a fixed number of calls, whatever the number of
versions: one page of registered models per 1,000 models, one page of model versions per
10,000 versions, one search of experiments, and one search of runs per 1,000 runs (runs come
with their params, metrics, tags and dataset inputs) — 7 calls for 200 models x 20 versions
(``benchmarks/registry.py``). The server's serialisation of the runs dominates such a
refresh, so ``snapshot(lineage=False)`` (2 calls) lists models, versions and aliases quickly
and a model's lineage can follow (``snapshot(model)``). Only artifact listing has no batch
call in MLflow: it costs one call per run (and per listed folder), so it happens only when
asked (``artifacts=True``, or :meth:`~MlflowRegistry.lineage` for one version).

Unreachable servers: MLflow's HTTP client retries with back-off for minutes by default. For
HTTP URIs this object sets ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` and ``MLFLOW_HTTP_REQUEST_TIMEOUT``
in the process (MLflow reads them on each request; they are process-wide) to ``max_retries``
(default 0) and ``timeout`` (default 4 s), so a dead or black-holed server is reported as
:class:`RegistryUnreachable` within about ``timeout × (max_retries + 1)`` seconds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import unquote, urlsplit

from watchkeeper.core.registry.credentials import (
    Credentials,
    redact_uri,
    scrub,
    split_credentials,
    strip_userinfo,
    uri_problem,
)
from watchkeeper.core.registry.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNotFound,
    RegistryUnreachable,
)
from watchkeeper.core.registry.model import (
    USER_TAG,
    Artifact,
    DatasetInput,
    Lineage,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
    from_millis,
)

__all__ = ["DEFAULT_MAX_RETRIES", "DEFAULT_TIMEOUT", "MlflowRegistry", "Registry", "open_registry"]

T = TypeVar("T")

DEFAULT_TIMEOUT = 4  # seconds, connect and each read (MLflow takes whole seconds)
DEFAULT_MAX_RETRIES = 0
MODELS_PAGE = 1000  # MLflow's ceiling for search_registered_models
VERSIONS_PAGE = 10_000
RUNS_CHUNK = 1000  # run ids per `attributes.run_id IN (...)` search
EXPERIMENTS_PAGE = 1000
ARTIFACT_DEPTH = 2  # folders listed below the run's artifact root (e.g. reference/x.parquet)
PROMPT_TAG = "mlflow.prompt.is_prompt"
HTTP_SCHEMES = ("http", "https")
DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


@runtime_checkable
class Registry(Protocol):
    """What Watchkeeper needs of a model registry. ``uri`` never carries a secret."""

    uri: str

    def snapshot(
        self, model: str | None = None, *, artifacts: bool = False, lineage: bool = True
    ) -> RegistrySnapshot:
        """Every model (or one) with versions, aliases and lineage, in a few batch calls."""
        ...

    def get_version(self, model: str, version: str) -> ModelVersion:
        """One version (no lineage); :class:`RegistryNotFound` if absent."""
        ...

    def lineage(self, run_id: str, *, artifacts: bool = True) -> Lineage:
        """The run behind a version, with its artifact tree unless ``artifacts=False``."""
        ...

    def alias_version(self, model: str, alias: str) -> str | None:
        """The version an alias points at now, read fresh; ``None`` if the alias is unset."""
        ...

    def set_alias(self, model: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (unguarded: use :func:`aliases.move_alias`)."""
        ...

    def download_artifact(self, run_id: str, path: str, dest: Path) -> Path:
        """Copy one run artifact file into folder ``dest``; returns the local file."""
        ...

    def close(self) -> None:
        """Release the connections it holds."""
        ...


def open_registry(
    uri: str, credentials: Credentials | None = None, **kwargs: Any
) -> MlflowRegistry:
    """The registry behind ``uri`` (MLflow is the only implementation so far)."""
    return MlflowRegistry(uri, credentials=credentials, **kwargs)


def _scheme(uri: str) -> str:
    scheme = urlsplit(uri).scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, C:\...
        return ""
    return scheme.split("+", 1)[0]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class MlflowRegistry:
    """An MLflow tracking/registry URI, read in batch calls; see the module's docstring."""

    def __init__(
        self,
        uri: str,
        *,
        credentials: Credentials | None = None,
        timeout: int = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        problem = uri_problem(uri.strip())
        if problem is not None:
            raise RegistryError(problem, uri=redact_uri(uri.strip()))
        clean, user, password = split_credentials(uri.strip())
        if credentials is None and (user or password):
            credentials = Credentials(username=user, password=password)
        elif credentials is not None and user and not credentials.username:
            credentials = Credentials(user, credentials.password, credentials.token)
        self._credentials = credentials or Credentials()
        self._target = clean  # no password; may carry a user name for DB URLs
        self.uri = redact_uri(clean)
        self.scheme = _scheme(clean)
        self.timeout = int(timeout)
        self.max_retries = int(max_retries)
        self.calls = 0
        self._tracking: Any = None
        self._models: Any = None
        self._host_creds: Any = None
        if self.scheme not in (*HTTP_SCHEMES, *DB_SCHEMES, "file", ""):
            raise RegistryError(
                f"{self.uri}: unsupported registry URI scheme {self.scheme!r} "
                "(use sqlite:///PATH, a folder or file:///PATH, or http(s)://HOST)",
                uri=self.uri,
            )

    # -- connection ---------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"MlflowRegistry({self.uri!r}, credentials={self._credentials!r})"

    def __enter__(self) -> MlflowRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_remote(self) -> bool:
        return self.scheme in HTTP_SCHEMES

    def _secrets(self) -> tuple[str, ...]:
        secrets = list(self._credentials.secrets())
        _, _, uri_password = split_credentials(self._target)
        if uri_password:
            secrets.append(uri_password)
        return tuple(secrets)

    def _open(self) -> None:
        if self._models is not None:
            return
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        if self.is_remote:
            self._open_rest()
        elif self.scheme in DB_SCHEMES:
            self._open_db()
        else:
            self._open_files()

    def _open_rest(self) -> None:
        # MLflow reads these on every request; they are process-wide (see module docstring).
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(self.max_retries)
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(self.timeout)
        from mlflow.store.model_registry.rest_store import RestStore as ModelsRestStore
        from mlflow.store.tracking.rest_store import RestStore as TrackingRestStore
        from mlflow.utils.rest_utils import MlflowHostCreds

        host = strip_userinfo(self._target).rstrip("/")
        creds = self._credentials
        username = creds.username if creds.password else None
        host_creds = MlflowHostCreds(
            host=host, username=username, password=creds.password, token=creds.token
        )
        self._host_creds = host_creds
        self._tracking = TrackingRestStore(lambda: host_creds)
        self._models = ModelsRestStore(lambda: host_creds)

    def _open_db(self) -> None:
        target = self._target
        if self.scheme == "sqlite":
            path = _sqlite_path(target)
            if path is None:
                raise RegistryError(f"{self.uri}: an in-memory SQLite registry holds nothing")
            if not path.is_file():
                raise RegistryNotFound(f"{self.uri}: no MLflow database at {path}", uri=self.uri)
        with self._translated("open the registry"):
            # MLflow's store creates its tables in any database it opens: refuse a database
            # that is not already an MLflow store rather than write into it.
            self._require_mlflow_tables()
            from mlflow.store.model_registry.sqlalchemy_store import (
                SqlAlchemyStore as ModelsDbStore,
            )
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingDbStore

            full = self._full_db_uri()
            # The artifact root only matters to experiments created through this store,
            # which Watchkeeper never does; runs carry their own artifact URIs.
            default_root = None
            if self.scheme == "sqlite":
                default_root = (_sqlite_path(target).parent / "artifacts").as_uri()  # type: ignore[union-attr]
            self._tracking = TrackingDbStore(full, default_root or "./mlruns")
            self._models = ModelsDbStore(full)

    def _require_mlflow_tables(self) -> None:
        if self.scheme == "sqlite":
            import sqlite3

            path = _sqlite_path(self._target)
            con = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)  # type: ignore[arg-type]
            try:
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            except sqlite3.DatabaseError:
                tables = set()
            finally:
                con.close()
        else:
            import sqlalchemy

            engine = sqlalchemy.create_engine(self._full_db_uri())
            try:
                tables = set(sqlalchemy.inspect(engine).get_table_names())
            finally:
                engine.dispose()
        missing = {"experiments", "runs", "registered_models", "model_versions"} - tables
        if missing:
            raise RegistryError(
                f"{self.uri} is not an MLflow tracking database (no table "
                f"{', '.join(sorted(missing))}); nothing was written to it",
                uri=self.uri,
            )

    def _full_db_uri(self) -> str:
        """The DB URL with its password back in (only ever handed to SQLAlchemy)."""
        password = self._credentials.password
        if not password or self.scheme == "sqlite":
            return self._target
        parts = urlsplit(self._target)
        from urllib.parse import quote

        # the URI keeps its user name as written (percent-encoded); encode it once only
        user = unquote(parts.username or "") or self._credentials.username or ""
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
        return parts._replace(netloc=netloc).geturl()

    def _open_files(self) -> None:
        root = _file_path(self._target)
        if not root.is_dir():
            raise RegistryNotFound(f"{self.uri}: no MLflow file store at {root}", uri=self.uri)
        # MLflow 3 refuses its file store unless this is set; Watchkeeper only reads it.
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        with self._translated("open the registry"):
            from mlflow.store.model_registry.file_store import FileStore as ModelsFileStore
            from mlflow.store.tracking.file_store import FileStore as TrackingFileStore

            self._tracking = TrackingFileStore(str(root), root.as_uri())
            self._models = ModelsFileStore(str(root))

    @property
    def _m(self) -> Any:
        """The model-registry store, opened on first use."""
        self._open()
        return self._models

    @property
    def _t(self) -> Any:
        """The tracking store, opened on first use."""
        self._open()
        return self._tracking

    def close(self) -> None:
        for store in (self._tracking, self._models):
            engine = getattr(store, "engine", None)
            if engine is not None:
                with contextlib.suppress(Exception):
                    engine.dispose()
        self._tracking = self._models = None

    # -- error translation -------------------------------------------------------------

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        except RegistryError:
            raise
        except Exception as exc:
            raise self._translate(exc, what, time.monotonic() - started) from None

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self._open()
        self.calls += 1
        # MLflow's file registry store reads logged models through the *global* tracking
        # URI (an MlflowClient() inside it), which would open, and create, ./mlflow.db.
        pin = pinned_tracking_uri(self._target) if self.scheme in ("file", "") else None
        with self._translated(what), pin or contextlib.nullcontext():
            return fn(*args, **kwargs)

    def _translate(self, exc: BaseException, what: str, seconds: float) -> RegistryError:
        text = scrub(" ".join(_chain_text(exc)), self._secrets())
        status = _http_status(exc, text)
        code = str(getattr(exc, "error_code", "") or "")
        where = f"MLflow registry at {self.uri}"
        if _is_unreachable(exc, text):
            reason = _unreachable_reason(text)
            return RegistryUnreachable(
                f"{where} is unreachable ({reason}); gave up after {seconds:.1f} s "
                f"trying to {what}",
                uri=self.uri,
                seconds=seconds,
            )
        user = self._credentials.username
        who = f" for user {user!r}" if user else ""
        if self.scheme in DB_SCHEMES and _db_auth_failed(text):
            db_user = user or split_credentials(self._target)[1]
            login = f"the login for user {db_user!r}" if db_user else "the login"
            return RegistryAuthError(
                f"{where}: the database refused {login}: wrong password or no such role "
                "(check the user name and the password in the URL or the keyring)",
                uri=self.uri,
            )
        if status == 401 or code == "UNAUTHENTICATED" or _db_auth_failed(text):
            kind = self._credentials.kind
            hint = {
                "none": "it needs credentials (set them in the connection profile)",
                "basic": "check the user name and the password in the keyring",
                "token": "check the token in the keyring",
            }[kind]
            return RegistryAuthError(
                f"{where} refused the credentials{who} (HTTP 401 unauthenticated): {hint}",
                uri=self.uri,
                status=401,
            )
        if status == 403 or code == "PERMISSION_DENIED":
            return RegistryAuthError(
                f"{where} denied permission{who} to {what} (HTTP 403 forbidden)",
                uri=self.uri,
                status=403,
            )
        message = _short(scrub(_mlflow_message(exc, text), self._secrets()))
        if code == "RESOURCE_DOES_NOT_EXIST" or status == 404:
            return RegistryNotFound(f"{where}: {message}", uri=self.uri)
        return RegistryError(f"{where} failed to {what}: {message}", uri=self.uri)

    # -- paging helpers -----------------------------------------------------------------

    def _pages(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Iterator[Any]:
        token = None
        while True:
            page = self._call(what, fn, page_token=token, **kwargs)
            yield from page
            token = getattr(page, "token", None)
            if not token:
                return

    # -- reading ------------------------------------------------------------------------

    def snapshot(
        self, model: str | None = None, *, artifacts: bool = False, lineage: bool = True
    ) -> RegistrySnapshot:
        """Every registered model (or ``model`` only), versions, aliases and lineage.

        Costs 4 calls plus one per 1,000 runs (see module docstring). ``lineage=False``
        skips the runs (2 calls; the server's run serialisation dominates a big refresh);
        ``artifacts=True`` adds one call per run and listed folder.
        """
        self._open()
        calls_before = self.calls
        fetched_at = _now()
        if model is not None:
            rms = [self._call(f"read model {model!r}", self._m.get_registered_model, model)]
            flt = f"name={_quote(model)}"
        else:
            rms = list(
                self._pages(
                    "list registered models",
                    self._m.search_registered_models,
                    max_results=MODELS_PAGE,
                )
            )
            flt = None
        rms = [m for m in rms if not _is_prompt(m)]
        names = {m.name for m in rms}
        mvs = [
            mv
            for mv in self._pages(
                "list model versions",
                self._m.search_model_versions,
                filter_string=flt,
                max_results=VERSIONS_PAGE,
            )
            if mv.name in names
        ]
        run_ids = sorted({mv.run_id for mv in mvs if mv.run_id}) if lineage else []
        runs = self._runs(run_ids)
        lineages: dict[str, Lineage] = {}
        for run_id, run in runs.items():
            arts = self._list_artifacts(run) if artifacts else None
            lineages[run_id] = _lineage(run, arts)
        by_model: dict[str, list[Any]] = {}
        for mv in mvs:
            by_model.setdefault(mv.name, []).append(mv)
        models = tuple(_registered_model(rm, by_model.get(rm.name, []), lineages) for rm in rms)
        return RegistrySnapshot(
            uri=self.uri,
            fetched_at=fetched_at,
            models=models,
            calls=self.calls - calls_before,
            model_filter=model,
            lineage=lineage,
        )

    def _runs(self, run_ids: list[str]) -> dict[str, Any]:
        if not run_ids:
            return {}
        from mlflow.entities import ViewType

        experiments = [
            e.experiment_id
            for e in self._pages(
                "list experiments",
                self._t.search_experiments,
                view_type=ViewType.ALL,
                max_results=EXPERIMENTS_PAGE,
            )
        ]
        if not experiments:
            return {}
        runs: dict[str, Any] = {}
        for chunk in _chunks(run_ids, RUNS_CHUNK):
            flt = "attributes.run_id IN (" + ", ".join(f"'{r}'" for r in chunk) + ")"
            for run in self._pages(
                "read runs",
                self._t.search_runs,
                experiment_ids=experiments,
                filter_string=flt,
                run_view_type=ViewType.ALL,
                max_results=len(chunk),
            ):
                runs[run.info.run_id] = run
        return runs

    def get_version(self, model: str, version: str) -> ModelVersion:
        mv = self._call(
            f"read version {version} of {model!r}",
            self._m.get_model_version,
            model,
            str(version),
        )
        return _model_version(mv, (), None)

    def lineage(self, run_id: str, *, artifacts: bool = True) -> Lineage:
        run = self._call(f"read run {run_id}", self._t.get_run, run_id)
        return _lineage(run, self._list_artifacts(run) if artifacts else None)

    def alias_version(self, model: str, alias: str) -> str | None:
        rm = self._call(f"read the aliases of {model!r}", self._m.get_registered_model, model)
        target = (rm.aliases or {}).get(alias)
        return None if target is None else str(target)

    def set_alias(self, model: str, alias: str, version: str) -> None:
        self._call(
            f"set alias {alias!r} of {model!r} to version {version}",
            self._m.set_registered_model_alias,
            model,
            alias,
            str(version),
        )

    # -- artifacts -----------------------------------------------------------------------

    def _list_artifacts(self, run: Any) -> tuple[Artifact, ...] | None:
        out: list[Artifact] = []
        pending: list[tuple[str | None, int]] = [(None, 0)]
        try:
            while pending:
                path, depth = pending.pop(0)
                for path_i, is_dir, size in self._list_dir(run, path):
                    out.append(Artifact(path_i, is_dir, size))
                    if is_dir and depth < ARTIFACT_DEPTH:
                        pending.append((path_i, depth + 1))
        except RegistryAuthError:
            raise
        except RegistryUnreachable:
            raise
        except RegistryError:
            return None  # an artifact store this machine cannot reach: lineage without it
        return tuple(sorted(out, key=lambda a: a.path))

    def _list_dir(self, run: Any, path: str | None) -> list[tuple[str, bool, int | None]]:
        what = f"list the artifacts of run {run.info.run_id}"
        if self.is_remote:
            params = {"run_id": run.info.run_id}
            if path:
                params["path"] = path
            data = self._rest_json(what, "/api/2.0/mlflow/artifacts/list", params)
            return [
                (f["path"], bool(f.get("is_dir")), _int(f.get("file_size")))
                for f in data.get("files", [])
            ]

        def local() -> list[tuple[str, bool, int | None]]:
            repo = _artifact_repo(run.info.artifact_uri)
            return [(f.path, bool(f.is_dir), _int(f.file_size)) for f in repo.list_artifacts(path)]

        return self._call(what, local)

    def _rest_json(self, what: str, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        def request() -> dict[str, Any]:
            from mlflow.utils.rest_utils import http_request, verify_rest_response

            response = http_request(self._host_creds, endpoint, "GET", params=params)
            verify_rest_response(response, endpoint)
            return response.json()

        return self._call(what, request)

    def download_artifact(self, run_id: str, path: str, dest: Path) -> Path:
        """Copy one artifact file of run ``run_id`` into folder ``dest``."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        what = f"download artifact {path!r} of run {run_id}"
        if self.is_remote:

            def fetch() -> Path:
                from mlflow.utils.rest_utils import http_request, verify_rest_response

                response = http_request(
                    self._host_creds,
                    "/get-artifact",
                    "GET",
                    params={"path": path, "run_uuid": run_id},
                    stream=True,
                )
                verify_rest_response(response, "/get-artifact")
                target = dest / Path(path).name
                tmp = target.with_suffix(target.suffix + ".part")
                with tmp.open("wb") as fh:
                    for block in response.iter_content(1 << 20):
                        fh.write(block)
                tmp.replace(target)
                return target

            return self._call(what, fetch)
        run = self._call(f"read run {run_id}", self._t.get_run, run_id)

        def copy() -> Path:
            repo = _artifact_repo(run.info.artifact_uri)
            return Path(repo.download_artifacts(path, dst_path=str(dest)))

        return self._call(what, copy)


# -- conversion from MLflow entities --------------------------------------------------------


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _is_prompt(rm: Any) -> bool:
    tags = getattr(rm, "_tags", None) or {}
    return str(tags.get(PROMPT_TAG, "")).lower() == "true"


def _metric(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _lineage(run: Any, artifacts: tuple[Artifact, ...] | None) -> Lineage:
    info, data = run.info, run.data
    datasets = []
    inputs = getattr(run, "inputs", None)
    for di in getattr(inputs, "dataset_inputs", None) or ():
        ds = di.dataset
        context = next((t.value for t in di.tags or () if t.key == "mlflow.data.context"), None)
        datasets.append(
            DatasetInput(ds.name, ds.digest, ds.source_type, ds.source, context=context)
        )
    tags = dict(data.tags or {})
    return Lineage(
        run_id=info.run_id,
        experiment_id=str(info.experiment_id) if info.experiment_id is not None else None,
        run_name=info.run_name or tags.get("mlflow.runName"),
        status=info.status,
        start_time=from_millis(info.start_time),
        end_time=from_millis(info.end_time),
        user=tags.get(USER_TAG) or info.user_id or None,
        artifact_uri=info.artifact_uri,
        params=dict(data.params or {}),
        metrics={k: _metric(v) for k, v in (data.metrics or {}).items()},
        tags=tags,
        datasets=tuple(sorted(datasets, key=lambda d: (d.context or "", d.name, d.digest))),
        artifacts=artifacts,
    )


def _model_version(mv: Any, aliases: Iterable[str], lineage: Lineage | None) -> ModelVersion:
    return ModelVersion(
        model=mv.name,
        version=str(mv.version),
        created=from_millis(mv.creation_timestamp),
        updated=from_millis(mv.last_updated_timestamp),
        description=mv.description or "",
        status=str(mv.status or "READY"),
        stage=str(mv.current_stage or "None"),
        source=mv.source or "",
        run_id=mv.run_id or None,
        user_id=mv.user_id or None,
        tags=dict(mv.tags or {}),
        aliases=tuple(aliases),
        lineage=lineage,
    )


def _registered_model(rm: Any, mvs: list[Any], lineages: dict[str, Lineage]) -> RegisteredModel:
    aliases = {k: str(v) for k, v in (rm.aliases or {}).items()}
    per_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        per_version.setdefault(version, []).append(alias)
    versions = tuple(
        _model_version(
            mv,
            per_version.get(str(mv.version), ()),
            lineages.get(mv.run_id) if mv.run_id else None,
        )
        for mv in mvs
    )
    return RegisteredModel(
        name=rm.name,
        description=rm.description or "",
        created=from_millis(rm.creation_timestamp),
        updated=from_millis(rm.last_updated_timestamp),
        tags=dict(rm.tags or {}),
        aliases=aliases,
        versions=versions,
    )


# -- small helpers --------------------------------------------------------------------------


def _quote(value: str) -> str:
    """A string literal for MLflow's search filter grammar."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise RegistryError(f"model name {value!r} has both quote kinds and cannot be searched")


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _sqlite_path(uri: str) -> Path | None:
    rest = uri.split(":", 1)[1]
    if not rest.startswith("//"):
        return None
    path = rest[2:]
    if path in ("", "/", "/:memory:") or path.startswith("/file::memory:"):
        return None
    path = path[1:] if path.startswith("/") else path  # sqlite:///rel -> rel, ////abs -> /abs
    path = path.split("?", 1)[0]
    return Path(unquote(path))


def _file_path(uri: str) -> Path:
    if uri.lower().startswith("file:"):
        parts = urlsplit(uri)
        return Path(unquote(parts.path))
    return Path(uri).expanduser()


def pinned_tracking_uri(uri: str) -> contextlib.AbstractContextManager[Any]:
    """MLflow's global tracking URI set to ``uri`` for a ``with`` block (then restored)."""
    try:
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri
    except ImportError:  # pragma: no cover - a future MLflow without it
        return contextlib.nullcontext()
    return _use_tracking_uri(uri)


def _artifact_repo(artifact_uri: str) -> Any:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(artifact_uri)


def _chain_text(exc: BaseException) -> list[str]:
    seen: list[str] = []
    cur: BaseException | None = exc
    depth = 0
    while cur is not None and depth < 8:
        seen.append(f"{type(cur).__name__}: {cur}")
        cur = cur.__cause__ or cur.__context__
        depth += 1
    return seen


def _chain(exc: BaseException) -> Iterator[BaseException]:
    cur: BaseException | None = exc
    depth = 0
    while cur is not None and depth < 8:
        yield cur
        cur = cur.__cause__ or cur.__context__
        depth += 1


_UNREACHABLE_MARKERS = (
    "Connection refused",
    "Failed to establish a new connection",
    "Max retries exceeded",
    "Name or service not known",
    "Temporary failure in name resolution",
    "nodename nor servname",
    "timed out",
    "Read timed out",
    "Connection aborted",
    "Connection reset",
    "RemoteDisconnected",
    "could not connect to server",
    "Connection timed out",
    "No route to host",
)


def _is_unreachable(exc: BaseException, text: str) -> bool:
    for e in _chain(exc):
        name = type(e).__name__
        if name in (
            "ConnectionError",
            "ConnectTimeout",
            "ReadTimeout",
            "Timeout",
            "NewConnectionError",
            "MaxRetryError",
            "ConnectionRefusedError",
        ):
            return True
    if re.search(r"\b(401|403)\b", text) and "error code" in text:
        return False
    return any(marker in text for marker in _UNREACHABLE_MARKERS)


def _unreachable_reason(text: str) -> str:
    if "refused" in text:
        return "connection refused"
    if "timed out" in text or "Timeout" in text:
        return "no answer, timed out"
    if "resolution" in text or "not known" in text or "servname" in text:
        return "host name not found"
    if "reset" in text or "aborted" in text or "RemoteDisconnected" in text:
        return "connection dropped"
    return "no connection"


def _http_status(exc: BaseException, text: str) -> int | None:
    for e in _chain(exc):
        response = getattr(e, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
    m = re.search(r"error code (\d{3})", text)
    return int(m.group(1)) if m else None


_DB_LOGIN_REFUSED = (
    "password authentication failed",  # PostgreSQL: wrong password, or no such role
    "no password supplied",  # PostgreSQL: a password is needed and none was given
    "Access denied for user",  # MySQL
    "Login failed for user",  # SQL Server
)


def _db_auth_failed(text: str) -> bool:
    return any(marker in text for marker in _DB_LOGIN_REFUSED) or bool(
        re.search(r'role "[^"]*" does not exist', text)
    )


def _mlflow_message(exc: BaseException, text: str) -> str:
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message:
        return message
    return str(exc) or text


def _short(message: str, limit: int = 300) -> str:
    one_line = " ".join(message.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
