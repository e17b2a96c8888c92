"""Results the widget tests draw: computed once per run from the demo workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from workbench_results import fraud_drift, fraud_performance


@pytest.fixture(scope="session")
def drift_result(demo_workspace: Path) -> Any:
    return fraud_drift(demo_workspace)


@pytest.fixture(scope="session")
def performance_view(demo_workspace: Path) -> Any:
    return fraud_performance(demo_workspace)
