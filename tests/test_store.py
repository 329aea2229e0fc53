"""The store: the ledger, what is in force for a year, and which rejections still need action."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.config import Settings
from pipeline.plan import Plan
from pipeline.records import LedgerRecord, utc_iso
from pipeline.store import append_ledger, in_force, read_ledger, received, received_from
from tests import running
from tests.workbooks import GOOD_ACTION, fill_workbook, make_template

AS_OF = dt.date(2027, 3, 1)

# --- the ledger --------------------------------------------------------------------------


def record(**changes: object) -> LedgerRecord:
    """Returns an accepted SOC 2027 record, with any fields changed."""
    base = LedgerRecord(
        digest="a" * 64,
        original_name="SOC/Handlingsplan SOC 2027.xlsx",
        size=12_345,
        received="2027-02-01T08:00:00+00:00",
        processed="2027-02-01T09:00:00+00:00",
        department="SOC",
        year=2027,
        verdict="accepted",
        errors=0,
        warnings=2,
        plan_version="2015-02-09",
        feedback="2027/aterkoppling/SOC.xlsx",
        archived="arkiv/aa/" + "a" * 64 + ".xlsx",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_ledger_round_trip(tmp_path: Path) -> None:
    ledger = tmp_path / "utkorg" / "inlamningar.jsonl"
    records = [
        record(),
        record(
            digest="b" * 64,
            verdict="rejected",
            department=None,
            year=None,
            plan_version=None,
            feedback=None,
            reasons=("Filen är skadad eller ofullständig.",),
        ),
    ]
    for item in records:
        append_ledger(ledger, [item])
    assert list(read_ledger(ledger)) == records
    assert ledger.read_text(encoding="utf-8").count("\n") == 2


def test_missing_ledger_is_empty(tmp_path: Path) -> None:
    assert list(read_ledger(tmp_path / "inlamningar.jsonl")) == []


def test_torn_last_line_is_skipped_and_closed_off(tmp_path: Path) -> None:
    ledger = tmp_path / "inlamningar.jsonl"
    append_ledger(ledger, [record()])
    with ledger.open("ab") as handle:
        handle.write(b'{"digest": "bbbb", "original_na')
    assert list(read_ledger(ledger)) == [record()]
    append_ledger(ledger, [record(digest="c" * 64)])
    assert list(read_ledger(ledger)) == [record(), record(digest="c" * 64)]


def test_lines_that_are_not_records_are_skipped(tmp_path: Path) -> None:
    ledger = tmp_path / "inlamningar.jsonl"
    append_ledger(ledger, [record()])
    with ledger.open("ab") as handle:
        handle.write(b"inte json\n[1, 2]\n" + b'{"digest": "x"}\n' + b"\xff\xfe\n\n")
    append_ledger(ledger, [record(digest="d" * 64)])
    assert [r.digest for r in read_ledger(ledger)] == ["a" * 64, "d" * 64]


@given(name=st.text(), department=st.none() | st.text(max_size=5))
def test_ledger_round_trips_any_text(
    tmp_path_factory: pytest.TempPathFactory, name: str, department: str | None
) -> None:
    ledger = tmp_path_factory.mktemp("ledger") / "inlamningar.jsonl"
    item = record(original_name=name, department=department)
    append_ledger(ledger, [item])
    assert list(read_ledger(ledger)) == [item]


def test_received_knows_every_digest_of_the_year() -> None:
    records = [
        record(),
        record(digest="b" * 64, verdict="rejected"),
        record(),
        record(digest="c" * 64, year=2026),
    ]
    assert received_from(records, 2027).digests == {"a" * 64, "b" * 64}


def test_ledgers_written_before_verdict_was_named_still_read(tmp_path: Path) -> None:
    ledger = tmp_path / "inlamningar.jsonl"
    fields = dataclasses.asdict(record())
    fields["outcome"] = fields.pop("verdict")
    ledger.write_text(json.dumps(fields) + "\n", encoding="utf-8")
    assert list(read_ledger(ledger)) == [record()]


def test_utc_iso_is_seconds_in_utc() -> None:
    assert utc_iso(1_800_000_000.75) == "2027-01-15T08:00:00+00:00"


# --- in_force ----------------------------------------------------------------------------


def test_in_force_picks_the_last_received() -> None:
    older = record(digest="1" * 64, received="2027-02-01T08:00:00+00:00")
    newer = record(digest="2" * 64, received="2027-03-01T08:00:00+00:00")
    rejected_newest = record(digest="3" * 64, received="2027-04-01T08:00:00+00:00", verdict="rejected")
    other_year = record(digest="4" * 64, received="2027-05-01T08:00:00+00:00", year=2026)
    utb = record(digest="5" * 64, department="UTB")
    chosen = in_force([newer, utb, rejected_newest, older, other_year], 2027)
    assert chosen == {"SOC": newer, "UTB": utb}


def test_in_force_compares_times_not_text() -> None:
    utc = record(digest="1" * 64, received="2027-03-01T08:30:00+00:00")
    stockholm = record(digest="2" * 64, received="2027-03-01T09:00:00+01:00")
    assert in_force([stockholm, utc], 2027)["SOC"] == utc


SOC_RECORDS = st.lists(
    st.builds(
        record,
        digest=st.sampled_from(["1" * 64, "2" * 64, "3" * 64]),
        received=st.sampled_from(["2027-02-01T08:00:00+00:00", "2027-03-01T08:00:00+00:00"]),
        verdict=st.sampled_from(["accepted", "rejected"]),
    ),
    max_size=8,
)


@given(records=SOC_RECORDS, data=st.data())
def test_in_force_does_not_depend_on_order(records: list[LedgerRecord], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(records))
    assert in_force(shuffled, 2027) == in_force(records, 2027)


def test_a_rejection_stays_open_only_until_a_later_accepted_submission() -> None:
    early_reject = record(digest="1" * 64, received="2027-02-01T08:00:00+00:00", verdict="rejected")
    accepted = record(digest="2" * 64, received="2027-03-01T08:00:00+00:00")
    late_reject = record(digest="3" * 64, received="2027-04-01T08:00:00+00:00", verdict="rejected")
    other = record(digest="4" * 64, department="UTB", verdict="rejected")
    unknown = record(digest="5" * 64, department=None, verdict="rejected")
    view = received_from([early_reject, accepted, late_reject, other, unknown], 2027)
    assert view.in_force == {"SOC": accepted}
    assert [r.digest for r in view.open_rejections] == ["4" * 64, "5" * 64, "3" * 64]


# --- received order: the system's clock, not the file's -----------------------------------


def test_in_force_goes_by_when_the_system_took_the_bytes_in() -> None:
    # Handed in later, but saved on a machine whose clock was a month behind.
    first = record(
        digest="1" * 64, received="2027-03-01T08:00:00+00:00", arrived="2027-03-01T09:00:00.000000+00:00"
    )
    second = record(
        digest="2" * 64, received="2027-02-01T08:00:00+00:00", arrived="2027-03-02T09:00:00.000000+00:00"
    )
    assert in_force([second, first], 2027)["SOC"] == second
    rejected = record(digest="3" * 64, verdict="rejected", received="2027-04-01T08:00:00+00:00",
                      arrived="2027-03-01T10:00:00.000000+00:00")  # fmt: skip
    assert received_from([first, rejected, second], 2027).open_rejections == ()


def test_files_taken_in_together_go_by_their_own_time() -> None:
    arrived = "2027-03-01T09:00:00.000000+00:00"
    older = record(digest="2" * 64, received="2027-02-01T08:00:00+00:00", arrived=arrived)
    newer = record(digest="1" * 64, received="2027-02-02T08:00:00+00:00", arrived=arrived)
    assert in_force([newer, older], 2027)["SOC"] == newer


def test_ledgers_without_arrival_go_by_when_they_were_processed() -> None:
    first = record(
        digest="1" * 64, received="2027-03-01T08:00:00+00:00", processed="2027-03-01T09:00:00+00:00"
    )
    second = record(
        digest="2" * 64, received="2027-01-01T08:00:00+00:00", processed="2027-03-05T09:00:00+00:00"
    )
    assert in_force([first, second], 2027)["SOC"] == second
    mixed = record(digest="3" * 64, received="2027-01-01T08:00:00+00:00", arrived="2027-03-04T09:00:00+00:00")
    assert in_force([first, second, mixed], 2027)["SOC"] == second


def test_arrival_is_kept_in_the_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "inlamningar.jsonl"
    item = record(arrived="2027-03-01T09:00:00.123456+00:00")
    append_ledger(ledger, [item])
    assert list(read_ledger(ledger)) == [item]
    with ledger.open("ab") as handle:
        handle.write(
            json.dumps({**dataclasses.asdict(record(digest="b" * 64)), "arrived": "i går"}).encode() + b"\n"
        )
    assert read_ledger(ledger).damaged_lines == (2,)


@pytest.mark.flow
def test_a_resubmission_saved_with_an_older_clock_is_in_force_when_handed_in_later(
    plan: Plan, tmp_path: Path
) -> None:
    settings = Settings(inbox=tmp_path / "inbox", outbox=tmp_path / "outbox")
    template = make_template(plan, "SOC", 2027, tmp_path / "mallar")
    saved = time.time() - 86_400
    first = fill_workbook(
        template, settings.inbox / "forsta.xlsx", actions=[GOOD_ACTION], concerns={"1.3": "Ja"}
    )
    os.utime(first, (saved, saved))
    assert running.collect(settings, 2027, AS_OF).in_force["SOC"].original_name == "forsta.xlsx"
    first.unlink()
    # The second file's clock says it was saved a week before the first; it is handed in after.
    second = fill_workbook(
        template, settings.inbox / "andra.xlsx", actions=[GOOD_ACTION, GOOD_ACTION], concerns={"1.3": "Ja"}
    )
    os.utime(second, (saved - 7 * 86_400, saved - 7 * 86_400))
    running.collect(settings, 2027, AS_OF)
    view = received(settings, 2027)
    assert view.in_force["SOC"].original_name == "andra.xlsx"
    assert view.in_force["SOC"].received < view.records[0].received  # its own time stays as it was
