"""Where the evidence comes from: a live workspace folder, or an opened offline bundle.

An *evidence* object gives the analyses what they read — the portfolio of models, each
model's telemetry source, a bundled reference profile — and, for a bundle, the governance
records frozen in it and its outbox. The analyses ask the :class:`~.portfolio.ModelEntry`'s
``evidence`` and never care which kind it is.

* :class:`WorkspaceEvidence` — a folder with ``specs/*.toml`` (and the demo's
  ``manifest.json``): telemetry where each spec says, aliases from the MLflow registry,
  decisions in the governance database. Live; may touch the network.
* :class:`BundleEvidence` — one validated bundle (:func:`~watchkeeper.core.bundle.open.
  open_bundle`): its spec reading the bundled Parquet, the registry snapshot's aliases, the
  governance records it froze and the reference profiles. Offline: no socket, no database.
  Decisions made on it go to its outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchkeeper.core.progress import CancelCheck, Progress, check_cancelled
from watchkeeper.core.workbench.portfolio import (
    ModelEntry,
    Portfolio,
    VersionEntry,
    load_portfolio,
    snapshot_aliases,
    version_key,
)
from watchkeeper.core.workbench.records import GovernanceRecords, records_from_bundle

if TYPE_CHECKING:
    from watchkeeper.core.bundle.open import Bundle
    from watchkeeper.core.drift.profile import ReferenceProfile
    from watchkeeper.core.evaluation.intervals import Estimate
    from watchkeeper.core.spec import MonitorSpec
    from watchkeeper.core.telemetry.source import TelemetrySource

__all__ = ["BundleEvidence", "BundleFacts", "WorkspaceEvidence", "open_evidence"]


class WorkspaceEvidence:
    """A live workspace folder: what its specs name."""

    kind = "workspace"
    offline = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def label(self) -> str:
        return self.root.name

    def load_portfolio(
        self, progress: Progress | None = None, cancelled: CancelCheck | None = None
    ) -> Portfolio:
        return load_portfolio(self.root, progress, cancelled)

    def open_source(self, spec: MonitorSpec) -> TelemetrySource:
        from watchkeeper.core.evaluation.data import open_spec_source

        return open_spec_source(spec)

    def reference_profile(self, version: str | None) -> ReferenceProfile | None:
        return None

    def reference_baseline(
        self, version: str, metric: str, start: Any, end: Any
    ) -> Estimate | None:
        return None

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class BundleFacts:
    """What a person must know about an opened bundle, for banners and titles."""

    path: Path
    model: str
    as_of: Any  # datetime
    exporter: str
    exporter_key_id: str
    versions: tuple[str, ...]
    rows: int
    sampled: bool
    start: str | None
    end: str | None
    registry_reason: str | None
    governance_reason: str | None

    def title(self) -> str:
        return f"{self.model} — frozen bundle as of {self.as_of:%Y-%m-%d %H:%M} UTC (offline)"

    def sentence(self) -> str:
        """One line: frozen bundle of <model>, exported by <who> (key), as of <date>, offline."""
        return (
            f"Frozen bundle of {self.model}, exported by {self.exporter} (key "
            f"{self.exporter_key_id}), as of {self.as_of:%Y-%m-%d %H:%M} UTC — offline: "
            "decisions go to the bundle's outbox."
        )


class BundleEvidence:
    """An opened, validated bundle. Close it to remove its extracted telemetry."""

    kind = "bundle"
    offline = True

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.path = Path(bundle.path)
        self._records: GovernanceRecords | None = None

    @classmethod
    def open(cls, path: Path | str, *, trusted_keys: Any = None) -> BundleEvidence:
        """Validate and open the bundle at ``path`` (a BundleError says what is wrong)."""
        from watchkeeper.core.bundle.open import open_bundle

        return cls(open_bundle(path, trusted_keys=trusted_keys))

    @property
    def label(self) -> str:
        return self.path.name

    @property
    def facts(self) -> BundleFacts:
        b = self.bundle
        m = b.manifest
        return BundleFacts(
            path=self.path,
            model=b.model,
            as_of=b.as_of,
            exporter=b.exporter,
            exporter_key_id=b.exporter_key_id,
            versions=b.versions,
            rows=int(m["telemetry"]["rows"]),
            sampled=b.sampling.get("method") != "all",
            start=m["range"].get("start"),
            end=m["range"].get("end"),
            registry_reason=b.registry_reason,
            governance_reason=m["governance"].get("reason"),
        )

    def load_portfolio(
        self, progress: Progress | None = None, cancelled: CancelCheck | None = None
    ) -> Portfolio:
        """The bundle's one model: its versions, their events, their roles.

        Roles come from the registry snapshot; without one, from the governance records
        (the newest approval of a champion, after the rollbacks that followed it).
        """
        from watchkeeper.core.telemetry.contract import TelemetryQuery

        report = progress or (lambda f, m: None)
        b = self.bundle
        notes: list[str] = []
        aliases: dict[str, tuple[str, ...]] = {}
        if b.registry is not None:
            aliases = dict(snapshot_aliases(b.registry).get(b.model, {}))
            aliases_from = "registry snapshot"
        else:
            aliases = _roles_from_records(self.records())
            aliases_from = "governance records" if aliases else "none"
            notes.append(
                f"the bundle holds no registry snapshot ({b.registry_reason}); roles "
                + ("from its governance records" if aliases else "unknown")
            )
        check_cancelled(cancelled)
        report(0.3, "counting the bundled events")
        rows: dict[str, int] = {}
        with b.source() as src:
            for v in b.versions:
                rows[v] = int(src.count(TelemetryQuery(model=b.model, versions=(v,))))
        versions = tuple(
            VersionEntry(v, tuple(aliases.get(v, ())), rows.get(v))
            for v in sorted(set(b.versions), key=version_key)
        )
        entry = ModelEntry(
            name=b.model,
            task=b.spec.model.task,
            versions=versions,
            spec=b.spec,
            spec_path=None,
            description=f"frozen bundle {self.path.name}",
            evidence=self,
        )
        report(1.0, "bundle read")
        return Portfolio(
            workspace=self.path,
            models=(entry,),
            manifest=b.manifest,
            aliases_from=aliases_from,
            notes=tuple(notes),
            kind="bundle",
        )

    def open_source(self, spec: MonitorSpec) -> TelemetrySource:
        return self.bundle.source()

    def reference_profile(self, version: str | None) -> ReferenceProfile | None:
        profiles = self.bundle.profiles
        return profiles.get(version) if version in profiles else profiles.get(None)

    def reference_baseline(
        self, version: str, metric: str, start: Any, end: Any
    ) -> Estimate | None:
        """``metric`` of ``version`` on the reference window ``[start, end)`` as the newest
        approval in the bundle cites it in its evidence (an :class:`Estimate`), or None.

        The bundle holds the reference *profile*, not its events; an approval's evidence
        is the signed record of the metric on that window.
        """
        from watchkeeper.core.evaluation.intervals import Estimate
        from watchkeeper.core.evidence import to_jsonable

        want = {"start": to_jsonable(start), "end": to_jsonable(end)}
        for a in sorted(self.records().approvals, key=lambda a: a.created_at, reverse=True):
            ev = a.evidence if isinstance(a.evidence, dict) else {}
            m = (ev.get("metrics") or {}).get(metric)
            if str(ev.get("version")) != str(version) or ev.get("window") != want:
                continue
            if isinstance(m, dict) and isinstance(m.get("value"), (int, float)):
                return Estimate(
                    float(m["value"]),
                    m.get("lower"),
                    m.get("upper"),
                    str(m.get("method", "none")),
                    int(ev.get("labeled") or 0),
                )
        return None

    def records(self) -> GovernanceRecords:
        """The governance records frozen in the bundle."""
        if self._records is None:
            self._records = records_from_bundle(self.bundle.governance)
        return self._records

    def outbox(self) -> tuple[Any, ...]:
        """The bundle's outbox as the file holds it now (entries are appended while open)."""
        from watchkeeper.core.bundle.open import open_bundle

        with open_bundle(self.path, extract=False) as current:
            return tuple(current.outbox)

    def pending(self) -> tuple[Any, ...]:
        """Outbox entries with no sync receipt in the file."""
        from watchkeeper.core.bundle.open import open_bundle

        with open_bundle(self.path, extract=False) as current:
            return tuple(current.pending())

    def close(self) -> None:
        self.bundle.close()


def _roles_from_records(records: GovernanceRecords) -> dict[str, tuple[str, ...]]:
    """The champion by the decisions: the newest approval as champion or applied rollback."""
    events: list[tuple[Any, str]] = []
    for a in records.approvals:
        if a.decision == "approve" and a.role == "champion":
            events.append((a.created_at, a.model_version))
    applied = {a.rollback_id for a in records.applications if a.result == "succeeded"}
    for r in records.rollbacks:
        if r.id in applied:
            events.append((r.created_at, r.to_version))
    if not events:
        return {}
    champion = max(events, key=lambda e: e[0])[1]
    return {champion: ("champion",)}


def open_evidence(
    location: Path | str, *, trusted_keys: Any = None
) -> WorkspaceEvidence | BundleEvidence:
    """A workspace folder or a bundle file, as evidence."""
    path = Path(location)
    if path.is_dir():
        return WorkspaceEvidence(path)
    return BundleEvidence.open(path, trusted_keys=trusted_keys)
