"""Which versions are the champion and the challenger: the registry's aliases, else the demo
manifest.

The spec's ``registry_uri`` (a relative ``sqlite:///`` path is taken relative to the spec's
folder) is asked for ``champion_alias`` / ``challenger_alias``; when it cannot answer (no
registry file, the registry module or MLflow missing, unreachable), the demo workspace's
``manifest.json`` beside the spec folder is read. Versions given explicitly always win.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from watchkeeper.core.evaluation.metrics import EvaluationError

__all__ = ["resolve_versions"]


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


def resolve_versions(
    spec: Any, champion: str | None, challenger: str | None, *, need_challenger: bool = True
) -> tuple[str, str | None, str]:
    """(champion, challenger, where they came from); raises when a needed one stays unknown."""
    if champion and (challenger or not need_challenger):
        return str(champion), None if challenger is None else str(challenger), "the command line"
    reasons = []
    for lookup in (_registry_versions, _manifest_versions):
        found, how = lookup(spec)
        if found:
            a = champion or found.get("champion")
            b = challenger or found.get("challenger")
            if a and (b or not need_challenger):
                return str(a), None if b is None else str(b), how
            missing = "champion" if not a else "challenger"
            reasons.append(f"{how} names no {missing}")
        else:
            reasons.append(how)
    raise EvaluationError(
        "cannot tell which versions to compare: "
        + "; ".join(reasons)
        + " (give --champion and --challenger)"
    )
