"""Every analysis stays within a memory bound on a wide model (300 features).

Each runs in a child process (tests/wide_workspace.py) through core/workbench, as the window
runs it, under an address-space cap, so a runaway allocation fails there instead of taking
the machine; its peak RSS (``ru_maxrss``) must stay under :data:`PEAK_MB`. Before the
worst-slice search was bounded, the Slices analysis of this fixture tried to hold the codes
of all 44,850 pairs at once and failed under the cap (MemoryError).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TESTS))

from child_process import json_child  # noqa: E402
from wide_workspace import ANALYSES, build  # noqa: E402

CAP_MB = 4096  # RLIMIT_AS: virtual memory, so well above what is resident
PEAK_MB = 768  # resident: the interpreter and imports take ~130 MB of it
FEATURES, ROWS, DAYS = 300, 12_000, 20


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("wide"), features=FEATURES, rows=ROWS, days=DAYS)


@pytest.mark.parametrize("analysis", ANALYSES)
def test_analysis_of_a_wide_model_stays_in_bounds(spec: Path, analysis: str) -> None:
    got = json_child(str(TESTS / "wide_workspace.py"), analysis, str(spec), str(CAP_MB))
    assert got["peak_mb"] < PEAK_MB, got
    if analysis == "drift":  # the answer is still right: the three drifting features
        assert got["features"] == FEATURES and got["windows"] == DAYS
        assert got["drifted"] == ["x000", "x001", "x002"]
    elif analysis == "slices":
        n = FEATURES
        assert got["notes"] == [
            "pairs searched among the 20 of 300 features whose single-feature slices are "
            f"strongest (190 of {n * (n - 1) // 2:,} pairs)"
        ]
        assert got["tested"] > 0
    elif analysis == "performance":
        assert got["windows"] == DAYS
    elif analysis == "challenger":
        assert got["pairs"] > 0
    else:
        assert got["verdict"] in ("ok", "watch", "alert", "unknown")


def test_the_challenger_view_holds_the_features_of_the_rows_it_shows_only(
    tmp_path: Path,
) -> None:
    """The Champion vs challenger view lists 200 disagreements with every feature. Their
    features are read from the champion's rows of those 200 request ids, never for every
    pair: on 40,000 pairs × 300 features in DuckDB the analysis process peaked at 603-644 MB
    when it read them for every pair, and at 423-429 MB reading the 200 by their ids."""
    spec = build(tmp_path, features=300, rows=160_000, days=20, duckdb=True)
    got = json_child(str(TESTS / "wide_workspace.py"), "challenger", str(spec), str(CAP_MB))
    assert got["pairs"] > 39_000
    assert got["shown"][0] == 200 and got["features_shown"] == 300
    assert got["peak_mb"] < 540, got
