"""Reading a package workbook back in the tests: every sheet's cells, read by python-calamine (a Rust
reader), which reads the package's 170,000 cells in a fifth of openpyxl's time. Empty cells are None,
as openpyxl gives them; numbers come back as floats and dates as dates. Tests of a cell's exact type
(tests/test_dashboard_exports.py: the writer against pandas' own) and the browser's download
(tests/browser/test_interaction.py) read with openpyxl, so both readers open what the package writes."""
from __future__ import annotations

import io

from python_calamine import CalamineWorkbook


def read_sheets(data: bytes) -> dict[str, list[list]]:
    """Sheet name -> rows of cell values, in the workbook's order."""
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return {name: [[None if v == "" else v for v in row] for row in book.get_sheet_by_name(name).to_python()]
            for name in book.sheet_names}


def workbook_text(data: bytes, filename: str = "") -> str:
    """The file name, sheet names and every non-empty cell as text, one per line: what an anonymity scan reads."""
    sheets = read_sheets(data)
    return "\n".join([filename, *sheets] + [str(v) for rows in sheets.values() for row in rows for v in row
                                            if v is not None])
