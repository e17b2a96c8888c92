"""Monitor-spec validation: good specs load, every bad key or value is named."""

import re
from pathlib import Path

import pytest

from watchkeeper.core.errors import SpecError
from watchkeeper.core.spec import load_spec, parse_spec
from watchkeeper.core.telemetry.contract import ColumnKind

GOOD = """
[model]
name = "fraud-detector"
registry_uri = "sqlite:///../registry/mlflow.db"

[telemetry]
source = "../telemetry.duckdb#predictions"

[telemetry.columns]
request_id = "req"
score = "p_fraud"
label_ts = ""
features = ["amount", "channel", "hour"]
categorical = ["channel", "hour"]
extras = ["latency_ms"]

[reference]
kind = "window"
version = 1
start = 2026-01-01
end = 2026-01-31

[drift]
window = "1d"
psi_watch = 0.1
psi_drift = 0.25

[[slices]]
name = "web"
where = { channel = "web" }

[[slices]]
name = "big DE/FR"
where = { country = ["DE", "FR"], amount = { min = 1000 } }
critical = true

[gate]
primary_metric = "roc_auc"
min_improvement = 0.005

[governance]
database = "sqlite:///../governance.db"
require_verified_identity = true
"""


def test_good_spec_loads_with_mapping_and_slices() -> None:
    spec = parse_spec(GOOD)
    mapping = spec.telemetry.mapping()
    assert mapping.request_id == "req"
    assert mapping.score == "p_fraud"
    assert mapping.label_ts is None  # "" means the source has no such column
    assert mapping.kinds == {"channel": ColumnKind.CATEGORICAL, "hour": ColumnKind.CATEGORICAL}
    assert spec.reference is not None and spec.reference.version == "1"
    assert [s.name for s in spec.slices] == ["web", "big DE/FR"]
    assert spec.slices[1].critical
    assert spec.slices[1].where["country"] == ("DE", "FR")
    assert spec.slices[1].where["amount"].min == 1000
    assert spec.drift.psi_drift == 0.25
    assert spec.governance.require_verified_identity


def test_defaults_are_the_fields_common_values() -> None:
    spec = parse_spec('[model]\nname = "m"\n[telemetry]\nsource = "t.parquet"\n')
    assert (spec.drift.psi_watch, spec.drift.psi_drift, spec.drift.p_value) == (0.1, 0.2, 0.05)
    assert spec.drift.correction == "holm"
    assert spec.reference is None and spec.slices == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("psi_watch = 0.1", "psi_wach = 0.1"),
            "drift.psi_wach: unknown key (did you mean 'psi_watch'?)",
        ),
        (
            ("psi_watch = 0.1", "psi_watch = 'high'"),
            "drift.psi_watch: Input should be a valid number",
        ),
        (
            ("psi_watch = 0.1", "psi_watch = -1"),
            "drift.psi_watch: Input should be greater than or equal to 0",
        ),
        (("psi_watch = 0.1", "psi_watch = nan"), "drift.psi_watch"),
        (("psi_drift = 0.25", "psi_drift = 0.05"), "psi_drift must be at least psi_watch"),
        (('name = "web"', 'nam = "web"'), "slices[0].nam: unknown key (did you mean 'name'?)"),
        (('name = "big DE/FR"', 'name = "web"'), "slice name 'web' is used more than once"),
        (
            ("{ min = 1000 }", "{ min = 1000, max = 10 }"),
            "range for 'amount': max must not be below min",
        ),
        (("{ min = 1000 }", "{ low = 1000 }"), "range for 'amount': low"),
        # TOML's nan/inf literals as slice bounds (issue 17, finding 7): refused at load
        (
            ("{ min = 1000 }", "{ min = nan }"),
            "slices[1].where: range for 'amount': min: Input should be a finite number, got nan",
        ),
        (("{ min = 1000 }", "{ min = inf }"), "range for 'amount': min: Input should be a finite"),
        (("{ min = 1000 }", "{ max = -inf }"), "range for 'amount': max: Input should be a finite"),
        (("{ min = 1000 }", "{ min = 1, max = +inf }"), "'amount': max: Input should be a finite"),
        (
            ('{ channel = "web" }', "{ channel = nan }"),
            "slices[0].where: the value for 'channel' is nan",
        ),
        (('["DE", "FR"]', '["DE", -nan]'), "slices[1].where: the value for 'country' is nan"),
        (
            ("sqlite:///../registry/mlflow.db", "http://u:pw@[::1"),
            "model.registry_uri: 'http://u@[::1' is not a valid URL: its host has an unclosed '['",
        ),
        (("sqlite:///../registry/mlflow.db", "http://h:99999"), "port '99999' is not a number"),
        (('["DE", "FR"]', "[]"), "the list of values for 'country' is empty"),
        (
            ('primary_metric = "roc_auc"', 'primary_metric = "auc"'),
            "gate.primary_metric: Input should be",
        ),
        (
            (
                'categorical = ["channel", "hour"]',
                'categorical = ["channel"]\nnumerical = ["channel"]',
            ),
            "'channel' is listed as both numerical and categorical",
        ),
        (("end = 2026-01-31", "end = 2025-12-01"), "reference: end must be after start"),
        (('kind = "window"', 'kind = "file"'), "a file reference needs path"),
        (("[governance]", "[governence]"), "governence: unknown key (did you mean 'governance'?)"),
        (('[model]\nname = "fraud-detector"', "[model]"), "model.name: required key is missing"),
        (
            ("require_verified_identity = true", "require_verified_identity = 'yes please'"),
            "governance.require_verified_identity: Input should be a valid boolean",
        ),
    ],
)
def test_bad_keys_and_values_are_named(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(SpecError) as info:
        parse_spec(GOOD.replace(old, new, 1), origin="specs/fraud.toml")
    assert str(info.value).startswith("specs/fraud.toml: ")
    assert message in str(info.value)


def test_broken_toml_says_where() -> None:
    with pytest.raises(SpecError, match=r"not valid TOML: .*line 2"):
        parse_spec('[model]\nname = "unterminated\n')


def test_feature_that_is_also_a_role_is_refused() -> None:
    text = GOOD.replace('features = ["amount"', 'features = ["req", "amount"')
    # refused when the spec loads, not when the first analysis opens the source
    with pytest.raises(SpecError, match=r"telemetry\.columns: column 'req' is mapped to role"):
        parse_spec(text)


def _with_window(section: str, value: str) -> str:
    if section == "drift":
        return GOOD.replace('window = "1d"\n', f"window = {value}\n")
    return GOOD + f"\n[{section}]\nwindow = {value}\n"


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        ("drift", '"banana"', "drift.window: window 'banana' is not a window spec"),
        ("drift", '"-1d"', "drift.window: window '-1d' is not a window spec"),
        ("drift", '"0d"', "drift.window: window '0d' must be at least 1 d"),
        ("drift", '"0rows"', "must be at least 1 rows"),
        ("drift", '"400d"', "longer than 366 days"),
        ("drift", '"2000000000rows"', "over 1,000,000,000 rows"),
        ("drift", '""', "leave the key out for one window"),
        ("drift", "7", "a window is text"),
        ("health", '"7"', "health.window: window '7' is not a window spec"),
    ],
)
def test_a_bad_window_is_refused_at_load_with_its_key_path(
    section: str, value: str, message: str
) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec(_with_window(section, value))


