"""Reading published CSV files as they come, and collecting every problem before failing.

Official files are messy in known ways: CRLF rows with a bare newline inside a quoted field,
Windows-1252 bytes, a UTF-8-encoded C1 control (U+0096) where an en dash was meant, header
spellings that change between years. The reader tolerates those quirks and refuses what cannot
be read (binary data, UTF-16, truncated quotes) with the file and row named. ``Problems``
gathers every row-level problem so one DataError lists them all.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import DataError
from data.store import sha256_file

MAX_FIELD_CHARS = 100_000
"""Longer fields are refused: no legitimate cell in these files comes near it."""
PER_CALL = 1000
MAX_LISTED = 25
"""How many problems the error message spells out; all of them stay on DataError.problems."""


@dataclass
class Problems:
    """Every problem found in one or more files: (file, row, column, what was expected)."""

    items: list[str] = field(default_factory=list)

    def add(self, file: str, row: int | None, column: str | None, message: str) -> None:
        where = [f"file {file}"]
        if row is not None:
            where.append(f"row {row}")
        if column:
            where.append(f"column {column!r}")
        self.items.append(f"{', '.join(where)}: {message}")

    def add_rows(self, file: str, rows: np.ndarray | pd.Index | list, column: str | None, message: str,
                 values: pd.Series | None = None) -> None:
        """One problem per row (rows are 1-based file row numbers, header = row 1).

        Past ``PER_CALL`` rows the rest are counted in one line, so a wholly wrong 5-million-row
        column cannot exhaust memory with messages.
        """
        rows = list(rows)
        for i, row in enumerate(rows[:PER_CALL]):
            shown = f" (got {_short(values.iloc[i])!r})" if values is not None else ""
            self.add(file, int(row), column, f"{message}{shown}")
        if len(rows) > PER_CALL:
            self.add(file, None, column, f"{message}: {len(rows) - PER_CALL:,} more rows like this "
                     f"(from row {int(rows[PER_CALL])})")

    def __len__(self) -> int:
        return len(self.items)

    def extend(self, other: "Problems") -> None:
        self.items.extend(other.items)

    def raise_if_any(self, reason: str) -> None:
        if not self.items:
            return
        listed = self.items[:MAX_LISTED]
        more = len(self.items) - len(listed)
        first = self.items[0]
        message = (f"{reason}: {len(self.items)} problem(s); first: {first}\n"
                   + "\n".join(f"  - {p}" for p in listed)
                   + (f"\n  ... and {more} more" if more else ""))
        raise DataError(message, problems=list(self.items))


def _short(value: object, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def file_rows(frame: pd.DataFrame) -> np.ndarray:
    """Row numbers as a spreadsheet shows them: the header is row 1, the first record row 2."""
    return frame.index.to_numpy() + 2


def _decode_failure_row(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def read_bytes_as_utf8(path: Path) -> bytes:
    """The file's bytes as UTF-8, whatever of UTF-8 / Windows-1252 it was written in."""
    name = str(path)
    if not path.exists():
        raise DataError("file not found", file=name)
    if path.is_dir():
        raise DataError("is a directory, not a file", file=name)
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError("file is empty (expected a CSV header row and data rows)", file=name)
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:65536] or b"\x00" in raw:
        row = _decode_failure_row(raw, raw.find(b"\x00")) if b"\x00" in raw else 1
        raise DataError("not a text CSV file: it contains NUL bytes (binary data, or UTF-16 text: "
                        "save it as UTF-8 CSV)", file=name, row=row)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        try:
            raw = raw.decode("cp1252").encode("utf-8")
        except UnicodeDecodeError as exc:
            row = _decode_failure_row(raw, exc.start)
            raise DataError(f"not UTF-8 or Windows-1252 text: byte 0x{raw[exc.start]:02x} cannot be decoded "
                            f"(first UTF-8 error at byte {utf8_error.start})", file=name, row=row) from exc
    # A UTF-8-encoded C1 control U+0096 is a Windows-1252 en dash decoded as Latin-1 upstream.
    return raw.replace(b"\xc2\x96", "\u2013".encode("utf-8"))


def read_csv_strings(path: Path | str) -> pd.DataFrame:
    """Read a CSV as strings: blank cells are '', header cells stripped; refuses unreadable files.

    Fast path: pyarrow's multithreaded reader, straight into Arrow-backed strings (a
    5-million-row file stays well under 2 GB). Any irregularity it refuses (a short or long
    row, an unbalanced quote, a huge field) falls back to pandas' C reader, which is what
    reports the row and column.
    """
    path = Path(path)
    raw = read_bytes_as_utf8(path)
    frame = _read_with_arrow(raw)
    if frame is None:
        frame = _read_with_pandas(raw, path)
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise DataError("file has a header but no rows (expected data rows after the header)", file=str(path), row=2)
    return frame


