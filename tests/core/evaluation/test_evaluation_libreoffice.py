"""The slice report opened by a real spreadsheet client: LibreOffice converts it to PDF.

The set-up (``.ci/setup``) installs ``libreoffice-calc-nogui`` and ``poppler-utils``, so a
missing ``soffice`` or ``pdftoppm`` is a failure here, not a skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from watchkeeper.core.evaluation.excel import BAR_COLOR, OVERALL_COLOR
from watchkeeper.core.evaluation.report import slice_report
from watchkeeper.core.spec import load_spec

pytestmark = pytest.mark.slow

CHART_TITLE = "roc_auc per slice, 95% intervals"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: the set-up installs libreoffice-calc-nogui and "
            "poppler-utils (apt-get install -y --no-install-recommends libreoffice-calc-nogui "
            "poppler-utils)"
        )
    return path


def _page_text(pdftotext: str, pdf: Path, page: int) -> str:
    out = subprocess.run(
        [pdftotext, "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout


def _pixels(pdftoppm: str, pdf: Path, page: int, out: Path) -> np.ndarray:
    """The page rendered at 50 dpi as an (h, w, 3) array (PPM, read without Pillow)."""
    subprocess.run(
        [pdftoppm, "-r", "50", "-f", str(page), "-l", str(page), "-singlefile", str(pdf), out],
        check=True,
        timeout=60,
    )
    data = out.with_suffix(".ppm").read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:  # P6, width, height, maxval (no comments from pdftoppm)
        while data[pos : pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    assert fields[0] == b"P6"
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data[pos + 1 : pos + 1 + w * h * 3], np.uint8).reshape(h, w, 3)


def _near(image: np.ndarray, hex_color: str, tol: int = 24) -> int:
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (0, 2, 4)])
    return int((np.abs(image.astype(int) - rgb).max(axis=2) <= tol).sum())


def test_libreoffice_opens_the_report_and_renders_the_chart(
    fraud_spec_path: Path, tmp_path: Path
) -> None:
    soffice = _tool("soffice")
    pdftotext, pdftoppm = _tool("pdftotext"), _tool("pdftoppm")
    spec = load_spec(fraud_spec_path)
    xlsx = slice_report(spec, version="1", challenger="2").write(tmp_path / "slices.xlsx")
    profile = tmp_path / "lo-profile"
    run = subprocess.run(
        [
            soffice,
            "--headless",
            "--norestore",
            f"-env:UserInstallation={profile.as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(xlsx),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    pdf = tmp_path / "slices.pdf"
    assert run.returncode == 0, run.stderr
    assert pdf.exists() and pdf.stat().st_size > 10_000, run.stdout + run.stderr
    # opens without repair: openpyxl reads it back whole
    wb = openpyxl.load_workbook(xlsx)
    assert len(wb["Slices"]._charts) == 1
    pages = int(
        next(
            line.split()[-1]
            for line in subprocess.run(
                ["pdfinfo", str(pdf)], capture_output=True, text=True, check=True
            ).stdout.splitlines()
            if line.startswith("Pages:")
        )
    )
    assert pages <= 30, f"{pages} pages: sheets are not fitted to the page width"
    texts = [_page_text(pdftotext, pdf, p) for p in range(1, pages + 1)]
    # the summary fits one page: title, model and digests together
    assert "Watchkeeper slice report" in texts[0] and "fraud-detector" in texts[0]
    assert "gate evidence digest" in texts[0] and "sha256:" in texts[0]
    # the chart, with the table above it, on the first page of the Slices sheet (the one
    # with the conditions; later pages repeat only column A). LibreOffice keeps the chart's
    # text in the PDF of every page of the sheet, clipped, so the pixels must show it too.
    page = next(
        (i for i, t in enumerate(texts, start=1) if CHART_TITLE in t and "channel=web" in t),
        None,
    )
    assert page is not None, "no page shows the chart's title beside the slice table"
    text = texts[page - 1]
    for word in ("(all)", "high-amount", "slice (grey: all events)", "roc_auc"):
        assert word in text, word
    assert "roc_auc" in text and "lower" in text and "upper" in text  # headers not cut
    image = _pixels(pdftoppm, pdf, page, tmp_path / "chart")
    h, w, _ = image.shape
    assert _near(image, BAR_COLOR) > 0.005 * h * w  # the slice bars are drawn
    assert _near(image, OVERALL_COLOR, tol=12) > 0.0005 * h * w  # and the overall bar


def test_libreoffice_opens_the_multiclass_report_with_its_confusion_matrix(
    tmp_path: Path,
) -> None:
    from watchkeeper.core.evaluation.excel_multiclass import write_multiclass_report
    from watchkeeper.core.evaluation.multiclass import multiclass_metrics

    soffice, pdftotext = _tool("soffice"), _tool("pdftotext")
    rng = np.random.default_rng(4)
    p = rng.dirichlet([1.0, 1.0, 1.0], 900)
    y = np.array([rng.choice(3, p=0.6 * row + 0.4 / 3) for row in p])
    classes = ("low", "medium", "high")
    metrics = multiclass_metrics(classes, [classes[v] for v in y], p, n_boot=50)
    xlsx = write_multiclass_report(
        tmp_path / "triage.xlsx", summary={"model": "triage", "version": "1"}, metrics=metrics
    )
    profile = tmp_path / "lo-profile"
    run = subprocess.run(
        [soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
         "--convert-to", "pdf", "--outdir", str(tmp_path), str(xlsx)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    pdf = tmp_path / "triage.pdf"
    assert run.returncode == 0 and pdf.exists(), run.stdout + run.stderr
    wb = openpyxl.load_workbook(xlsx)
    assert wb.sheetnames == ["Summary", "Metrics", "Confusion matrix"]
    sheet = wb["Confusion matrix"]
    counts = [[sheet.cell(row=5 + i, column=2 + j).value for j in range(3)] for i in range(3)]
    assert counts == [list(r) for r in metrics.confusion.counts]
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Watchkeeper multiclass report" in text and "triage" in text
    assert "macro_f1" in text and "balanced_accuracy" in text
    assert "Share of each true class" in text and "true \\ predicted" in text
    first_row = " ".join(f"{c:,}" for c in metrics.confusion.counts[0])
    assert first_row.split()[0] in text  # the counts are printed
