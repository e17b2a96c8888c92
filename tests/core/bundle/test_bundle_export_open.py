"""Export a bundle from a copy of the demo workspace, then open it with no network, no DB."""

from __future__ import annotations

import socket
import zipfile
from pathlib import Path

import pytest

from watchkeeper.core.bundle.export import export_bundle
from watchkeeper.core.bundle.open import open_bundle
from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.spec import load_spec
from watchkeeper.core.telemetry.contract import TelemetryQuery
from watchkeeper.core.telemetry.source import open_source

START, END = "2026-03-28", "2026-04-04"
PARTS = {
    "manifest.json",
    "manifest.sig",
    "spec/monitor.toml",
    "telemetry/events.parquet",
    "profiles/reference-0.json",
    "registry/snapshot.json",
    "governance/records.json",
}


def _source_rows(spec_path: Path, start: str, end: str) -> list[tuple[str, str]]:
    import datetime as dt

    spec = load_spec(spec_path)
    q = TelemetryQuery(
        model=spec.model.name,
        start=dt.datetime.fromisoformat(start),
        end=dt.datetime.fromisoformat(end),
    )
    with open_source(spec.telemetry.source, spec.telemetry.mapping(), base_dir=spec.base_dir) as s:
        t = s.read(q, columns=["request_id", "model_version"])
    return sorted(zip(t["request_id"].to_pylist(), t["model_version"].to_pylist(), strict=True))


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No network and no database: any socket connection or SQL engine fails the test."""
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args[:2]))
        raise AssertionError(f"opening a bundle tried to connect: {args[:2]!r}")

    import sqlalchemy

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(sqlalchemy, "create_engine", refuse)
    return attempts


def test_export_then_open_holds_every_part(
    base_bundle: Path, workspace_copy: Path, exporter_key: Signer
) -> None:
    spec_path = workspace_copy / "specs" / "fraud-detector.toml"
    with zipfile.ZipFile(base_bundle) as zf:
        assert set(zf.namelist()) == PARTS
    with open_bundle(base_bundle) as b:
        m = b.manifest
        assert b.model == "fraud-detector" and b.versions == ("1", "2")
        assert b.exporter == "exporter" and b.exporter_key_id == exporter_key.key_id
        assert {p["name"] for p in m["parts"]} == PARTS - {"manifest.json", "manifest.sig"}
        assert all(p["digest"].startswith("sha256:") and p["size"] > 0 for p in m["parts"])
        # the stratified sample: documented, every (version, day) stratum represented
        s = b.sampling
        every = _source_rows(spec_path, START, END)
        assert s["method"] == "stratified" and s["rows"] == 3000
        assert s["rows_in_range"] == len(every)
        assert sum(x["kept"] for x in s["per_stratum"]) == 3000
        assert sum(x["rows"] for x in s["per_stratum"]) == len(every)
        assert all(x["kept"] >= 1 for x in s["per_stratum"])
        assert {(x["version"], x["day"]) for x in s["per_stratum"]} >= {("1", "2026-03-28")}
        with b.source() as src:
            table = src.read(TelemetryQuery(model="fraud-detector"))
        assert table.num_rows == 3000
        ids, versions = table["request_id"].to_pylist(), table["model_version"].to_pylist()
        kept = set(zip(ids, versions, strict=True))
        assert kept <= set(every)
        # the rest of the evidence
        assert "1" in b.profiles and b.profiles["1"].rows > 0
        assert b.registry is not None and b.registry.model("fraud-detector") is not None
        assert b.governance["approvals"] and b.governance["model_cards"]
        assert b.spec.model.name == "fraud-detector"
        assert b.spec_text == spec_path.read_text(encoding="utf-8")
        assert b.as_of.tzinfo is not None
        assert "frozen bundle as of" in b.summary()


def test_all_rows_without_a_cap(workspace_copy: Path, tmp_path: Path) -> None:
    spec_path = workspace_copy / "specs" / "fraud-detector.toml"
    info = export_bundle(
        spec_path,
        tmp_path / "day.wkb",
        start="2026-04-02",
        end="2026-04-03",
        signer=Signer.generate(),
    )
    every = _source_rows(spec_path, "2026-04-02", "2026-04-03")
    assert not info.sampled and info.rows == len(every)
    with open_bundle(info.path) as b, b.source() as src:
        t = src.read()
        got = sorted(zip(t["request_id"].to_pylist(), t["model_version"].to_pylist(), strict=True))
    assert got == every and b.sampling == {"method": "all", "rows": len(every)}


def test_sample_is_reproducible(workspace_copy: Path, tmp_path: Path) -> None:
    spec_path = workspace_copy / "specs" / "fraud-detector.toml"
    digests = []
    for name in ("a.wkb", "b.wkb"):
        export_bundle(
            spec_path,
            tmp_path / name,
            start=START,
            end=END,
            max_rows=500,
            seed=7,
            signer=Signer.generate(),
        )
        with open_bundle(tmp_path / name, extract=False) as b:
            digests.append({p["name"]: p["digest"] for p in b.manifest["parts"]})
    assert digests[0]["telemetry/events.parquet"] == digests[1]["telemetry/events.parquet"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_open_with_the_network_unreachable(
    workspace_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request
) -> None:  # type: ignore[no-untyped-def]
    # A spec whose registry is a closed port and whose shared database does not exist.
    text = (workspace_copy / "specs" / "fraud-detector.toml").read_text(encoding="utf-8")
    port = _closed_port()
    text = text.replace('"sqlite:///../registry/mlflow.db"', f'"http://127.0.0.1:{port}"')
    text = text.replace(
        '"duckdb:///../telemetry.duckdb#predictions"',
        f'"duckdb:///{workspace_copy / "telemetry.duckdb"}#predictions"',
    )
    text = text.replace('"sqlite:///../governance.db"', f'"sqlite:///{tmp_path / "gone.db"}"')
    spec = tmp_path / "offline.toml"
    spec.write_text(text, encoding="utf-8")
    info = export_bundle(
        spec, tmp_path / "o.wkb", start=START, end=END, max_rows=400, signer=Signer.generate()
    )
    assert info.registry_reason and "did not answer" in info.registry_reason
    assert info.governance_reason and "did not answer" in info.governance_reason
    assert not (tmp_path / "gone.db").exists()

    attempts = request.getfixturevalue("offline")
    with open_bundle(info.path) as b:
        assert b.registry is None and "did not answer" in b.registry_reason
        assert b.spec.model.registry_uri is None and b.spec.governance.database is None
        assert "registry snapshot: not included" in b.summary()
        with b.source() as src:
            assert src.count() == 400
    assert attempts == []


def test_open_a_full_bundle_offline(base_bundle: Path, offline: list[str]) -> None:
    with open_bundle(base_bundle) as b, b.source() as src:
        assert src.count() == 3000 and b.registry is not None
    assert offline == []


def test_cli_export_and_open(
    workspace_copy: Path, tmp_path: Path, cli, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cli.wkb"
    spec = workspace_copy / "specs" / "fraud-detector.toml"
    code = cli(
        "bundle",
        "export",
        "--spec",
        str(spec),
        "--out",
        str(out),
        "--start",
        START,
        "--end",
        END,
        "--max-rows",
        "300",
    )
    assert code == 0 and "stratified sample" in capsys.readouterr().out
    assert cli("open", str(out), "--no-gui") == 0
    assert "frozen bundle as of" in capsys.readouterr().out
    assert cli("open", str(out), "--no-gui", "--trusted-key", "sha256:" + "0" * 64) == 2
    assert "not one of your trusted keys" in capsys.readouterr().err
    # Without --no-gui the window opens on the bundle (tests/app/test_window_bundle.py); with
    # no display, the valid bundle's summary is printed, then one line and exit 2.
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert cli("open", str(out)) == 2
    captured = capsys.readouterr()
    assert "frozen bundle as of" in captured.out and "no display" in captured.err
    assert cli("open", str(tmp_path / "missing.wkb"), "--no-gui") == 2
    assert "no such file" in capsys.readouterr().err
    assert (
        cli(
            "bundle",
            "export",
            "--spec",
            str(spec),
            "--out",
            str(out),
            "--start",
            "2030-01-01",
            "--end",
            "2030-01-02",
        )
        == 2
    )
    assert "no events" in capsys.readouterr().err


class _Batches:
    """A source that hands out a table's rows in batches, in a chosen order."""

    def __init__(self, table, batch_rows: int) -> None:  # type: ignore[no-untyped-def]
        self.table, self.batch_rows = table, batch_rows

    def batches(self, query=None, columns=None):  # type: ignore[no-untyped-def]
        t = self.table.select(columns) if columns else self.table
        return iter(t.to_batches(max_chunksize=self.batch_rows))


