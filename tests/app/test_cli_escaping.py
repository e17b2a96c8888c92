"""Controls in names reach the terminal as visible escapes, never raw (issue 17, finding 11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from watchkeeper.core.text import printable

WATCHKEEPER = str(Path(sys.executable).with_name("watchkeeper"))
#: A feature name that reverses text, clears the screen, cuts a C string and forges a line.
EVIL = "amount\u202egpj.exe\x1b[2J\x00\nFAKE LINE\x85\u2066"
ESCAPED = "amount\\u202egpj.exe\\u001b[2J\\u0000\\u000aFAKE LINE\\u0085\\u2066"
RAW = ("\u202e", "\x1b", "\x00", "\x85", "\u2066")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WATCHKEEPER, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="surrogateescape",
        timeout=300,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
    )


def _assert_clean(text: str) -> None:
    assert not any(c in text for c in RAW), repr(text)
    assert not any(line.startswith("FAKE LINE") for line in text.splitlines()), text


@pytest.fixture(scope="module")
def evil_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("evil")
    rng = np.random.default_rng(0)
    paths = []
    for name, shift in (("reference", 0.0), ("current", 1.0)):
        table = pa.table(
            {
                "request_id": [str(i) for i in range(2000)],
                "ts": pa.array(np.arange(2000) * 60_000_000, type=pa.timestamp("us", tz="UTC")),
                "model_version": ["1"] * 2000,
                EVIL: rng.normal(shift, 1.0, 2000),
            }
        )
        pq.write_table(table, root / f"{name}.parquet")
        paths.append(root / f"{name}.parquet")
    return paths[0], paths[1]


def test_drift_table_shows_a_feature_name_escaped(evil_files: tuple[Path, Path]) -> None:
    ref, cur = evil_files
    run = _run("drift", "--reference", str(ref), "--current", str(cur))
    assert run.returncode == 0, run.stderr
    _assert_clean(run.stdout + run.stderr)
    (row,) = [line for line in run.stdout.splitlines() if line.startswith("amount")]
    assert row.startswith(ESCAPED) and "numerical" in row


def test_drift_json_stays_json_and_keeps_the_name(evil_files: tuple[Path, Path]) -> None:
    ref, cur = evil_files
    run = _run("drift", "--reference", str(ref), "--current", str(cur), "--json")
    assert run.returncode == 0, run.stderr
    _assert_clean(run.stdout + run.stderr)
    doc = json.loads(run.stdout)
    assert [f["name"] for f in doc["features"]] == [EVIL]  # escapes JSON reads back exactly


def test_an_error_naming_a_hostile_value_is_one_escaped_line(tmp_path: Path) -> None:
    spec = tmp_path / "fraud\u202eftp.\x1b[31mred\nwatchkeeper check: all ok.toml"
    run = _run("check", "--spec", str(spec))
    assert run.returncode == 2 and run.stdout == ""
    _assert_clean(run.stderr)
    (line,) = run.stderr.splitlines()
    assert "fraud\\u202eftp.\\u001b[31mred\\u000awatchkeeper check: all ok.toml" in line


def test_printable_escapes_controls_bidi_and_separators_only() -> None:
    assert printable("plain ascii, é and 日本") == "plain ascii, é and 日本"
    assert printable("a\tb\r\nc\x7f\u200f\u2028") == "a\\u0009b\\u000d\\u000ac\\u007f\\u200f\\u2028"
    assert printable("a\nb\tc", keep="\n\t") == "a\nb\tc"
