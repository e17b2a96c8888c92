"""Guarded alias moves: "move ``champion`` of M from version A to version B", or nothing.

MLflow's alias API has no compare-and-set, so :func:`move_alias` does the closest thing:

1. check that the target version exists (one call; done first, outside the window);
2. **read** the alias fresh from the registry (one call);
3. **refuse** with :class:`AliasConflict` if it no longer points at ``expected`` — someone
   else moved it since the decision was made — and change nothing;
4. **set** the alias (one call);
5. **re-read** it (one call) and refuse with :class:`AliasConflict` if it is not at the
   target — a concurrent move landed after ours, and the caller must not record a move the
   registry does not show.

The race window: a concurrent move that lands between the server answering step 2 and it
receiving step 4 is overwritten by ours without being seen (the re-read then shows our
version). That window is about one round trip: ~10-20 ms against a light server on the same
host (a call measured ~10 ms), a network round trip plus the server's work elsewhere, and
well under a millisecond on a local SQLite file. A move landing after step 4 is always
detected by step 5. Decisions are recorded with the :class:`AliasMove` returned here, so the
record states the version the alias was seen at just before and just after the write.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from watchkeeper.core.registry.client import Registry
from watchkeeper.core.registry.errors import AliasConflict, RegistryNotFound

__all__ = ["AliasMove", "move_alias"]


@dataclass(frozen=True)
class AliasMove:
    """A confirmed move: ``alias`` of ``model`` went from ``previous`` to ``version``.

    ``previous`` is ``None`` when the alias did not exist; ``changed`` is False when it was
    already at the target (nothing was written).
    """

    registry: str
    model: str
    alias: str
    previous: str | None
    version: str
    changed: bool
    confirmed_at: dt.datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "registry": self.registry,
            "model": self.model,
            "alias": self.alias,
            "previous": self.previous,
            "version": self.version,
            "changed": self.changed,
            "confirmed_at": self.confirmed_at.isoformat().replace("+00:00", "Z"),
        }


def _v(version: str | int | None) -> str | None:
    return None if version is None else str(version)


def move_alias(
    registry: Registry,
    model: str,
    alias: str,
    *,
    expected: str | int | None,
    target: str | int,
) -> AliasMove:
    """Move ``alias`` of ``model`` from ``expected`` to ``target``, or raise and change nothing.

    ``expected=None`` means "the alias must not exist yet". Raises :class:`AliasConflict`
    when the alias is elsewhere before the write or after it, :class:`RegistryNotFound`
    when ``target`` is not a version of ``model``.
    """
    expected_v, target_v = _v(expected), str(target)
    try:
        registry.get_version(model, target_v)
    except RegistryNotFound:
        raise RegistryNotFound(
            f"{model!r} has no version {target_v}; alias {alias!r} was not moved",
            uri=registry.uri,
        ) from None
    current = registry.alias_version(model, alias)
    if current != expected_v:
        raise AliasConflict(
            f"{model!r}: alias {alias!r} points at {_describe(current)}, not "
            f"{_describe(expected_v)} as expected; someone else moved it, nothing was changed",
            uri=registry.uri,
            model=model,
            alias=alias,
            expected=expected_v,
            actual=current,
        )
    if current == target_v:
        return AliasMove(registry.uri, model, alias, current, target_v, False, _now())
    registry.set_alias(model, alias, target_v)
    after = registry.alias_version(model, alias)
    if after != target_v:
        raise AliasConflict(
            f"{model!r}: alias {alias!r} was set to version {target_v} but now points at "
            f"{_describe(after)}; a concurrent move landed after ours, check before deciding",
            uri=registry.uri,
            model=model,
            alias=alias,
            expected=target_v,
            actual=after,
        )
    return AliasMove(registry.uri, model, alias, current, target_v, True, _now())


def _describe(version: str | None) -> str:
    return "no version (unset)" if version is None else f"version {version}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
