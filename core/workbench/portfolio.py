"""The portfolio: which models a workspace (or a bundle) holds, their versions and roles."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchkeeper.core.progress import CancelCheck, Progress, check_cancelled

if TYPE_CHECKING:
    from watchkeeper.core.spec import MonitorSpec
    from watchkeeper.core.workbench.evidence import BundleEvidence, WorkspaceEvidence

__all__ = [
    "ModelEntry",
    "Portfolio",
    "VersionEntry",
    "int_or_none",
    "load_portfolio",
    "portfolio_of_spec",
    "read_manifest",
    "registry_aliases",
    "version_key",
]


@dataclass(frozen=True)
class VersionEntry:
    """One model version as the portfolio lists it."""

    version: str
    aliases: tuple[str, ...] = ()  # champion, challenger, ...
    rows: int | None = None  # telemetry events (from the demo manifest, when known)
    mode: str | None = None  # "shadow" when it scores without serving

    @property
    def role(self) -> str:
        """The alias that names the version's role (champion first), or ''."""
        for alias in ("champion", "challenger"):
            if alias in self.aliases:
                return alias
        return self.aliases[0] if self.aliases else ""


@dataclass(frozen=True)
class ModelEntry:
    """A model of the workspace: its spec (None if it failed to load), its versions.

    ``evidence`` is where its data comes from (:mod:`.evidence`); None reads what the spec
    names (the live workspace).
    """

    name: str
    task: str
    versions: tuple[VersionEntry, ...]
    spec: MonitorSpec | None = None
    spec_path: Path | None = None
    spec_error: str | None = None
    description: str = ""
    evidence: WorkspaceEvidence | BundleEvidence | None = field(
        default=None, compare=False, repr=False
    )

    def version(self, version: str) -> VersionEntry | None:
        return next((v for v in self.versions if v.version == version), None)

    @property
    def champion(self) -> str | None:
        """The champion's version (else the newest version), which the views open first."""
        for v in self.versions:
            if "champion" in v.aliases:
                return v.version
        return self.versions[-1].version if self.versions else None


@dataclass(frozen=True)
class Portfolio:
    """What a workspace holds: models, where their versions and aliases came from, notes.

    ``workspace`` is the folder (a workspace) or the bundle file; ``kind`` says which.
    """

    workspace: Path | None
    models: tuple[ModelEntry, ...]
    manifest: Mapping[str, Any] | None
    aliases_from: (
        str  # "registry" | "registry snapshot" | "governance records" | "manifest" |
        # "telemetry" (versions in the data, roles guessed) | "none"
    )
    notes: tuple[str, ...] = ()
    kind: str = "workspace"  # "workspace" | "bundle"

    def model(self, name: str) -> ModelEntry | None:
        return next((m for m in self.models if m.name == name), None)


