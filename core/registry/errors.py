"""Errors of registry access, each a :class:`WatchkeeperError` (CLI exit 2, one line).

Messages name the registry by its redacted URI and never contain a password or token.
"""

from __future__ import annotations

from watchkeeper.core.errors import WatchkeeperError

__all__ = [
    "AliasConflict",
    "RegistryAuthError",
    "RegistryError",
    "RegistryNotFound",
    "RegistryUnreachable",
]


class RegistryError(WatchkeeperError):
    """The registry could not answer as asked; ``uri`` is the redacted location."""

    def __init__(self, message: str, *, uri: str | None = None) -> None:
        super().__init__(message)
        self.uri = uri


class RegistryUnreachable(RegistryError):
    """No answer: connection refused, timed out, host unknown. The cache may still answer."""

    def __init__(self, message: str, *, uri: str | None = None, seconds: float | None = None):
        super().__init__(message, uri=uri)
        self.seconds = seconds


class RegistryAuthError(RegistryError):
    """The registry answered and refused: wrong credentials (401) or no permission (403)."""

    def __init__(self, message: str, *, uri: str | None = None, status: int | None = None):
        super().__init__(message, uri=uri)
        self.status = status


class RegistryNotFound(RegistryError):
    """A model, version, alias or artifact that the registry does not have."""


class AliasConflict(RegistryError):
    """An alias was not where the decision expected it: someone else moved it."""

    def __init__(
        self,
        message: str,
        *,
        uri: str | None = None,
        model: str,
        alias: str,
        expected: str | None,
        actual: str | None,
    ) -> None:
        super().__init__(message, uri=uri)
        self.model = model
        self.alias = alias
        self.expected = expected
        self.actual = actual
