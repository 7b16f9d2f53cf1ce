"""The one error type for bad input anywhere in the project.

Every message names where the problem is (file, row, column) and what was expected, so an
analyst can fix the file without reading code.
"""
from __future__ import annotations


class DataError(Exception):
    """Bad input: a malformed file, an unknown code, an altered dataset."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None, problems: list[str] | None = None) -> None:
        self.file, self.row, self.column = file, row, column
        self.problems = problems or []
        where = ", ".join(p for p in (
            f"file {file}" if file else "",
            f"row {row}" if row is not None else "",
            f"column {column!r}" if column else "",
        ) if p)
        super().__init__(f"{where}: {message}" if where else message)