def read_manifest(workspace: Path | None) -> dict[str, Any] | None:
    """The demo manifest, or None when the folder has none (any workspace may lack it)."""
    if workspace is None:
        return None
    try:
        data = json.loads((workspace / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_portfolio(
    workspace: Path,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
    *,
    evidence: WorkspaceEvidence | BundleEvidence | None = None,
) -> Portfolio:
    """Models from ``specs/*.toml`` and the manifest; aliases from the registry when present.

    A spec that fails to load is listed with its error (the user sees which file and why);
    an unreachable registry falls back to the manifest's roles, and a note says so.
    """
    from watchkeeper.core.errors import WatchkeeperError
    from watchkeeper.core.spec import load_spec

    report = progress or (lambda f, m: None)
    if not workspace.is_dir():
        # an empty list would read as "this workspace has no models", which is not the case
        what = "is a file, not a folder" if workspace.exists() else "does not exist"
        raise WatchkeeperError(
            f"the workspace folder {workspace} {what}; open an existing workspace folder, "
            "or create one with `watchkeeper init` or `watchkeeper demo`"
        )
    notes: list[str] = []
    manifest = read_manifest(workspace)
    specs: dict[str, tuple[MonitorSpec | None, Path | None, str | None]] = {}
    for path in sorted((workspace / "specs").glob("*.toml")):
        try:
            spec = load_spec(path)
            specs[spec.model.name] = (spec, path, None)
        except WatchkeeperError as exc:
            specs[path.stem] = (None, path, str(exc))
    report(0.2, "specs read")
    info = (manifest or {}).get("models", {})
    names = list(dict.fromkeys([*info, *specs]))
    aliases: dict[str, dict[str, tuple[str, ...]]] = {}
    aliases_from = "manifest" if info else "none"
    # absolute: MLflow refuses a relative sqlite path ("can't be expressed as a file URI")
    registry_db = (workspace / "registry" / "mlflow.db").resolve()
    if registry_db.exists():
        check_cancelled(cancelled)
        report(0.3, "reading the registry")
        try:
            aliases = registry_aliases(f"sqlite:///{registry_db}")
            aliases_from = "registry"
        except (WatchkeeperError, ImportError) as exc:
            notes.append(f"registry not read, roles from the manifest: {exc}")
    models = []
    for name in names:
        loaded, where, error = specs.get(name, (None, None, "no monitor spec in specs/"))
        m = info.get(name, {})
        versions = []
        known = dict(m.get("versions", {}))
        for version in aliases.get(name, {}):
            known.setdefault(version, {})
        counted: dict[str, int] = {}
        if loaded is not None and not m.get("versions"):
            # no manifest (any workspace but the demo): versions and their events come
            # from the telemetry; roles from the registry, else guessed from the telemetry
            check_cancelled(cancelled)
            report(0.5, f"{name}: versions in the telemetry")
            counted, note = _telemetry_counts(loaded, evidence)
            if note:
                notes.append(note)
            for version in counted:
                known.setdefault(version, {})
        roles: dict[str, str] = {}
        if counted and not aliases.get(name) and loaded is not None:
            from watchkeeper.core.evaluation.versions import telemetry_roles

            champion, challenger = telemetry_roles(loaded, list(counted))
            aliases_from = "telemetry" if aliases_from == "none" else aliases_from
            roles = {v: r for r, v in (("champion", champion), ("challenger", challenger)) if v}
            notes.append(
                f"{name}: no registry — versions {', '.join(counted)} from the telemetry; "
                f"champion {champion}"
                + (f", challenger {challenger}" if challenger else ", no challenger")
                + " taken from the data (the [reference] version, and a newer one scored "
                "after it)"
            )
        for version in sorted(known, key=version_key):
            v = known[version] if isinstance(known[version], dict) else {}
            if aliases_from == "registry" and aliases.get(name):
                tags = aliases.get(name, {}).get(version, ())
            elif version in roles:
                tags = (roles[version],)
            else:
                tags = (v["role"],) if v.get("role") else ()
            if v.get("rows") is None and version in counted:
                v = {**v, "rows": counted[version]}
            versions.append(
                VersionEntry(str(version), tuple(tags), int_or_none(v.get("rows")), v.get("mode"))
            )
        task = loaded.model.task if loaded is not None else str(m.get("task", "binary"))
        models.append(
            ModelEntry(
                name=name,
                task=task,
                versions=tuple(versions),
                spec=loaded,
                spec_path=where,
                spec_error=error,
                description=str(m.get("description", "")),
                evidence=evidence,
            )
        )
    report(1.0, "portfolio read")
    return Portfolio(workspace, tuple(models), manifest, aliases_from, tuple(notes))


def _telemetry_counts(
    spec: MonitorSpec, evidence: WorkspaceEvidence | BundleEvidence | None
) -> tuple[dict[str, int], str | None]:
    """Events per version in the spec's telemetry, or ({}, why not)."""
    from watchkeeper.core.errors import WatchkeeperError
    from watchkeeper.core.evaluation.versions import telemetry_versions

    try:
        source = evidence.open_source(spec) if evidence is not None else None
        try:
            return telemetry_versions(spec, source), None
        finally:
            if source is not None:
                source.close()
    except WatchkeeperError as exc:
        return {}, f"{spec.model.name}: versions not read from the telemetry: {exc}"


def portfolio_of_spec(path: Path | str) -> Portfolio:
    """A portfolio of the one model a spec file describes (``check --spec``, ``gate``…).

    The spec must load (a :class:`~watchkeeper.core.errors.SpecError` names the bad key);
    versions are not listed here: what an analysis needs (the champion, the challenger) is
    resolved from the spec's registry when it is asked for.
    """
    from watchkeeper.core.spec import load_spec

    path = Path(path).expanduser()
    spec = load_spec(path)
    entry = ModelEntry(
        name=spec.model.name, task=spec.model.task, versions=(), spec=spec, spec_path=path
    )
    return Portfolio(path.parent, (entry,), None, "none")


def registry_aliases(uri: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """Per model, per version, its aliases (one registry snapshot, no lineage)."""
    from watchkeeper.core.registry.client import open_registry

    with open_registry(uri) as registry:
        snap = registry.snapshot(lineage=False)
    return snapshot_aliases(snap)


def snapshot_aliases(snap: Any) -> dict[str, dict[str, tuple[str, ...]]]:
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for rm in snap.models:
        out[rm.name] = {mv.version: tuple(mv.aliases) for mv in rm.versions}
    return out


def version_key(version: str) -> tuple[int, str]:
    """Versions in numeric order ("2" before "10"), other names after."""
    return (int(version), "") if str(version).isdigit() else (1 << 30, str(version))


def int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None
