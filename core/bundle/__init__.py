"""Offline incident bundles: one signed file holding the evidence of a model over a time range.

* :mod:`.export` — :func:`export_bundle` writes the file (telemetry as Parquet, reference
  profiles, registry snapshot, governance records, the monitor spec, a signed manifest).
* :mod:`.open` — :func:`open_bundle` validates everything and serves it with no network and
  no database.
* :mod:`.outbox` — notes, card drafts and decisions made offline, signed by their author,
  appended inside the bundle file.
* :mod:`.sync` — :func:`sync_bundle` pushes the outbox to the shared database idempotently.

The file layout, the limits and the checks are in :mod:`.format`.
"""

from __future__ import annotations

__all__ = ["BundleInfo", "export_bundle", "open_bundle", "sync_bundle"]


def __getattr__(name: str):
    if name in ("export_bundle", "BundleInfo"):
        from watchkeeper.core.bundle import export

        return getattr(export, name)
    if name == "open_bundle":
        from watchkeeper.core.bundle.open import open_bundle

        return open_bundle
    if name == "sync_bundle":
        from watchkeeper.core.bundle.sync import sync_bundle

        return sync_bundle
    raise AttributeError(name)
