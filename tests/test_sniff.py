"""Tests for pipeline.sniff: one case per kind of file a förvaltning might drop."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import contract as c
from pipeline.plan import Plan
from pipeline.sniff import OLE2_SIGNATURE, SniffLimits, SniffResult, has_zip_end_record, sniff_workbook
from tests.corpus import MIB, SOFFICE, libreoffice_copy, members_of, patch_sizes, write_zeros, write_zip
from tests.workbooks import fill_workbook, make_template

needs_libreoffice = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")


@pytest.fixture(scope="module")
def valid_xlsx(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Returns the real SOC template, filled in and saved as a person would."""
    folder = tmp_path_factory.mktemp("valid")
    template = make_template(plan, "SOC", 2027, folder)
    action = {c.ACTION: "Språkcafé på biblioteket", c.OWNER: "Enhetschef", c.STATUS: c.IN_PROGRESS}
    return fill_workbook(template, folder / "SOC 2027.xlsx", actions=[action])


@pytest.fixture(scope="module")
def saved_by_libreoffice(valid_xlsx: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Returns the valid workbook as LibreOffice saves it: "ods" and "xls" → path."""
    if SOFFICE is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    folder = tmp_path_factory.mktemp("libreoffice")
    return {kind: libreoffice_copy(valid_xlsx, kind, folder) for kind in ("ods", "xls")}


def said(result: SniffResult) -> tuple[str, str, str]:
    """Returns the rejection's (code, message, hint); it names no file until the caller places it."""
    assert result.problem is not None and not result.ok
    assert (result.problem.code, result.problem.kind, result.problem.file) == (result.kind, "error", "")
    return result.problem.code, result.problem.message, result.problem.hint


def with_members(valid: Path, target: Path, changes: dict[str, bytes]) -> Path:
    """Returns a copy of the valid workbook at `target` with members added or replaced."""
    return write_zip(target, {**members_of(valid), **changes})


# --- valid and empty ---------------------------------------------------------------------


def test_valid_workbook_is_ok(valid_xlsx: Path) -> None:
    result = sniff_workbook(valid_xlsx)
    assert (result.ok, result.kind, result.problem, result.notes) == (True, "xlsx", None, ())


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "tom.xlsx"
    path.write_bytes(b"")
    assert said(sniff_workbook(path)) == (
        "empty",
        "Filen är tom (0 byte).",
        "Spara arbetsboken i Excel igen och lämna in den på nytt.",
    )


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sniff_workbook(tmp_path / "finns-inte.xlsx")


# --- OLE2: encrypted workbooks and old formats -------------------------------------------


def test_password_protected_workbook_is_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "skyddad.xlsx"
    # The stream name straddles the 64 KiB read boundary, to prove the scan overlaps chunks.
    padding = bytes(64 * 1024 - len(OLE2_SIGNATURE) - 9)
    path.write_bytes(OLE2_SIGNATURE + padding + "EncryptionInfo".encode("utf-16-le") + bytes(4096))
    assert said(sniff_workbook(path)) == (
        "encrypted",
        "Arbetsboken är lösenordsskyddad.",
        "Ta bort lösenordet (Arkiv > Info > Skydda arbetsbok) och spara igen.",
    )


def test_old_excel_file_may_be_opened_as_xls(tmp_path: Path) -> None:
    path = tmp_path / "gammal.xlsx"  # the name does not matter: the bytes do
    path.write_bytes(OLE2_SIGNATURE + bytes(512) + "Workbook".encode("utf-16-le") + bytes(512))
    assert sniff_workbook(path) == SniffResult("xls")


@needs_libreoffice
def test_xls_saved_by_libreoffice_may_be_opened(saved_by_libreoffice: dict[str, Path]) -> None:
    result = sniff_workbook(saved_by_libreoffice["xls"])
    assert (result.ok, result.kind, result.problem, result.notes) == (True, "xls", None, ())


BIFF8_BOF = bytes.fromhex("0908100000060500") + bytes(12)
"""The first record of an .xls workbook stream (BOF, BIFF8, workbook globals) and its data."""


def test_xls_with_a_password_to_open_is_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "skyddad.xls"
    workbook_stream = BIFF8_BOF + bytes.fromhex("2f00") + bytes(64)  # FILEPASS right after BOF
    names = "Workbook".encode("utf-16-le").ljust(512, b"\0")
    path.write_bytes(OLE2_SIGNATURE + bytes(504) + names + workbook_stream.ljust(4096, b"\0"))
    assert said(sniff_workbook(path))[:2] == ("encrypted", "Arbetsboken är lösenordsskyddad.")


@needs_libreoffice
def test_real_xls_with_filepass_is_encrypted(saved_by_libreoffice: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(saved_by_libreoffice["xls"].read_bytes())
    bof = data.find(BIFF8_BOF[:8])
    assert bof > 0 and bof % 512 == 0
    data[bof + 20 : bof + 22] = bytes.fromhex("2f00")  # what a password to open puts there
    path = tmp_path / "skyddad.xls"
    path.write_bytes(bytes(data))
    assert sniff_workbook(path).kind == "encrypted"
    assert sniff_workbook(saved_by_libreoffice["xls"]).kind == "xls"


def test_xls_with_macros_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "makro.xls"
    names = "Workbook".encode("utf-16-le") + bytes(64) + "_VBA_PROJECT_CUR".encode("utf-16-le")
    path.write_bytes(OLE2_SIGNATURE + bytes(512) + names + bytes(512))
    assert said(sniff_workbook(path))[:2] == ("macros", "Arbetsboken innehåller makron.")


def test_ole2_file_without_a_workbook_is_another_format(tmp_path: Path) -> None:
    path = tmp_path / "okänd.xls"
    path.write_bytes(OLE2_SIGNATURE + bytes(512) + "Contents".encode("utf-16-le") + bytes(512))
    assert said(sniff_workbook(path))[:2] == (
        "other_format",
        "Filen är ett gammalt Office-dokument som inte är ett kalkylark, inte en Excel-arbetsbok.",
    )


def test_old_word_document_is_named(tmp_path: Path) -> None:
    path = tmp_path / "brev.xlsx"
    path.write_bytes(OLE2_SIGNATURE + bytes(512) + "WordDocument".encode("utf-16-le") + bytes(512))
    assert said(sniff_workbook(path)) == (
        "other_format",
        "Filen är ett gammalt Word-dokument (.doc), inte en Excel-arbetsbok.",
        "Lämna in den ifyllda Excel-mallen (.xlsx) i stället.",
    )


# --- text and other non-zip files --------------------------------------------------------


def test_html_saved_as_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "webb.xlsx"
    path.write_text("\ufeff<!DOCTYPE html>\n<html><body><table></table></body></html>", encoding="utf-8")
    assert said(sniff_workbook(path)) == (
        "html",
        "Filen är en webbsida (HTML), inte en Excel-arbetsbok.",
        "Öppna den ifyllda mallen i Excel och välj Spara som > Excel-arbetsbok (.xlsx).",
    )


def test_excel_html_export_is_html(tmp_path: Path) -> None:
    path = tmp_path / "export.xls"
    path.write_text(
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><body/></html>', encoding="utf-8"
    )
    assert sniff_workbook(path).kind == "html"


def test_csv_saved_as_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes("Delmål;Åtgärd;Ansvarig\n1.1;Språkcafé;Enhetschef\n".encode("cp1252"))
    assert said(sniff_workbook(path))[:2] == (
        "csv",
        "Filen är en textfil med kommaseparerade värden (CSV), inte en Excel-arbetsbok.",
    )


def test_unicode_text_export_is_csv(tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes("\ufeffDelmål\tÅtgärd\n1.1\tSpråkcafé\n".encode("utf-16-le"))
    assert sniff_workbook(path).kind == "csv"


def test_plain_text_is_text(tmp_path: Path) -> None:
    path = tmp_path / "anteckningar.xlsx"
    path.write_text("Vi hinner inte fylla i mallen i år.\n", encoding="utf-8")
    assert said(sniff_workbook(path))[:2] == ("text", "Filen är en textfil, inte en Excel-arbetsbok.")


def test_xml_spreadsheet_is_xml(tmp_path: Path) -> None:
    path = tmp_path / "xml2003.xml"
    path.write_text('<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>')
    assert said(sniff_workbook(path))[:2] == ("xml", "Filen är en XML-fil, inte en Excel-arbetsbok (.xlsx).")


def test_pdf_is_named(tmp_path: Path) -> None:
    path = tmp_path / "plan.pdf"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    assert said(sniff_workbook(path))[:2] == ("other_format", "Filen är en PDF, inte en Excel-arbetsbok.")


def test_binary_garbage_is_not_zip(tmp_path: Path) -> None:
    path = tmp_path / "okänd.xlsx"
    path.write_bytes(bytes(range(256)) * 4)
    assert said(sniff_workbook(path)) == (
        "not_zip",
        "Filen är ingen Excel-arbetsbok (.xlsx).",
        "Öppna filen i Excel eller LibreOffice och spara den som Excel-arbetsbok (.xlsx).",
    )


# --- zip structure -----------------------------------------------------------------------


def test_first_half_of_workbook_is_truncated(valid_xlsx: Path, tmp_path: Path) -> None:
    data = valid_xlsx.read_bytes()
    path = tmp_path / "halv.xlsx"
    path.write_bytes(data[: len(data) // 2])
    assert said(sniff_workbook(path)) == (
        "truncated",
        "Filen är skadad eller ofullständig.",
        "Spara arbetsboken igen och lämna in den på nytt.",
    )
    assert not has_zip_end_record(path)
    assert has_zip_end_record(valid_xlsx)


def test_broken_central_directory_is_truncated(valid_xlsx: Path, tmp_path: Path) -> None:
    data = bytearray(valid_xlsx.read_bytes())
    directory = data.rfind(b"PK\x01\x02")
    data[directory : directory + 4] = b"XXXX"
    path = tmp_path / "trasig.xlsx"
    path.write_bytes(bytes(data))
    result = sniff_workbook(path)
    assert result.kind == "truncated"
    assert result.problem is not None and result.problem.detail.startswith("BadZipFile: ")


def test_too_many_members(valid_xlsx: Path) -> None:
    assert said(sniff_workbook(valid_xlsx, SniffLimits(max_members=5)))[:2] == (
        "too_many_members",
        "Filen består av ovanligt många delar för att vara en ifylld mall.",
    )


ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"


def test_ods_with_xlsx_name_may_be_opened_as_ods(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "kalkyl.xlsx", {"mimetype": ODS_MIMETYPE, "content.xml": b"<office/>"}, zipfile.ZIP_STORED
    )
    assert sniff_workbook(path) == SniffResult("ods")


@needs_libreoffice
def test_ods_saved_by_libreoffice_may_be_opened(saved_by_libreoffice: dict[str, Path]) -> None:
    result = sniff_workbook(saved_by_libreoffice["ods"])
    assert (result.ok, result.kind, result.problem, result.notes) == (True, "ods", None, ())


@needs_libreoffice
def test_ods_is_held_to_the_same_limits(saved_by_libreoffice: dict[str, Path], tmp_path: Path) -> None:
    ods = saved_by_libreoffice["ods"]
    assert sniff_workbook(ods, SniffLimits(max_members=5)).kind == "too_many_members"
    assert sniff_workbook(ods, SniffLimits(max_total_bytes=2000)).kind == "zip_bomb"
    members = members_of(ods)
    evil = write_zip(tmp_path / "dtd.ods", {**members, "content.xml": DTD}, zipfile.ZIP_STORED)
    assert sniff_workbook(evil).kind == "dtd"


def test_ods_with_a_basic_module_is_rejected(tmp_path: Path) -> None:
    members = {
        "mimetype": ODS_MIMETYPE,
        "content.xml": b"<office/>",
        "Basic/script-lc.xml": b"<library/>",
        "Basic/Standard/Module1.xml": b"<module/>",
    }
    path = write_zip(tmp_path / "makro.ods", members, zipfile.ZIP_STORED)
    assert said(sniff_workbook(path))[:2] == ("macros", "Arbetsboken innehåller makron.")
    del members["Basic/Standard/Module1.xml"]  # the index LibreOffice may write without any macro
    assert sniff_workbook(write_zip(tmp_path / "utan.ods", members, zipfile.ZIP_STORED)).ok


def test_opendocument_text_is_another_format(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "brev.xlsx",
        {"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<office/>"},
        zipfile.ZIP_STORED,
    )
    assert said(sniff_workbook(path))[:2] == (
        "other_format",
        "Filen är ett OpenDocument-dokument, inte en Excel-arbetsbok.",
    )


def test_word_document_is_another_format(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "plan.docx",
        {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"},
    )
    assert said(sniff_workbook(path))[:2] == (
        "other_format",
        "Filen är ett Word-dokument (.docx), inte en Excel-arbetsbok.",
    )


def test_binary_workbook_is_xlsb(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "binar.xlsx", {"[Content_Types].xml": b"<Types/>", "xl/workbook.bin": b"\0"})
    assert said(sniff_workbook(path)) == (
        "xlsb",
        "Filen är en binär Excel-arbetsbok (.xlsb), inte en vanlig Excel-arbetsbok (.xlsx).",
        "Öppna den ifyllda mallen i Excel och välj Spara som > Excel-arbetsbok (.xlsx).",
    )


def test_plain_zip_is_not_xlsx(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "filer.zip", {"a.txt": b"hej"})
    assert said(sniff_workbook(path))[:2] == (
        "not_xlsx",
        "Filen är en zip-fil men ingen Excel-arbetsbok (.xlsx).",
    )


def test_macros(valid_xlsx: Path, tmp_path: Path) -> None:
    path = with_members(valid_xlsx, tmp_path / "makro.xlsx", {"xl/vbaProject.bin": b"\x00" * 64})
    assert said(sniff_workbook(path)) == (
        "macros",
        "Arbetsboken innehåller makron.",
        "Spara som en vanlig Excel-arbetsbok (.xlsx) utan makron.",
    )


def test_external_links_are_a_note(valid_xlsx: Path, tmp_path: Path) -> None:
    links = {"xl/externalLinks/externalLink1.xml": b"<externalLink/>"}
    path = with_members(valid_xlsx, tmp_path / "länk.xlsx", links)
    result = sniff_workbook(path)
    assert (result.ok, result.kind) == (True, "xlsx")
    assert [(n.kind, n.code, n.message, n.file) for n in result.notes] == [
        ("warning", "external_links", "Arbetsboken har länkar till andra filer; länkarna används inte.", "")
    ]
    assert result.notes[0].located("SOC/plan.xlsx").file == "SOC/plan.xlsx"


# --- sizes: bombs and lying headers ------------------------------------------------------


@pytest.mark.slow
def test_zip_bomb_of_300_mb_zeros(valid_xlsx: Path, tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in members_of(valid_xlsx).items():
            archive.writestr(name, data)
        write_zeros(archive, "xl/worksheets/sheet99.xml", 300 * MIB)
    started = time.perf_counter()
    result = sniff_workbook(path)
    assert time.perf_counter() - started < 1.0
    assert said(result)[:2] == (
        "zip_bomb",
        "Filen blir orimligt stor när den packas upp (xl/worksheets/sheet99.xml) och kan vara skadlig.",
    )


def test_compression_ratio_beyond_limit(valid_xlsx: Path, tmp_path: Path) -> None:
    path = tmp_path / "packad.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members_of(valid_xlsx).items():
            archive.writestr(name, data)
        write_zeros(archive, "xl/media/image1.png", 8 * MIB)
    assert sniff_workbook(path).kind == "zip_bomb"


def test_total_size_beyond_limit(valid_xlsx: Path, tmp_path: Path) -> None:
    limits = SniffLimits(max_total_bytes=2000)
    assert sniff_workbook(valid_xlsx, limits).kind == "zip_bomb"


def test_headers_that_understate_the_size_are_still_rejected(valid_xlsx: Path, tmp_path: Path) -> None:
    path = tmp_path / "ljuger.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in members_of(valid_xlsx).items():
            archive.writestr(name, data)
        write_zeros(archive, "xl/worksheets/sheet99.xml", 64 * MIB)
    patch_sizes(path, "xl/worksheets/sheet99.xml", 1000)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("xl/worksheets/sheet99.xml").file_size == 1000
    started = time.perf_counter()
    result = sniff_workbook(path)
    assert time.perf_counter() - started < 1.0
    assert result.kind in {"zip_bomb", "corrupt_member"}
    assert not result.ok


# --- the streamed XML parts --------------------------------------------------------------


def test_crc_corrupted_member(valid_xlsx: Path, tmp_path: Path) -> None:
    path = write_zip(tmp_path / "crc.xlsx", members_of(valid_xlsx), zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/workbook.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + 10] ^= 0x01
    path.write_bytes(bytes(data))
    result = sniff_workbook(path)
    assert said(result) == (
        "corrupt_member",
        "En del av filen är skadad (xl/workbook.xml).",
        "Spara arbetsboken igen och lämna in den på nytt.",
    )
    assert result.problem is not None
    assert result.problem.detail == "BadZipFile: Bad CRC-32 for file 'xl/workbook.xml'"


def test_damaged_deflate_stream(valid_xlsx: Path, tmp_path: Path) -> None:
    path = tmp_path / "zlib.xlsx"
    path.write_bytes(valid_xlsx.read_bytes())
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start : start + info.compress_size] = b"\xff" * info.compress_size
    path.write_bytes(bytes(data))
    assert sniff_workbook(path).kind == "corrupt_member"


DTD = b'<?xml version="1.0"?>\n<!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa">]>\n<sst><si><t>&a;</t></si></sst>'


def test_dtd_in_shared_strings(valid_xlsx: Path, tmp_path: Path) -> None:
    path = with_members(valid_xlsx, tmp_path / "dtd.xlsx", {"xl/sharedStrings.xml": DTD})
    assert said(sniff_workbook(path)) == (
        "dtd",
        "Filen innehåller otillåtna XML-definitioner (DTD) och kan vara skadlig.",
        "Kopiera in uppgifterna i en ny mall och lämna in den.",
    )


@pytest.mark.parametrize("chunk_size", [3, 5, 7, 11])
def test_dtd_split_across_chunks(valid_xlsx: Path, tmp_path: Path, chunk_size: int) -> None:
    entity_only = b'<?xml version="1.0"?><sst><!ENTITY a "b"></sst>'
    path = with_members(valid_xlsx, tmp_path / "delad.xlsx", {"xl/sharedStrings.xml": entity_only})
    assert sniff_workbook(path, SniffLimits(chunk_size=chunk_size)).kind == "dtd"


def test_dtd_in_utf16_xml(valid_xlsx: Path, tmp_path: Path) -> None:
    text = DTD.decode().replace('"1.0"?>', '"1.0" encoding="UTF-16"?>')
    rels = {"xl/_rels/workbook.xml.rels": ("\ufeff" + text).encode("utf-16-le")}
    path = with_members(valid_xlsx, tmp_path / "utf16.xlsx", rels)
    assert sniff_workbook(path).kind == "dtd"


# --- whatever the bytes, a verdict and never an exception --------------------------------


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_damaged_workbook_gets_a_verdict(
    valid_xlsx: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    original = valid_xlsx.read_bytes()
    damaged = bytearray(original[: data.draw(st.integers(1, len(original)), label="length")])
    changes = st.tuples(st.integers(0, len(damaged) - 1), st.integers(0, 255))
    for position, value in data.draw(st.lists(changes, max_size=8), label="changes"):
        damaged[position] = value
    path = tmp_path_factory.mktemp("fuzz") / "skadad.xlsx"
    path.write_bytes(bytes(damaged))
    result = sniff_workbook(path)
    assert result.ok == (result.kind in ("xlsx", "ods", "xls"))
    assert result.ok or all(said(result))
