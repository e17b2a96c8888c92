"""Editing a spec's thresholds in place (core/spec_edit.py): the new values load, and every
comment and unrelated line is kept as written."""

from __future__ import annotations

import tomllib

from watchkeeper.core.spec_edit import set_table_keys

TEXT = """# header comment
[model]
name = "m"

# the drift rule
[drift]
window = "1d"   # daily
psi_floor = 0.1 # keep this comment

[[slices]]
name = "web"
where = { channel = "web" }
"""


def test_set_keys_keeps_comments_and_adds_what_is_missing() -> None:
    out = set_table_keys(TEXT, "drift", {"psi_floor": 0.15, "thresholds": "absolute"})
    out = set_table_keys(out, "health", {"persistence": 3})
    doc = tomllib.loads(out)
    assert doc["drift"] == {"window": "1d", "psi_floor": 0.15, "thresholds": "absolute"}
    assert doc["health"] == {"persistence": 3}
    assert doc["slices"] == [{"name": "web", "where": {"channel": "web"}}]
    assert "psi_floor = 0.15 # keep this comment" in out
    for line in ("# header comment", "# the drift rule", 'window = "1d"   # daily'):
        assert line in out
    # nothing else moved: removing the changed and added lines gives the original back
    changed = {"psi_floor = 0.15 # keep this comment", 'thresholds = "absolute"'}
    kept = [x for x in out.split("\n[health]")[0].splitlines() if x not in changed]
    assert kept == [x for x in TEXT.splitlines() if not x.startswith("psi_floor")]
