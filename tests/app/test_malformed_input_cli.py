"""Malformed URLs and spec values end in one clear line, exit 2 (issue 17, finding 7).

Each command runs as a whole process, as a user runs it: a registry URL that ``urlsplit``
refuses (``http://u:p@[::1``) or whose port is no port, the same URL as a spec's
``registry_uri``, database URLs for the governance commands and for telemetry, and ``nan``/
``inf`` slice bounds. Before, several of these printed "internal error: ValueError: …".
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

WATCHKEEPER = str(Path(sys.executable).with_name("watchkeeper"))
SECRET = "s3cret-Pw"

BAD_REGISTRY_URLS = [
    f"http://u:{SECRET}@[::1",
    "http://[::1",
    "http://host:99999",
    "http://host:port",
    f"postgresql://u:{SECRET}@[::1/db",
]
BAD_DATABASE_URLS = [
    f"postgresql://u:{SECRET}@[::1/db",
    f"postgresql://u:{SECRET}@host:port/db",
    f"postgres://u:{SECRET}@[::1]:port/db",
]

SPEC = """
[model]
name = "fraud-detector"
registry_uri = {registry}

[telemetry]
source = "telemetry.duckdb#predictions"

[[slices]]
name = "big"
where = {{ amount = {bound} }}
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WATCHKEEPER, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),  # the test's own WATCHKEEPER_HOME (tests/conftest.py)
        stdin=subprocess.DEVNULL,
    )


def _one_clear_line(proc: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout
    for text in expected:
        assert text in proc.stderr, proc.stderr


@pytest.mark.parametrize("url", BAD_REGISTRY_URLS)
def test_registry_show_refuses_a_malformed_url_in_one_line(url: str) -> None:
    _one_clear_line(_run("registry", "show", "--uri", url), "is not a valid URL")


@pytest.mark.parametrize("url", BAD_REGISTRY_URLS[:4])
@pytest.mark.parametrize("command", ["gate", "check"])
def test_a_spec_with_a_malformed_registry_uri_is_refused_at_load(
    command: str, url: str, tmp_path: Path
) -> None:
    spec = tmp_path / "fraud.toml"
    spec.write_text(SPEC.format(registry=f'"{url}"', bound="{ min = 100 }"))
    _one_clear_line(_run(command, "--spec", str(spec)), "model.registry_uri", "not a valid URL")


@pytest.mark.parametrize("bound", ["{ min = nan }", "{ min = inf }", "{ max = -inf }"])
def test_a_spec_with_a_non_finite_slice_bound_is_refused_at_load(
    bound: str, tmp_path: Path
) -> None:
    spec = tmp_path / "fraud.toml"
    spec.write_text(SPEC.format(registry='"sqlite:///mlflow.db"', bound=bound))
    _one_clear_line(_run("check", "--spec", str(spec)), "slices[0].where", "finite number")


@pytest.mark.parametrize("url", BAD_DATABASE_URLS)
@pytest.mark.parametrize("command", [("audit", "verify"), ("db", "init")])
def test_governance_commands_refuse_a_malformed_database_url(
    command: tuple[str, str], url: str
) -> None:
    _one_clear_line(_run(*command, "--db", url), "is not a database URL")


@pytest.mark.parametrize("url", BAD_DATABASE_URLS[:2])
def test_drift_refuses_a_malformed_telemetry_url(url: str, tmp_path: Path) -> None:
    reference = tmp_path / "ref.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0]}), reference)
    proc = _run("drift", "--reference", str(reference), "--current", f"{url}#t")
    _one_clear_line(proc, "not a database URL")
