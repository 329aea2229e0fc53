"""Typing into real templates with LibreOffice Calc itself, in a Swedish locale, over UNO.

A förvaltning that fills its template in LibreOffice does not write cell values: it types
text, and Calc's own input parsing decides what is stored ("75 %" becomes 0.75 with a
percent format, "31/3" a date in the current year, "15 000 kr" a currency amount). The
tests reproduce that by driving a headless LibreOffice through the dispatcher command
`.uno:EnterString`, which enters a string into the selected cell exactly as pressing Enter
after typing it does: Swedish number and date recognition, and the number format that
recognition picks. (`XCell.setFormula` is not typing: in the same Swedish Calc it keeps
"31/3", "1 500" and "15 000 kr" as text and stores "75 %" as 0.75 without a percent format.)

The `uno` module belongs to LibreOffice's Python (the system's /usr/bin/python3), not to
the project's environment, so this file has two halves: `type_in_libreoffice` (run by the
tests) hands a JSON job to this same file run as a script by the system Python, which
starts one soffice with a fresh profile for all documents and always ends it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
FILTERS = {
    ".xlsx": "Calc MS Excel 2007 XML",  # "Excel 2007-365", what Save As offers for .xlsx
    ".ods": "calc8",
    ".xls": "MS Excel 97",
}
"""The export filter LibreOffice uses when a person saves in each format."""
TIMEOUT = 180.0
"""Seconds for a whole job: a soffice start takes 5-10 s, each document about a second."""

# A fresh profile that starts in Swedish: the locale setting (Tools > Options > Language
# Settings > Languages > Locale setting) decides how typed numbers and dates are read, and
# the default language of documents. Seeding it before the start avoids a half-switched
# formatter that changing it over UNO in a running office leaves behind. No lock files: a
# killed soffice would leave one beside the template, and the next open would refuse it.
PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" \
xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooSetupSystemLocale" oor:op="fuse">\
<value>sv-SE</value></prop></item>
<item oor:path="/org.openoffice.Office.Linguistic/General"><prop oor:name="DefaultLocale" oor:op="fuse">\
<value>sv-SE</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="UseLocking" oor:op="fuse">\
<value>false</value></prop></item>
</oor:items>
"""


@dataclass(frozen=True)
class Entry:
    """One cell typed by hand: `text` as the keys were pressed, then Enter."""

    sheet: str
    cell: str
    text: str


@dataclass(frozen=True)
class Document:
    """A template opened in Calc, typed into, and saved once per output (by its suffix)."""

    template: Path
    entries: Sequence[Entry]
    outputs: Sequence[Path]


@dataclass(frozen=True)
class Shown:
    """What Calc made of one typed entry: the text the cell shows, its kind and format."""

    sheet: str
    cell: str
    typed: str
    shown: str
    kind: str
    """"VALUE" for a number or date, "TEXT" for text (UNO's CellContentType)."""
    value: float
    number_format: str


