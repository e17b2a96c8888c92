"""Who is writing: proven by the server on PostgreSQL, the OS login (unverified) on SQLite.

PostgreSQL records ``current_user`` — the role the user signed in as — and a trigger refuses
any record that names someone else (migration ``0003_guards``), so the client cannot claim
another identity. A SQLite file has no server: the identity is the OS login, and records and
the UI say plainly that it is unverified.

Every user also holds an Ed25519 key. The private key lives only in the OS keyring (service
:data:`KEYRING_SERVICE`, user name = the identity's name); its public key is registered in
the database the first time the user writes there.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

import sqlalchemy as sa

from watchkeeper.core import notices
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.governance.signing import Signer

__all__ = [
    "KEYRING_SERVICE",
    "Identity",
    "keyring_warning",
    "load_signer",
    "resolve_identity",
]

KEYRING_SERVICE = "watchkeeper-signing-key"


@dataclass(frozen=True)
class Identity:
    """The name records carry, and whether a server vouches for it."""

    name: str
    verified: bool

    def describe(self) -> str:
        if self.verified:
            return f"{self.name} (PostgreSQL role, verified by the server)"
        return (
            f"{self.name} (OS login, unverified: a local SQLite database cannot prove who you are)"
        )


def os_login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment (e.g. no passwd entry)
        return "unknown"


def resolve_identity(conn: sa.Connection) -> Identity:
    """The identity this connection writes as."""
    if conn.dialect.name == "postgresql":
        name: str = conn.execute(sa.text("SELECT current_user")).scalar_one()
        return Identity(str(name), verified=True)
    return Identity(os_login(), verified=False)


def load_signer(name: str, *, create: bool = True) -> Signer:
    """The user's private key from the OS keyring, made (and stored there) on first use.

    When that keyring keeps it in the clear, :func:`keyring_warning`'s sentence goes to
    :func:`watchkeeper.core.notices.notify` (the CLI prints it on stderr).
    """
    import keyring
    from keyring.errors import KeyringError

    try:
        secret = keyring.get_password(KEYRING_SERVICE, name)
    except KeyringError as exc:
        raise WatchkeeperError(f"cannot read your signing key from the OS keyring: {exc}") from None
    if secret:
        try:
            signer = Signer.from_secret(secret)
        except ValueError:
            raise WatchkeeperError(
                f"the signing key for {name!r} in the OS keyring (service {KEYRING_SERVICE!r}) "
                "is damaged; remove it to have a new one made"
            ) from None
        _warn_if_unprotected()
        return signer
    if not create:
        raise WatchkeeperError(f"no signing key for {name!r} in the OS keyring")
    signer = Signer.generate()
    try:
        keyring.set_password(KEYRING_SERVICE, name, signer.secret())
    except KeyringError as exc:
        raise WatchkeeperError(
            f"cannot store a signing key in the OS keyring ({exc}); install a keyring backend"
        ) from None
    _warn_if_unprotected()
    return signer


def _warn_if_unprotected() -> None:
    warning = keyring_warning()
    if warning is not None:
        notices.notify(warning)


def keyring_warning(backend: object | None = None) -> str | None:
    """A sentence for the user when the keyring (default: the one in use) keeps secrets in
    the clear: keyrings.alt's plaintext file, directly or first in keyring's chain."""
    import keyring

    if backend is None:
        backend = keyring.get_keyring()
    keeper = _storing_backend(backend)
    module = type(keeper).__module__
    if module.startswith("keyring.backends.fail") or _is_plaintext(keeper):
        return (
            f"your signing key is kept by {type(keeper).__name__} ({module}), which stores it "
            "unencrypted on disk; install a system keyring (Secret Service, KWallet) to protect it"
        )
    return None


def _storing_backend(backend: object) -> object:
    """The backend a new key would be written to: a chain writes to its first member."""
    from keyring.backends.chainer import ChainerBackend

    if isinstance(backend, ChainerBackend):
        chained = list(backend.backends)
        return chained[0] if chained else backend
    return backend


def _is_plaintext(backend: object) -> bool:
    # keyrings.alt's encrypted file and Windows keyrings protect the secret; its plaintext
    # file (and a subclass, wherever it lives) does not.
    from keyrings.alt.file import PlaintextKeyring

    kind = type(backend)
    return isinstance(backend, PlaintextKeyring) or (
        kind.__module__.startswith("keyrings.alt") and "Plaintext" in kind.__name__
    )