def test_stratified_sample_ignores_read_order_and_batching() -> None:
    import numpy as np
    import pyarrow as pa

    from watchkeeper.core.bundle.export import _stream_sample

    rng = np.random.default_rng(3)
    n = 5000
    base = np.datetime64("2026-03-01T00:00:00", "us").astype(np.int64)
    ts = base + rng.integers(0, 4 * 86_400_000_000, n)
    table = pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "model_version": rng.choice(["1", "2", "10"], n, p=[0.7, 0.29, 0.01]).tolist(),
            "x": rng.normal(size=n),
        }
    )
    shuffled = table.take(pa.array(rng.permutation(n)))
    one, meta = _stream_sample(_Batches(table, n), None, 300, seed=5)
    many, _ = _stream_sample(_Batches(shuffled, 97), None, 300, seed=5)
    assert one.equals(many) and one.num_rows == 300
    assert sum(s["rows"] for s in meta["per_stratum"]) == n
    assert all(s["kept"] >= 1 for s in meta["per_stratum"])  # also the rare version "10"
    other, _ = _stream_sample(_Batches(table, n), None, 300, seed=6)
    assert not other.equals(one)
    assert _stream_sample(_Batches(table, 1000), None, n, seed=5) is None


@pytest.mark.parametrize("cap", [None, 1000])
def test_a_table_without_request_id_or_version_exports_and_opens(tmp_path: Path, cap) -> None:
    """A user's own log with neither column (one version, "1"): the sample's keys fall back
    to the time, and the bundle reads back as the same one version."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    n = 5000
    t0 = 1_767_225_600_000_000
    when = pa.array(t0 + np.sort(rng.integers(0, 30 * 86400 * 10**6, n)), pa.timestamp("us", "UTC"))
    pq.write_table(
        pa.table(
            {
                "when": when,
                "income": rng.normal(size=n),
                "home": rng.choice(["own", "rent"], n),
                "p": rng.random(n),
                "y": rng.integers(0, 2, n),
            }
        ),
        tmp_path / "log.parquet",
    )
    (tmp_path / "m.toml").write_text(
        '[model]\nname = "m"\ntask = "binary"\n[telemetry]\nsource = "log.parquet"\n'
        '[telemetry.columns]\nts = "when"\nscore = "p"\nlabel = "y"\n'
        'features = ["income", "home"]\ncategorical = ["home"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "m.wkbundle"
    export_bundle(
        tmp_path / "m.toml", out, start=None, end=None, max_rows=cap,
        signer=Signer.from_seed("exporter"), exporter="exporter",
    )  # fmt: skip
    with open_bundle(out) as bundle:
        table = bundle.source().read()
    assert table.num_rows == (cap or n)
    assert set(table.column("model_version").to_pylist()) == {"1"}
    assert "request_id" not in table.column_names
