"""Results the widget tests draw (computed once per run from the demo workspace), and the
checks every plot widget shares: export, theme."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QImage
from workbench_results import fraud_drift, fraud_performance

from watchkeeper.widgets.plot_theme import LIGHT, set_plot_theme

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="session")
def drift_result(demo_workspace: Path) -> Any:
    return fraud_drift(demo_workspace)


@pytest.fixture(scope="session")
def performance_view(demo_workspace: Path) -> Any:
    return fraud_performance(demo_workspace)


@pytest.fixture(autouse=True)
def _light_plots() -> Iterator[None]:
    """Every test starts and ends with the light plot theme (it is process-wide)."""
    set_plot_theme(LIGHT)
    yield
    set_plot_theme(LIGHT)


@pytest.fixture
def check_export(qtbot, tmp_path: Path) -> Callable[..., tuple[QImage, ET.Element]]:
    """Show ``widget``, export it as PNG and SVG, and check both files: a PNG of a real
    size with more than a few colours, an SVG that parses and holds ``texts``, at least
    ``paths`` drawn shapes and, with ``image``, an embedded bitmap (an image item)."""

    def check(
        widget: Any, texts: tuple[str, ...] = (), paths: int = 5, image: bool = False
    ) -> tuple[QImage, ET.Element]:
        qtbot.addWidget(widget)
        widget.resize(900, 600)
        widget.show()
        qtbot.waitExposed(widget)
        png = widget.export(tmp_path / "plot.png")
        picture = QImage(str(png))
        assert not picture.isNull()
        assert picture.width() >= 300 and picture.height() >= 200
        sample = {
            picture.pixel(x, y)
            for x in range(0, picture.width(), 7)
            for y in range(0, picture.height(), 7)
        }
        assert len(sample) > 10, "the PNG is (nearly) one colour: nothing was drawn"
        svg = widget.export(tmp_path / "plot.svg")
        root = ET.parse(svg).getroot()
        assert root.tag == f"{SVG}svg"
        shapes = [e for e in root.iter() if e.tag in (f"{SVG}path", f"{SVG}polyline")]
        assert len(shapes) >= paths
        words = " ".join(t.strip() for e in root.iter(f"{SVG}text") for t in e.itertext())
        for text in texts:
            assert text in words, f"{text!r} not in the SVG's text: {words[:300]}"
        if image:
            assert any(e.tag == f"{SVG}image" for e in root.iter())
        return picture, root

    return check
