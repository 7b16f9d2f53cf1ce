"""Table builders: a chart's table alternative, CSV text and collapsible HTML tables."""
from __future__ import annotations

import io

import pandas as pd
from dash import dcc, html


def csv_text(table: pd.DataFrame, notice: str, title: str) -> str:
    """CSV of a chart's table, preceded by comment lines saying what it is and where it came from."""
    buf = io.StringIO()
    if notice:
        buf.write(f"# {notice}\n")
    buf.write(f"# {title}\n")
    as_text(table).to_csv(buf, index=False)
    return buf.getvalue()


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def as_text(table: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula ("=...", "+...", "@...") get a leading
    apostrophe, so opening a CSV export in Excel shows the text instead of evaluating it. Numbers
    (including negative ones) are left alone."""
    out = table.copy()
    out.columns = [_text_cell(c) if isinstance(c, str) else c for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(_text_cell)
    return out


def _text_cell(value):
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    if value[0] in "+-":
        try:
            float(value)
            return value  # a signed number written as text, e.g. "-0.5": not a formula
        except ValueError:
            if value in ("-", "+"):
                return value
    return "'" + value


BOM = "\ufeff"
"""Byte-order mark at the start of every CSV download: without it Excel reads UTF-8 ("–", "£") as mojibake."""


def csv_download(text: str) -> str:
    """A CSV's text as downloaded: with the byte-order mark Excel needs to read it as UTF-8."""
    return BOM + text


def html_table(table: pd.DataFrame, caption: str, *, max_rows: int = 400) -> html.Table:
    """A plain, accessible table (caption, header cells with scope)."""
    head = html.Thead(html.Tr([html.Th(str(c), scope="col") for c in table.columns]))
    rows = [html.Tr([html.Td(text) for text in row]) for row in cell_texts(table.head(max_rows))]
    return html.Table([html.Caption(caption), head, html.Tbody(rows)],
                      className="table table-sm table-striped caption-top small")


def cell_texts(table: pd.DataFrame) -> list[list[str]]:
    """Each row's cells as shown in a table: missing values blank; numbers with thousands separators, decimal
    numbers without decimals in a column where all of them are whole (counts, populations) and to two places
    in any other; text as it is. (Years are text here: "2013/14".)"""
    columns = []
    for col in table.columns:
        values = table[col].tolist()
        floats = [v for v in values if isinstance(v, float) and v == v]
        spec = ",.0f" if floats and all(v.is_integer() for v in floats) else ",.2f"
        columns.append([_cell_text(v, spec) for v in values])
    return [list(row) for row in zip(*columns)] if columns else [[] for _ in range(len(table))]


def _cell_text(value, float_spec: str) -> str:
    if _missing(value):
        return ""
    if isinstance(value, float):
        return format(value, float_spec)
    if isinstance(value, int) and not isinstance(value, bool):
        return format(value, ",d")
    return str(value)


def _missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def _markdown_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(table: pd.DataFrame) -> str:
    """A table as GitHub-flavoured Markdown: rendered to a real <table> in the browser, but one string in the
    page's JSON instead of a component per cell (a 2,700-row table would otherwise weigh ~1 MB). Cells as
    `cell_texts` shows them."""
    head = "| " + " | ".join(_markdown_cell(str(c)) for c in table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = ["| " + " | ".join(_markdown_cell(text) for text in row) + " |" for row in cell_texts(table)]
    return "\n".join([head, rule, *rows])


def table_alternative(table: pd.DataFrame, caption: str, key: str) -> html.Details:
    """The chart's numbers as a table, folded away under the chart; ``key`` is unique on the page (the chart's).

    The table's Markdown travels in the page (a Store) and is drawn into a real <table> when the reader
    first opens it (callbacks/tables.py, by click or keyboard). Drawing every table of a page as it loaded,
    folded away or not, was about a fifth of Chromium's work in 20 loads of site, indicator and site x
    indicator pages."""
    return html.Details([html.Summary(f"Table: {caption}", id={"type": "table-alt-summary", "key": key}),
                         html.Div(dcc.Markdown(id={"type": "table-alt", "key": key}, className="table-alt"),
                                  className="table-responsive"),
                         dcc.Store(id={"type": "table-alt-text", "key": key}, data=markdown_table(table))],
                        className="mt-1 mb-3")
