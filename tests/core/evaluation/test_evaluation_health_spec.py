"""The ``[health]`` spec section (model health itself: tests/core/workbench/test_health.py)."""

from __future__ import annotations

import pytest

from watchkeeper.core.errors import SpecError
from watchkeeper.core.spec import parse_spec

BASE = """
[model]
name = "m"

[telemetry]
source = "t.parquet"
"""


def test_health_defaults() -> None:
    h = parse_spec(BASE).health
    assert (h.metric, h.tolerance, h.persistence, h.window) == (None, 0.02, 2, None)
    assert h.estimate and h.min_labeled == 200 and not h.use_interval
    full = parse_spec(
        BASE
        + '[health]\nmetric = "precision"\ntolerance = 0.05\npersistence = 3\nwindow = "7d"\n'
        + "min_labeled = 50\nestimate = false\nuse_interval = true\n"
    ).health
    assert (full.metric, full.tolerance, full.persistence) == ("precision", 0.05, 3)
    assert full.window is not None and full.window.text == "7d"
    assert not full.estimate and full.use_interval and full.min_labeled == 50


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("tolerence = 0.1", "health.tolerence: unknown key (did you mean 'tolerance'?)"),
        ("tolerance = -0.1", "health.tolerance: Input should be greater than or equal to 0"),
        ("persistence = 0", "health.persistence: Input should be greater than or equal to 1"),
        ('metric = "mae"', "health.metric: Input should be"),
        ('window = "weekly"', "'weekly' is not a window spec"),
        ('window = "0d"', "must be at least 1 d"),
        ('metric = "log_loss"', "log_loss cannot be estimated without labels"),
        ("min_labeled = 0", "health.min_labeled: Input should be greater than or equal to 1"),
        ('estimate = "maybe"', "health.estimate: Input should be a valid boolean"),
    ],
)
def test_bad_health_keys_are_named(body: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(BASE + "[health]\n" + body + "\n")
    assert message in str(err.value)
    parse_spec(BASE + '[health]\nmetric = "log_loss"\nestimate = false\n')  # fine without CBPE