def unavailable() -> str | None:
    """Returns why LibreOffice cannot be driven here, or None when it can."""
    if shutil.which("soffice") is None:
        return "LibreOffice (soffice) is not installed"
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} (LibreOffice's Python) is missing"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import uno"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        return f"{SYSTEM_PYTHON} cannot import uno (install python3-uno)"
    return None


def type_in_libreoffice(documents: Sequence[Document]) -> list[list[Shown]]:
    """Types every document's entries in one headless LibreOffice and saves its outputs.

    Returns, per document, what each typed cell shows in Calc afterwards. Raises
    RuntimeError with LibreOffice's own output when the job fails or takes too long; the
    soffice started for the job is ended either way.
    """
    for document in documents:
        for output in document.outputs:
            output.parent.mkdir(parents=True, exist_ok=True)
    # A killed soffice may still hold files in its profile for a moment: clean up regardless.
    with tempfile.TemporaryDirectory(prefix="handlingsplan-lo-", ignore_cleanup_errors=True) as profile:
        job = {
            "profile": profile,
            "documents": [
                {
                    "template": str(d.template.resolve()),
                    "entries": [{"sheet": e.sheet, "cell": e.cell, "text": e.text} for e in d.entries],
                    "outputs": [{"path": str(o.resolve()), "filter": FILTERS[o.suffix]} for o in d.outputs],
                }
                for d in documents
            ],
        }
        # Its own session, so a timeout can end the driver and the soffice it started together.
        process = subprocess.Popen(
            [SYSTEM_PYTHON, str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = process.communicate(json.dumps(job), timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            raise RuntimeError(f"LibreOffice did not finish within {TIMEOUT:.0f} s:\n{err}") from None
    if process.returncode != 0:
        raise RuntimeError(f"LibreOffice job failed ({process.returncode}):\n{err}")
    return [[Shown(**cell) for cell in document] for document in json.loads(out)["documents"]]


# --- run by LibreOffice's Python ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Does the job in a fresh headless soffice (profile in the job's folder), ended whatever happens.

    (Not a context manager: contextlib cannot re-raise UNO exceptions, whose traceback
    attribute is a UNO struct field.)
    """
    import uno

    profile = Path(job["profile"])
    (profile / "user").mkdir()
    (profile / "user" / "registrymodifications.xcu").write_text(PROFILE, encoding="utf-8")
    connection = f"socket,host=127.0.0.1,port={_free_port()};urp;"
    office = subprocess.Popen(
        [
            "soffice",
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--invisible",
            "--norestore",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            f"--accept={connection}",
        ],
        stdout=subprocess.DEVNULL,  # stdout carries the job's result; soffice's messages go to stderr
    )
    desktop = None
    try:
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        deadline = time.monotonic() + 90
        while True:
            try:
                context = resolver.resolve(f"uno:{connection}StarOffice.ComponentContext")
                break
            except Exception:  # NoConnectException until soffice listens
                if office.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("soffice did not start") from None
                time.sleep(0.2)
        desktop = context.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", context)
        return {"documents": [_type_document(context, document) for document in job["documents"]]}
    finally:
        if desktop is not None:
            # The bridge drops while soffice quits, which UNO reports as DisposedException.
            with suppress(Exception):
                desktop.terminate()
        else:
            office.terminate()
        try:
            office.wait(timeout=20)
        except subprocess.TimeoutExpired:
            office.kill()
            office.wait()


def _property(name: str, value: Any) -> Any:
    from com.sun.star.beans import PropertyValue

    prop = PropertyValue()
    prop.Name = name
    prop.Value = value
    return prop


def _type_document(context: Any, document: dict[str, Any]) -> list[dict[str, Any]]:
    import uno

    manager = context.ServiceManager
    desktop = manager.createInstanceWithContext("com.sun.star.frame.Desktop", context)
    dispatcher = manager.createInstanceWithContext("com.sun.star.frame.DispatchHelper", context)
    doc = desktop.loadComponentFromURL(
        uno.systemPathToFileUrl(document["template"]), "_blank", 0, (_property("Hidden", True),)
    )
    if doc is None:
        raise RuntimeError(f"LibreOffice could not open {document['template']}")
    try:
        controller = doc.getCurrentController()
        frame = controller.getFrame()
        for entry in document["entries"]:
            sheet = doc.Sheets.getByName(entry["sheet"])
            controller.setActiveSheet(sheet)
            controller.select(sheet.getCellRangeByName(entry["cell"]))
            dispatcher.executeDispatch(
                frame, ".uno:EnterString", "", 0, (_property("StringName", entry["text"]),)
            )
        shown = []
        for entry in document["entries"]:
            cell = doc.Sheets.getByName(entry["sheet"]).getCellRangeByName(entry["cell"])
            shown.append(
                {
                    "sheet": entry["sheet"],
                    "cell": entry["cell"],
                    "typed": entry["text"],
                    "shown": cell.getString(),
                    "kind": cell.getType().value,
                    "value": cell.getValue(),
                    "number_format": doc.getNumberFormats().getByKey(cell.NumberFormat).FormatString,
                }
            )
        for output in document["outputs"]:
            doc.storeToURL(
                uno.systemPathToFileUrl(output["path"]),
                (_property("FilterName", output["filter"]), _property("Overwrite", True)),
            )
        return shown
    finally:
        doc.close(True)


def main() -> None:
    """Reads a job (JSON on stdin), does it in one soffice and writes what cells show to stdout."""
    json.dump(_run_job(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
