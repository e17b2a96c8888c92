"""The one path resolver: WATCHKEEPER_HOME moves everything, XDG is honoured otherwise."""

from pathlib import Path

import pytest

from watchkeeper.core import paths


def test_watchkeeper_home_moves_all_three(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_HOME", str(tmp_path))
    assert paths.data_dir() == tmp_path / "data"
    assert paths.config_dir() == tmp_path / "config"
    assert paths.cache_dir() == tmp_path / "cache"
    assert paths.default_demo_workspace() == tmp_path / "data" / "demo"


def test_xdg_folders_are_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHKEEPER_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "d"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "k"))
    assert paths.data_dir() == tmp_path / "d" / "watchkeeper"
    assert paths.config_dir() == tmp_path / "c" / "watchkeeper"
    assert paths.cache_dir() == tmp_path / "k" / "watchkeeper"