def _read_with_arrow(raw: bytes) -> pd.DataFrame | None:
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    first = raw.split(b"\n", 1)[0]
    if b'"' in first or b"\x00" in raw[:1]:
        return None
    header = next(csv.reader([first.decode("utf-8").rstrip("\r")]), [])
    if not header or len(set(header)) != len(header):
        return None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(raw),
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=b'"' in raw),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowCapacityError):
        return None
    if table.num_columns != len(header):
        return None
    frame = table.to_pandas(types_mapper=lambda t: pd.StringDtype("pyarrow") if t == pa.string() else None)
    frame.attrs["field_counts"] = FieldCounts(None)  # arrow enforces a full row everywhere
    return frame


def _read_with_pandas(raw: bytes, path: Path) -> pd.DataFrame:
    import csv

    counts = _field_counts(raw)
    header = next(csv.reader([raw.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")]), [])
    try:
        if header and len(counts) and counts.max() > len(header):
            frame = _without_trailing_empty_fields(raw, header, counts, path)
        else:
            frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, na_filter=False,
                                encoding="utf-8", engine="c", skip_blank_lines=True, index_col=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError("file has no CSV header row", file=str(path), row=1) from exc
    except pd.errors.ParserError as exc:
        text = str(exc)
        row = None
        import re

        m = re.search(r"line (\d+)", text)
        if m:
            row = int(m.group(1))
        if "EOF inside string" in text:
            reason = "file ends inside a quoted field (truncated file or unbalanced quote)"
        else:
            reason = f"row does not fit the header ({text.strip()})"
        raise DataError(reason, file=str(path), row=row) from exc
    frame.attrs["field_counts"] = FieldCounts(np.minimum(counts, len(frame.columns)))
    return frame


def _without_trailing_empty_fields(raw: bytes, header: list[str], counts: np.ndarray, path: Path) -> pd.DataFrame:
    """Rows longer than the header: accepted if the extra fields are empty (a trailing comma, as
    spreadsheets write), refused by row otherwise. Without this pandas takes the first column as
    the row index and every later check misreads the file."""
    extra = [f"\x00extra{i}" for i in range(int(counts.max()) - len(header))]
    frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8",
                        engine="c", skip_blank_lines=True, header=None, skiprows=1, names=header + extra,
                        index_col=False)
    filled = (frame[extra].apply(lambda c: c.str.strip()) != "").any(axis=1).to_numpy()
    if filled.any():
        row = int(np.flatnonzero(filled)[0]) + 2
        raise DataError(f"row has more fields than the header ({len(header)} expected, "
                        f"{int(counts[row - 2])} found)", file=str(path), row=row)
    return frame.drop(columns=extra)


class FieldCounts:
    """Per-record field counts carried in DataFrame.attrs: never copied, compared by identity."""

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = counts

    def __deepcopy__(self, memo: dict) -> "FieldCounts":
        return self

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__


def _field_counts(raw: bytes) -> np.ndarray:
    """Number of fields in each data record (after the header), blank lines left out.

    pandas pads a short row with blanks, which would pass as missing values: a truncated line
    must be reported instead. Unquoted files are counted with numpy; quoted ones with csv.
    """
    if b'"' not in raw:
        data = np.frombuffer(raw, dtype=np.uint8)
        ends = np.flatnonzero(data == 10)
        if len(data) and data[-1] != 10:
            ends = np.append(ends, len(data))
        starts = np.concatenate([[0], ends[:-1] + 1])
        commas = np.flatnonzero(data == 44)
        counts = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
        blank = (ends - starts) - (data[np.maximum(ends - 1, 0)] == 13) <= 0
        counts = counts[~blank]
    else:
        import csv
        import sys

        csv.field_size_limit(sys.maxsize)
        reader = csv.reader(io.StringIO(raw.decode("utf-8")))
        counts = np.array([len(r) for r in reader if r], dtype=np.int64)
    return counts[1:]


def check_field_sizes(frame: pd.DataFrame, file: str, problems: Problems) -> None:
    for col in frame.columns:
        lengths = frame[col].str.len()
        long = lengths > MAX_FIELD_CHARS
        if long.any():
            rows = file_rows(frame)[long.to_numpy()]
            problems.add_rows(file, rows, col, f"field is longer than {MAX_FIELD_CHARS:,} characters "
                              "(corrupt file or a wrong delimiter)")
            frame.loc[long, col] = ""


def short_rows(frame: pd.DataFrame, file: str, problems: Problems, columns: list[str]) -> pd.Series:
    """Rows that end before the last column the loader needs: a truncated line.

    Only the needed columns count: real Fingertips exports omit the last, unused field.
    """
    missing = frame[columns].isna().any(axis=1)
    counts = getattr(frame.attrs.get("field_counts"), "counts", None)
    if counts is not None and len(counts) == len(missing):
        needed = max(list(frame.columns).index(c) for c in columns) + 1
        missing = missing | pd.Series(counts < needed, index=frame.index)
    if missing.any():
        problems.add_rows(file, file_rows(frame)[missing.to_numpy()], None,
                          f"row has fewer fields than the header ({len(frame.columns)} expected): truncated?")
    return missing


def find_columns(frame: pd.DataFrame, spellings: dict[str, tuple[str, ...]], file: str,
                 required: tuple[str, ...]) -> dict[str, str]:
    """Map canonical column names to the header the file uses; missing required ones are fatal.

    A file without its key columns cannot be checked row by row, so this raises at once.
    """
    lookup = {_norm(c): c for c in frame.columns}
    found: dict[str, str] = {}
    for canonical, names in spellings.items():
        for name in names:
            if _norm(name) in lookup:
                found[canonical] = lookup[_norm(name)]
                break
    missing = [c for c in required if c not in found]
    if missing:
        wanted = "; ".join(f"{c!r} (as {' or '.join(repr(n) for n in spellings[c])})" for c in missing)
        raise DataError(f"missing column(s): {wanted}; the header has {list(frame.columns)[:12]}",
                        file=file, row=1, column=missing[0])
    return found


def _norm(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum() or ch == ".")


def numbers(values: pd.Series, file: str, rows: np.ndarray, column: str, problems: Problems, *,
            missing_marks: tuple[str, ...] = ("", "-", "NA"), allow_negative: bool = False) -> pd.Series:
    """Parse numbers; missing marks become NaN; anything else unparseable or negative is a problem."""
    text = values.fillna("").str.strip()
    if text.str.contains(",", regex=False).any():
        text = text.str.replace(",", "", regex=False)
    missing = text.isin(missing_marks)
    parsed = _to_float(text.where(~missing, None))
    bad = parsed.isna() & ~missing
    if bad.any():
        problems.add_rows(file, rows[bad.to_numpy()], column, "expected a number or '-' for missing",
                          values[bad])
    if not allow_negative:
        negative = parsed < 0
        if negative.any():
            problems.add_rows(file, rows[negative.to_numpy()], column, "expected a count or rate >= 0",
                              values[negative])
            parsed = parsed.where(~negative)
    infinite = np.isinf(parsed)
    if infinite.any():
        problems.add_rows(file, rows[infinite.to_numpy()], column, "expected a finite number", values[infinite])
        parsed = parsed.where(~infinite)
    return parsed


def _to_float(text: pd.Series) -> pd.Series:
    """Strings to floats; NaN where unparseable. Arrow's cast first (fast), pandas where it refuses."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(text, type=pa.string(), from_pandas=True)
        return pd.Series(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), index=text.index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pd.to_numeric(text, errors="coerce").astype(float)


def source_vintage(path: Path) -> dict:
    """What the manifest records about an input file: its name, size and SHA-256."""
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def map_distinct(values: pd.Series, func, kind: str = "str") -> pd.Series:
    """Apply ``func`` once per distinct value: millions of rows carry a handful of periods or flags.

    ``kind`` ("str", "bool", "datetime") builds the result column directly from the distinct
    results, without a per-row Python object.
    """
    import pyarrow as pa

    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    mapped = [func(u) for u in uniques]
    if kind == "bool":
        return pd.Series(np.array(mapped, dtype=bool)[codes], index=values.index)
    if kind == "datetime":
        stamps = pd.to_datetime(pd.Series(mapped, dtype=object), errors="coerce").to_numpy(dtype="datetime64[ns]")
        return pd.Series(stamps[codes], index=values.index)
    arr = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(mapped, type=pa.string()))
    return pd.Series(pd.arrays.ArrowStringArray(arr.cast(pa.string())), index=values.index)


def stripped(values: pd.Series) -> pd.Series:
    """The column without surrounding spaces; no copy when there are none (the usual case)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(values, type=pa.string(), from_pandas=True)
        if not pc.any(pc.match_substring_regex(arr, r"^\s|\s$")).as_py():
            return values
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    return values.str.strip()


def usable_rows(frame: pd.DataFrame, file: str, problems: Problems, cols: dict[str, str]
                ) -> tuple[pd.DataFrame, np.ndarray, dict[str, pd.Series]]:
    """Drop rows too short to hold the needed columns (reported), check field sizes, and return
    the rows, their file row numbers and each needed column stripped of padding."""
    short = short_rows(frame, file, problems, list(cols.values()))
    frame = frame[~short].fillna("")
    check_field_sizes(frame, file, problems)
    return frame, file_rows(frame), {k: frame[v].str.strip() for k, v in cols.items()}
