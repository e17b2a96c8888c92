"""Model registries: read models, versions, aliases and lineage; move aliases under guard.

``model`` holds the frozen values (:class:`RegistrySnapshot` and what it contains);
``client`` the :class:`Registry` protocol and :class:`MlflowRegistry` for any MLflow URI;
``aliases`` the guarded alias move; ``cache`` the last state seen, served stale when the
registry is unreachable; ``profiles`` connection profiles with secrets in the OS keyring.
The demo workspace's local registry is built by ``watchkeeper.core.demo.registry``.

Nothing here imports MLflow at import time (it costs ~2 s): the client imports it on first use.
Import from the submodules (``from watchkeeper.core.registry.client import MlflowRegistry``).
"""
