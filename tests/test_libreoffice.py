"""A template saved by LibreOffice Calc keeps its identification and is read as before."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.plan import Plan
from pipeline.read import read_identification, read_workbook
from pipeline.validate import validate_workbook
from tests.test_validate import AS_OF, GOOD
from tests.workbooks import fill_workbook, make_template

SOFFICE = shutil.which("soffice")
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")


def _save_in_libreoffice(path: Path, folder: Path) -> Path:
    subprocess.run(
        [
            str(SOFFICE),
            "--headless",
            "--convert-to",
            "xlsx:Calc MS Excel 2007 XML",
            "--outdir",
            str(folder),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return folder / path.name


def test_libreoffice_keeps_identification_and_values(plan: Plan, tmp_path: Path) -> None:
    filled = fill_workbook(
        make_template(plan, "UTB", 2027, tmp_path),
        tmp_path / "utb.xlsx",
        actions=[GOOD],
        concerns={"1.3": "Ja"},
    )
    saved = _save_in_libreoffice(filled, tmp_path / "lo")
    assert read_identification(saved)["handlingsplan_forvaltning"] == "UTB"
    result = validate_workbook(read_workbook(saved, "utb.xlsx"), plan, "UTB", "utb.xlsx", AS_OF)
    assert [p.code for p in result.problems] == []
    assert result.actions.iloc[0]["Åtgärd"] == "Språkcafé för kvinnor"
