"""One small demo workspace for the evaluation tests (2,000 fraud events a day, ~3 s)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # slice_worlds, next to this file


@pytest.fixture(scope="session")
def eval_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from watchkeeper.core.demo import ensure_workspace

    root = tmp_path_factory.mktemp("eval-demo") / "ws"
    return ensure_workspace(root, events_per_day=2000).root


@pytest.fixture(scope="session")
def fraud_spec_path(eval_demo: Path) -> Path:
    return eval_demo / "specs" / "fraud-detector.toml"
