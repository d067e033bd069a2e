"""Export files: values written exactly, CSV and JSON Lines, gzip, and a target that is
written whole (a temporary file renamed onto it) or not at all."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from postback.exporting import (
    CannotWrite,
    cell_text,
    json_value,
    open_target,
    row_writer,
    time_text,
)

NAMES = ("id", "time", "revenue", "is_bot", "attributes", "txid")
ROWS = [
    (
        1,
        datetime(2026, 5, 1, 10, 0, 0, 123456, tzinfo=UTC),
        Decimal("10.2500"),
        True,
        {"email": "a@example.com", "note": 'say "hi", then go'},
        "T,1",
    ),
    (2, datetime(2026, 5, 1, 10, tzinfo=UTC), Decimal("0.0001"), False, {}, None),
]


def test_times_are_utc_with_microseconds() -> None:
    assert time_text(datetime(2026, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)) == (
        "2026-05-01T10:00:00.123456Z"
    )
    assert time_text(datetime(2026, 5, 1, 10, tzinfo=UTC)) == "2026-05-01T10:00:00.000000Z"
    sao_paulo = timezone(timedelta(hours=-3))
    assert time_text(datetime(2026, 5, 1, 7, tzinfo=sao_paulo)) == "2026-05-01T10:00:00.000000Z"


def test_cells_and_json_values() -> None:
    assert cell_text(Decimal("10.2500")) == "10.2500"
    assert cell_text(Decimal("1E+3")) == "1000"  # never an exponent
    assert cell_text(True) == "true" and cell_text(False) == "false"
    assert cell_text(None) == ""
    assert cell_text({"a": "b"}) == '{"a":"b"}'
    assert cell_text(7) == "7"
    assert json_value(Decimal("0.5000")) == "0.5000"  # text: a float would round
    assert json_value(True) is True and json_value(None) is None
    assert json_value({"a": "b"}) == {"a": "b"}


def test_csv_has_a_header_and_reads_back() -> None:
    out = io.StringIO()
    row_writer("csv", out, NAMES).write_rows(ROWS)
    text = out.getvalue()
    assert text.startswith("id,time,revenue,is_bot,attributes,txid\r\n")
    found = list(csv.DictReader(io.StringIO(text)))
    assert found[0] == {
        "id": "1",
        "time": "2026-05-01T10:00:00.123456Z",
        "revenue": "10.2500",
        "is_bot": "true",
        "attributes": '{"email":"a@example.com","note":"say \\"hi\\", then go"}',
        "txid": "T,1",
    }
    assert json.loads(found[0]["attributes"])["note"] == 'say "hi", then go'
    assert found[1]["txid"] == "" and found[1]["attributes"] == "{}"


def test_jsonl_is_one_object_per_line() -> None:
    out = io.StringIO()
    row_writer("jsonl", out, NAMES).write_rows(ROWS)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["time"] == "2026-05-01T10:00:00.123456Z"
    assert first["revenue"] == "10.2500"
    assert first["is_bot"] is True
    assert first["attributes"] == {"email": "a@example.com", "note": 'say "hi", then go'}
    assert json.loads(lines[1])["txid"] is None


def test_an_empty_export_is_a_header_or_nothing() -> None:
    as_csv, as_jsonl = io.StringIO(), io.StringIO()
    row_writer("csv", as_csv, NAMES).write_rows([])
    row_writer("jsonl", as_jsonl, NAMES).write_rows([])
    assert as_csv.getvalue() == ",".join(NAMES) + "\r\n"
    assert as_jsonl.getvalue() == ""


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="csv or jsonl"):
        row_writer("xml", io.StringIO(), NAMES)


def test_a_file_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "clicks.csv"
    with open_target(target) as out:
        row_writer("csv", out, NAMES).write_rows(ROWS[:1])
        out.flush()
        assert not target.exists()  # still under its temporary name
        (temporary,) = tmp_path.iterdir()
        assert temporary.name.startswith(".clicks.csv.")
    assert os.listdir(tmp_path) == ["clicks.csv"]
    assert target.read_text(encoding="utf-8").startswith("id,time,")
    assert target.stat().st_mode & 0o077 == 0  # personal data: the owner's only


def test_a_failed_export_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "clicks.csv"
    target.write_text("the export of yesterday\n", encoding="utf-8")
    with pytest.raises(RuntimeError), open_target(target) as out:
        row_writer("csv", out, NAMES).write_rows(ROWS)
        raise RuntimeError("the database went away")
    assert os.listdir(tmp_path) == ["clicks.csv"]
    assert target.read_text(encoding="utf-8") == "the export of yesterday\n"


def test_gzip_whatever_the_name(tmp_path: Path) -> None:
    target = tmp_path / "clicks.csv"  # no .gz: written gzipped all the same, not renamed
    with open_target(target, compress=True) as out:
        row_writer("jsonl", out, NAMES).write_rows(ROWS)
    assert os.listdir(tmp_path) == ["clicks.csv"]
    data = target.read_bytes()
    assert data[:2] == b"\x1f\x8b"
    lines = gzip.decompress(data).decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2]


def test_standard_output_stays_open_and_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", stdout)
    with open_target(None, compress=True) as out:
        row_writer("csv", out, NAMES).write_rows(ROWS)
    assert not stdout.closed
    assert gzip.decompress(raw.getvalue()).decode().count("\r\n") == 3


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("missing/dir/clicks.csv", "No such file or directory"),
        ("a-directory", "it is a directory"),
        ("a-file/clicks.csv", "Not a directory"),
    ],
)
def test_a_target_that_cannot_be_written(tmp_path: Path, where: str, reason: str) -> None:
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    target = tmp_path / where
    with pytest.raises(CannotWrite) as refused, open_target(target) as out:
        out.write("never")
    assert refused.value.message == f"cannot write {target}: {reason}"
    assert sorted(os.listdir(tmp_path)) == ["a-directory", "a-file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_directory_without_write_permission(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(CannotWrite, match="Permission denied"), open_target(locked / "x.csv"):
            pass
    finally:
        locked.chmod(0o700)