@pytest.mark.parametrize(
    ("text", "kind", "step_us", "rows"),
    [
        ("30m", "time", 1_800_000_000, 0),
        ("6h", "time", 21_600_000_000, 0),
        ("7d", "time", 604_800_000_000, 0),
        ("1w", "time", 604_800_000_000, 0),
        ("5000rows", "rows", 0, 5000),
    ],
)
def test_windows_are_parsed_once_at_load(text: str, kind: str, step_us: int, rows: int) -> None:
    spec = parse_spec(_with_window("drift", f'"{text}"') + f'[health]\nwindow = " {text} "\n')
    for w in (spec.drift.window, spec.health.window):
        assert w is not None and (w.kind, w.text, w.step_us, w.rows) == (kind, text, step_us, rows)


def test_a_kind_for_a_column_that_is_not_a_feature_is_refused() -> None:
    text = GOOD.replace('features = ["amount"', 'numerical = ["amont"]\nfeatures = ["amount"')
    with pytest.raises(SpecError, match=r"telemetry\.columns: 'amont' has a kind but is not in"):
        parse_spec(text)


def test_load_spec_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "m.toml").write_text(GOOD, encoding="utf-8")
    spec = load_spec(folder / "m.toml")
    assert spec.base_dir == folder.resolve()
    assert spec.resolve_path("../telemetry.duckdb") == (tmp_path / "telemetry.duckdb").resolve()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such spec file"),
        (b"\xff\xfe\x00garbage", "must be UTF-8 text"),
        (b"", "model: required key is missing"),
        ("\ufeff" + GOOD, None),  # a BOM from a Windows editor is fine
    ],
)
def test_load_spec_hostile_files(
    tmp_path: Path, content: bytes | str | None, message: str | None
) -> None:
    path = tmp_path / "spec.toml"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif content is not None:
        path.write_bytes(content)
    if message is None:
        assert load_spec(path).model.name == "fraud-detector"
    else:
        with pytest.raises(SpecError, match=message):
            load_spec(path)


def test_directory_is_not_a_spec(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)


def test_spec_is_frozen() -> None:
    spec = parse_spec(GOOD)
    with pytest.raises(Exception, match="frozen"):
        spec.drift.psi_watch = 0.5  # type: ignore[misc]
