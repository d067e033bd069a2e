"""Exported rows as files (`postback export`): CSV with a header row, or JSON Lines, one
object per row; gzipped on request.

Values are written exactly: times as ISO 8601 UTC with microseconds
(`2026-05-01T10:00:00.123456Z`), money as decimal text with the four decimals the store
keeps (`10.2500`, also in JSON, where a number could be read back as a float), booleans
as `true`/`false`, attributes as a JSON object (its text in a CSV cell), nothing as an
empty cell or `null`. Cells are written as stored: no spreadsheet formula escaping, so
that a file imports back as it was.

A file is written beside its target under a temporary name and renamed onto it only when
complete, so an export that fails or is interrupted never leaves a truncated file under
the target's name.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final, Protocol

import orjson

from postback.errors import PostbackError

FORMATS: Final = ("csv", "jsonl")


class CannotWrite(PostbackError):
    """The export's target cannot be written (a missing directory, no permission)."""

    code = "cannot_write"


def time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cell_text(value: Any) -> str:
    """A value as a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return time_text(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


def json_value(value: Any) -> Any:
    """A value as it goes into a JSON Lines object."""
    if isinstance(value, datetime):
        return time_text(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


class RowWriter(Protocol):
    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None: ...


class CsvRows:
    """CSV (RFC 4180 line ends), the header row written at once: an empty export is a
    header alone."""

    def __init__(self, out: IO[str], names: Sequence[str]) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")
        self._writer.writerow(names)

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        self._writer.writerows([cell_text(value) for value in row] for row in rows)


class JsonlRows:
    """JSON Lines: one object per row, its keys the field names; an empty export is an
    empty file."""

    def __init__(self, out: IO[str], names: Sequence[str]) -> None:
        self._out = out
        self._names = tuple(names)

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        names = self._names
        self._out.writelines(
            orjson.dumps(
                {name: json_value(value) for name, value in zip(names, row, strict=True)}
            ).decode()
            + "\n"
            for row in rows
        )


def row_writer(form: str, out: IO[str], names: Sequence[str]) -> RowWriter:
    """The writer of one of FORMATS; ValueError for another."""
    if form == "csv":
        return CsvRows(out, names)
    if form == "jsonl":
        return JsonlRows(out, names)
    raise ValueError(f"unknown format {form!r}: use {' or '.join(FORMATS)}")


@contextlib.contextmanager
def _text(raw: IO[bytes], compress: bool) -> Iterator[IO[str]]:
    """A UTF-8 text stream over `raw`, gzipped or not; `raw` itself is left open."""
    packed = gzip.GzipFile(filename="", mode="wb", fileobj=raw) if compress else None
    text = io.TextIOWrapper(packed if packed is not None else raw, encoding="utf-8", newline="")
    try:
        yield text
        text.flush()
    except BaseException:
        # Let go of `raw` whatever state the streams are in; the error is what counts.
        with contextlib.suppress(OSError, ValueError):
            text.detach()
        if packed is not None:
            with contextlib.suppress(OSError, ValueError):
                packed.close()
        raise
    # Detached, not closed: closing would close standard output with it.
    text.detach()
    if packed is not None:
        packed.close()  # writes the gzip trailer; `raw` stays open
    raw.flush()


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextlib.contextmanager
def open_target(path: Path | None, *, compress: bool = False) -> Iterator[IO[str]]:
    """A text stream to write an export to: standard output when `path` is None, else a
    temporary file beside `path`, renamed onto it when the block ends without an error
    and removed when it does not. CannotWrite names the path and the reason."""
    if path is None:
        try:
            with _text(sys.stdout.buffer, compress) as out:
                yield out
        except OSError as exc:
            raise CannotWrite(f"cannot write to standard output: {_reason(exc)}") from None
        return
    with replacing_file(path) as temporary, open(temporary, "wb") as raw:
        try:
            with _text(raw, compress) as out:
                yield out
        except OSError as exc:
            raise CannotWrite(f"cannot write {path}: {_reason(exc)}") from None


@contextlib.contextmanager
def replacing_file(path: Path, *, replace: bool = True) -> Iterator[Path]:
    """A new, empty temporary file beside `path` (readable by its owner only: exports and
    backups hold personal data), moved onto `path` once the block has written it and
    ended without an error, and removed otherwise. `replace=False` refuses to move it
    onto a file that exists by then. CannotWrite names the path and the reason."""
    if path.is_dir():
        raise CannotWrite(f"cannot write {path}: it is a directory")
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    except OSError as exc:
        raise CannotWrite(f"cannot write {path}: {_reason(exc)}") from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        _sync(temporary)
        if not replace and path.exists():
            raise CannotWrite(f"{path} exists (it appeared meanwhile)")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise CannotWrite(f"cannot write {path}: {_reason(exc)}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):
        _sync(path.parent)  # the rename itself survives a crash


def _sync(path: Path) -> None:
    """Flush a file's (or a directory's) data to the disk."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
