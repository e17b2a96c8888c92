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
    """The user's private key from the OS keyring, made (and stored there) on first use."""
    import keyring
    from keyring.errors import KeyringError

    try:
        secret = keyring.get_password(KEYRING_SERVICE, name)
    except KeyringError as exc:
        raise WatchkeeperError(f"cannot read your signing key from the OS keyring: {exc}") from None
    if secret:
        try:
            return Signer.from_secret(secret)
        except ValueError:
            raise WatchkeeperError(
                f"the signing key for {name!r} in the OS keyring (service {KEYRING_SERVICE!r}) "
                "is damaged; remove it to have a new one made"
            ) from None
    if not create:
        raise WatchkeeperError(f"no signing key for {name!r} in the OS keyring")
    signer = Signer.generate()
    try:
        keyring.set_password(KEYRING_SERVICE, name, signer.secret())
    except KeyringError as exc:
        raise WatchkeeperError(
            f"cannot store a signing key in the OS keyring ({exc}); install a keyring backend"
        ) from None
    return signer


def keyring_warning() -> str | None:
    """A sentence for the user when the only keyring available keeps secrets in the clear."""
    import keyring

    backend = keyring.get_keyring()
    module = type(backend).__module__
    if module.startswith("keyrings.alt") or module.startswith("keyring.backends.fail"):
        return (
            f"your signing key is kept by {type(backend).__name__} ({module}), which stores it "
            "unencrypted on disk; install a system keyring (Secret Service, KWallet) to protect it"
        )
    return None
