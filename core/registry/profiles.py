"""Connection profiles: where a team's registry, telemetry and shared database are — no secrets.

A :class:`Profile` names a registry URI, a telemetry source and a shared-database URL under a
display name. :class:`ProfileStore` keeps them in ``config_dir()/profiles.json``; passwords
and tokens go to the OS keyring (service ``watchkeeper``, user ``profile:<name>:<kind>``)
and nowhere else: a password written inside a URL (``http://alice:pw@host``) is taken out
of the URL and moved to the keyring when the profile is saved.

:func:`keyring_status` says which keyring backend would hold the secrets. Without a desktop
keyring (no D-Bus session), ``keyring`` falls back to keyrings.alt's ``PlaintextKeyring``,
which only base64-encodes secrets in a file: the store then refuses to save a secret
(:class:`PlaintextKeyringError`, which says so and where the file is) unless the caller
passes ``allow_plaintext=True`` after telling the user.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.paths import config_dir
from watchkeeper.core.registry.credentials import Credentials, split_credentials, strip_userinfo

__all__ = [
    "SECRET_KINDS",
    "KeyringStatus",
    "KeyringUnavailable",
    "PlaintextKeyringError",
    "Profile",
    "ProfileError",
    "ProfileStore",
    "keyring_status",
]

SERVICE = "watchkeeper"
SECRET_KINDS = ("registry-password", "registry-token", "telemetry-password", "database-password")
AUTH_KINDS = ("none", "basic", "token")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FORMAT = 1


class ProfileError(WatchkeeperError):
    """A profile that cannot be saved or found; the message names the profile and the key."""


class KeyringUnavailable(WatchkeeperError):
    """No keyring backend can store a secret on this machine."""


class PlaintextKeyringError(WatchkeeperError):
    """The only keyring backend stores secrets in plain text and the user has not agreed."""


@dataclass(frozen=True)
class KeyringStatus:
    """Which keyring backend holds secrets, and whether it is one a user should trust."""

    backend: str
    usable: bool
    plaintext: bool
    location: str | None
    message: str


def _backend_name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_plaintext(backend: Any) -> bool:
    name = _backend_name(backend)
    return "Plaintext" in name or (
        name.startswith("keyrings.alt.") and "Encrypted" not in name and "Windows" not in name
    )


def keyring_status() -> KeyringStatus:
    """Describe the keyring backend ``keyring`` would use to store a secret now."""
    import keyring
    from keyring.backends import chainer, fail

    active = keyring.get_keyring()
    backends = list(active.backends) if isinstance(active, chainer.ChainerBackend) else [active]
    backends = [b for b in backends if not isinstance(b, fail.Keyring)]
    backends = [b for b in backends if not _backend_name(b).startswith("keyring.backends.null")]
    if not backends:
        return KeyringStatus(
            backend=_backend_name(active),
            usable=False,
            plaintext=False,
            location=None,
            message="no OS keyring is available to store passwords (Secret Service, KWallet, "
            "macOS Keychain or Windows Credential Locker); Watchkeeper stores them nowhere else",
        )
    first = backends[0]  # the chainer writes to the highest-priority backend
    name = _backend_name(first)
    location = getattr(first, "file_path", None)
    if _is_plaintext(first):
        where = f" in {location}" if location else ""
        return KeyringStatus(
            backend=name,
            usable=True,
            plaintext=True,
            location=str(location) if location else None,
            message=f"the only keyring available here ({name}) stores secrets in plain text"
            f"{where} (base64, readable by anyone who can read the file); "
            "unlock or install an OS keyring (Secret Service, KWallet) to keep them encrypted",
        )
    return KeyringStatus(
        backend=name,
        usable=True,
        plaintext=False,
        location=str(location) if location else None,
        message=f"secrets are kept in the OS keyring ({name})",
    )


@dataclass(frozen=True)
class Profile:
    """Where one team's things are. No field ever holds a password or token.

    ``registry_auth`` says which secret the registry needs: ``none``, ``basic`` (user name
    ``registry_username`` and a password in the keyring) or ``token`` (in the keyring).
    """

    name: str
    display_name: str = ""
    registry_uri: str | None = None
    registry_auth: str = "none"
    registry_username: str | None = None
    telemetry_source: str | None = None
    shared_db_url: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name or ""):
            raise ProfileError(
                f"profile name {self.name!r}: use 1-64 letters, digits, '.', '_' or '-'"
            )
        if self.registry_auth not in AUTH_KINDS:
            raise ProfileError(
                f"profile {self.name!r}: registry_auth {self.registry_auth!r} is not one of "
                f"{', '.join(AUTH_KINDS)}"
            )
        if not self.display_name:
            object.__setattr__(self, "display_name", self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "registry_uri": self.registry_uri,
            "registry_auth": self.registry_auth,
            "registry_username": self.registry_username,
            "telemetry_source": self.telemetry_source,
            "shared_db_url": self.shared_db_url,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Profile:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ProfileError(
                f"profile {d.get('name')!r}: unknown key(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        return cls(**{k: d[k] for k in d})


def _secret_user(profile: str, kind: str) -> str:
    if kind not in SECRET_KINDS:
        raise ProfileError(f"secret kind {kind!r} is not one of {', '.join(SECRET_KINDS)}")
    return f"profile:{profile}:{kind}"


class ProfileStore:
    """Profiles in ``profiles.json`` under the config folder; their secrets in the keyring."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else config_dir() / "profiles.json"

    # -- file ----------------------------------------------------------------------------

    def _read(self) -> dict[str, Profile]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ProfileError(f"{self.path}: not a readable profiles file ({exc})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("profiles"), list):
            raise ProfileError(f"{self.path}: expected {{'profiles': [...]}}")
        out: dict[str, Profile] = {}
        for item in doc["profiles"]:
            profile = Profile.from_dict(item)
            out[profile.name] = profile
        return out

    def _write(self, profiles: Mapping[str, Profile]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": FORMAT,
            "profiles": [p.to_dict() for _, p in sorted(profiles.items())],
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".profiles-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=2, ensure_ascii=False)
                fh.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def list(self) -> list[Profile]:
        return [p for _, p in sorted(self._read().items())]

    def get(self, name: str) -> Profile:
        try:
            return self._read()[name]
        except KeyError:
            raise ProfileError(f"no connection profile named {name!r} in {self.path}") from None

    def find_by_registry(self, uri: str) -> Profile | None:
        """The profile whose registry is ``uri`` (compared without user-info; a user named
        in ``uri`` must be the profile's user)."""
        _, user, _ = split_credentials(uri)
        wanted = strip_userinfo(uri).rstrip("/")
        for profile in self.list():
            if not profile.registry_uri:
                continue
            if strip_userinfo(profile.registry_uri).rstrip("/") != wanted:
                continue
            if user and profile.registry_username and user != profile.registry_username:
                continue
            return profile
        return None

    def save(
        self,
        profile: Profile,
        *,
        secrets: Mapping[str, str] | None = None,
        allow_plaintext: bool = False,
    ) -> Profile:
        """Store ``profile`` (replacing one of the same name) and its ``secrets``.

        Passwords found inside the profile's URLs are moved into ``secrets``. ``secrets``
        maps a kind of :data:`SECRET_KINDS` to its value. Nothing is written (neither file
        nor keyring) if the keyring cannot take the secrets.
        """
        secrets = dict(secrets or {})
        clean = {}
        for field_name, kind in (
            ("registry_uri", "registry-password"),
            ("telemetry_source", "telemetry-password"),
            ("shared_db_url", "database-password"),
        ):
            value = getattr(profile, field_name)
            if not value:
                continue
            stripped, user, password = split_credentials(value)
            clean[field_name] = stripped
            if password:
                secrets.setdefault(kind, password)
            if field_name == "registry_uri" and user and not profile.registry_username:
                clean["registry_username"] = user
        profile = replace(profile, **clean)
        if "registry-token" in secrets:
            profile = replace(profile, registry_auth="token")
        elif "registry-password" in secrets and profile.registry_auth == "none":
            profile = replace(profile, registry_auth="basic")
        for kind in secrets:
            _secret_user(profile.name, kind)  # validates kinds before anything is written
        if secrets:
            self._check_keyring(allow_plaintext)
            import keyring

            for kind, value in secrets.items():
                keyring.set_password(SERVICE, _secret_user(profile.name, kind), value)
        profiles = self._read()
        profiles[profile.name] = profile
        self._write(profiles)
        return profile

    def delete(self, name: str) -> None:
        """Remove the profile and its secrets from the keyring."""
        profiles = self._read()
        profiles.pop(name, None)
        self._write(profiles)
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        for kind in SECRET_KINDS:
            with contextlib.suppress(PasswordDeleteError, KeyringError):
                keyring.delete_password(SERVICE, _secret_user(name, kind))

    # -- secrets -------------------------------------------------------------------------

    @staticmethod
    def _check_keyring(allow_plaintext: bool) -> KeyringStatus:
        status = keyring_status()
        if not status.usable:
            raise KeyringUnavailable(status.message)
        if status.plaintext and not allow_plaintext:
            raise PlaintextKeyringError(
                f"{status.message}; Watchkeeper did not store the secret there without your "
                "consent (nothing was saved)"
            )
        return status

    def set_secret(
        self, name: str, kind: str, value: str, *, allow_plaintext: bool = False
    ) -> None:
        user = _secret_user(name, kind)
        self._check_keyring(allow_plaintext)
        import keyring

        keyring.set_password(SERVICE, user, value)

    def get_secret(self, name: str, kind: str) -> str | None:
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(SERVICE, _secret_user(name, kind))
        except KeyringError as exc:
            raise KeyringUnavailable(
                f"the keyring could not be read for profile {name!r} ({type(exc).__name__})"
            ) from None

    def registry_credentials(self, profile: Profile) -> Credentials | None:
        """The registry's credentials from the keyring, or ``None`` if it needs none."""
        if profile.registry_auth == "none":
            return None
        kind = "registry-token" if profile.registry_auth == "token" else "registry-password"
        secret = self.get_secret(profile.name, kind)
        if secret is None:
            raise ProfileError(
                f"profile {profile.name!r}: no {kind} in the keyring "
                f"({keyring_status().backend}); set it again in the profile"
            )
        if kind == "registry-token":
            return Credentials(username=profile.registry_username, token=secret)
        return Credentials(username=profile.registry_username, password=secret)
