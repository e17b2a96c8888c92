"""Ed25519 signatures over canonical JSON.

A key is named by its ``key_id``: the product's digest of the base64 raw public key. A
signature is the base64 of Ed25519 over the UTF-8 canonical JSON of a record's fields (the
same text whose SHA-256 is the record's hash).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from watchkeeper.core.evidence import digest

__all__ = ["Signer", "key_id_of", "verify_signature"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_id_of(public_key_b64: str) -> str:
    """``sha256:<hex>`` naming a public key (digest of its base64 text)."""
    return digest(public_key_b64)


@dataclass(frozen=True)
class Signer:
    """A private key able to sign; ``public_key`` is the base64 raw public key."""

    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: str) -> Signer:
        """A key derived from text: deterministic, so NOT secret — for demo histories only."""
        raw = hashlib.sha256(("watchkeeper demo key\0" + seed).encode("utf-8")).digest()
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    @classmethod
    def from_secret(cls, secret: str) -> Signer:
        """The key from its keyring form (base64 of the 32 raw private bytes)."""
        raw = base64.b64decode(secret.encode("ascii"), validate=True)
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def secret(self) -> str:
        """The keyring form of the private key. Never store it anywhere but the keyring."""
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return _b64(raw)

    @property
    def public_key(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return _b64(raw)

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    def sign(self, text: str) -> str:
        return _b64(self.private_key.sign(text.encode("utf-8")))


def verify_signature(public_key_b64: str, text: str, signature_b64: str) -> bool:
    """Whether ``signature_b64`` is the key's Ed25519 signature of ``text``."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, text.encode("utf-8"))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
