"""Keys: the private key only in the OS keyring, the public key registered in the database."""

from __future__ import annotations

import keyring
import sqlalchemy as sa

from watchkeeper.core.governance import GovernanceStore, Signer, schema
from watchkeeper.core.governance.identity import KEYRING_SERVICE, keyring_warning, load_signer


def test_private_key_in_keyring_public_key_in_database_and_reused(store):
    store.record_approval("m", "1", evidence={})
    name = store.identity.name
    secret = keyring.get_password(KEYRING_SERVICE, name)
    assert secret
    signer = Signer.from_secret(secret)
    (registered,) = [e for e in store.audit_entries() if e.action == "identity.registered"]
    engine = sa.create_engine(store.url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.select(schema.identities)).one()
            dump = " ".join(
                str(v) for t in schema.ALL_TABLES for r in conn.execute(sa.select(t)) for v in r
            )
    finally:
        engine.dispose()
    assert (row.id, row.actor, row.public_key) == (registered.record_id, name, signer.public_key)
    assert secret not in dump  # the private key never reaches the database
    # a second session reuses the key: no second registration
    with GovernanceStore.open(store.url) as again:
        again.record_approval("m", "2", evidence={})
    assert [e.action for e in store.audit_entries()].count("identity.registered") == 1
    assert load_signer(name).key_id == signer.key_id


def test_the_user_is_told_when_the_keyring_keeps_secrets_in_the_clear():
    warning = keyring_warning()
    assert warning is not None and "unencrypted" in warning


def test_a_damaged_keyring_entry_is_explained():
    import pytest

    from watchkeeper.core.errors import WatchkeeperError

    keyring.set_password(KEYRING_SERVICE, "zoe", "not base64 !!")
    with pytest.raises(WatchkeeperError, match="damaged; remove it"):
        load_signer("zoe")
