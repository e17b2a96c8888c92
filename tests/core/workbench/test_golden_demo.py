"""The demo's analyses give the numbers recorded before the single-pipeline refactoring."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from golden_demo import GOLDEN, summarise


def _same(a: object, b: object, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in _same(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _same(x, y, f"{where}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= 1e-8 * max(1.0, abs(b)) else [f"{where}: {a} != {b}"]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def test_demo_analyses_give_the_recorded_numbers(demo_workspace: Path) -> None:
    recorded = json.loads(GOLDEN.read_text())
    now = json.loads(json.dumps(summarise(demo_workspace), sort_keys=True))
    differences = _same(now, recorded, "")
    assert not differences, "\n".join(differences[:20])
