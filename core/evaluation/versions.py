"""Which versions are the champion and the challenger: the registry's aliases, else the demo
manifest, else the telemetry.

The spec's ``registry_uri`` (a relative ``sqlite:///`` path is taken relative to the spec's
folder) is asked for ``champion_alias`` / ``challenger_alias``; when it cannot answer (no
registry file, the registry module or MLflow missing, unreachable), the demo workspace's
``manifest.json`` beside the spec folder is read; without either, the versions are the
telemetry's ``model_version`` values (:func:`telemetry_versions`, roles by
:func:`telemetry_roles`). Versions given explicitly always win.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from watchkeeper.core.evaluation.metrics import EvaluationError

__all__ = ["resolve_versions", "telemetry_roles", "telemetry_versions"]


def _registry_versions(spec: Any) -> tuple[dict[str, str | None], str]:
    """Versions behind the aliases in the spec's registry, or ({}, why not)."""
    uri = spec.model.registry_uri
    if not uri:
        return {}, "the spec names no registry_uri"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = uri[len("sqlite:///") :]
        if not Path(path).is_absolute():
            uri = "sqlite:///" + str((spec.base_dir / path).resolve())
    try:
        from watchkeeper.core.registry.client import open_registry
    except ImportError as exc:  # the registry module is optional at this stage
        return {}, f"the registry module cannot be loaded ({exc})"
    from watchkeeper.core.errors import WatchkeeperError

    try:
        registry = open_registry(uri)
        try:
            out = {
                "champion": registry.alias_version(spec.model.name, spec.model.champion_alias),
                "challenger": registry.alias_version(spec.model.name, spec.model.challenger_alias),
            }
        finally:
            registry.close()
    except WatchkeeperError as exc:
        return {}, f"the registry did not answer ({exc})"
    return out, f"registry aliases at {registry.uri}"


def _manifest_versions(spec: Any) -> tuple[dict[str, str | None], str]:
    path = spec.base_dir.parent / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        versions = manifest["models"][spec.model.name]["versions"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}, f"no demo manifest with this model at {path}"
    out: dict[str, str | None] = {"champion": None, "challenger": None}
    for version, info in versions.items():
        role = info.get("role") if isinstance(info, dict) else None
        if role in out:
            out[role] = str(version)
    return out, f"the demo manifest {path}"


def telemetry_versions(spec: Any, source: Any = None) -> dict[str, int]:
    """Each version of the spec's model in its telemetry with its events, in version order.

    A SQL table is grouped where it lives (one statement); files are read one column wide.
    ``source``: an open source of the spec (else the spec's own is opened and closed).
    """
    from watchkeeper.core.evaluation.data import open_spec_source
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.workbench.portfolio import version_key

    query = TelemetryQuery(model=spec.model.name)
    src = source if source is not None else open_spec_source(spec)
    try:
        counts = _grouped_in_sql(src, query)
        if counts is None:
            import pyarrow.compute as pc

            table = src.read(query, columns=["model_version"])
            counts = {
                str(v["values"]): int(v["counts"])
                for v in pc.value_counts(table.column("model_version")).to_pylist()
                if v["values"] is not None
            }
    finally:
        if source is None:
            src.close()
    return {v: counts[v] for v in sorted(counts, key=version_key)}


def _grouped_in_sql(src: Any, query: Any) -> dict[str, int] | None:
    from watchkeeper.core.telemetry.sql import SqlSource, reflect_table

    if not isinstance(src, SqlSource):
        return None
    import sqlalchemy as sa

    constant = src.schema().constant_version
    if constant is not None:  # a table of one version: its rows, counted
        n_rows = int(src.count(query))
        return {constant: n_rows} if n_rows else {}
    column = src.schema().column("model_version").source_name
    with src.engine.connect() as conn:
        table = reflect_table(conn, src.table_name)
        statement = (
            sa.select(table.c[column], sa.func.count())
            .where(*src.where(table, query))
            .group_by(table.c[column])
        )
        rows: list[tuple[Any, int]] = [(r[0], int(r[1])) for r in conn.execute(statement)]
        return {str(v): n for v, n in rows if v is not None}


def telemetry_roles(spec: Any, versions: Sequence[str]) -> tuple[str | None, str | None]:
    """(champion, challenger) among the telemetry's ``versions`` (in version order) when no
    registry names them: the champion is the ``[reference] version`` when it has events, else
    the newest version; the challenger is the newest version after the champion — a version
    scored after the one in service is what a shadow run looks like."""
    if not versions:
        return None, None
    ref = spec.reference.version if spec.reference is not None else None
    champion: str = ref if isinstance(ref, str) and ref in versions else versions[-1]
    later = list(versions)[list(versions).index(champion) + 1 :]
    return champion, (later[-1] if later else None)


def _telemetry_versions(spec: Any) -> tuple[dict[str, str | None], str]:
    from watchkeeper.core.errors import WatchkeeperError

    try:
        versions = list(telemetry_versions(spec))
    except WatchkeeperError as exc:
        return {}, f"the telemetry's versions could not be read ({exc})"
    if not versions:
        return {}, f"the telemetry holds no events of {spec.model.name}"
    champion, challenger = telemetry_roles(spec, versions)
    listed = ", ".join(versions)
    return (
        {"champion": champion, "challenger": challenger},
        f"the telemetry's versions ({listed}; no registry)",
    )


def resolve_versions(
    spec: Any, champion: str | None, challenger: str | None, *, need_challenger: bool = True
) -> tuple[str, str | None, str]:
    """(champion, challenger, where they came from); raises when a needed one stays unknown."""
    if champion and (challenger or not need_challenger):
        return str(champion), None if challenger is None else str(challenger), "the command line"
    reasons = []
    answered = None  # the first source that named any version
    for lookup in (_registry_versions, _manifest_versions, _telemetry_versions):
        if lookup is _telemetry_versions and answered is not None:
            break  # a registry (or manifest) that names roles is not second-guessed
        found, how = lookup(spec)
        if found:
            a = champion or found.get("champion")
            b = challenger or found.get("challenger")
            if a and (b or not need_challenger):
                return str(a), None if b is None else str(b), how
            answered = answered or (a, how)
            missing = "champion" if not a else "challenger"
            reasons.append(f"{how} names no {missing}")
        else:
            reasons.append(how)
    if answered is not None and answered[0]:
        raise EvaluationError(
            f"{spec.model.name} has no challenger to compare with its champion (version "
            f"{answered[0]}): " + "; ".join(reasons) + ". A comparison needs a second version "
            f"scored on the same requests (shadow traffic): set the registry alias "
            f"{spec.model.challenger_alias!r}, or give --challenger V"
        )
    raise EvaluationError(
        "cannot tell which versions to compare: "
        + "; ".join(reasons)
        + " (give --champion and --challenger)"
    )
