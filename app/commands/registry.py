"""``watchkeeper registry show --uri URI [--model M] [--json]``: what the registry holds.

Prints models, versions, aliases and each version's lineage (run, user, code commit,
params, metrics, dataset inputs; artifacts too with ``--model``, as listing them costs a
call per run). Credentials for a server come from MLflow's ``MLFLOW_TRACKING_TOKEN`` or
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, or else from the keyring through
the connection profile whose registry is ``URI``. An unreachable registry or refused
credentials end in one line on stderr and exit 2. Each successful answer is kept as the
registry's last known state (the window shows it, marked stale, when offline).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "registry",
        help="read a model registry (models, versions, aliases, lineage)",
        description="Read a model registry (MLflow tracking URI).",
    )
    sub = p.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    show = sub.add_parser(
        "show",
        help="models, versions, aliases and lineage",
        description="Show models, versions, aliases and each version's lineage.",
    )
    show.add_argument(
        "--uri",
        required=True,
        metavar="URI",
        help="MLflow tracking URI: sqlite:///PATH, a folder, or http(s)://HOST",
    )
    show.add_argument("--model", metavar="M", help="only this model (with its artifacts)")
    show.add_argument("--json", action="store_true", help="print one JSON document")
    show.set_defaults(run=run)


def _credentials(uri: str) -> Any:
    from watchkeeper.core.registry.credentials import Credentials, split_credentials

    _, _, inline = split_credentials(uri)
    if inline:
        return None  # the URI's own user-info is used
    env = Credentials.from_environment()
    if env is not None:
        return env
    from watchkeeper.core.registry.profiles import ProfileStore

    store = ProfileStore()
    profile = store.find_by_registry(uri)
    return store.registry_credentials(profile) if profile is not None else None


def run(args: argparse.Namespace) -> int:
    from watchkeeper.core.registry.cache import RegistryCache
    from watchkeeper.core.registry.client import MlflowRegistry
    from watchkeeper.core.registry.errors import RegistryUnreachable

    cache = RegistryCache()
    with MlflowRegistry(args.uri, credentials=_credentials(args.uri)) as registry:
        try:
            snap = registry.snapshot(args.model, artifacts=args.model is not None)
        except RegistryUnreachable as exc:
            cached = cache.load(registry.uri, args.model)
            if cached is not None:
                raise RegistryUnreachable(
                    f"{exc} (last state seen {_when(cached.fetched_at)} is cached; the "
                    "window shows it, marked stale)",
                    uri=exc.uri,
                    seconds=exc.seconds,
                ) from None
            raise
    if args.model is not None and not snap.models:
        from watchkeeper.core.registry.errors import RegistryNotFound

        raise RegistryNotFound(f"{registry.uri} has no registered model {args.model!r}")
    cache.save(snap)
    if args.json:
        json.dump(snap.to_dict(), sys.stdout, indent=2, ensure_ascii=False, allow_nan=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(snap))
    return 0


def _when(t: Any) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ") if t else "-"


def _pairs(mapping: Any, limit: int = 12) -> str:
    items = [f"{k}={v}" for k, v in mapping.items()]
    more = f", … (+{len(items) - limit})" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f" ({n} {unit})" if unit == "B" else f" ({n:.1f} {unit})"
        n /= 1024  # type: ignore[assignment]
    return ""  # pragma: no cover


def render_text(snap: Any) -> str:
    """The human-readable listing (what the registry panel shows)."""
    out: list[str] = []
    state = "STALE " if snap.stale else ""
    out.append(
        f"{state}registry {snap.uri} — {len(snap.models)} model(s), "
        f"read {_when(snap.fetched_at)} in {snap.calls} call(s)"
    )
    for m in snap.models:
        aliases = ", ".join(f"{a} → {v}" for a, v in m.aliases.items()) or "none"
        out.append("")
        out.append(f"{m.name}  (aliases: {aliases})")
        if m.description:
            out.append(f"  {m.description}")
        for v in m.versions:
            tag = f" [{', '.join(v.aliases)}]" if v.aliases else ""
            out.append(
                f"  version {v.version}{tag}  {v.status}  created {_when(v.created)}"
                + (f"  — {v.description}" if v.description else "")
            )
            lin = v.lineage
            if lin is None:
                out.append(f"    run {v.run_id or '-'} (not readable)" if v.run_id else
                           "    no run recorded")  # fmt: skip
                continue
            commit = (lin.git_commit or "-")[:12]
            out.append(
                f"    run {lin.run_id} ({lin.run_name or '-'}) by {lin.user or '-'}, "
                f"commit {commit}, {lin.status or '-'} {_when(lin.start_time)}"
            )
            if lin.params:
                out.append(f"    params: {_pairs(lin.params)}")
            if lin.metrics:
                metrics = {k: ("null" if x is None else f"{x:g}") for k, x in lin.metrics.items()}
                out.append(f"    metrics: {_pairs(metrics)}")
            for d in lin.datasets:
                ctx = f" ({d.context})" if d.context else ""
                out.append(f"    dataset{ctx}: {d.name} digest {d.digest} [{d.source_type}]")
            if lin.artifacts is not None:
                files = [f"{a.path}{_size(a.size)}" for a in lin.artifacts if not a.is_dir]
                out.append(f"    artifacts: {', '.join(files) if files else 'none'}")
    from watchkeeper.core.text import printable

    return "\n".join(printable(line) for line in out) + "\n"  # newlines in names escaped
